// Node: verify a usergraph access token with its published keys (jose).
// `publicUrl` is usergraph's PUBLIC_URL, which is also the tokens' issuer.
import { createRemoteJWKSet, jwtVerify } from 'jose';

export function usergraphVerifier(publicUrl, jwksUrl = `${publicUrl}/.well-known/jwks.json`) {
  // Cached, and fetched again when a token names a key it has not seen (a rotation).
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  return async (token) => {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: publicUrl,
      audience: 'usergraph',
      algorithms: ['EdDSA', 'ES256', 'RS256'],
    });
    return payload; // payload.sub is the user's id (usr_…), payload.sid the session's
  };
}
