// urql: send the access token, and when it has expired (TOKEN_EXPIRED),
// refresh it once and retry the operation.
import { Client, fetchExchange } from '@urql/core';
import { authExchange } from '@urql/exchange-auth';

// `tokens` is { access, refresh }, from login; keep it wherever your app keeps it.
export function urqlClient(url, tokens) {
  return new Client({
    url,
    preferGetMethod: false,
    exchanges: [
      authExchange(async (utils) => ({
        addAuthToOperation: (operation) =>
          utils.appendHeaders(operation, { authorization: `Bearer ${tokens.access}` }),
        didAuthError: (error) =>
          error.graphQLErrors.some((e) => e.extensions?.code === 'TOKEN_EXPIRED'),
        refreshAuth: async () => {
          const result = await utils.mutate(
            'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }',
            { t: tokens.refresh },
          );
          if (!result.data?.refreshToken) throw new Error('the session has ended: sign in again');
          tokens.access = result.data.refreshToken.accessToken;
          tokens.refresh = result.data.refreshToken.refreshToken;
        },
      })),
      fetchExchange,
    ],
  });
}
