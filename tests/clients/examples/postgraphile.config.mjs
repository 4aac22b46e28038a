// PostGraphile 5 beside usergraph: verify each request's usergraph token
// with its JWKS (usergraph runs with JWT_ALGORITHM=EdDSA and
// JWT_CLAIMS_PRESET=postgraphile), then hand the claims to PostgreSQL,
// where row-level security reads them.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { makePgService } from 'postgraphile/adaptors/pg';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

// e.g. https://id.example.com/.well-known/jwks.json and https://id.example.com
const jwks = createRemoteJWKSet(new URL(process.env.USERGRAPH_JWKS_URL));
const issuer = process.env.USERGRAPH_ISSUER;

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ['app_public'] })],
  grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false },
  grafast: {
    async context(requestContext) {
      const header = requestContext.node?.req?.headers?.authorization ?? '';
      const token = /^Bearer (.+)$/i.exec(header)?.[1];
      if (!token) return { pgSettings: { role: 'usergraph_anonymous' } };
      // Throws on a forged, expired or foreign token: the request fails.
      const { payload } = await jwtVerify(token, jwks, { issuer, audience: 'usergraph' });
      return {
        pgSettings: {
          // The user's usergraph role, as a PostgreSQL role of your naming.
          role: `usergraph_${payload.role}`,
          'jwt.claims.user_id': payload.user_id,
        },
      };
    },
  },
};
