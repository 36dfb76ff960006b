"""Randomized stress of one connection shared by many tasks (issue 15).

Tasks share two connections (statement cache on and off) and a small pool, and
issue random work -- prepared and unprepared queries, rows, prepared
statements, execute_many (batched and not), COPY, cursors and transactions (on
pool connections: a transaction on a shared connection would take in the
other tasks' queries) -- each with no deadline, a random timeout or a random
explicit cancellation.  It checks that

* every operation that completes returns exactly what it returns alone;
* no operation that was not cancelled raises (so never ``QueryCanceled``);
* a cancelled or timed-out operation gives control back within its deadline;
* execute_many, COPY and transactions are all-or-nothing, and all when they
  completed;
* afterwards the connections answer, are idle and in no transaction, the
  server runs nothing of ours, and closing leaves no task, socket or backend.

Bounded in time: ``PSQLPY_STRESS_SECONDS`` (default 4) per event loop.  The
seed is printed and named in every failure; ``PSQLPY_STRESS_SEED=<n>`` runs
that seed again (the interleaving with the server still varies).
"""
from __future__ import annotations

import asyncio
import itertools
import os
import random
import time

import pytest

import psqlpy
from pgcluster import make_dsn

pytestmark = pytest.mark.asyncio

SECONDS = float(os.environ.get("PSQLPY_STRESS_SECONDS", "4"))
SHARED_WORKERS = 8
POOL_WORKERS = 4
POOL_SIZE = 3
#: A cancelled operation must give control back within this many seconds of
#: its deadline (generous: a loaded CI machine).
GIVE_BACK = 1.0

_run_ids = itertools.count(1)


def _seed() -> int:
    s = os.environ.get("PSQLPY_STRESS_SEED")
    return int(s) if s else random.SystemRandom().randrange(2 ** 32)


