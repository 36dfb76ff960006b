"""make demo: LISTEN/NOTIFY, logical replication and queries against a throwaway local server.

Starts the embedded default server (the test suite's throwaway cluster from
the system PostgreSQL binaries, or the `pgserver` wheel's), then runs a
Listener in callback mode and in iterator mode while another connection
sends notifications, and prints what arrives and the rate.  Then the durable
counterpart: a table's changes streamed from a logical replication slot, the
consumer killed mid-way, and a new one resuming with nothing lost.
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

        await replication_demo(pool, conn)
    pool.close()


async def replication_demo(pool, conn) -> None:
    """A table's changes from a logical replication slot; the consumer is
    killed after acknowledging orders 1-3 while it handles order 4, orders
    6-7 are committed while no consumer runs, and a new consumer of the slot
    gets 4, 5, 6, 7: every change after the last acknowledgement, none before."""
    await conn.execute_batch(
        "DROP PUBLICATION IF EXISTS demo_pub; DROP TABLE IF EXISTS demo_orders; "
        "CREATE TABLE demo_orders (id int PRIMARY KEY, item text, qty int); "
        "CREATE PUBLICATION demo_pub FOR TABLE demo_orders")
    stream = pool.replication("demo_slot", "demo_pub", create_slot=True, status_interval=0.2)
    await stream.startup()
    try:
        for i in range(1, 6):   # one transaction each
            await conn.execute("INSERT INTO demo_orders VALUES ($1, $2, $3)", [i, f"item-{i}", i * 10])
        await conn.execute("UPDATE demo_orders SET qty = 0 WHERE id = 5")
        handling = asyncio.Event()

        async def consumer():
            async for tx in stream:
                for change in tx.changes:
                    print(f"replication: {change.kind} {change.table} {change.new}")
                    if change.new["id"] == 4:
                        handling.set()
                        await asyncio.sleep(3600)   # killed here, before its ack
                await stream.ack(tx)

        task = asyncio.ensure_future(consumer())
        await asyncio.wait_for(handling.wait(), 30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.shutdown()
        print(f"replication: consumer killed while handling order 4; acknowledged up to "
              f"{psqlpy.protocol.format_lsn(stream.confirmed_lsn)}")
        for i in (6, 7):        # committed while no consumer runs
            await conn.execute("INSERT INTO demo_orders VALUES ($1, $2, $3)", [i, f"item-{i}", i * 10])
        resumed = pool.replication("demo_slot", "demo_pub")
        await resumed.startup()
        seen = []
        async for tx in resumed:
            seen += [(c.kind, c.new["id"]) for c in tx.changes]
            await resumed.ack(tx)
            if len(seen) == 5:
                break
        print(f"replication: a new consumer resumed with {seen}: nothing lost, "
              f"nothing acknowledged seen twice")
        await resumed.drop_slot()
    finally:
        await stream.shutdown()
        await conn.execute_batch("DROP PUBLICATION demo_pub; DROP TABLE demo_orders")


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
