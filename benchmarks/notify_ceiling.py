"""How fast can the server send notifications here?  The ceiling of notify_*.

    python benchmarks/notify_ceiling.py [--dsn DSN] [--n 100000] [--rounds 5]

The notify workloads are timed from the first notification received to the
last, so once a client keeps up, the figure is the server's own send rate (its
listening backend reads the notification queue and writes each message), not
the client's.  This script measures that rate with a client that does nothing
but count bytes: it opens a listener connection with psqlpy, LISTENs, then
swaps in an asyncio protocol that only adds up the bytes received, and sends
the same ``SELECT pg_notify(...) FROM generate_series(1, N)`` as worker.py.
A driver's figure close to this one means the driver is not the bottleneck.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from server import server_dsn  # noqa: E402
from spec import CHANNEL  # noqa: E402
from worker import notify_batch_sql  # noqa: E402


class _Counter(asyncio.BufferedProtocol):
    def __init__(self, total: int):
        self.total, self.got = total, 0
        self.first = self.last = 0.0
        self.done = asyncio.get_running_loop().create_future()
        self._buf = bytearray(1 << 20)

    def get_buffer(self, sizehint):
        return self._buf

    def buffer_updated(self, nbytes):
        if not self.got:
            self.first = time.perf_counter()
        self.got += nbytes
        if self.got >= self.total and not self.done.done():
            self.last = time.perf_counter()
            self.done.set_result(None)

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost after {self.got} bytes: {exc}"))


async def ceiling(dsn: str, n: int, size: int, rounds: int) -> list[float]:
    import asyncpg

    import psqlpy
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener()

    async def cb(*args):
        pass

    await listener.add_callback(CHANNEL, cb)
    await listener.startup()
    transport = listener._pg.transport   # the listener's own socket
    sender = await asyncpg.connect(dsn)
    # NotificationResponse: type byte, length, pid, channel\0, payload\0
    per_message = 1 + 4 + 4 + len(CHANNEL) + 1 + size + 1
    rates = []
    try:
        for _ in range(rounds):
            counter = _Counter(per_message * n)
            transport.set_protocol(counter)
            await sender.execute(notify_batch_sql(n, size))
            await asyncio.wait_for(counter.done, 60)
            rates.append(n / (counter.last - counter.first))
    finally:
        await sender.close()
        transport.abort()
        pool.close()
    return rates


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    with server_dsn(args.dsn) as dsn:
        for size in (32, 1024):
            rates = asyncio.run(ceiling(dsn, args.n, size, args.rounds))
            print(f"{size:5d} B payloads: server sends {statistics.median(rates):,.0f} notifications/s "
                  f"(median of {len(rates)}; {min(rates):,.0f}-{max(rates):,.0f}) to a byte counter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
