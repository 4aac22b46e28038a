import { useState } from 'react';
import { auth, run } from '../api';
import {
  EraseDocument,
  ImpersonateDocument,
  ResendInvitationDocument,
  ResetMfaDocument,
  RevokeApiKeyDocument,
  RevokeSessionsDocument,
  SendPasswordResetDocument,
  RolesDocument,
  SetRolesDocument,
  SetStatusDocument,
  SetTierDocument,
  TiersDocument,
  UnlockDocument,
  UserAuditDocument,
  UserDocument,
  UserKeysDocument,
} from '../documents';
import { href } from '../route';
import { Confirm, Empty, ErrorNote, Loading, useLoad, when } from '../ui';

/** One user: profile, access, and the support actions, each confirmed. */
export function UserPage({ id }: { id: string }) {
  const user = useLoad(() => run(UserDocument, { id }), [id]);
  const keys = useLoad(() => run(UserKeysDocument, { id }), [id]);
  const audit = useLoad(() => run(UserAuditDocument, { id }), [id]);
  const [notice, setNotice] = useState<string | null>(null);

  if (user.loading && !user.data) return <Loading />;
  const u = user.data?.user;
  if (!u) {
    return (
      <section>
        <ErrorNote error={user.error} />
        {!user.error && <Empty>No such user.</Empty>}
        <a href={href('users')}>Back to the users</a>
      </section>
    );
  }

  function done(message: string) {
    setNotice(message);
    user.reload();
    audit.reload();
  }

  const active = u.status === 'ACTIVE';
  return (
    <section aria-labelledby="user-title" className="user">
      <p>
        <a href={href('users')}>← Users</a>
      </p>
      <h1 id="user-title">
        {u.name} <span className="sub">@{u.username}</span>
      </h1>
      <p aria-live="polite" className="notice">
        {notice}
      </p>
      {u.isDeleted ? (
        <p className="hint">This user is deleted{u.email ? '' : ' and erased'}: nothing more can be done here.</p>
      ) : (
      <div className="toolbar" role="toolbar" aria-label="Actions">
        <Confirm
          label={active ? 'Suspend' : 'Activate'}
          title={active ? `Suspend ${u.username}?` : `Activate ${u.username}?`}
          body={active ? 'Every session and API key of theirs ends now, and they cannot sign in until reactivated.' : 'They can sign in again.'}
          confirm={active ? 'Suspend' : 'Activate'}
          danger={active}
          onConfirm={async () => {
            const data = await run(SetStatusDocument, { id, status: active ? 'SUSPENDED' : 'ACTIVE' });
            done(`Status is now ${data.setUserStatus.status}.`);
          }}
        />
        {u.invitationPending ? (
          <Confirm
            label="Resend invitation"
            title={`Mail ${u.username} a new invitation link?`}
            body="The old link stops working."
            confirm="Resend"
            danger={false}
            onConfirm={async () => {
              await run(ResendInvitationDocument, { id });
              done('Invitation sent again.');
            }}
          />
        ) : (
          <Confirm
            label="Send password reset"
            title={`Mail ${u.username} a password-reset link?`}
            body="You never see the link; it goes to their address."
            confirm="Send"
            danger={false}
            onConfirm={async () => {
              await run(SendPasswordResetDocument, { id });
              done('Password-reset link sent.');
            }}
          />
        )}
        <Confirm
          label="End sessions"
          title={`End every session of ${u.username}?`}
          body="They are signed out everywhere; their API keys stay."
          confirm="End sessions"
          onConfirm={async () => {
            const data = await run(RevokeSessionsDocument, { id });
            done(`${data.revokeUserSessions} sessions ended.`);
          }}
        />
        <Confirm
          label="Unlock"
          title={`Unlock ${u.username}?`}
          body="Ends the password lockout: they may try to sign in at once."
          confirm="Unlock"
          danger={false}
          onConfirm={async () => {
            await run(UnlockDocument, { id });
            done('Unlocked.');
          }}
        />
        {u.mfaEnabled && (
          <Confirm
            label="Reset second factor"
            title={`Turn off ${u.username}'s second factor?`}
            body="Their authenticator and recovery codes stop working; they sign in with the password alone until they set one up again."
            confirm="Reset"
            onConfirm={async () => {
              await run(ResetMfaDocument, { id });
              done('Second factor reset.');
            }}
          />
        )}
        <Impersonate id={id} username={u.username} />
        <Confirm
          label="Erase"
          title={`Erase ${u.username}'s personal data?`}
          body="Their profile, addresses, sessions, keys and sign-in methods go for good; the id stays in the audit trail. This cannot be undone."
          confirm="Erase for good"
          onConfirm={async () => {
            await run(EraseDocument, { id });
            done('Erased.');
          }}
        />
      </div>
      )}

      <div className="grid">
        <article aria-labelledby="profile-title">
          <h2 id="profile-title">Profile</h2>
          <dl>
            <dt>Id</dt>
            <dd>
              <code>{u.id}</code>
            </dd>
            <dt>Email</dt>
            <dd>
              {u.email ?? '—'} {u.emailVerified ? <span className="badge active">verified</span> : <span className="badge">unverified</span>}
            </dd>
            <dt>Status</dt>
            <dd>
              <span className={`badge ${u.status.toLowerCase()}`}>{u.status}</span>
              {u.isDeleted && <span className="badge suspended">deleted</span>}
              {u.isSuperuser && <span className="badge">superuser</span>}
            </dd>
            <dt>Roles</dt>
            <dd>
              {u.roles.map((r) => r.name).join(', ') || '—'}{' '}
              <EditRoles id={id} held={u.roles.map((r) => r.id)} onDone={() => done('Roles changed.')} />
            </dd>
            <dt>Tier</dt>
            <dd>
              {u.tier?.name ?? '—'} <EditTier id={id} current={u.tier?.id ?? null} onDone={() => done('Tier changed.')} />
            </dd>
            <dt>Second factor</dt>
            <dd>{u.mfaEnabled ? 'on' : 'off'}</dd>
            <dt>Password</dt>
            <dd>{u.hasPassword ? 'set' : 'none'}</dd>
            <dt>Joined</dt>
            <dd>{when(u.createdAt)}</dd>
            <dt>Last sign-in</dt>
            <dd>{when(u.lastLoginAt)}</dd>
            <dt>appMetadata</dt>
            <dd>
              <code className="json">{JSON.stringify(u.appMetadata)}</code>
            </dd>
          </dl>
        </article>

        <article aria-labelledby="sessions-title">
          <h2 id="sessions-title">Sessions</h2>
          {u.sessions.length === 0 ? (
            <Empty>No live session.</Empty>
          ) : (
            <ul className="rows">
              {u.sessions.map((s) => (
                <li key={s.id}>
                  <strong>{s.userAgent ?? 'unknown client'}</strong> <span className="sub">{s.ip ?? ''}</span>
                  <span className="sub">
                    since {when(s.createdAt)}, last used {when(s.lastUsedAt)}
                  </span>
                  {s.impersonator && (
                    <span className="badge warn">
                      {s.impersonator.username} acting{s.readOnly ? ', read-only' : ''}: {s.impersonationReason}
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
        </article>

        <article aria-labelledby="keys-title">
          <h2 id="keys-title">API keys</h2>
          <ErrorNote error={keys.error} />
          {keys.data && (keys.data.apiKeys.length === 0 ? <Empty>No API key.</Empty> : (
            <ul className="rows">
              {keys.data.apiKeys.map((k) => (
                <li key={k.id}>
                  <strong>{k.name}</strong> <code>{k.prefix}…</code>
                  <span className="sub">{k.permissions.join(', ') || 'no permission'}; last used {when(k.lastUsedAt)}</span>
                  <Confirm
                    label="Revoke"
                    title={`Revoke the key ${k.name}?`}
                    body="Whatever uses it stops working at once."
                    confirm="Revoke"
                    onConfirm={async () => {
                      await run(RevokeApiKeyDocument, { id: k.id });
                      keys.reload();
                      done(`Key ${k.name} revoked.`);
                    }}
                  />
                </li>
              ))}
            </ul>
          ))}
        </article>

        <article aria-labelledby="ways-title">
          <h2 id="ways-title">Passkeys and identities</h2>
          {u.passkeys.length + u.identities.length === 0 ? (
            <Empty>No passkey and no linked provider.</Empty>
          ) : (
            <ul className="rows">
              {u.passkeys.map((p) => (
                <li key={p.id}>
                  Passkey <strong>{p.name}</strong> <span className="sub">added {when(p.createdAt)}, last used {when(p.lastUsedAt)}</span>
                </li>
              ))}
              {u.identities.map((i) => (
                <li key={i.id}>
                  {i.provider.name} <span className="sub">{i.email ?? ''}</span>
                </li>
              ))}
            </ul>
          )}
        </article>

        <article aria-labelledby="orgs-title">
          <h2 id="orgs-title">Organisations</h2>
          {u.memberships.length === 0 ? (
            <Empty>Member of no organisation.</Empty>
          ) : (
            <ul className="rows">
              {u.memberships.map((m) => (
                <li key={m.id}>
                  <strong>{m.organization.name}</strong> <span className="sub">{m.organization.slug}</span>
                  <span className="sub">{m.roles.map((r) => r.name).join(', ')}</span>
                </li>
              ))}
            </ul>
          )}
        </article>

        <article aria-labelledby="timeline-title" className="wide">
          <h2 id="timeline-title">Audit timeline</h2>
          <ErrorNote error={audit.error} />
          {audit.data?.user && (audit.data.user.auditEvents.nodes.length === 0 ? <Empty>Nothing recorded yet.</Empty> : (
            <ol className="rows">
              {audit.data.user.auditEvents.nodes.map((e) => (
                <li key={e.id}>
                  <code>{e.action}</code> <span className="sub">{when(e.createdAt)}</span>
                  <span className="sub">
                    by {e.actor?.username ?? e.actorId ?? 'the system'}
                    {e.impersonatorId ? ` (acted by ${e.impersonatorId})` : ''}
                    {e.ip ? ` from ${e.ip}` : ''}
                  </span>
                  {e.changes != null && <code className="json sub">{JSON.stringify(e.changes)}</code>}
                </li>
              ))}
            </ol>
          ))}
        </article>
      </div>
    </section>
  );
}

/** Replaces a user's roles (`ROLES_ASSIGN`, and every permission of each role changed). */
function EditRoles({ id, held, onDone }: { id: string; held: string[]; onDone: () => void }) {
  const [roles, setRoles] = useState<{ id: string; name: string; permissions: string[] }[] | null>(null);
  const [chosen, setChosen] = useState<string[]>(held);
  return (
    <Confirm
      label="Edit roles"
      small
      danger={false}
      title="Roles"
      confirm="Save roles"
      onOpen={async () => {
        setChosen(held);
        setRoles((await run(RolesDocument, {})).roles);
      }}
      onConfirm={async () => {
        await run(SetRolesDocument, { id, roleIds: chosen });
        onDone();
      }}
    >
      {roles === null && <Loading />}
      {roles?.map((role) => (
        <label key={role.id} className="inline">
          <input
            type="checkbox"
            checked={chosen.includes(role.id)}
            onChange={(e) => setChosen(e.target.checked ? [...chosen, role.id] : chosen.filter((r) => r !== role.id))}
          />
          {role.name} <span className="sub">{role.permissions.join(', ') || 'no permission'}</span>
        </label>
      ))}
    </Confirm>
  );
}

/** Moves a user to another tier, or to none (superusers). */
function EditTier({ id, current, onDone }: { id: string; current: string | null; onDone: () => void }) {
  const [tiers, setTiers] = useState<{ id: string; name: string }[] | null>(null);
  const [chosen, setChosen] = useState<string>(current ?? '');
  return (
    <Confirm
      label="Change tier"
      small
      danger={false}
      title="Tier"
      confirm="Save tier"
      onOpen={async () => {
        setChosen(current ?? '');
        setTiers((await run(TiersDocument, {})).tiers);
      }}
      onConfirm={async () => {
        await run(SetTierDocument, { id, tierId: chosen || null });
        onDone();
      }}
    >
      <label>
        Tier
        <select value={chosen} onChange={(e) => setChosen(e.target.value)}>
          <option value="">none</option>
          {tiers?.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
    </Confirm>
  );
}

/** Starts an impersonation: why, how long, read-only or not, and the administrator's password. */
function Impersonate({ id, username }: { id: string; username: string }) {
  const [reason, setReason] = useState('');
  const [readOnly, setReadOnly] = useState(true);
  const [minutes, setMinutes] = useState(15);
  const [password, setPassword] = useState('');
  return (
    <Confirm
      label="Impersonate"
      danger={false}
      title={`Act as ${username}`}
      body="They will see this session and everything done in it, and may be mailed about it."
      confirm="Start"
      onClose={() => setPassword('')}
      onConfirm={async () => {
        const data = await run(ImpersonateDocument, { id, reason, readOnly, ttlSeconds: minutes * 60, password });
        setPassword('');
        auth.impersonate({ ...data.impersonateUser, username, readOnly });
      }}
    >
      <label>
        Reason (a ticket or request)
        <input value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={500} />
      </label>
      <label>
        For
        <select value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
          <option value={5}>5 minutes</option>
          <option value={15}>15 minutes</option>
          <option value={30}>30 minutes</option>
          <option value={60}>1 hour</option>
        </select>
      </label>
      <label className="inline">
        <input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly(e.target.checked)} />
        Read-only (changes nothing)
      </label>
      <label>
        Your password
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" required />
      </label>
    </Confirm>
  );
}
