// The graphql-codegen configuration shown in the README ("Generating a typed
// client"): the client preset, with DateTime and JSON mapped (strictScalars
// on), and (with
// USERGRAPH_PERSISTED set) the persisted-documents manifest the server takes
// as TRUSTED_DOCUMENTS. run.mjs uses it against the running server's URL and
// against the committed schema.graphql.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: process.env.USERGRAPH_SCHEMA ?? 'http://127.0.0.1:8000/graphql',
  documents: ['operations/**/*.graphql'],
  generates: {
    'generated/': {
      preset: 'client',
      presetConfig: process.env.USERGRAPH_PERSISTED
        ? { persistedDocuments: { hashAlgorithm: 'sha256' } }
        : {},
      config: {
        // JSON holds metadata objects; strictScalars needs every scalar mapped.
        scalars: { DateTime: 'string', JSON: 'Record<string, unknown>' },
        strictScalars: true,
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
