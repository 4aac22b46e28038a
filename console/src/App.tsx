import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { auth, closeSocket, impersonationEnded, run } from './api';
import { LogoutDocument, MeDocument } from './documents';
import { href, useRoute } from './route';
import { SignIn } from './screens/SignIn';
import { Users } from './screens/Users';
import { UserPage } from './screens/UserPage';
import { Audit } from './screens/Audit';
import { Organizations, Roles, SigningKeys, Tiers, Webhooks } from './screens/Lists';
import { Impersonated } from './screens/Impersonated';
import { ErrorNote } from './ui';

const PLACES: [string, string][] = [
  ['users', 'Users'],
  ['audit', 'Audit'],
  ['roles', 'Roles'],
  ['tiers', 'Tiers'],
  ['organizations', 'Organisations'],
  ['webhooks', 'Webhooks'],
  ['keys', 'Signing keys'],
];

function useAuth() {
  return useSyncExternalStore(auth.subscribe, () => `${auth.admin?.accessToken ?? ''}|${auth.impersonation?.accessToken ?? ''}`);
}

export function App() {
  useAuth();
  const route = useRoute();
  const [me, setMe] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const signedIn = Boolean(auth.admin);
  const main = useRef<HTMLElement>(null);
  const place = route.path[0] ?? 'users';
  const where = route.path.join('/');
  // A new screen takes the focus, so a keyboard or screen reader starts there.
  useEffect(() => {
    main.current?.focus({ preventScroll: true });
  }, [where]);

  useEffect(() => {
    if (!signedIn) {
      setMe(null);
      return;
    }
    run(MeDocument, {}).then(
      (data) => setMe(data.me.username),
      (e: unknown) => setError(e),
    );
  }, [signedIn]);

  if (!signedIn) return <SignIn />;
  if (auth.impersonation) return <Impersonated />;

  let screen;
  switch (place) {
    case 'users':
      screen = route.path[1] ? (
        <UserPage key={route.path[1]} id={route.path[1]} />
      ) : (
        <Users key={route.params.get('filter') ?? ''} params={route.params} />
      );
      break;
    case 'audit':
      screen = <Audit />;
      break;
    case 'roles':
      screen = <Roles />;
      break;
    case 'tiers':
      screen = <Tiers />;
      break;
    case 'organizations':
      screen = <Organizations />;
      break;
    case 'webhooks':
      screen = <Webhooks />;
      break;
    case 'keys':
      screen = <SigningKeys />;
      break;
    default:
      screen = <p>Nothing is here. <a href={href('users')}>Go to the users.</a></p>;
  }

  return (
    <div className="shell">
      <a
        className="skip"
        href="#main"
        onClick={(e) => {
          // The fragment holds the console's place: focus, do not navigate.
          e.preventDefault();
          main.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header>
        <strong className="brand">usergraph</strong>
        <nav aria-label="Console">
          {PLACES.map(([path, label]) => (
            <a key={path} href={href(path)} aria-current={place === path ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span className="who">
          {me ?? '…'}
          <button
            type="button"
            onClick={async () => {
              await run(LogoutDocument, {}).catch(() => undefined);
              closeSocket();
              auth.signOut();
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1} ref={main}>
        {impersonationEnded && (
          <p className="notice" role="status">
            {impersonationEnded}
          </p>
        )}
        <ErrorNote error={error} />
        {screen}
      </main>
    </div>
  );
}
