// How the console talks to usergraph: the public GraphQL API only, by the
// SHA-256 of each document (the trusted-documents manifest holds the text),
// with the signed-in administrator's tokens. An impersonation keeps its own
// tokens beside them, so ending it returns to the administrator's session.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import { EndImpersonationDocument, RefreshDocument } from './documents';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export interface Impersonation extends Tokens {
  username: string;
  readOnly: boolean;
}

/** An error the API answered, with the contract's code. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly field?: string,
    /** With `MFA_REQUIRED`: the token `verifyMfa` takes. */
    readonly mfaToken?: string,
  ) {
    super(message);
  }
}

const KEY = 'usergraph.console';

interface Stored {
  admin?: Tokens;
  impersonation?: Impersonation;
}

// Session storage: the tokens die with the tab, and no other tab or origin
// reads them.
function load(): Stored {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? '{}') as Stored;
  } catch {
    return {};
  }
}

let stored: Stored = load();
const listeners = new Set<() => void>();

function save(next: Stored) {
  stored = next;
  sessionStorage.setItem(KEY, JSON.stringify(stored));
  listeners.forEach((l) => l());
}

export const auth = {
  get admin() {
    return stored.admin;
  },
  get impersonation() {
    return stored.impersonation;
  },
  signIn(tokens: Tokens) {
    save({ admin: tokens });
  },
  signOut() {
    save({});
  },
  impersonate(impersonation: Impersonation) {
    impersonationEnded = null;
    save({ ...stored, impersonation });
  },
  subscribe(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

type As = 'admin' | 'impersonation' | 'anonymous';

interface GraphQLError {
  message: string;
  extensions?: { code?: string; field?: string; mfaToken?: string };
}

function hashOf<R, V>(document: TypedDocumentNode<R, V>): string {
  const meta = (document as unknown as { __meta__?: { hash?: string } }).__meta__;
  if (!meta?.hash) throw new Error('a document without its hash: run npm run codegen');
  // The manifest's keys say their algorithm; the protocol sends the hex alone.
  return meta.hash.replace(/^sha256:/, '');
}

async function post(hash: string, variables: unknown, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch('graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({
        variables,
        extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
      }),
    });
  } catch {
    throw new ApiError('the server cannot be reached: check the connection and try again', 'NETWORK');
  }
  if (!(response.headers.get('content-type') ?? '').includes('json')) {
    // A proxy's error page, say: no GraphQL answer at all.
    throw new ApiError(`the server answered HTTP ${response.status}; try again`, 'NETWORK');
  }
  return (await response.json()) as { data?: unknown; errors?: GraphQLError[] };
}

/** Codes that mean the tokens themselves no longer work. */
const DEAD = ['TOKEN_INVALID', 'TOKEN_EXPIRED', 'UNAUTHENTICATED'];

let refreshing: Promise<boolean> | null = null;

/**
 * Exchanges the refresh token of `as` once, for every caller waiting. Dead
 * tokens end that sign-in (the administrator's, or the impersonation,
 * whose end is then asked of the server too); any other failure leaves it.
 */
async function refresh(as: 'admin' | 'impersonation'): Promise<boolean> {
  const held = as === 'admin' ? stored.admin : stored.impersonation;
  if (!held) return false;
  refreshing ??= (async () => {
    const body = await post(hashOf(RefreshDocument), { refreshToken: held.refreshToken });
    const data = body.data as { refreshToken?: Tokens } | null | undefined;
    if (data?.refreshToken) {
      if (as === 'admin') save({ ...stored, admin: data.refreshToken });
      else if (stored.impersonation) save({ ...stored, impersonation: { ...stored.impersonation, ...data.refreshToken } });
      return true;
    }
    const code = body.errors?.[0]?.extensions?.code ?? '';
    if (DEAD.includes(code)) {
      if (as === 'admin') save({});
      else dropImpersonation('The impersonation has ended: its time is up, or you may no longer act as this user.');
    }
    return false;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Why the last impersonation was dropped, for the screen that shows next. */
export let impersonationEnded: string | null = null;

function dropImpersonation(why: string) {
  impersonationEnded = why;
  save({ admin: stored.admin });
}

function tokenOf(as: As): string | undefined {
  if (as === 'admin') return stored.admin?.accessToken;
  if (as === 'impersonation') return stored.impersonation?.accessToken;
  return undefined;
}

/** Runs `document` as the administrator (or `as` says who), refreshing an expired token once. */
export async function run<R, V>(document: TypedDocumentNode<R, V>, variables: V, as: As = 'admin'): Promise<R> {
  let body = await post(hashOf(document), variables, tokenOf(as));
  const code = body.errors?.[0]?.extensions?.code ?? '';
  if (as !== 'anonymous' && DEAD.includes(code) && (await refresh(as))) {
    body = await post(hashOf(document), variables, tokenOf(as));
  }
  const error = body.errors?.[0];
  if (error) {
    const ext = error.extensions;
    throw new ApiError(error.message, ext?.code ?? 'ERROR', ext?.field, ext?.mfaToken);
  }
  return body.data as R;
}

/**
 * Ends the impersonation on the server, then in the console; a failure to
 * reach the server is said, and the console still returns to the
 * administrator (the session ends by itself at its time).
 */
export async function endImpersonation(): Promise<string | null> {
  let problem: string | null = null;
  try {
    await run(EndImpersonationDocument, {}, 'impersonation');
  } catch (e) {
    if (!(e instanceof ApiError && DEAD.includes(e.code))) {
      problem = `The server was not told to end it (${e instanceof Error ? e.message : String(e)}); it ends by itself at its time.`;
    }
  }
  dropImpersonation(problem ?? 'The impersonation has ended.');
  return problem;
}

let socket: Client | null = null;

/** A subscription over the API's WebSocket, as the administrator; `onLive` once the socket is connected. */
export function subscribe<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  onData: (data: R) => void,
  onError: (error: string) => void,
  onLive: () => void,
): () => void {
  socket ??= createClient({
    url: new URL('graphql/ws', location.href).href.replace(/^http/, 'ws'),
    connectionParams: () => ({ authorization: `Bearer ${stored.admin?.accessToken ?? ''}` }),
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: () => Boolean(stored.admin),
  });
  const stopConnected = socket.on('connected', onLive);
  const stopClosed = socket.on('closed', () => onError('reconnecting…'));
  const stop = socket.subscribe(
    {
      query: '',
      variables: variables as Record<string, unknown>,
      extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(document) } },
    },
    {
      next: (value) => {
        if (value.errors?.[0]) onError(value.errors[0].message);
        else if (value.data) onData(value.data as R);
      },
      error: (e) => onError(e instanceof Error ? e.message : 'the live connection closed'),
      complete: () => undefined,
    },
  );
  return () => {
    stopConnected();
    stopClosed();
    stop();
  };
}

export function closeSocket() {
  socket?.dispose();
  socket = null;
}

