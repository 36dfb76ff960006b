"""Conformance: Cursor (API.md): a protocol-level portal inside a transaction."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from psqlpy import Connection, ConnectionPool, Cursor, QueryResult, connect
from psqlpy import exceptions as exc

Q = "SELECT g AS n FROM generate_series(1, 10) g ORDER BY g"


@pytest.fixture
async def conn(dsn: str) -> Any:
    c = await connect(dsn=dsn)
    async with c:
        yield c


def _vals(res: QueryResult) -> list[int]:
    return [r[0] for r in res.result(as_tuple=True)]


async def test_attributes(conn: Connection) -> None:
    cur = conn.cursor(Q, None)
    assert cur.querystring == Q
    assert cur.parameters is None
    assert cur.array_size == 1
    cur.array_size = 4
    assert cur.array_size == 4
    cur2 = conn.cursor("SELECT $1::int", [5], array_size=7)
    assert cur2.parameters == [5] and cur2.array_size == 7
    assert not cur.is_closed()
    # The reference's documentation and stubs call it fetch_number.
    assert conn.cursor(Q, fetch_number=3).array_size == 3
    assert conn.transaction().cursor(Q, fetch_number=6).array_size == 6
    assert conn.cursor(Q, array_size=2, fetch_number=3).array_size == 2


async def test_fetch_methods(conn: Connection) -> None:
    async with conn.transaction() as tx:
        cur = tx.cursor(Q)
        await cur.start()
        one = await cur.fetchone()
        assert isinstance(one, QueryResult)
        assert one.result() == [{"n": 1}]
        assert _vals(await cur.fetchmany()) == [2]            # array_size (1)
        assert _vals(await cur.fetchmany(3)) == [3, 4, 5]
        cur.array_size = 2
        assert _vals(await cur.fetchmany()) == [6, 7]
        assert _vals(await cur.fetchall(size=1)) == [8, 9, 10]   # size: see fetchall()
        assert _vals(await cur.fetchall()) == []
        empty = await cur.fetchone()
        assert empty.result() == [] and not len(empty)
        cur.close()
        assert cur.is_closed()
        with pytest.raises(exc.CursorClosedError):
            await cur.fetchone()


async def test_async_for_yields_batches_of_array_size(conn: Connection) -> None:
    async with conn.transaction() as tx:
        cur = tx.cursor(Q, array_size=3)
        batches = []
        async with cur:
            async for batch in cur:
                assert isinstance(batch, QueryResult)
                batches.append(_vals(batch))
        assert batches == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
        assert cur.is_closed()
        default = tx.cursor(Q)
        async with default:
            assert [len(b) async for b in default] == [1] * 10


async def test_parameters_and_named(conn: Connection) -> None:
    async with conn.transaction() as tx:
        async with tx.cursor("SELECT g FROM generate_series(1, $1::int) g", [4],
                             array_size=10) as cur:
            assert _vals(await cur.fetchall()) == [1, 2, 3, 4]
        async with tx.cursor("SELECT g FROM generate_series($(lo)p::int, $(hi)p::int) g",
                             {"lo": 3, "hi": 5}) as cur:
            assert _vals(await cur.fetchall()) == [3, 4, 5]


async def test_execute_reuses_cursor(conn: Connection) -> None:
    async with conn.transaction() as tx:
        cur = tx.cursor(Q, array_size=2)
        async with cur:
            assert _vals(await cur.fetchmany()) == [1, 2]
            assert await cur.execute("SELECT $1::int AS v UNION ALL SELECT 2", [1]) is cur
            assert cur.querystring == "SELECT $1::int AS v UNION ALL SELECT 2"
            assert cur.parameters == [1]
            assert _vals(await cur.fetchall()) == [1, 2]


async def test_cursor_without_query(conn: Connection) -> None:
    async with conn.transaction() as tx:
        cur = tx.cursor()
        with pytest.raises(exc.CursorStartError):
            await cur.start()
        async with cur:
            await cur.execute("SELECT 42")
            assert _vals(await cur.fetchone()) == [42]


async def test_start_twice(conn: Connection) -> None:
    async with conn.transaction() as tx:
        cur = tx.cursor(Q)
        await cur.start()
        with pytest.raises(exc.CursorStartError):
            await cur.start()
        await cur.close()    # close() is sync, and awaitable too


async def test_cursor_outside_transaction_makes_its_own(conn: Connection) -> None:
    cur = conn.cursor(Q, array_size=5)
    async with cur:
        assert await conn.in_transaction()
        assert _vals(await cur.fetchmany()) == [1, 2, 3, 4, 5]
    assert not await conn.in_transaction()
    assert await conn.fetch_val("SELECT 1") == 1


async def test_failed_start_ends_its_own_transaction(conn: Connection) -> None:
    # ``async with`` never closes a cursor whose start raised: the start must
    # not leave its own transaction behind (aborted, or open).
    with pytest.raises(exc.CursorStartError):
        async with conn.cursor("SELECT * FROM api_no_such"):
            pass
    assert not await conn.in_transaction()
    assert await conn.fetch_val("SELECT 1") == 1
    with pytest.raises(exc.PyToRustValueMappingError):   # the Bind is never sent
        async with conn.cursor("SELECT $1::int2", [70000]):
            pass
    assert not await conn.in_transaction()
    task = asyncio.ensure_future(conn.cursor(Q).start())
    await asyncio.sleep(0)        # its BEGIN is on the wire
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await conn.in_transaction()
    assert await conn.fetch_val("SELECT 2") == 2
    assert not await conn.in_transaction()


async def test_cancelled_fetch_never_skips_rows_silently(conn: Connection) -> None:
    async with conn.transaction() as tx:
        async with tx.cursor(Q, array_size=2) as cur:
            assert _vals(await cur.fetchmany()) == [1, 2]
            task = asyncio.ensure_future(cur.fetchmany())
            await asyncio.sleep(0)        # the Execute is on the wire
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Rows 3 and 4 went to the cancelled fetch: the next one must not
            # quietly go on with 5 and 6.
            with pytest.raises(exc.CursorFetchError, match="cancelled"):
                await cur.fetchmany()
            await cur.execute(Q)          # a new portal can be fetched
            assert _vals(await cur.fetchmany()) == [1, 2]
        assert await tx.fetch_val("SELECT 7") == 7


async def test_own_transaction_cursor_cancelled_again_while_closing(conn: Connection) -> None:
    running = asyncio.Event()

    async def work() -> None:
        async with conn.cursor("SELECT pg_sleep(30)") as cur:   # its own transaction
            running.set()
            await cur.fetchone()

    task = asyncio.ensure_future(work())
    await asyncio.wait_for(running.wait(), 5)
    await asyncio.sleep(0.1)      # pg_sleep running
    task.cancel()
    await asyncio.sleep(0)        # __aexit__ waits for the cancelled fetch to drain
    task.cancel()                 # ... and is cancelled too
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await asyncio.wait_for(conn.in_transaction(), 10)
    assert await conn.fetch_val("SELECT 3") == 3


async def _until_back_in_pool(pool) -> None:
    # Connection.close() hands the connection back after its reset, in the background.
    for _ in range(500):
        if pool.status().available == 1:
            return
        await asyncio.sleep(0.01)


async def test_unawaited_close_then_connection_back_to_the_pool_commits(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async with pool.acquire() as c:
            await c.execute_batch("DROP TABLE IF EXISTS api_cur_commit; "
                                  "CREATE TABLE api_cur_commit (x int)")
        conn = await pool.connection()
        cur = conn.cursor("INSERT INTO api_cur_commit VALUES (1) RETURNING x")  # its own tx
        await cur.start()
        assert (await cur.fetchone()).result(as_tuple=True) == [(1,)]
        cur.close()       # not awaited: its COMMIT still goes out before ...
        conn.close()      # ... the pool resets the connection
        await _until_back_in_pool(pool)
        async with pool.acquire() as c:
            assert await c.fetch_val("SELECT count(*) FROM api_cur_commit") == 1
            await c.execute("DROP TABLE api_cur_commit")
    finally:
        pool.close()
        await pool.wait_closed()


async def test_cursor_closed_after_its_connection_went_back_to_the_pool(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async with pool.acquire() as c:
            await c.execute_batch("DROP TABLE IF EXISTS api_cur_pool; "
                                  "CREATE TABLE api_cur_pool (x int)")
            pid = await c.fetch_val("SELECT pg_backend_pid()")
        conn = await pool.connection()
        cur = conn.cursor(Q)              # outside a transaction: it begins its own
        await cur.start()
        conn.close()                      # back to the pool (which rolls it back)
        await _until_back_in_pool(pool)
        other = await pool.connection()
        assert await other.fetch_val("SELECT pg_backend_pid()") == pid   # the same socket
        tx = other.transaction()
        await tx.begin()
        await tx.execute("INSERT INTO api_cur_pool VALUES (1)")
        # The stale cursor must not touch the other user's transaction.
        await cur.close()
        assert await other.in_transaction()
        await tx.rollback()
        assert await other.fetch_val("SELECT count(*) FROM api_cur_pool") == 0
        await other.execute("DROP TABLE api_cur_pool")
        other.close()
    finally:
        pool.close()
        await pool.wait_closed()


async def test_fetch_error(conn: Connection) -> None:
    async with conn.transaction() as tx:
        await tx.create_savepoint("c")
        cur = tx.cursor("SELECT 1/(g - 3) FROM generate_series(1, 5) g", array_size=10)
        async with cur:
            with pytest.raises(exc.CursorFetchError) as ei:
                await cur.fetchall()
            assert isinstance(ei.value, exc.PostgresError) and ei.value.sqlstate == "22012"
        await tx.rollback_savepoint("c")
    with pytest.raises(exc.CursorStartError):
        async with conn.transaction() as tx:
            async with tx.cursor("SELECT * FROM api_no_such"):
                pass


async def test_large_result_streams(conn: Connection) -> None:
    async with conn.transaction() as tx:
        total = 0
        count = 0
        async with tx.cursor("SELECT g FROM generate_series(1, 5000) g", array_size=1000) as cur:
            async for batch in cur:
                count += 1
                total += sum(_vals(batch))
        assert count == 5 and total == 5000 * 5001 // 2


async def test_cursor_class_is_exported(conn: Connection) -> None:
    assert isinstance(conn.cursor(Q), Cursor)
