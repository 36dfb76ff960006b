"""CPU time per notification in our Listener, on its own (no server in the timing).

    .venv/bin/python benchmarks/notify_cpu_cost.py [--dsn DSN] [--n 200000] [--size 32]
                                                 [--read 65536] [--reps 5]
                                                 [--loops asyncio,uvloop]

A listener is started for real (a callback on one channel), then N
NotificationResponse frames are fed to its protocol core in 64 KB reads (``--read``:
a socket read is that large when the client falls behind a burst, smaller when it
keeps up), as the transport would, with a turn of the event loop after each read; callback mode
counts until the callback has seen all N, iterator mode takes them with
``async for``.  Timed with ``time.process_time()``: the CPU this process spent
parsing, routing and delivering, which other jobs on a shared machine disturb
much less than wall-clock rates.  Prints the best and the median of ``--reps``.
It measures the psqlpy its interpreter imports (a venv's editable install), so one
copy of this script compares two builds: run it with each build's python.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import psqlpy  # noqa: E402
from server import server_dsn  # noqa: E402

CHANNEL = "cpu_cost"


def _reads(n: int, size: int, read: int) -> list[bytes]:
    frames = []
    for i in range(n):
        body = ((1).to_bytes(4, "big") + CHANNEL.encode() + b"\0"
                + str(i).rjust(size, "p").encode() + b"\0")
        frames.append(b"A" + (len(body) + 4).to_bytes(4, "big") + body)
    data = b"".join(frames)
    return [data[i:i + read] for i in range(0, len(data), read)]


async def _once(dsn: str, mode: str, reads: list[bytes], n: int) -> float:
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener(max_buffered=n + 10)
    count = 0
    done = asyncio.get_running_loop().create_future()

    async def cb(connection, payload, channel, process_id):
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    await listener.add_callback(CHANNEL, cb)
    await listener.startup()
    core = getattr(listener, "_pg").core          # the listener's protocol core
    try:
        if mode == "callback":
            listener.listen()
            t0 = time.process_time()
            for chunk in reads:
                core.feed(chunk)
                await asyncio.sleep(0)
            await done
            return time.process_time() - t0
        taken = 0
        t0 = time.process_time()
        it = aiter(listener)
        for chunk in reads:
            core.feed(chunk)
            while listener.buffered:
                await it.__anext__()
                taken += 1
        assert taken == n
        return time.process_time() - t0
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def _measure(dsn: str, args) -> None:
    reads = _reads(args.n, args.size, args.read)
    for mode in ("callback", "iterator"):
        ts = [await _once(dsn, mode, reads, args.n) for _ in range(args.reps)]
        print(f"{mode:9} {args.size} B, {args.read} B reads: best {min(ts) / args.n * 1e9:.0f} ns per notification, "
              f"median {statistics.median(ts) / args.n * 1e9:.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--read", type=int, default=65536, help="bytes per socket read")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--loops", default="asyncio,uvloop")
    args = ap.parse_args()
    with server_dsn(args.dsn) as dsn:
        for loop in args.loops.split(","):
            print(f"== Python {sys.version.split()[0]}, {loop}", flush=True)
            if loop == "uvloop":
                import uvloop
                runner = asyncio.Runner(loop_factory=uvloop.new_event_loop) \
                    if hasattr(asyncio, "Runner") else None
                if runner is None:
                    uvloop.install()
                    asyncio.run(_measure(dsn, args))
                else:
                    with runner:
                        runner.run(_measure(dsn, args))
            else:
                asyncio.run(_measure(dsn, args))


if __name__ == "__main__":
    main()
