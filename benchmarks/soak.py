"""Soak: 1M notifications and 100k queries; resident memory must stay flat.

    python benchmarks/soak.py [--dsn DSN] [--notifications 1000000] [--queries 100000]
                              [--loop uvloop|asyncio] [--limit-mb 10]

Without ``--dsn`` it starts a throwaway cluster (tests/pgcluster.py).  RSS is
read from /proc/self/status (VmRSS) every ``--every-notify`` notifications and
every ``--every-query`` queries.  A phase is *flat* when, after the first 20 %
of its samples (warm-up), the maximum of the last quarter minus the maximum of
the first quarter is below ``--limit-mb``.  Exit status 1 if a phase is not
flat or a result is wrong.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import psqlpy  # noqa: E402
from server import server_dsn  # noqa: E402

CHANNEL = "soak_chan"
BATCH = 10_000


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def flatness(samples, limit_mb):
    """(delta_mb, ok): last-quarter max minus first-quarter max after warm-up."""
    kb = [s for _, s in samples]
    warm = max(1, len(kb) // 5)
    steady = kb[warm:]
    if len(steady) < 4:
        return 0.0, True
    q = max(1, len(steady) // 4)
    delta = (max(steady[-q:]) - max(steady[:q])) / 1024
    return delta, delta < limit_mb


def show(name, samples, unit):
    print(f"\n{name}: RSS (MB) every {samples[1][0] - samples[0][0] if len(samples) > 1 else '?'} {unit}")
    line = []
    for i, (n, kb) in enumerate(samples):
        line.append(f"{kb / 1024:.1f}")
        if len(line) == 10:
            print("  " + " ".join(line))
            line = []
    if line:
        print("  " + " ".join(line))


async def notifications(dsn, total, every):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener(max_buffered=50_000)
    # LISTEN; listen() is never called, so everything goes to the iterator
    await listener.add_callback(CHANNEL, _noop)
    await listener.startup()
    sender = await psqlpy.connect(dsn=dsn)
    samples = [(0, rss_kb())]
    received = 0
    expected_next = 1

    async def send():
        sent = 0
        while sent < total:
            n = min(BATCH, total - sent)
            await sender.execute(
                "SELECT count(pg_notify($1, i::text)) FROM generate_series($2::int8, $3::int8) i",
                [CHANNEL, sent + 1, sent + n])
            sent += n
            # stay at most a few batches ahead of the reader: the server queue is finite
            while sent - received > 5 * BATCH:
                await asyncio.sleep(0.005)

    task = asyncio.ensure_future(send())
    t0 = time.perf_counter()
    try:
        async for msg in listener:
            if msg.channel != CHANNEL:
                continue
            if int(msg.payload) != expected_next:
                raise AssertionError(f"notification {expected_next} expected, got {msg.payload}")
            expected_next += 1
            received += 1
            if received % every == 0:
                samples.append((received, rss_kb()))
            if received == total:
                break
        await task
    finally:
        task.cancel()
        sender.close()
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()
    dt = time.perf_counter() - t0
    print(f"notifications: {received} received in order in {dt:.1f} s ({received / dt:,.0f}/s)")
    return samples


async def _noop(*_):
    pass


async def queries(dsn, total, every, tasks=50):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=10)
    samples = [(0, rss_kb())]
    done = 0
    per = total // tasks

    async def worker(w):
        nonlocal done
        rnd = random.Random(w)
        for i in range(per):
            x = rnd.randrange(-(2**40), 2**40)
            async with pool.acquire() as c:
                if i % 10 == 0:
                    r = await c.execute("SELECT g, $1::text AS t FROM generate_series(1, 20) g",
                                        [f"row{x}"])
                    rows = r.result()
                    assert len(rows) == 20 and rows[-1] == {"g": 20, "t": f"row{x}"}
                else:
                    assert await c.fetch_val("SELECT $1::int8 * 2", [x]) == x * 2
            done += 1
            if done % every == 0:
                samples.append((done, rss_kb()))

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(w) for w in range(tasks)))
    finally:
        pool.close()
        await pool.wait_closed()
    dt = time.perf_counter() - t0
    print(f"queries: {done} checked in {dt:.1f} s ({done / dt:,.0f}/s)")
    return samples


async def main(args):
    with server_dsn(args.dsn) as dsn:
        gc.collect()
        print(f"start RSS {rss_kb() / 1024:.1f} MB, loop {type(asyncio.get_running_loop()).__module__}")
        ns = await notifications(dsn, args.notifications, args.every_notify)
        qs = await queries(dsn, args.queries, args.every_query)
    ok = True
    for name, samples, unit in (("notifications", ns, "notifications"), ("queries", qs, "queries")):
        show(name, samples, unit)
        delta, flat = flatness(samples, args.limit_mb)
        kb = [s for _, s in samples]
        print(f"  min {min(kb) / 1024:.1f} MB, max {max(kb) / 1024:.1f} MB, "
              f"steady-state growth {delta:+.2f} MB -> {'FLAT' if flat else 'GROWING'}"
              f" (limit {args.limit_mb} MB)")
        ok &= flat
    print(f"\nfinal RSS {rss_kb() / 1024:.1f} MB; {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


def cli():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn")
    p.add_argument("--notifications", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=100_000)
    p.add_argument("--every-notify", type=int, default=25_000)
    p.add_argument("--every-query", type=int, default=2_500)
    p.add_argument("--limit-mb", type=float, default=10.0)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = p.parse_args()
    if args.loop == "uvloop":
        import uvloop
        runner = uvloop.run
    else:
        runner = asyncio.run
    sys.exit(runner(main(args)))


if __name__ == "__main__":
    cli()