class _Stress:
    def __init__(self, seed, shared, pool, tables):
        self.seed = seed
        self.shared = shared          # [(connection, cache on?)]
        self.pool = pool
        self.em, self.cp, self.tx = tables
        self.failures: list[str] = []
        self.counts: dict[str, int] = {}
        self.batches: list[tuple[str, int, int, bool]] = []   # table, batch, rows, completed
        self.batch_ids = itertools.count(1)

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # ---- operations: each returns (coroutine, expected, describe) -----------------

    def op_scalar(self, rng, conn):
        v = rng.randrange(-1000, 1000)
        prepared = rng.random() < 0.5
        choice = rng.randrange(7)
        if choice == 0:
            sql, params, want = "SELECT $1::int4 + 1", [v], v + 1
        elif choice == 1:
            s = "s%d" % v
            sql, params, want = "SELECT $1::text || '!'", [s], s + "!"
        elif choice == 2:
            sql, params, want = "SELECT 'abcd'::text", None, "abcd"
        elif choice == 3:
            sql, params, want = "SELECT 42::int4", None, 42
        elif choice == 4:
            sql, params, want = "SELECT $1::int8 * 3", [v], 3 * v
        elif choice == 5:
            sql, params, want = "SELECT $1::float8 / 2", [float(v)], v / 2
        else:
            t = rng.choice((0.0, 0.001, 0.01, 0.03))
            sql, params, want = "SELECT $1::int4 FROM pg_sleep($2::float8)", [v, t], v
        return (conn.fetch_val(sql, params, prepared=prepared), want,
                f"fetch_val({sql!r}, {params!r}, prepared={prepared})")

    def op_rows(self, rng, conn):
        n = rng.randrange(1, 200)
        suffix = rng.choice(("x", "yy", ""))
        prepared = rng.random() < 0.5

        async def run():
            res = await conn.execute("SELECT g, g::text || $2::text FROM generate_series(1, $1) g",
                                     [n, suffix], prepared=prepared)
            return res.result(as_tuple=True)
        return run(), [(g, f"{g}{suffix}") for g in range(1, n + 1)], f"rows(n={n})"

    def op_prepared(self, rng, conn):
        v = rng.randrange(1000)

        async def run():
            stmt = await conn.prepare("SELECT $1::int4 * 10 AS v", [v])
            return (await stmt.execute()).result(as_tuple=True)
        return run(), [(v * 10,)], f"prepare+execute({v})"

    async def _batch(self, table, batch, n, coro):
        """Run ``coro`` (writing ``n`` rows of ``batch`` to ``table``) and note
        whether it completed, for the all-or-nothing check at the end."""
        try:
            got = await coro
        except BaseException:
            self.batches.append((table, batch, n, False))
            raise
        self.batches.append((table, batch, n, True))
        return got

    def op_execute_many(self, rng, conn):
        batch = next(self.batch_ids)
        n = 1200 if rng.random() < 0.05 else rng.randrange(1, 30)
        prepared = rng.random() < 0.5
        coro = conn.execute_many(f"INSERT INTO {self.em} (batch, i) VALUES ($1, $2)",
                                 [[batch, i] for i in range(n)], prepared=prepared)
        return (self._batch(self.em, batch, n, coro), None,
                f"execute_many(batch={batch}, n={n}, prepared={prepared})")

    def op_copy(self, rng, conn):
        batch = next(self.batch_ids)
        n = rng.randrange(1, 300)
        coro = conn.copy_records_to_table(self.cp, records=[(batch, i) for i in range(n)],
                                          columns=["batch", "i"])
        return self._batch(self.cp, batch, n, coro), n, f"copy(batch={batch}, n={n})"

    def op_pool_cursor(self, rng):
        n = rng.randrange(1, 60)
        size = rng.randrange(1, 10)

        async def run():
            got: list[int] = []
            async with self.pool.acquire() as c:
                async with c.cursor("SELECT g FROM generate_series(1, $1) g", [n],
                                    array_size=size) as cur:
                    async for part in cur:
                        got.extend(r[0] for r in part.result(as_tuple=True))
                assert not await c.in_transaction()
            return got
        return run(), list(range(1, n + 1)), f"cursor(n={n}, array_size={size})"

    def op_pool_transaction(self, rng):
        batch = next(self.batch_ids)
        m = rng.randrange(1, 5)
        sleep = rng.random() < 0.3

        async def run():
            async with self.pool.acquire() as c:
                async with c.transaction() as tx:
                    for _ in range(m):
                        await tx.execute(f"INSERT INTO {self.tx} (batch) VALUES ($1)", [batch])
                    seen = await tx.fetch_val(
                        f"SELECT count(*) FROM {self.tx} WHERE batch = $1", [batch])
                    if sleep:
                        await tx.execute("SELECT pg_sleep(0.01)")
            return seen
        return self._batch(self.tx, batch, m, run()), m, f"transaction(batch={batch}, m={m})"

    def op_pool_query(self, rng):
        v = rng.randrange(1000)

        async def run():
            async with self.pool.acquire() as c:
                return await c.fetch_val("SELECT $1::int4 - 1", [v])
        return run(), v - 1, f"pool fetch_val({v})"

    # ---- running one operation ---------------------------------------------------------

    async def run_op(self, rng, coro, want, what) -> None:
        mode = rng.random()
        delay = rng.uniform(0, 0.03)
        if mode < 0.6:
            try:
                got = await coro
            except Exception as e:
                self.fail(f"{what}: not cancelled, raised {e!r}")
                return
            self.check(got, want, what)
            return
        if mode < 0.8:
            t0 = time.monotonic()
            try:
                got = await asyncio.wait_for(coro, delay)
            except asyncio.TimeoutError:
                self.count("timed out")
                late = time.monotonic() - t0 - delay
                if late > GIVE_BACK:
                    self.fail(f"{what}: timeout {delay:.3f} s gave control back {late:.2f} s late")
                return
            except Exception as e:
                self.fail(f"{what}: under a timeout, raised {e!r}")
                return
            self.check(got, want, what)
            return
        task = asyncio.ensure_future(coro)
        await asyncio.sleep(delay)
        t0 = time.monotonic()
        task.cancel()
        try:
            got = await task
        except asyncio.CancelledError:
            self.count("cancelled")
            late = time.monotonic() - t0
            if late > GIVE_BACK:
                self.fail(f"{what}: cancel gave control back {late:.2f} s late")
            return
        except Exception as e:
            self.fail(f"{what}: cancelled, raised {e!r}")
            return
        self.check(got, want, what)

    def check(self, got, want, what) -> None:
        self.count("completed")
        if got != want:
            self.fail(f"{what}: returned {_short(got)}, alone it returns {_short(want)}")

    async def shared_worker(self, i: int, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + i)
        ops = (self.op_scalar, self.op_scalar, self.op_scalar, self.op_rows, self.op_prepared,
               self.op_execute_many, self.op_copy)
        while time.monotonic() < deadline:
            conn, _ = rng.choice(self.shared)
            coro, want, what = rng.choice(ops)(rng, conn)
            await self.run_op(rng, coro, want, what)

    async def pool_worker(self, i: int, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + 500 + i)
        ops = (self.op_pool_cursor, self.op_pool_transaction, self.op_pool_query)
        while time.monotonic() < deadline:
            coro, want, what = rng.choice(ops)(rng)
            await self.run_op(rng, coro, want, what)


