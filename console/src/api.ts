// How the console talks to usergraph: the public GraphQL API only, by the
// SHA-256 of each document (the trusted-documents manifest holds the text),
// with the signed-in administrator's tokens. An impersonation keeps its own
// tokens beside them, so ending it returns to the administrator's session.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import { RefreshDocument } from './documents';

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
    save({ ...stored, impersonation });
  },
  endImpersonation() {
    save({ admin: stored.admin });
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
  const response = await fetch('graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({
      variables,
      extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
    }),
  });
  return (await response.json()) as { data?: unknown; errors?: GraphQLError[] };
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the administrator's refresh token once, for every caller waiting. */
async function refreshAdmin(): Promise<boolean> {
  const admin = stored.admin;
  if (!admin) return false;
  refreshing ??= (async () => {
    const body = await post(hashOf(RefreshDocument), { refreshToken: admin.refreshToken });
    const data = body.data as { refreshToken?: Tokens } | null | undefined;
    if (data?.refreshToken) {
      save({ ...stored, admin: data.refreshToken });
      return true;
    }
    save({});
    return false;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Runs `document` as the administrator (or `as` says who), refreshing an expired token once. */
export async function run<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  as: As = 'admin',
): Promise<R> {
  const token = as === 'admin' ? stored.admin?.accessToken : as === 'impersonation' ? stored.impersonation?.accessToken : undefined;
  let body = await post(hashOf(document), variables, token);
  const first = body.errors?.[0];
  const expired = first?.extensions?.code === 'TOKEN_EXPIRED' || first?.extensions?.code === 'UNAUTHENTICATED';
  if (expired && as === 'admin' && (await refreshAdmin())) {
    body = await post(hashOf(document), variables, stored.admin?.accessToken);
  }
  if (expired && as === 'impersonation') {
    // The impersonation ended (its time, or its administrator's rights).
    auth.endImpersonation();
  }
  const error = body.errors?.[0];
  if (error) {
    const ext = error.extensions;
    throw new ApiError(error.message, ext?.code ?? 'ERROR', ext?.field, ext?.mfaToken);
  }
  return body.data as R;
}

let socket: Client | null = null;

/** A subscription over the API's WebSocket, as the administrator. */
export function subscribe<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  onData: (data: R) => void,
  onError: (error: string) => void,
): () => void {
  socket ??= createClient({
    url: new URL('graphql/ws', location.href).href.replace(/^http/, 'ws'),
    connectionParams: () => ({ authorization: `Bearer ${stored.admin?.accessToken ?? ''}` }),
    lazy: true,
    retryAttempts: 3,
  });
  return socket.subscribe(
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
}

export function closeSocket() {
  socket?.dispose();
  socket = null;
}

