"""Notification throughput and latency: psqlpy against asyncpg, same run.

Workloads (each driver, each event loop, interleaved round by round):
  * throughput: N notifications sent in one transaction
    (``SELECT pg_notify(...) FROM generate_series(1, N)``), 32 B and 1 KB
    payloads, received in callback mode and in iterator mode.  asyncpg has no
    iterator; its "iterator mode" is the idiomatic add_listener -> Queue.
  * latency: 1000 single NOTIFYs one after another, sent by the same asyncpg
    connection for both drivers; NOTIFY issue time to delivery, p50 / p99.

Throughput is counted from the first notification received to the last, so
the server's time to run the sending transaction is not in it.

Every run is verified: all N notifications, in order, correct payloads.

    python benchmarks/bench_listener.py [--dsn DSN] [--n 100000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
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

CHANNEL = "bench_chan"


def payload_of(size: int) -> str:
    return "p" * size


async def send_batch(dsn, n, size):
    conn = await asyncpg.connect(dsn) if asyncpg else await psqlpy.connect(dsn=dsn)
    try:
        sql = (f"SELECT pg_notify('{CHANNEL}', lpad(g::text, {size}, 'p')) "
               f"FROM generate_series(1, {n}) g")
        await conn.execute(sql)
    finally:
        await conn.close() if asyncpg else conn.close()


def check(payloads, n, size):
    # A fast wrong answer must not win: count, order and exact payloads.
    assert len(payloads) == n, f"received {len(payloads)} of {n}"
    assert payloads == [str(i).rjust(size, "p") for i in range(1, n + 1)], "wrong payloads or order"


# ---- ours -------------------------------------------------------------------------

async def ours_throughput(dsn, n, size, mode):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener(max_buffered=max(10_000, n))
    got = []
    done = asyncio.Event()

    first = []

    async def cb(connection, payload, channel, process_id):
        if not got:
            first.append(time.perf_counter())
        got.append(payload)
        if len(got) == n:
            done.set()

    await listener.add_callback(CHANNEL, cb)
    await listener.startup()
    try:
        if mode == "callback":
            listener.listen()
            await send_batch(dsn, n, size)
            await asyncio.wait_for(done.wait(), 300)
        else:
            sender = asyncio.ensure_future(send_batch(dsn, n, size))
            async for msg in listener:
                if not got:
                    first.append(time.perf_counter())
                got.append(msg.payload)
                if len(got) == n:
                    break
            await sender
        dt = time.perf_counter() - first[0]
    finally:
        await listener.shutdown()
        pool.close()
    check(got, n, size)
    return n / dt


async def ours_latency(dsn, count):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener()
    waiter = None
    lat = []

    async def cb(connection, payload, channel, process_id):
        waiter.set_result(time.perf_counter_ns())

    await listener.add_callback(CHANNEL, cb)
    await listener.startup()
    listener.listen()
    sender = await asyncpg.connect(dsn)   # the same sender for both drivers
    loop = asyncio.get_running_loop()
    try:
        for i in range(count):
            waiter = loop.create_future()
            t0 = time.perf_counter_ns()
            await sender.execute(f"NOTIFY {CHANNEL}, '{i}'")
            lat.append((await asyncio.wait_for(waiter, 10)) - t0)
    finally:
        await sender.close()
        await listener.shutdown()
        pool.close()
    return lat


# ---- asyncpg ------------------------------------------------------------------------

async def asyncpg_throughput(dsn, n, size, mode):
    conn = await asyncpg.connect(dsn)
    got = []
    done = asyncio.Event()
    first = []
    if mode == "callback":
        def cb(connection, pid, channel, payload):
            if not got:
                first.append(time.perf_counter())
            got.append(payload)
            if len(got) == n:
                done.set()
        await conn.add_listener(CHANNEL, cb)
        await send_batch(dsn, n, size)
        await asyncio.wait_for(done.wait(), 300)
    else:
        q: asyncio.Queue = asyncio.Queue()
        await conn.add_listener(CHANNEL, lambda c, pid, ch, p: q.put_nowait(p))
        sender = asyncio.ensure_future(send_batch(dsn, n, size))
        while len(got) < n:
            got.append(await q.get())
            if len(got) == 1:
                first.append(time.perf_counter())
        await sender
    dt = time.perf_counter() - first[0]
    await conn.close()
    check(got, n, size)
    return n / dt


async def asyncpg_latency(dsn, count):
    conn = await asyncpg.connect(dsn)
    sender = await asyncpg.connect(dsn)
    loop = asyncio.get_running_loop()
    box = {}
    await conn.add_listener(CHANNEL, lambda c, pid, ch, p: box["w"].set_result(time.perf_counter_ns()))
    lat = []
    for i in range(count):
        box["w"] = loop.create_future()
        t0 = time.perf_counter_ns()
        await sender.execute(f"NOTIFY {CHANNEL}, '{i}'")
        lat.append((await asyncio.wait_for(box["w"], 10)) - t0)
    await conn.close()
    await sender.close()
    return lat


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] / 1000.0


def run_loop(loop_name, coro_fn, *args):
    if loop_name == "uvloop":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            return r.run(coro_fn(*args))
    return asyncio.run(coro_fn(*args))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-count", type=int, default=1000)
    ap.add_argument("--loops", default="asyncio,uvloop")
    args = ap.parse_args()

    cluster = None
    dsn = args.dsn
    if not dsn:
        from pgcluster import PgCluster
        cluster = PgCluster().start()
        dsn = cluster.dsn()
    loops = [x for x in args.loops.split(",") if x != "uvloop" or uvloop]
    drivers = ["psqlpy"] + (["asyncpg"] if asyncpg else [])
    print(f"# notifications, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, n={args.n}, rounds={args.rounds}")
    try:
        results = {}
        for r in range(args.rounds):
            for loop_name in loops:
                for size in (32, 1024):
                    for mode in ("callback", "iterator"):
                        for drv in drivers:   # interleaved: noise hits both alike
                            fn = ours_throughput if drv == "psqlpy" else asyncpg_throughput
                            rate = run_loop(loop_name, fn, dsn, args.n, size, mode)
                            results.setdefault((loop_name, size, mode, drv), []).append(rate)
                for drv in drivers:
                    fn = ours_latency if drv == "psqlpy" else asyncpg_latency
                    lat = run_loop(loop_name, fn, dsn, args.latency_count)
                    results.setdefault((loop_name, "latency", drv), []).append(lat)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

        print("\n| loop | payload | mode | psqlpy notif/s | asyncpg notif/s | ratio |")
        print("|---|---|---|---|---|---|")
        for loop_name in loops:
            for size in (32, 1024):
                for mode in ("callback", "iterator"):
                    ours = statistics.median(results[(loop_name, size, mode, "psqlpy")])
                    theirs = statistics.median(results.get((loop_name, size, mode, "asyncpg"), [float("nan")]))
                    print(f"| {loop_name} | {size} B | {mode} | {ours:,.0f} | {theirs:,.0f} | "
                          f"{ours / theirs:.2f}x |")
        print("\n| loop | driver | p50 us | p99 us |")
        print("|---|---|---|---|")
        for loop_name in loops:
            for drv in drivers:
                lats = [x for run in results[(loop_name, "latency", drv)] for x in run]
                print(f"| {loop_name} | {drv} | {pct(lats, 0.50):.0f} | {pct(lats, 0.99):.0f} |")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
