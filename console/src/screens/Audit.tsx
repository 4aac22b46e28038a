import { useEffect, useState } from 'react';
import { run, subscribe } from '../api';
import { AuditLiveDocument, AuditPageDocument } from '../documents';
import { href } from '../route';
import { Empty, ErrorNote, Loading, useLoad, when } from '../ui';

interface Row {
  id: string;
  action: string;
  actorId?: string | null;
  targetId?: string | null;
  impersonatorId?: string | null;
  createdAt: string;
  ip?: string | null;
  actor?: { username: string } | null;
  target?: { id: string; username: string } | null;
}

/** The audit trail: the newest page, then every event as it is committed, live over the WebSocket. */
export function Audit() {
  const page = useLoad(() => run(AuditPageDocument, { first: 50 }), []);
  const [live, setLive] = useState<Row[]>([]);
  const [status, setStatus] = useState<'connecting' | 'live' | string>('connecting');

  useEffect(
    () =>
      subscribe(
        AuditLiveDocument,
        {},
        (data) => setLive((rows) => [data.auditEvents, ...rows].slice(0, 200)),
        (error) => setStatus(error),
        () => setStatus('live'),
      ),
    [],
  );

  const seen = new Set(live.map((r) => r.id));
  const rows: Row[] = [...live, ...(page.data?.auditEvents.nodes ?? []).filter((r) => !seen.has(r.id))];
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      <p className="hint" aria-live="polite">
        {status === 'live' ? 'Live: new events appear at the top as they happen.' : status === 'connecting' ? 'Connecting…' : `Not live: ${status}`}
      </p>
      <ErrorNote error={page.error} />
      {page.loading && rows.length === 0 && <Loading />}
      {!page.loading && rows.length === 0 && <Empty>No event yet.</Empty>}
      {rows.length > 0 && (
        <div className="table">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody aria-live="polite">
              {rows.map((r) => (
                <tr key={r.id} className={seen.has(r.id) ? 'fresh' : ''}>
                  <td>{when(r.createdAt)}</td>
                  <td>
                    <code>{r.action}</code>
                  </td>
                  <td>
                    {r.actor?.username ?? r.actorId ?? '—'}
                    {r.impersonatorId && <span className="sub">acted by {r.impersonatorId}</span>}
                  </td>
                  <td>{r.target ? <a href={href(`users/${r.target.id}`)}>{r.target.username}</a> : (r.targetId ?? '—')}</td>
                  <td>{r.ip ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
