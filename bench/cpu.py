#!/usr/bin/env python3
"""Where a request's CPU goes: each server's own, PostgreSQL's and wrk's.

Runs usergraph, bench-raw and PostGraphile 5 on a database `run.py` has
seeded (`ug_bench_<size>`), interleaves wrk cells of Q1 (and optionally Q2
and A2), and charges each request the CPU its server spent, the CPU all
PostgreSQL processes on this machine spent, and wrk's. On a machine where
all three share the cores, that sum is what bounds throughput.

    python3 bench/run.py --sizes 100000 --scenarios Q1   # seeds ug_bench_100000
    git checkout bench/results                           # run.py rewrote the profile's report
    python3 bench/cpu.py --size 100000 --cells Q1c1,Q1c16,Q2c16,A2c16 [--no-postgraphile]

It counts every PostgreSQL process on the machine: run it on a quiet one.

Extra usergraph builds to compare: --build name=/path/to/usergraph.
"""
import argparse
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402


def postgres_cpu_seconds():
    """CPU seconds by PostgreSQL process id: a cell charges the growth of
    each, so a connection that ends mid-run (PostGraphile's pool closes idle
    ones) takes none of its earlier CPU with it."""
    by_pid = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.index("(") + 1:text.rindex(")")].startswith("postgres"):
            fields = text.rsplit(")", 1)[1].split()
            by_pid[stat.parent.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return by_pid


def grown(before, after):
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--cells", default="Q1c1,Q1c16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--build", action="append", default=[], help="name=path of another usergraph binary")
    parser.add_argument("--no-postgraphile", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    url = args.database_url.rsplit("/", 1)[0] + f"/ug_bench_{args.size}"
    release = R.ROOT / "target/release"
    env = {"DATABASE_URL": url + "?sslmode=disable", "JWT_SECRET": R.JWT_SECRET, "JWT_ISSUER": "usergraph", "RUST_LOG": "warn", "APP_ENV": "production",
           "RATE_LIMITS": "off", "METRICS_TOKEN": R.METRICS_TOKEN, "MAIL_TRANSPORT": "log", "MFA_ENCRYPTION_KEY": R.JWT_SECRET + "-mfa"}
    builds = [("usergraph", release / "usergraph")] + [tuple(b.split("=", 1)) for b in args.build]
    servers = []
    try:
        for i, (name, binary) in enumerate(builds):
            servers.append(R.Server(name, binary, R.UG_PORT + 10 + i, env))
        raw = R.Server("bench-raw", release / "bench-raw", R.RAW_PORT, env)
        servers.append(raw)
        pg5 = None if args.no_postgraphile else R.postgraphile_server(url)
        if pg5:
            servers.append(pg5)
        R.UG_PORT = servers[0].port
        token = R.post(R.UG_PORT, {"query": R.A1, "variables": {"i": {"login": "benchadmin", "password": R.ADMIN_PASSWORD}}})["data"]["login"]["accessToken"]
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "ug-bench-cpu"
        tmp.mkdir(exist_ok=True)
        cursors = R.sample_cursors(token, 60, args.size, 7)
        ids = R.psql(url, "SELECT id FROM users WHERE username LIKE 'user%' ORDER BY md5(id::text) LIMIT 300").split()
        bodies = {
            "Q1": R.write_bodies(tmp, "q1", R.Q1, [{"after": c} for c in cursors], "Q1"),
            "Q2": R.write_bodies(tmp, "q2", R.Q2, [{"id": "usr_" + i.replace("-", "")} for i in ids], "Q2"),
            "A2": R.write_bodies(tmp, "a2", R.A2, [{}], "A2"),
        }
        if pg5:
            offsets = random.Random(7).sample(range(args.size - 60), 60)
            pg5_cursors = [R.post(pg5.port, {"query": "query($o: Int) { allUsers(first: 1, offset: $o, orderBy: [CREATED_AT_DESC, ROW_ID_DESC], "
                                                       "condition: { deletedAt: null }) { pageInfo { endCursor } } }", "variables": {"o": o}})
                           ["data"]["allUsers"]["pageInfo"]["endCursor"] for o in offsets]
            pg5_q1 = R.write_bodies(tmp, "pg5q1", R.PG5_Q1, [{"after": c} for c in pg5_cursors], "Q1")
        results = {}
        for round_ in range(args.rounds):
            for cell in args.cells.split(","):
                scenario, conns = cell.split("c")
                order = [s for s in servers if s is not pg5 or scenario == "Q1"]
                if round_ % 2:
                    order.reverse()
                for server in order:
                    body = pg5_q1 if server is pg5 else bodies[scenario]
                    time.sleep(1)
                    pg0, wrk0 = postgres_cpu_seconds(), children_cpu_seconds()
                    answer = R.wrk(server, body, None if server is pg5 else token, int(conns), args.duration, f"{round_}")
                    pg1, wrk1 = postgres_cpu_seconds(), children_cpu_seconds()
                    if answer.get("errors"):
                        raise SystemExit(f"{server.name} {cell}: {answer['errors']} error answers")
                    n = max(1, answer["requests"])
                    results.setdefault((cell, server.name), []).append(dict(
                        rps=answer["rps"], server=answer["cpu_ms_per_request"],
                        postgres=grown(pg0, pg1) * 1000 / n, wrk=(wrk1 - wrk0) * 1000 / n))
        print(f"| cell | server | req/s | server CPU ms | PostgreSQL CPU ms | wrk CPU ms | all, ms per request |")
        print("|---|---|---|---|---|---|---|")
        for (cell, name), runs in results.items():
            m = {k: statistics.median(r[k] for r in runs) for k in ("rps", "server", "postgres", "wrk")}
            print(f"| {cell.replace('c', '@c', 1)} | {name} | {m['rps']:,.0f} | {m['server']:.2f} | {m['postgres']:.2f} | {m['wrk']:.2f} | "
                  f"{m['server'] + m['postgres'] + m['wrk']:.2f} |")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
