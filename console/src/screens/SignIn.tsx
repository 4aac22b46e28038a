import { useState } from 'react';
import { ApiError, auth, run } from '../api';
import { FinishPasskeySignInDocument, LoginDocument, StartPasskeySignInDocument, VerifyMfaDocument } from '../documents';
import { ErrorNote } from '../ui';

/** Signs an administrator in with their password (and second factor). */
export function SignIn() {
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mfaToken) {
        const data = await run(VerifyMfaDocument, { mfaToken, code }, 'anonymous');
        auth.signIn(data.verifyMfa);
      } else {
        const data = await run(LoginDocument, { input: { login, password } }, 'anonymous');
        auth.signIn(data.login);
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === 'MFA_REQUIRED' && !mfaToken) {
        // The answer carries the token for the second step.
        const token = e.mfaToken;
        setMfaToken(token ?? null);
        if (!token) setError(e);
      } else {
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  }

  /** A passkey: with the username typed, that account's; else the device offers its own. */
  async function passkey() {
    setBusy(true);
    setError(null);
    try {
      const start = await run(StartPasskeySignInDocument, { login: login.trim() || null }, 'anonymous');
      const options = PublicKeyCredential.parseRequestOptionsFromJSON(
        start.startPasskeySignIn.options as PublicKeyCredentialRequestOptionsJSON,
      );
      const credential = await navigator.credentials.get({ publicKey: options });
      if (!(credential instanceof PublicKeyCredential)) throw new Error('no passkey was chosen');
      const data = await run(
        FinishPasskeySignInDocument,
        { challengeId: start.startPasskeySignIn.challengeId, credential: credential.toJSON() },
        'anonymous',
      );
      auth.signIn(data.finishPasskeySignIn);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">usergraph console</h1>
        <p className="hint">Sign in with an administrator's account.</p>
        {mfaToken ? (
          <label>
            Code from your authenticator app
            <input value={code} onChange={(e) => setCode(e.target.value)} inputMode="numeric" autoComplete="one-time-code" autoFocus required />
          </label>
        ) : (
          <>
            <label>
              Username or email
              <input value={login} onChange={(e) => setLogin(e.target.value)} autoComplete="username" autoFocus required />
            </label>
            <label>
              Password
              <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" required />
            </label>
          </>
        )}
        <ErrorNote error={error} />
        {mfaToken && (
          <button
            type="button"
            onClick={() => {
              setMfaToken(null);
              setCode('');
              setError(null);
            }}
          >
            Start over
          </button>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {mfaToken ? 'Verify' : 'Sign in'}
        </button>
        {!mfaToken && typeof PublicKeyCredential !== 'undefined' && 'parseRequestOptionsFromJSON' in PublicKeyCredential && (
          <button type="button" onClick={passkey} disabled={busy}>
            Sign in with a passkey
          </button>
        )}
      </form>
    </main>
  );
}
