"""Run benchmark workloads with one driver under one event loop; one JSON line each.

    python benchmarks/worker.py --driver ours --dsn DSN [--loop uvloop]
                                [--workloads fetch,select1 | all] [--quick] [--repeat N]

The coordinator (``run.py``) starts this script with each driver's own
virtualenv's Python; ``make profile`` starts it under py-spy.  Every result is
verified (counts and values) before it is printed; a failed check prints
``"status": "error"`` and no figure, so a fast wrong answer cannot win.

Output, one line per workload run, on stdout::

    {"driver": "ours", "loop": "asyncio", "workload": "fetch", "status": "ok",
     "metrics": {"rate": 123456.7}, "n": 10000, "seconds": 0.081, "notes": [],
     "versions": {...}}

``status`` is ``ok``, ``n/a`` (the driver cannot do it; ``reason`` says why) or
``error`` (``reason`` holds the exception).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import decimal
import hashlib
import json
import os
import platform
import sys
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from busyloop import busy_loop  # noqa: E402
from spec import BUSY_LOOP, CHANNEL, SIZES, WIDE_BYTES, WORKLOADS, expand  # noqa: E402

try:  # the common NOTIFY sender, installed in every driver's virtualenv
    import asyncpg as _sender_driver
except ImportError:  # pragma: no cover
    _sender_driver = None


class VerificationError(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise VerificationError(msg)


def tag(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}"


# ---- NOTIFY sender ---------------------------------------------------------------

class Sender:
    """Sends NOTIFYs: asyncpg when installed (the same sender for every driver, so the
    sending side does not differ between them), else the driver under test."""

    def __init__(self, driver_cls, dsn):
        self.driver_cls, self.dsn = driver_cls, dsn
        self.name = "asyncpg" if _sender_driver is not None else driver_cls.name

    async def __aenter__(self):
        if _sender_driver is not None:
            self.conn = await _sender_driver.connect(self.dsn)
            self.execute = self.conn.execute
        else:
            self.drv = self.driver_cls()
            await self.drv.connect(self.dsn)
            self.execute = self.drv.execute
        return self

    async def __aexit__(self, *exc):
        if _sender_driver is not None:
            await self.conn.close()
        else:
            await self.drv.close()


def notify_batch_sql(n: int, size: int) -> str:
    # Distinct payloads: the server folds identical ones sent in one transaction.
    return (f"SELECT pg_notify('{CHANNEL}', lpad(g::text, {size}, 'p')) "
            f"FROM generate_series(1, {n}) g")


def check_payloads(got, n, size, notes):
    check(len(got) == n, f"received {len(got)} of {n} notifications")
    expected = [str(i).rjust(size, "p") for i in range(1, n + 1)]
    if got != expected:
        check(sorted(got) == sorted(expected), "wrong payloads")
        notes.append("delivered out of order")


# ---- workloads -------------------------------------------------------------------
# Each takes (driver class, dsn, sizes, notes) and returns (metrics, n, seconds).

READY = "__ready__"


async def until_ready(sender, ready: asyncio.Event, timeout: float = 30.0):
    """NOTIFY a marker every 50 ms until the listener has seen one.

    Some listeners return from their set-up before the server has the LISTEN (the
    Rust psqlpy's iterator does): notifications sent then are lost and the run
    would hang.  This handshake makes "LISTEN in effect" certain for every driver;
    it is outside the timed part, and markers are never counted."""
    deadline = time.monotonic() + timeout
    while not ready.is_set():
        if time.monotonic() > deadline:
            raise TimeoutError("the listener never received a NOTIFY (LISTEN not in effect?)")
        await sender.execute(f"NOTIFY {CHANNEL}, '{READY}'")
        try:
            await asyncio.wait_for(ready.wait(), 0.05)
        except asyncio.TimeoutError:
            pass


class Watchdog:
    """Cancels the run when no notification arrived for ``stall`` seconds, so a lost
    notification gives an error naming the count instead of a hang."""

    def __init__(self, got: list, stall: float):
        self.got, self.stall = got, stall
        self.stalled = False

    async def __aenter__(self):
        self.victim = asyncio.current_task()
        self.task = asyncio.ensure_future(self._watch())
        return self

    async def _watch(self):
        last, since = -1, time.monotonic()
        while True:
            await asyncio.sleep(0.25)
            if len(self.got) != last:
                last, since = len(self.got), time.monotonic()
            elif time.monotonic() - since > self.stall:
                self.stalled = True
                self.victim.cancel()
                return

    async def __aexit__(self, exc_type, exc, tb):
        self.task.cancel()
        if self.stalled and exc_type is asyncio.CancelledError:
            self.victim.uncancel()
            raise VerificationError(f"stalled: {len(self.got)} notifications received, then none "
                                    f"for {self.stall:g} s")


async def notify_throughput(drv_cls, dsn, sz, notes, size, mode):
    n = sz["notify_n"]
    drv = drv_cls()
    got: list = []
    first: list = []
    ready = asyncio.Event()
    if mode == "callback":
        done = asyncio.Event()

        def on_payload(payload):
            if payload == READY:
                ready.set()
                return
            if not got:
                first.append(time.perf_counter())
            got.append(payload)
            if len(got) == n:
                done.set()

        close = await drv.listen_callback(dsn, CHANNEL, on_payload, max(10_000, n))
        try:
            async with Sender(drv_cls, dsn) as sender:
                await until_ready(sender, ready)
                async with Watchdog(got, sz["stall"]):
                    await sender.execute(notify_batch_sql(n, size))
                    await done.wait()
                    t1 = time.perf_counter()
        finally:
            await close()
    else:
        async with drv.listen_iter(dsn, CHANNEL, max(10_000, n)) as payloads:
            async with Sender(drv_cls, dsn) as sender:
                async def wait_ready():
                    async for payload in payloads:
                        if payload == READY:
                            ready.set()
                            return
                waiting = asyncio.ensure_future(wait_ready())
                try:
                    await until_ready(sender, ready)
                finally:
                    waiting.cancel()
                    await asyncio.gather(waiting, return_exceptions=True)
                send = asyncio.ensure_future(sender.execute(notify_batch_sql(n, size)))
                try:
                    async with Watchdog(got, sz["stall"]):
                        async for payload in payloads:
                            if payload == READY:   # a late marker
                                continue
                            if not got:
                                first.append(time.perf_counter())
                            got.append(payload)
                            if len(got) == n:
                                break
                        t1 = time.perf_counter()
                finally:
                    await send
    check_payloads(got, n, size, notes)
    dt = t1 - first[0]   # first received to last: not the server's time to send
    return {"rate": n / dt}, n, dt


async def notify_latency(drv_cls, dsn, sz, notes, busy=None):
    """``busy``: (tasks, us) of other work on the loop while probes run
    (busyloop.py); the load's turns must have run, or the run is an error.
    Probing stops after ``latency_budget`` seconds (a note says so): a driver
    whose deliveries take seconds gets a figure from fewer probes, not a
    timeout."""
    count = sz["latency_count"]
    budget = sz["latency_budget"]
    drv = drv_cls()
    loop = asyncio.get_running_loop()
    box: dict = {}
    received: list = []
    ready = asyncio.Event()

    def on_payload(payload):
        if payload == READY:
            ready.set()
            return
        received.append(payload)
        w = box.get("w")
        if w is not None and not w.done():
            w.set_result(time.perf_counter_ns())

    lat: list = []

    async def probes(sender):
        stop = time.perf_counter() + budget
        for i in range(count):
            box["w"] = loop.create_future()
            t0 = time.perf_counter_ns()
            await sender.execute(f"NOTIFY {CHANNEL}, '{i}'")
            lat.append((await asyncio.wait_for(box["w"], 10)) - t0)
            if time.perf_counter() > stop and i + 1 < count:
                notes.append(f"{i + 1} of {count} probes: stopped after {budget:g} s")
                break

    async def measure(sender):
        await until_ready(sender, ready)
        t = time.perf_counter()
        if busy is None:
            await probes(sender)
        else:
            async with busy_loop(*busy) as load:
                await probes(sender)
            check(load["turns"] >= len(lat), "the loop load did not run")
        return time.perf_counter() - t

    from drivers import NotAvailable
    try:
        close = await drv.listen_callback(dsn, CHANNEL, on_payload, 10_000)
    except NotAvailable:   # no callback mode: a task draining the iterator
        notes.append("iterator mode (no callback mode)")
        async with drv.listen_iter(dsn, CHANNEL, 10_000) as payloads:
            async def drain():
                async for p in payloads:
                    on_payload(p)
            task = asyncio.ensure_future(drain())
            try:
                async with Sender(drv_cls, dsn) as sender:
                    dt = await measure(sender)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    else:
        try:
            async with Sender(drv_cls, dsn) as sender:
                dt = await measure(sender)
        finally:
            await close()
    check(received == [str(i) for i in range(len(lat))], "wrong or missing latency payloads")
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000.0
    return {"p50": pct(0.50), "p99": pct(0.99)}, len(lat), dt


async def select1(drv_cls, dsn, sz, notes):
    n = sz["select1_n"]
    drv = drv_cls()
    await drv.connect(dsn)
    try:
        for _ in range(min(50, n)):   # warm-up: statement cache, allocator
            check(await drv.select1() == 1, "SELECT 1 returned a wrong value")
        t0 = time.perf_counter()
        for _ in range(n):
            if await drv.select1() != 1:
                raise VerificationError("SELECT 1 returned a wrong value")
        dt = time.perf_counter() - t0
    finally:
        await drv.close()
    return {"rate": n / dt}, n, dt


FETCH_SQL = """
SELECT g AS id, g::int8 * 1000 AS big, g::float8 / 3 AS ratio, 'name-' || g AS name,
       (g % 2 = 0) AS flag, now() AS ts, (g::numeric / 7)::numeric(12, 4) AS amount,
       md5(g::text) AS hash, md5('u' || g)::uuid AS uid
FROM generate_series(1, {n}) g
"""
FETCH_COLUMNS = ("id", "big", "ratio", "name", "flag", "ts", "amount", "hash", "uid")


def check_fetch_row(drv, row, g, by_name=True):
    v = [drv.cell(row, i, name) if by_name else row[i] for i, name in enumerate(FETCH_COLUMNS)]
    amount = (decimal.Decimal(g) / 7).quantize(decimal.Decimal("0.0001"), decimal.ROUND_HALF_UP)
    check(v[0] == g and v[1] == g * 1000 and abs(v[2] - g / 3) < 1e-9, f"row {g}: wrong numbers {v[:3]}")
    check(v[3] == f"name-{g}" and v[4] == (g % 2 == 0), f"row {g}: wrong name/flag {v[3:5]}")
    check(isinstance(v[5], datetime.datetime) and v[5].tzinfo is not None, f"row {g}: ts {v[5]!r}")
    check(v[6] == amount, f"row {g}: amount {v[6]!r} != {amount}")
    check(v[7] == hashlib.md5(str(g).encode()).hexdigest(), f"row {g}: wrong md5")
    # (the Rust psqlpy returns uuids as str)
    check(str(v[8]) == str(uuid.UUID(hashlib.md5(f"u{g}".encode()).hexdigest())),
          f"row {g}: wrong uuid {v[8]!r}")


async def _fetch(drv_cls, dsn, sz, notes, method):
    n, repeat = sz["fetch_rows"], sz["fetch_repeat"]
    # The rows are computed once into a table: generating them (md5, numeric
    # division) per query would make the server, not the driver, the
    # measured cost.  A fresh table scans in insertion order.
    table = tag("bench_fetch")
    sql = f"SELECT {', '.join(FETCH_COLUMNS)} FROM {table}"
    drv = drv_cls()
    await drv.connect(dsn)
    run = getattr(drv, method)
    try:
        await drv.execute(f"DROP TABLE IF EXISTS {table}")
        await drv.execute(f"CREATE TABLE {table} AS {FETCH_SQL.format(n=n)}")
        await run(sql)   # warm-up: Parse/Describe once, as in an application
        dt = cpu = 0.0
        for _ in range(repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            rows = await run(sql)
            dt += time.perf_counter() - t0
            cpu += time.process_time() - c0
            check(len(rows) == n, f"fetched {len(rows)} of {n} rows")
            for g in (1, n // 2, n):
                check_fetch_row(drv, rows[g - 1], g, method == "fetch")
            del rows
        await drv.execute(f"DROP TABLE {table}")
    finally:
        await drv.close()
    return {"rate": n * repeat / dt, "cpu_rate": n * repeat / cpu}, n * repeat, dt


async def fetch(drv_cls, dsn, sz, notes):
    return await _fetch(drv_cls, dsn, sz, notes, "fetch")


async def fetch_tuples(drv_cls, dsn, sz, notes):
    return await _fetch(drv_cls, dsn, sz, notes, "fetch_tuples")


# ---- per type (typecases.py) ---------------------------------------------------------

async def types(drv_cls, dsn, sz, notes):
    """Decode and encode of every case of typecases.py, rows per second of the
    client's CPU time (process_time: the server's work and the scheduler's noise
    are not the driver's), the best of ``types_repeat`` runs (as timeit does: on
    a shared machine the other runs measure interruptions).  Decode: a
    one-column table of N rows fetched as the driver's positional rows; encode:
    N rows INSERTed with the driver's executemany.  Every fetch is checked (first, middle, last row) and every
    encoded table compared with the decoded one on the server; a type a driver
    cannot do is a note, and a figure only appears when its check passed."""
    from drivers import NotAvailable
    from typecases import CASES, TYPES_DDL
    n, repeat = sz["types_rows"], sz["types_repeat"]
    wanted = None if sz["types_cases"] == "all" else set(sz["types_cases"].split(","))
    drv = drv_cls()
    await drv.connect(dsn)
    metrics: dict = {}
    seconds = 0.0
    try:
        for ddl in TYPES_DDL:
            try:
                await drv.execute(ddl)
            except Exception as e:      # (a missing extension: its case says so)
                notes.append(f"setup: {type(e).__name__}: {str(e)[:200]}")
        await drv.types_setup()
        for case in CASES:
            if wanted is not None and case.name not in wanted:
                continue
            table = f"bench_types{n}_{case.name}"   # shared by every run: made once
            await drv.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT g, "
                              f"({case.expr})::{case.sql_type} AS v FROM generate_series(1, {n}) g")
            sql = f"SELECT v FROM {table} ORDER BY g"
            try:
                await drv.fetch_tuples(sql)                      # warm-up
                cpu = float("inf")
                for _ in range(repeat):
                    c0 = time.process_time()
                    rows = await drv.fetch_tuples(sql)
                    cpu = min(cpu, time.process_time() - c0)
                    check(len(rows) == n, f"{case.name}: fetched {len(rows)} of {n} rows")
                    for g in (1, n // 2, n):
                        got = drv.type_value(case, rows[g - 1][0])
                        check(got == case.value(g), f"{case.name} row {g}: {got!r} != {case.value(g)!r}")
                    del rows
                metrics[f"{case.name}.decode"] = n / cpu
                seconds += cpu
            except NotAvailable as e:
                notes.append(f"{case.name} decode: n/a: {e}")
            except Exception as e:   # one type's failure must not hide the others'
                notes.append(f"{case.name} decode: error: {type(e).__name__}: {str(e)[:200]}")
            try:
                params = [(g, drv.type_param(case, case.value(g))) for g in range(1, n + 1)]
            except NotAvailable as e:
                notes.append(f"{case.name} encode: n/a: {e}")
                continue
            except Exception as e:
                notes.append(f"{case.name} encode: error: {type(e).__name__}: {str(e)[:200]}")
                continue
            enc = tag(f"bench_enc_{case.name}")
            insert = f"INSERT INTO {enc} VALUES ($1, $2)"
            try:
                await drv.execute(f"DROP TABLE IF EXISTS {enc}; "
                                  f"CREATE UNLOGGED TABLE {enc} (g int4, v {case.sql_type})")
                await drv.execute_many(insert, params[:50])          # warm-up
                cpu = float("inf")
                for _ in range(repeat):
                    await drv.execute(f"TRUNCATE {enc}")
                    c0 = time.process_time()
                    await drv.execute_many(insert, params)
                    cpu = min(cpu, time.process_time() - c0)
                    same = await drv.scalar(f"SELECT count(*) FROM {enc} e JOIN {table} d "
                                            f"USING (g) WHERE {case.cmp}")
                    check(same == n, f"{case.name}: {same} of {n} encoded rows equal the "
                                     "decoded table's")
                metrics[f"{case.name}.encode"] = n / cpu
                seconds += cpu
            except Exception as e:
                notes.append(f"{case.name} encode: error: {type(e).__name__}: {str(e)[:200]}")
            finally:
                try:
                    await drv.execute(f"DROP TABLE IF EXISTS {enc}")
                except Exception:
                    pass
    finally:
        await drv.close()
    if not metrics:
        raise VerificationError("no type could be measured: " + "; ".join(notes)[:500])
    return metrics, n, seconds


# ---- memory --------------------------------------------------------------------------

def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def memory(drv_cls, dsn, sz, notes):
    """Peak RSS of the process and resident bytes per row held, fetching N rows of the
    mixed columns (``fetch``'s, uuid included) as the driver's positional rows."""
    import gc
    import resource
    n = sz["memory_rows"]
    table = f"bench_memory{n}"                   # shared by every run: made once
    drv = drv_cls()
    await drv.connect(dsn)
    try:
        await drv.execute(f"CREATE TABLE IF NOT EXISTS {table} AS {FETCH_SQL.format(n=n)}")
        sql = f"SELECT {', '.join(FETCH_COLUMNS)} FROM {table}"
        await drv.fetch_tuples(f"{sql} LIMIT 10")    # warm-up: statement, imports
        gc.collect()
        before = _rss()
        t0 = time.perf_counter()
        rows = await drv.fetch_tuples(sql)
        dt = time.perf_counter() - t0
        gc.collect()
        held = _rss() - before
        check(len(rows) == n, f"fetched {len(rows)} of {n} rows")
        for g in (1, n // 2, n):
            check_fetch_row(drv, rows[g - 1], g, False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024    # KiB on Linux
        del rows
    finally:
        await drv.close()
    return {"peak_rss": peak / (1 << 20), "bytes_per_row": held / n}, n, dt


async def wide_rows(drv_cls, dsn, sz, notes):
    n, repeat = sz["wide_rows"], sz["wide_repeat"]
    table = tag("bench_wide")
    drv = drv_cls()
    await drv.connect(dsn)
    try:
        # STORAGE EXTERNAL: TOASTed uncompressed, so the server does not spend the
        # measured time decompressing.
        await drv.execute(
            f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int4, data bytea); "
            f"ALTER TABLE {table} ALTER data SET STORAGE EXTERNAL; "
            f"INSERT INTO {table} SELECT g, decode(repeat(lpad(to_hex(g % 256), 2, '0'), "
            f"{WIDE_BYTES}), 'hex') FROM generate_series(1, {n}) g")
        sql = f"SELECT id, data FROM {table} ORDER BY id"
        await drv.fetch(f"SELECT id, data FROM {table} ORDER BY id LIMIT 1")   # warm-up
        dt = 0.0
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = await drv.fetch(sql)
            dt += time.perf_counter() - t0
            check(len(rows) == n, f"fetched {len(rows)} of {n} wide rows")
            for g, row in enumerate(rows, 1):
                data = drv.cell(row, 1, "data")
                check(drv.cell(row, 0, "id") == g, "wide rows: wrong id")
                check(len(data) == WIDE_BYTES and bytes(data) == bytes([g % 256]) * WIDE_BYTES,
                      f"wide row {g}: wrong bytea")
            del rows, data
        await drv.execute(f"DROP TABLE {table}")
    finally:
        await drv.close()
    mib = n * repeat * WIDE_BYTES / (1 << 20)
    return {"rate": mib / dt}, n * repeat, dt


TS = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


async def _table_workload(drv_cls, dsn, n, prefix, load):
    table = tag(prefix)
    drv = drv_cls()
    await drv.connect(dsn)
    try:
        await drv.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} "
                          f"(a int4, b text, c float8, d timestamptz)")
        rows = [(i, f"row{i}", i / 2, TS) for i in range(n)]
        t0 = time.perf_counter()
        await load(drv, table, rows)
        dt = time.perf_counter() - t0
        check(await drv.scalar(f"SELECT count(*) FROM {table}") == n, "wrong row count")
        check(await drv.scalar(f"SELECT sum(a)::int8 FROM {table}") == sum(range(n)), "wrong sum(a)")
        check(await drv.scalar(
            f"SELECT count(*) FROM {table} WHERE b = 'row' || a AND c = a / 2.0 "
            f"AND d = '2024-01-01T00:00:00Z'") == n, "wrong column values")
        await drv.execute(f"DROP TABLE {table}")
    finally:
        await drv.close()
    return {"rate": n / dt}, n, dt


async def execute_many(drv_cls, dsn, sz, notes):
    async def load(drv, table, rows):
        await drv.execute_many(f"INSERT INTO {table} VALUES ($1, $2, $3, $4)", rows)
    return await _table_workload(drv_cls, dsn, sz["execute_many_rows"], "bench_em", load)


async def copy(drv_cls, dsn, sz, notes):
    async def load(drv, table, rows):
        await drv.copy_records(table, rows, ["a", "b", "c", "d"])
    return await _table_workload(drv_cls, dsn, sz["copy_rows"], "bench_copy", load)


async def pool(drv_cls, dsn, sz, notes):
    size, tasks, per = sz["pool_size"], sz["pool_tasks"], sz["pool_queries"]
    drv = drv_cls()
    await drv.pool_open(dsn, size)
    try:
        async def task(t, count):
            for q in range(count):
                i = t * 1000 + q
                if await drv.pool_query(i) != i:
                    raise VerificationError(f"pool query {i} returned a wrong value")
            return count
        # warm-up: every connection of the pool opened and used
        await asyncio.gather(*(task(t, 2) for t in range(size * 2)))
        t0 = time.perf_counter()
        done = await asyncio.gather(*(task(t, per) for t in range(tasks)))
        dt = time.perf_counter() - t0
        check(sum(done) == tasks * per, "pool: missing queries")
    finally:
        await drv.pool_close()
    n = tasks * per
    return {"rate": n / dt}, n, dt


def _latency(busy):
    async def run(drv_cls, dsn, sz, notes):
        return await notify_latency(drv_cls, dsn, sz, notes, busy)
    return run


def _notify(size, mode):
    async def run(drv_cls, dsn, sz, notes):
        return await notify_throughput(drv_cls, dsn, sz, notes, size, mode)
    return run


RUNNERS = {
    "notify_cb_32": _notify(32, "callback"),
    "notify_cb_1k": _notify(1024, "callback"),
    "notify_iter_32": _notify(32, "iterator"),
    "notify_iter_1k": _notify(1024, "iterator"),
    "notify_latency": notify_latency,
    "notify_latency_busy": _latency(BUSY_LOOP),
    "select1": select1,
    "fetch": fetch,
    "fetch_tuples": fetch_tuples,
    "types": types,
    "memory": memory,
    "wide_rows": wide_rows,
    "execute_many": execute_many,
    "copy": copy,
    "pool": pool,
}
assert set(RUNNERS) == set(WORKLOADS)


# ---- main --------------------------------------------------------------------------

def run_in_new_loop(loop_name, coro):
    if loop_name == "uvloop":
        import uvloop
        return uvloop.run(coro)   # asyncio.Runner(loop_factory=...) is 3.11+
    return asyncio.run(coro)


def apply_overrides(sizes: dict, overrides) -> dict:
    sizes = dict(sizes)
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in sizes:
            raise SystemExit(f"unknown size {key!r}; known: {', '.join(sizes)}")
        sizes[key] = type(sizes[key])(value)
    return sizes


def run_one(driver_name, drv_cls, loop_name, workload, dsn, sizes, timeout):
    from drivers import NotAvailable
    notes: list = []
    out = {"driver": driver_name, "loop": loop_name, "workload": workload}
    try:
        metrics, n, dt = run_in_new_loop(
            loop_name, asyncio.wait_for(RUNNERS[workload](drv_cls, dsn, sizes, notes), timeout))
        out.update(status="ok", metrics=metrics, n=n, seconds=round(dt, 6))
    except NotAvailable as exc:
        out.update(status="n/a", reason=str(exc))
    except VerificationError as exc:
        out.update(status="error", reason=f"verification failed: {exc}")
    except Exception as exc:   # report, do not crash the other workloads
        tb = traceback.format_exc(limit=4)
        out.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:500], traceback=tb[-2000:])
    out["notes"] = notes
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    ap.add_argument("--workloads", default="all")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke tests)")
    ap.add_argument("--repeat", type=int, default=1, help="run each workload N times (profiling)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per workload run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a size of spec.SIZES, e.g. notify_n=50000")
    args = ap.parse_args(argv)

    if args.driver == "ours":
        sys.path.insert(0, ROOT)   # this tree's psqlpy, even without an editable install
    from drivers import load
    drv_cls = load(args.driver)
    sizes = apply_overrides(SIZES["quick" if args.quick else "full"], args.set)
    versions = drv_cls().versions()
    versions["python"] = platform.python_version()
    if args.loop == "uvloop":
        import uvloop
        versions["uvloop"] = uvloop.__version__
    for _ in range(args.repeat):
        for w in expand(args.workloads, WORKLOADS):
            res = run_one(args.driver, drv_cls, args.loop, w, args.dsn, sizes, args.timeout)
            res["versions"] = versions
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
