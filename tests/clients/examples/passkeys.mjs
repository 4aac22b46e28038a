// Browser: passkeys with usergraph. `api` is usergraph's /graphql URL; the
// page's origin must be in WEBAUTHN_ORIGINS (development: localhost, any port).
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

// Signed in: add a passkey (the password confirms it is the user at the keyboard).
export async function addPasskey(api, token, password, name) {
  const { startPasskeyRegistration: start } = await call(
    api,
    `mutation($p: String!) { startPasskeyRegistration(password: $p) { challengeId options } }`,
    { p: password },
    token,
  );
  const credential = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.options),
  });
  const { finishPasskeyRegistration: passkey } = await call(
    api,
    `mutation($c: ID!, $r: JSON!, $n: String) {
      finishPasskeyRegistration(challengeId: $c, credential: $r, name: $n) { id name } }`,
    { c: start.challengeId, r: credential.toJSON(), n: name },
    token,
  );
  return passkey;
}

// Signed out: sign in with a passkey; without `login` the device offers
// the passkeys it holds for this site.
export async function signInWithPasskey(api, login) {
  const { startPasskeySignIn: start } = await call(
    api,
    `mutation($l: String) { startPasskeySignIn(login: $l) { challengeId options } }`,
    { l: login ?? null },
  );
  const assertion = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.options),
  });
  const { finishPasskeySignIn: signedIn } = await call(
    api,
    `mutation($c: ID!, $r: JSON!) {
      finishPasskeySignIn(challengeId: $c, credential: $r) { accessToken refreshToken user { id username } } }`,
    { c: start.challengeId, r: assertion.toJSON() },
  );
  return signedIn;
}
