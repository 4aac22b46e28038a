// The console's GraphQL types come from the committed schema.graphql, and
// its documents become a trusted-documents manifest
// (src/gql/persisted-documents.json, keyed by SHA-256): the bundle sends
// only hashes, and the binary trusts the manifest whenever it serves the
// console, so the console works under TRUSTED_DOCUMENTS_ONLY too.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        persistedDocuments: { hashAlgorithm: 'sha256', mode: 'replaceDocumentWithHash' },
      },
      config: {
        enumsAsTypes: true,
        strictScalars: true,
        useTypeImports: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
      },
    },
  },
};

export default config;
