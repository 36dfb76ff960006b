"""A smoke test of an installed psqlpy against a real server (``PSQLPY_TEST_DSN``).

Run from outside the source tree, so that ``import psqlpy`` is the installed copy
(it refuses to run otherwise). ``make dist-check`` runs it in a clean venv per
artifact. Exits non-zero on the first thing that does not hold.
"""
from __future__ import annotations

import asyncio
import datetime
import decimal
import os
import sys
import uuid
from pathlib import Path


async def main() -> None:
    import psqlpy
    from psqlpy import exceptions as exc

    here = Path(psqlpy.__file__).resolve()
    source_package = Path(__file__).resolve().parent.parent / "psqlpy"
    assert source_package not in here.parents, f"psqlpy imported from the source tree: {here}"
    assert "site-packages" in here.parts, f"psqlpy is not an installed copy: {here}"
    import psqlpy.protocol as proto
    assert proto.__file__ and proto.__file__.endswith(".so"), proto.__file__

    dsn = os.environ["PSQLPY_TEST_DSN"]
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async with pool.acquire() as conn:
            u = uuid.uuid4()
            now = datetime.datetime.now(datetime.timezone.utc)
            row = await conn.fetch_row(
                "SELECT $1::int8 AS i, $2::text AS t, $3::numeric AS n, $4::uuid AS u, "
                "$5::timestamptz AS ts, $6::jsonb AS j",
                [2**40, "héllo", decimal.Decimal("1.50"), u, now, {"a": [1, 2]}])
            got = row.result()
            assert got == {"i": 2**40, "t": "héllo", "n": decimal.Decimal("1.50"), "u": u,
                           "ts": now, "j": {"a": [1, 2]}}, got
            async with conn.transaction() as tx:
                await tx.execute("CREATE TEMP TABLE smoke (x int)")
                await tx.execute_many("INSERT INTO smoke VALUES ($1)", [[1], [2], [3]])
                assert await tx.fetch_val("SELECT sum(x) FROM smoke") == 6
            try:
                await conn.execute("SELECT 1/0")
            except exc.ConnectionExecuteError as e:
                assert getattr(e, "sqlstate", None) == "22012", e
            else:
                raise AssertionError("division by zero did not raise")

        listener = pool.listener()
        got_payloads: list[str] = []
        done = asyncio.Event()

        async def on_note(connection, payload, channel, process_id):
            got_payloads.append(payload)
            done.set()

        await listener.add_callback("smoke", on_note)
        await listener.startup()
        listener.listen()
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_notify('smoke', 'hi')")
        await asyncio.wait_for(done.wait(), 10)
        assert got_payloads == ["hi"], got_payloads
        await listener.shutdown()
    finally:
        pool.close()
        await pool.wait_closed()
    print(f"smoke test passed: psqlpy {psqlpy.__version__} from {here.parent} "
          f"on Python {sys.version.split()[0]}")


if __name__ == "__main__":
    asyncio.run(main())
