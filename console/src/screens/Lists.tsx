// The read-mostly screens: roles, tiers, organisations, webhooks (with
// their deliveries and redelivery) and signing keys.
import { useState } from 'react';
import { run } from '../api';
import {
  DeliveriesDocument,
  OrganizationsDocument,
  RedeliverDocument,
  RolesDocument,
  SigningKeysDocument,
  TiersDocument,
  WebhooksDocument,
} from '../documents';
import { Confirm, Empty, ErrorNote, Loading, useLoad, when } from '../ui';

export function Roles() {
  const roles = useLoad(() => run(RolesDocument, {}), []);
  return (
    <section aria-labelledby="roles-title">
      <h1 id="roles-title">Roles</h1>
      <ErrorNote error={roles.error} />
      {roles.loading && <Loading />}
      {roles.data && (
        <ul className="cards">
          {roles.data.roles.map((r) => (
            <li key={r.id}>
              <h2>
                {r.name} {r.isBuiltin && <span className="badge">built-in</span>}
              </h2>
              <p>{r.description ?? ''}</p>
              <p className="perms">{r.permissions.length ? r.permissions.map((p) => <code key={p}>{p}</code>) : 'No permission.'}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function Tiers() {
  const tiers = useLoad(() => run(TiersDocument, {}), []);
  return (
    <section aria-labelledby="tiers-title">
      <h1 id="tiers-title">Tiers</h1>
      <ErrorNote error={tiers.error} />
      {tiers.loading && <Loading />}
      {tiers.data &&
        (tiers.data.tiers.length === 0 ? (
          <Empty>No tier yet: a superuser creates them with createTier.</Empty>
        ) : (
          <ul className="cards">
            {tiers.data.tiers.map((t) => (
              <li key={t.id}>
                <h2>{t.name}</h2>
                <p>{t.description ?? ''}</p>
                <p className="sub">created {when(t.createdAt)}</p>
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}

export function Organizations() {
  const [search, setSearch] = useState('');
  const [applied, setApplied] = useState('');
  const orgs = useLoad(() => run(OrganizationsDocument, { first: 50, search: applied || null }), [applied]);
  return (
    <section aria-labelledby="orgs-title">
      <h1 id="orgs-title">Organisations</h1>
      <form
        className="filter"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(search);
        }}
      >
        <input aria-label="Search organisations" placeholder="name or slug" value={search} onChange={(e) => setSearch(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <ErrorNote error={orgs.error} />
      {orgs.loading && <Loading />}
      {orgs.data &&
        (orgs.data.organizations.nodes.length === 0 ? (
          <Empty>No organisation{applied ? ' matches' : ' yet'}.</Empty>
        ) : (
          <div className="table">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Slug</th>
                  <th scope="col">Tier</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {orgs.data.organizations.nodes.map((o) => (
                  <tr key={o.id}>
                    <td>{o.name}</td>
                    <td>
                      <code>{o.slug}</code>
                    </td>
                    <td>{o.tier?.name ?? '—'}</td>
                    <td>{when(o.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}

export function Webhooks() {
  const hooks = useLoad(() => run(WebhooksDocument, {}), []);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section aria-labelledby="hooks-title">
      <h1 id="hooks-title">Webhooks</h1>
      <ErrorNote error={hooks.error} />
      {hooks.loading && <Loading />}
      {hooks.data &&
        (hooks.data.webhooks.length === 0 ? (
          <Empty>No webhook yet: a superuser creates them with createWebhook.</Empty>
        ) : (
          <ul className="cards">
            {hooks.data.webhooks.map((w) => (
              <li key={w.id}>
                <h2>
                  <code>{w.url}</code> {w.enabled ? <span className="badge active">enabled</span> : <span className="badge suspended">disabled</span>}
                </h2>
                <p>{w.description ?? ''}</p>
                {w.disabledReason && <p className="error">{w.disabledReason}</p>}
                <p className="perms">{w.events.map((e) => <code key={e}>{e}</code>)}</p>
                <button type="button" aria-expanded={open === w.id} onClick={() => setOpen(open === w.id ? null : w.id)}>
                  {open === w.id ? 'Hide deliveries' : 'Deliveries'}
                </button>
                {open === w.id && <Deliveries webhookId={w.id} />}
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}

function Deliveries({ webhookId }: { webhookId: string }) {
  const deliveries = useLoad(() => run(DeliveriesDocument, { webhookId }), [webhookId]);
  return (
    <div>
      <ErrorNote error={deliveries.error} />
      {deliveries.loading && <Loading />}
      {deliveries.data &&
        (deliveries.data.webhookDeliveries.nodes.length === 0 ? (
          <Empty>Nothing delivered yet.</Empty>
        ) : (
          <ul className="rows">
            {deliveries.data.webhookDeliveries.nodes.map((d) => (
              <li key={d.id}>
                <code>{d.eventType}</code> attempt {d.attempt}:{' '}
                {d.succeeded ? <span className="badge active">{d.statusCode}</span> : <span className="badge suspended">{d.statusCode ?? d.error ?? 'failed'}</span>}
                <span className="sub">
                  {when(d.createdAt)}, {d.durationMs} ms
                </span>
                <Confirm
                  label="Redeliver"
                  title="Send this message again?"
                  body="The receiver gets it once more, with the same webhook-id."
                  confirm="Redeliver"
                  danger={false}
                  onConfirm={async () => {
                    await run(RedeliverDocument, { deliveryId: d.id });
                    deliveries.reload();
                  }}
                />
              </li>
            ))}
          </ul>
        ))}
    </div>
  );
}

export function SigningKeys() {
  const keys = useLoad(() => run(SigningKeysDocument, {}), []);
  return (
    <section aria-labelledby="sk-title">
      <h1 id="sk-title">Signing keys</h1>
      <ErrorNote error={keys.error} />
      {keys.loading && <Loading />}
      {keys.data &&
        (keys.data.signingKeys.length === 0 ? (
          <Empty>No asymmetric key: tokens are signed with JWT_SECRET (HS256).</Empty>
        ) : (
          <ul className="rows">
            {keys.data.signingKeys.map((k) => (
              <li key={k.id}>
                <span className="badge">{k.state}</span> <code>{k.kid}</code> {k.algorithm}
                <span className="sub">
                  made {when(k.createdAt)}
                  {k.retiresAt ? `, verifies until ${when(k.retiresAt)}` : ''}
                </span>
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}
