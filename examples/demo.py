"""make demo: LISTEN/NOTIFY and queries against a throwaway local server.

Starts the embedded default server (the test suite's throwaway cluster from
the system PostgreSQL binaries, or the `pgserver` wheel's), then runs a
Listener in callback mode and in iterator mode while another connection
sends notifications, and prints what arrives and the rate.
``PSQLPY_TEST_DSN`` points it at an existing server instead.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import psqlpy  # noqa: E402
from pgcluster import cluster_from_env  # noqa: E402

N = 20_000


async def main(dsn: str) -> None:
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=4)
    async with pool.acquire() as conn:
        version = await conn.fetch_val("SHOW server_version")
        print(f"connected: PostgreSQL {version}")
        await conn.execute_batch(
            "CREATE TEMP TABLE demo (id int PRIMARY KEY, name text, price numeric);"
            "INSERT INTO demo VALUES (1, 'apple', 1.25), (2, 'pear', 0.80)")
        rows = await conn.fetch("SELECT * FROM demo WHERE price > $1 ORDER BY id", [0.5])
        print("query:", rows.result())

        # ---- callback mode -------------------------------------------------------
        listener = pool.listener()
        received = 0
        done = asyncio.Event()
        first: list = []

        async def on_order(connection, payload, channel, process_id):
            nonlocal received
            received += 1
            if len(first) < 3:
                first.append((channel, payload, process_id))
            if received == N:
                done.set()

        await listener.add_callback("orders", on_order)
        await listener.startup()
        listener.listen()
        t0 = time.perf_counter()
        await conn.execute(f"SELECT pg_notify('orders', 'order-' || g) FROM generate_series(1, {N}) g")
        await asyncio.wait_for(done.wait(), 60)
        dt = time.perf_counter() - t0
        print(f"callback mode: first arrivals {first}")
        print(f"callback mode: {received} notifications in {dt:.3f} s = {received / dt:,.0f}/s")
        listener.abort_listen()
        await listener.shutdown()

        # ---- iterator mode --------------------------------------------------------
        listener = pool.listener()

        async def noop(*args):
            pass

        await listener.add_callback("ticks", noop)
        await listener.startup()
        t0 = time.perf_counter()
        # Distinct payloads: the server folds identical notifications of one
        # transaction into one.
        await conn.execute(f"SELECT pg_notify('ticks', lpad(g::text, 32, 'x')) FROM generate_series(1, {N}) g")
        count = 0
        async for msg in listener:
            count += 1
            if count == 1:
                print(f"iterator mode: first message {msg!r}")
            if count == N:
                break
        dt = time.perf_counter() - t0
        print(f"iterator mode: {count} notifications in {dt:.3f} s = {count / dt:,.0f}/s")
        await listener.shutdown()
    pool.close()


if __name__ == "__main__":
    cluster = cluster_from_env()
    cluster.start()
    try:
        for name in ("asyncio", "uvloop"):
            try:
                run = __import__("uvloop").run if name == "uvloop" else asyncio.run
            except ImportError:
                continue
            print(f"--- event loop: {name}")
            run(main(cluster.dsn()))
    finally:
        cluster.stop()
