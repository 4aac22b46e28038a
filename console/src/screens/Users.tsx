import { useState } from 'react';
import { run } from '../api';
import { UsersDocument } from '../documents';
import { go, href } from '../route';
import { Empty, ErrorNote, Loading, useLoad, when } from '../ui';
import { BOOLEAN_FIELDS, type Built, type Condition, FIELDS, type Field, STATUSES, parse, toUserFilter } from './filter';

const PAGE = 25;

/** Users, filtered by the builder (kept in the URL), a page at a time. */
export function Users({ params }: { params: URLSearchParams }) {
  const applied = parse(params.get('filter'));
  const after = params.get('after') ?? undefined;
  const [draft, setDraft] = useState<Built>(applied);
  const page = useLoad(
    () => run(UsersDocument, { first: PAGE, after, filter: toUserFilter(applied) }),
    [params.toString()],
  );

  function apply(built: Built, cursor?: string) {
    go('users', {
      filter: built.conditions.length ? JSON.stringify(built) : undefined,
      after: cursor,
    });
  }

  function update(index: number, change: Partial<Condition>) {
    setDraft((d) => ({
      ...d,
      conditions: d.conditions.map((c, i) => (i === index ? { ...c, ...change } : c)),
    }));
  }

  const users = page.data?.users;
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <form
        className="filter"
        aria-label="Filter users"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <div className="combine">
          Match
          <select
            aria-label="How conditions combine"
            value={draft.combine}
            onChange={(e) => setDraft({ ...draft, combine: e.target.value === 'or' ? 'or' : 'and' })}
          >
            <option value="and">all of</option>
            <option value="or">any of</option>
          </select>
          these conditions
        </div>
        {draft.conditions.map((condition, index) => (
          <fieldset key={index} className="condition">
            <legend className="visually-hidden">Condition {index + 1}</legend>
            <label className="inline">
              <input type="checkbox" checked={condition.negate} onChange={(e) => update(index, { negate: e.target.checked })} />
              not
            </label>
            <select
              aria-label="Field"
              value={condition.field}
              onChange={(e) => {
                const field = e.target.value as Field;
                update(index, { field, value: field === 'status' ? 'ACTIVE' : BOOLEAN_FIELDS.includes(field) ? 'true' : '' });
              }}
            >
              {Object.entries(FIELDS).map(([field, label]) => (
                <option key={field} value={field}>
                  {label}
                </option>
              ))}
            </select>
            {condition.field === 'metadata' && (
              <input aria-label="appMetadata key" placeholder="key" value={condition.key ?? ''} onChange={(e) => update(index, { key: e.target.value })} />
            )}
            {condition.field === 'status' ? (
              <select aria-label="Status" value={condition.value} onChange={(e) => update(index, { value: e.target.value })}>
                {STATUSES.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            ) : BOOLEAN_FIELDS.includes(condition.field) ? (
              <select aria-label="Value" value={condition.value} onChange={(e) => update(index, { value: e.target.value })}>
                <option value="true">yes</option>
                <option value="false">no</option>
              </select>
            ) : (
              <input aria-label="Value" value={condition.value} onChange={(e) => update(index, { value: e.target.value })} />
            )}
            <button
              type="button"
              aria-label={`Remove condition ${index + 1}`}
              onClick={() => setDraft({ ...draft, conditions: draft.conditions.filter((_, i) => i !== index) })}
            >
              ✕
            </button>
          </fieldset>
        ))}
        <div className="actions">
          <button
            type="button"
            onClick={() => setDraft({ ...draft, conditions: [...draft.conditions, { field: 'search', value: '', negate: false }] })}
          >
            Add condition
          </button>
          <button type="submit" className="primary">
            Apply
          </button>
          {applied.conditions.length > 0 && (
            <button
              type="button"
              onClick={() => {
                setDraft({ combine: 'and', conditions: [] });
                apply({ combine: 'and', conditions: [] });
              }}
            >
              Clear
            </button>
          )}
        </div>
      </form>
      <ErrorNote error={page.error} />
      {page.loading && !users && <Loading />}
      {users && (
        <>
          <p className="count" aria-live="polite">
            {users.totalCount} {users.totalCount === 1 ? 'user' : 'users'}
          </p>
          {users.nodes.length === 0 ? (
            <Empty>No user matches this filter.</Empty>
          ) : (
            <div className="table">
              <table>
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Email</th>
                    <th scope="col">Status</th>
                    <th scope="col">Roles</th>
                    <th scope="col">Last sign-in</th>
                  </tr>
                </thead>
                <tbody>
                  {users.nodes.map((user) => (
                    <tr key={user.id}>
                      <td>
                        <a href={href(`users/${user.id}`)}>{user.username}</a>
                        <span className="sub">{user.name}</span>
                      </td>
                      <td>{user.email ?? '—'}</td>
                      <td>
                        <span className={`badge ${user.status.toLowerCase()}`}>{user.status}</span>
                        {user.isSuperuser && <span className="badge">superuser</span>}
                      </td>
                      <td>{user.roles.map((r) => r.name).join(', ')}</td>
                      <td>{when(user.lastLoginAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav className="pager" aria-label="Pages">
            {after && <a href={href('users', { filter: params.get('filter') ?? undefined })}>First page</a>}
            {users.pageInfo.hasNextPage && users.pageInfo.endCursor && (
              <a href={href('users', { filter: params.get('filter') ?? undefined, after: users.pageInfo.endCursor })}>Next page</a>
            )}
          </nav>
        </>
      )}
    </section>
  );
}
