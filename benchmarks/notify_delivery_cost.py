"""The client's own share of NOTIFY-to-callback latency, per driver.

    .venv/bin/python benchmarks/notify_delivery_cost.py --driver ours [--dsn DSN]
    .bench-venvs/asyncpg/bin/python benchmarks/notify_delivery_cost.py --driver asyncpg --dsn DSN

``notify_latency`` times a whole trip: the sender's query, the server's two
backends, the kernel, then the client.  This isolates the last part.  A
listener is started the driver's usual way, by the benchmark's adapter
(``drivers/``: ours ``pool.listener()`` with a callback and ``listen()``;
asyncpg ``add_listener``), and then, from a plain
event-loop callback as a transport would, a NotificationResponse is handed
straight to the driver's protocol object (ours: ``CoreProtocol.feed``;
asyncpg: ``data_received``).  The time from that call to the callback running
is the client's share, including any trip through the event loop the driver
takes on the way.  The first 10% of the samples are warm-up and dropped.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from server import server_dsn  # noqa: E402

CHANNEL = "delivery_cost"


def _notification(i: int) -> bytes:
    body = (4242).to_bytes(4, "big") + CHANNEL.encode() + b"\0" + str(i).encode() + b"\0"
    return b"A" + (len(body) + 4).to_bytes(4, "big") + body


async def _listen(driver: str, dsn: str, on_payload):
    """Start a listener the way the benchmark's adapter does; returns
    (the call a transport makes with received bytes, close)."""
    from drivers import load
    adapter = load(driver)()
    close = await adapter.listen_callback(dsn, CHANNEL, on_payload, 10_000)
    if driver == "ours":
        return adapter.listening._pg.core.feed, close
    return adapter.listening._protocol.data_received, close


async def measure(driver: str, dsn: str, n: int) -> list[int]:
    loop = asyncio.get_running_loop()
    called: list[int] = []
    feed, close = await _listen(driver, dsn, lambda payload: called.append(time.perf_counter_ns()))
    samples = []
    try:
        # Warm the callback path (ours starts the channel's task on the first).
        for i in range(n):
            started = loop.create_future()

            def read(data=_notification(i), started=started):
                t0 = time.perf_counter_ns()
                feed(data)
                started.set_result(t0)

            loop.call_soon(read)
            t0 = await started
            while len(called) <= i:
                await asyncio.sleep(0)
            samples.append(called[i] - t0)
    finally:
        await close()
    return sorted(samples[n // 10:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", choices=("ours", "asyncpg"), default="ours")
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--loops", default="asyncio,uvloop")
    args = ap.parse_args(argv)
    with server_dsn(args.dsn) as dsn:
        for loop_name in args.loops.split(","):
            if loop_name == "uvloop":
                import uvloop
                run = uvloop.run
            else:
                run = asyncio.run
            s = run(measure(args.driver, dsn, args.n))
            print(f"{args.driver:8s} {loop_name:8s} read -> callback: p50 {s[len(s) // 2] / 1000:.2f} us, "
                  f"p99 {s[int(len(s) * 0.99)] / 1000:.2f} us ({len(s)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
