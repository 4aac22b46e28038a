// After `vite build`: copies the trusted-documents manifest beside the
// bundle (the binary embeds it and trusts it whenever it serves the
// console) and writes the licences of every package the bundle contains.
import { copyFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(here, '..', 'assets', 'console');
copyFileSync(join(here, 'src', 'gql', 'persisted-documents.json'), join(out, 'persisted-documents.json'));

// The runtime packages the bundle carries (the rest only build it).
const bundled = ['react', 'react-dom', 'scheduler', 'graphql', 'graphql-ws', '@graphql-typed-document-node/core'];
let text = 'Licences of the packages bundled into console.js\n';
for (const name of bundled) {
  const dir = join(here, 'node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = ['LICENSE', 'LICENSE.md', 'license', 'LICENSE.txt'].map((f) => join(dir, f)).find(existsSync);
  text += `\n==== ${name} ${pkg.version} (${pkg.license}) ====\n\n`;
  text += file ? readFileSync(file, 'utf8') : `${pkg.license}\n`;
}
writeFileSync(join(out, 'LICENSES.txt'), text);
