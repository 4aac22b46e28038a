// PostGraphile 5 with its recommended preset (Amber), serving the benchmark
// database's `public` schema at /graphql, as bench/run.py starts it.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const [host, port] = (process.env.BIND_ADDR ?? "127.0.0.1:18082").split(":");
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      // usergraph's pool size (DATABASE_MAX_CONNECTIONS's default).
      poolConfig: { max: Number(process.env.PG_POOL_MAX ?? 10) },
    }),
  ],
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
await serv.addTo(server);
server.listen(Number(port), host, () => console.log(`listening on ${host}:${port}`));
process.on("SIGTERM", async () => {
  server.close();
  await pgl.release();
  process.exit(0);
});
