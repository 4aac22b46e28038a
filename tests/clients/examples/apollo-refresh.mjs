// Apollo Client 4: send the access token, and when it has expired
// (TOKEN_EXPIRED), refresh it once and retry the operation.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { from, switchMap } from 'rxjs';

// `tokens` is { access, refresh }, from login; keep it wherever your app keeps it.
export function apolloClient(url, tokens) {
  const refresh = async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({
        query: 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }',
        variables: { t: tokens.refresh },
      }),
    });
    const { data } = await response.json();
    if (!data?.refreshToken) throw new Error('the session has ended: sign in again');
    tokens.access = data.refreshToken.accessToken;
    tokens.refresh = data.refreshToken.refreshToken;
  };
  const auth = new SetContextLink((previous) => ({
    headers: { ...previous.headers, authorization: `Bearer ${tokens.access}` },
  }));
  const retryOnExpiry = new ErrorLink(({ error, operation, forward }) => {
    const expired =
      CombinedGraphQLErrors.is(error) &&
      error.errors.some((e) => e.extensions?.code === 'TOKEN_EXPIRED');
    if (expired) return from(refresh()).pipe(switchMap(() => forward(operation)));
  });
  return new ApolloClient({
    link: ApolloLink.from([retryOnExpiry, auth, new HttpLink({ uri: url })]),
    cache: new InMemoryCache(),
  });
}
