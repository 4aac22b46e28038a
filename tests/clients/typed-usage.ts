// Compiled (not run) by run.mjs: the generated types describe the API as a
// frontend would use them, with DateTime as a string.
import { MeDocument, type MeQuery } from './generated/graphql';

export function joinedAt(result: MeQuery): string {
  const createdAt: string = result.me.createdAt;
  return `${result.me.username} since ${createdAt}`;
}

export const document = MeDocument;