def _short(v) -> str:
    r = repr(v)
    return r if len(r) < 120 else r[:117] + "..."


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _until(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while True:
        if await pred():
            return True
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.05)


async def test_many_tasks_share_connections_and_a_pool(dsn, own_cluster):
    seed = _seed()
    print(f"\n[stress] seed={seed} seconds={SECONDS}")
    where = f"(seed {seed}; rerun with PSQLPY_STRESS_SEED={seed})"
    run = f"{os.getpid()}_{next(_run_ids)}"
    app = f"stress_{run}"
    tables = (f"stress_em_{run}", f"stress_cp_{run}", f"stress_tx_{run}")
    admin = await psqlpy.connect(dsn=dsn)
    for t in tables:
        await admin.execute(f"CREATE TABLE {t} (batch int4, i int4)")
    tasks_before = asyncio.all_tasks()
    fds_before = _fds()
    app_dsn = make_dsn("postgres", None, own_cluster.host, own_cluster.port, "psqlpy_test",
                       "disable", application_name=app)
    rng = random.Random(seed)
    shared = [(await psqlpy.connect(dsn=app_dsn), True),
              (await psqlpy.connect(dsn=app_dsn, statement_cache_size=0), False)]
    pool = psqlpy.ConnectionPool(dsn=app_dsn, max_db_pool_size=POOL_SIZE,
                                 statement_cache_size=rng.choice((None, 0)))
    try:
        # Open the pool's connections first: connecting is not what is tested here.
        held = [await pool.connection() for _ in range(POOL_SIZE)]
        for c in held:
            c.close()
        stress = _Stress(seed, shared, pool, tables)
        deadline = time.monotonic() + SECONDS
        workers = [asyncio.ensure_future(stress.shared_worker(i, deadline))
                   for i in range(SHARED_WORKERS)]
        workers += [asyncio.ensure_future(stress.pool_worker(i, deadline))
                    for i in range(POOL_WORKERS)]
        done, pending = await asyncio.wait(workers, timeout=SECONDS + 60)
        for w in pending:
            w.cancel()
        assert not pending, f"{len(pending)} workers still running 60 s after the end {where}"
        for w in done:
            if w.exception() is not None:
                raise AssertionError(f"a worker failed {where}") from w.exception()
        assert not stress.failures, (
            f"{len(stress.failures)} failures {where}:\n" + "\n".join(stress.failures[:30]))
        assert stress.counts.get("completed", 0) > 50, (stress.counts, where)
        assert stress.counts.get("cancelled", 0) + stress.counts.get("timed out", 0) > 5, (
            stress.counts, where)

        # The shared connections are usable, idle and in no transaction.
        for conn, _ in shared:
            assert await asyncio.wait_for(conn.fetch_val("SELECT 'after'"), 10) == "after", where
            assert not await asyncio.wait_for(conn.in_transaction(), 10), where
        # The server runs nothing of ours any more (a cancelled query's clean-up
        # may still be finishing on a pool connection).
        async def nothing_running():
            return await admin.fetch_val(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                "AND state <> 'idle'", [app]) == 0
        assert await _until(nothing_running, 10), f"queries of ours still running {where}"

        # All-or-nothing, and all when it completed.
        rows = {}
        for table in tables:
            res = await admin.execute(f"SELECT batch, count(*) FROM {table} GROUP BY batch")
            rows[table] = dict(res.result(as_tuple=True))
        for table, batch, n, completed in stress.batches:
            got = rows[table].get(batch, 0)
            if completed:
                assert got == n, f"{table} batch {batch}: {got} of {n} rows, completed {where}"
            else:
                assert got in (0, n), f"{table} batch {batch}: {got} of {n} rows {where}"
        print(f"[stress] {stress.counts}")
    finally:
        for conn, _ in shared:
            await conn.__aexit__(None, None, None)
        pool.close()
        await pool.wait_closed()
        for t in tables:
            await admin.execute(f"DROP TABLE IF EXISTS {t}")

    # Nothing left behind: tasks, sockets, backends.
    async def no_new_tasks():
        return not (asyncio.all_tasks() - tasks_before)
    assert await _until(no_new_tasks, 5), (
        f"tasks left: {asyncio.all_tasks() - tasks_before} {where}")

    async def fds_back():
        return _fds() <= fds_before
    assert await _until(fds_back, 5), f"sockets left: {_fds()} > {fds_before} {where}"

    async def backends_gone():
        return await admin.fetch_val(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [app]) == 0
    assert await _until(backends_gone, 10), f"backends of ours left {where}"
    await admin.__aexit__(None, None, None)

