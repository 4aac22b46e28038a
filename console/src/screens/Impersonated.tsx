import { useState } from 'react';
import { auth, endImpersonation, run } from '../api';
import { ImpersonatedViewDocument, UpdateMyNameDocument } from '../documents';
import { ErrorNote, Loading, useLoad, when } from '../ui';

/**
 * What the user sees, while the administrator acts as them: a banner that
 * never goes away, their profile, sessions and security events, and a
 * change to try (refused in a read-only impersonation).
 */
export function Impersonated() {
  const impersonation = auth.impersonation;
  const view = useLoad(() => run(ImpersonatedViewDocument, {}, 'impersonation'), []);
  const [name, setName] = useState('');
  const [result, setResult] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [ending, setEnding] = useState(false);
  if (!impersonation) return null;

  async function end() {
    setEnding(true);
    await endImpersonation();
  }

  const me = view.data?.me;
  return (
    <div className="shell impersonating">
      <div className="banner" role="status">
        Acting as <strong>{impersonation.username}</strong>
        {impersonation.readOnly ? ' (read-only)' : ' (changes are made as them)'}
        <button type="button" className="primary" onClick={end} disabled={ending}>
          End impersonation
        </button>
      </div>
      <main id="main">
        <ErrorNote error={view.error} />
        {view.loading && <Loading />}
        {me && (
          <>
            <h1>
              {me.name} <span className="sub">@{me.username}</span>
            </h1>
            <p>
              {me.email} · {me.status}
            </p>
            <form
              className="filter"
              onSubmit={async (e) => {
                e.preventDefault();
                setResult(null);
                setSaved(null);
                try {
                  const data = await run(UpdateMyNameDocument, { name }, 'impersonation');
                  setSaved(`Display name is now ${data.updateMe.name}.`);
                } catch (err) {
                  setResult(err);
                }
              }}
            >
              <label>
                Display name
                <input value={name} onChange={(e) => setName(e.target.value)} placeholder={me.name} required />
              </label>
              <button type="submit">Save as {me.username}</button>
            </form>
            <ErrorNote error={result} />
            {saved && <p className="notice">{saved}</p>}
            <h2>Their sessions</h2>
            <ul className="rows">
              {view.data?.mySessions.map((s) => (
                <li key={s.id}>
                  {s.current ? <strong>this session</strong> : 'another session'}
                  {s.impersonator && <span className="badge warn">{s.impersonator.username} acting: {s.impersonationReason}</span>}
                  <span className="sub">ends {when(s.expiresAt)}</span>
                </li>
              ))}
            </ul>
            <h2>Their security events</h2>
            <ol className="rows">
              {view.data?.mySecurityEvents.nodes.map((e) => (
                <li key={e.id}>
                  <code>{e.action}</code> <span className="sub">{when(e.createdAt)}</span>
                </li>
              ))}
            </ol>
          </>
        )}
      </main>
    </div>
  );
}
