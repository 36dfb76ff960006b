"""Query workloads: psqlpy against asyncpg in the same run, interleaved.

  * SELECT 1 round trips/s (one connection, sequential)
  * fetch 10k rows x 8 mixed columns (rows/s; ours returns dicts via
    QueryResult.result(), asyncpg Records: each driver's usual result)
  * execute_many of 10k rows (rows/s)
  * copy_records_to_table of 100k rows (rows/s)

Every result is checked (counts and values) so a fast wrong answer cannot win.

    python benchmarks/bench_queries.py [--dsn DSN] [--rounds 3] [--loops asyncio,uvloop]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import decimal
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

import psqlpy  # noqa: E402

try:
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None
try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

FETCH_SQL = """
SELECT g AS id, g::int8 * 1000 AS big, g::float8 / 3 AS ratio, 'name-' || g AS name,
       (g % 2 = 0) AS flag, now() AS ts, (g::numeric / 7)::numeric(12, 4) AS amount,
       md5(g::text) AS hash
FROM generate_series(1, 10000) g
"""


class Ours:
    name = "psqlpy"

    async def connect(self, dsn):
        self.conn = await psqlpy.connect(dsn=dsn)

    async def close(self):
        await self.conn.__aexit__(None, None, None)

    async def select1(self):
        return await self.conn.fetch_val("SELECT 1")

    async def fetch(self):
        return (await self.conn.fetch(FETCH_SQL)).result()

    async def execute(self, sql):
        await self.conn.execute_batch(sql)

    async def execute_many(self, sql, rows):
        await self.conn.execute_many(sql, rows)

    async def scalar(self, sql):
        return await self.conn.fetch_val(sql)

    async def copy(self, table, records, columns):
        return await self.conn.copy_records_to_table(table, records, columns=columns)


class Theirs:
    name = "asyncpg"

    async def connect(self, dsn):
        self.conn = await asyncpg.connect(dsn)

    async def close(self):
        await self.conn.close()

    async def select1(self):
        return await self.conn.fetchval("SELECT 1")

    async def fetch(self):
        return await self.conn.fetch(FETCH_SQL)

    async def execute(self, sql):
        await self.conn.execute(sql)

    async def execute_many(self, sql, rows):
        await self.conn.executemany(sql, rows)

    async def scalar(self, sql):
        return await self.conn.fetchval(sql)

    async def copy(self, table, records, columns):
        await self.conn.copy_records_to_table(table, records=records, columns=columns)
        return len(records)


async def workload(driver, dsn, which):
    await driver.connect(dsn)
    try:
        if which == "select1":
            n = 5000
            t0 = time.perf_counter()
            for _ in range(n):
                assert await driver.select1() == 1
            return n / (time.perf_counter() - t0)
        if which == "fetch":
            t0 = time.perf_counter()
            rows = await driver.fetch()
            dt = time.perf_counter() - t0
            assert len(rows) == 10000 and rows[9999]["id"] == 10000 and rows[0]["name"] == "name-1"
            return 10000 / dt
        table = f"bench_{driver.name}"
        await driver.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} "
                             f"(a int4, b text, c float8, d timestamptz)")
        ts = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        if which == "execute_many":
            rows = [(i, f"row{i}", i / 2, ts) for i in range(10000)]
            t0 = time.perf_counter()
            await driver.execute_many(f"INSERT INTO {table} VALUES ($1, $2, $3, $4)", rows)
            dt = time.perf_counter() - t0
            assert await driver.scalar(f"SELECT count(*) FROM {table}") == 10000
            return 10000 / dt
        if which == "copy":
            rows = [(i, f"row{i}", i / 2, ts) for i in range(100000)]
            t0 = time.perf_counter()
            await driver.copy(table, rows, ["a", "b", "c", "d"])
            dt = time.perf_counter() - t0
            assert await driver.scalar(f"SELECT count(*) FROM {table}") == 100000
            assert await driver.scalar(f"SELECT sum(a)::int8 FROM {table}") == sum(range(100000))
            return 100000 / dt
    finally:
        await driver.close()


def run_loop(loop_name, coro):
    if loop_name == "uvloop":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            return r.run(coro)
    return asyncio.run(coro)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--workloads", default="select1,fetch,execute_many,copy")
    args = ap.parse_args()
    cluster = None
    dsn = args.dsn
    if not dsn:
        from pgcluster import PgCluster
        cluster = PgCluster().start()
        dsn = cluster.dsn(sslmode="disable")
    loops = [x for x in args.loops.split(",") if x != "uvloop" or uvloop]
    workloads = args.workloads.split(",")
    if not hasattr(psqlpy.Connection, "copy_records_to_table") and "copy" in workloads:
        workloads.remove("copy")
    drivers = [Ours, Theirs] if asyncpg else [Ours]
    print(f"# queries, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, rounds={args.rounds}, TLS off")
    results: dict = {}
    try:
        for r in range(args.rounds):
            for loop_name in loops:
                for w in workloads:
                    for cls in drivers:
                        rate = run_loop(loop_name, workload(cls(), dsn, w))
                        results.setdefault((loop_name, w, cls.name), []).append(rate)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        print("\n| loop | workload | psqlpy /s | asyncpg /s | ratio |")
        print("|---|---|---|---|---|")
        for loop_name in loops:
            for w in workloads:
                ours = statistics.median(results[(loop_name, w, "psqlpy")])
                theirs = statistics.median(results.get((loop_name, w, "asyncpg"), [float("nan")]))
                print(f"| {loop_name} | {w} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x |")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
