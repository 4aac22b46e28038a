// Browser: sign in with another provider (the frontend owns the callback page).
// `api` is usergraph's /graphql URL; `callback` is this app's callback page,
// listed in usergraph's EXTERNAL_SIGNIN_REDIRECT_URLS exactly.
async function call(api, query, variables, token) {
  const response = await fetch(api, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw Object.assign(new Error(body.errors[0].message), body.errors[0]);
  return body.data;
}

// On the sign-in page: a button per provider from `identityProviders`.
// To link a provider to the signed-in user, pass `link: { token, password }`.
export async function startSignIn(api, providerId, callback, link) {
  const { startExternalSignIn: start } = await call(
    api,
    `mutation($p: ID!, $r: String!, $i: ExternalSignInIntent, $pw: String) {
      startExternalSignIn(provider: $p, redirectUri: $r, intent: $i, password: $pw) { authorizationUrl state } }`,
    { p: providerId, r: callback, i: link ? 'LINK' : 'SIGN_IN', pw: link?.password },
    link?.token,
  );
  sessionStorage.setItem('usergraph.signin.state', start.state);
  location.assign(start.authorizationUrl); // to the provider, and back to `callback`
}

// On the callback page: finish once, and only the sign-in this tab started.
export async function finishSignIn(api) {
  const params = new URLSearchParams(location.search);
  const expected = sessionStorage.getItem('usergraph.signin.state');
  sessionStorage.removeItem('usergraph.signin.state');
  history.replaceState(null, '', location.pathname); // the code leaves the address bar
  if (params.get('error')) throw new Error(`the provider said: ${params.get('error')}`);
  if (!expected || params.get('state') !== expected) throw new Error('not the sign-in this tab started');
  const { finishExternalSignIn: signedIn } = await call(
    api,
    `mutation($s: String!, $c: String!) {
      finishExternalSignIn(state: $s, code: $c) { accessToken refreshToken user { id email } } }`,
    { s: expected, c: params.get('code') },
  );
  return signedIn; // MFA_REQUIRED, EMAIL_IN_USE (extensions.reason) etc. arrive as errors
}
