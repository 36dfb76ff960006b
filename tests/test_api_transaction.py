"""Conformance: Transaction (API.md)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from psqlpy import Connection, IsolationLevel, QueryResult, ReadVariant, connect
from psqlpy import exceptions as exc


@pytest.fixture
async def conn(dsn: str) -> Any:
    c = await connect(dsn=dsn)
    async with c:
        await c.execute_batch("DROP TABLE IF EXISTS api_tx; CREATE TABLE api_tx (x int)")
        yield c
        await c.execute_batch("DROP TABLE IF EXISTS api_tx")


async def _count(conn: Connection) -> int:
    return int(await conn.fetch_val("SELECT count(*) FROM api_tx"))


async def test_begin_commit(conn: Connection) -> None:
    tx = conn.transaction()
    await tx.begin()
    await tx.execute("INSERT INTO api_tx VALUES (1)")
    assert await tx.fetch_val("SELECT count(*) FROM api_tx") == 1
    await tx.commit()
    assert tx.is_closed()
    assert await _count(conn) == 1


async def test_rollback(conn: Connection) -> None:
    tx = conn.transaction()
    await tx.begin()
    await tx.execute("INSERT INTO api_tx VALUES (1)")
    await tx.rollback()
    assert await _count(conn) == 0
    assert not await conn.in_transaction()


async def test_queries_before_begin_run_outside_a_transaction(conn: Connection) -> None:
    # The reference driver's behaviour (its test_transaction_begin relies on it).
    tx = conn.transaction()
    await tx.execute("INSERT INTO api_tx VALUES (1)")
    assert not await conn.in_transaction()
    await tx.begin()
    await tx.execute("INSERT INTO api_tx VALUES (2)")
    await tx.rollback()
    assert await _count(conn) == 1          # the first insert was already committed


async def test_commit_or_rollback_before_begin_finishes_it(conn: Connection) -> None:
    for end in ("commit", "rollback"):
        tx = conn.transaction()
        await getattr(tx, end)()            # the server only warns: no transaction
        assert tx.is_closed()
        assert not await conn.in_transaction()
        with pytest.raises(exc.TransactionClosedError):
            await tx.begin()


async def test_finished_transaction_raises_closed(conn: Connection) -> None:
    tx = conn.transaction()
    await tx.begin()
    await tx.commit()
    for call in (lambda: tx.execute("SELECT 1"), lambda: tx.fetch("SELECT 1"),
                 lambda: tx.fetch_row("SELECT 1"), lambda: tx.fetch_val("SELECT 1"),
                 lambda: tx.execute_batch("SELECT 1"),
                 lambda: tx.execute_many("SELECT $1::int", [[1]]),
                 tx.commit, tx.rollback, lambda: tx.create_savepoint("s"),
                 lambda: tx.rollback_savepoint("s"), lambda: tx.release_savepoint("s"),
                 lambda: tx.pipeline(["SELECT 1"])):
        with pytest.raises(exc.TransactionClosedError):
            await call()
    with pytest.raises(exc.BaseTransactionError):
        await tx.begin()
    tx2 = conn.transaction()
    await tx2.begin()
    await tx2.rollback()
    with pytest.raises(exc.TransactionClosedError):
        await tx2.execute("SELECT 1")


async def test_async_with_commits(conn: Connection) -> None:
    async with conn.transaction() as tx:
        assert await conn.in_transaction()
        await tx.execute("INSERT INTO api_tx VALUES (1)")
    assert await _count(conn) == 1
    assert tx.is_closed()


async def test_async_with_rolls_back_and_reraises(conn: Connection) -> None:
    with pytest.raises(ZeroDivisionError):
        async with conn.transaction() as tx:
            await tx.execute("INSERT INTO api_tx VALUES (1)")
            1 / 0
    assert await _count(conn) == 0
    assert not await conn.in_transaction()
    with pytest.raises(exc.TransactionExecuteError):
        async with conn.transaction() as tx:
            await tx.execute("INSERT INTO api_tx VALUES (1)")
            await tx.execute("SELECT 1/0")
    assert await _count(conn) == 0


async def _other_count(dsn: str) -> int:
    """api_tx's row count as another session sees it (what was committed)."""
    async with await connect(dsn=dsn) as other:
        return int(await other.fetch_val("SELECT count(*) FROM api_tx"))


async def test_begin_cancelled_in_flight_leaves_no_transaction(conn: Connection, dsn: str) -> None:
    tx = conn.transaction()
    task = asyncio.ensure_future(tx.begin())
    await asyncio.sleep(0)        # the BEGIN is on the wire
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The BEGIN still ran on the server; it must not swallow what comes next
    # into a transaction nobody commits.
    await conn.execute("INSERT INTO api_tx VALUES (1)")
    assert not await conn.in_transaction()
    assert await _other_count(dsn) == 1
    async with conn.transaction() as tx2:
        await tx2.execute("INSERT INTO api_tx VALUES (2)")
    assert await _other_count(dsn) == 2


async def test_begin_cancelled_after_it_ran(conn: Connection, dsn: str) -> None:
    pg = conn._conn   # type: ignore[attr-defined]
    tx = conn.transaction()
    task = asyncio.ensure_future(tx.begin())
    while pg.transaction_status != "T":
        await asyncio.sleep(0)
    task.cancel()                 # BEGIN done, its task not resumed yet
    with pytest.raises(asyncio.CancelledError):
        await task
    # Its transaction is rolled back before anything else runs: a new one
    # can begin right away.
    async with conn.transaction() as tx2:
        await tx2.execute("INSERT INTO api_tx VALUES (1)")
    assert not await conn.in_transaction()
    assert await _other_count(dsn) == 1
    async with conn.cursor("SELECT 5") as cur:   # begins its own transaction
        assert (await cur.fetchone()).result(as_tuple=True) == [(5,)]
    assert not await conn.in_transaction()


async def test_block_cancelled_again_during_its_rollback(conn: Connection, dsn: str) -> None:
    running = asyncio.Event()

    async def work() -> None:
        async with conn.transaction() as tx:
            await tx.execute("INSERT INTO api_tx VALUES (1)")
            running.set()
            await tx.execute("SELECT pg_sleep(30)")

    task = asyncio.ensure_future(work())
    await asyncio.wait_for(running.wait(), 5)
    await asyncio.sleep(0.1)      # pg_sleep running
    task.cancel()
    await asyncio.sleep(0)        # __aexit__'s ROLLBACK waits for the cancelled pg_sleep
    task.cancel()                 # ... and is cancelled too
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await asyncio.wait_for(conn.in_transaction(), 10)
    await conn.execute("INSERT INTO api_tx VALUES (2)")
    assert await _other_count(dsn) == 1    # row 2 only, committed


async def test_commit_cancelled_before_it_is_sent(conn: Connection, dsn: str) -> None:
    tx = conn.transaction()
    await tx.begin()
    await tx.execute("INSERT INTO api_tx VALUES (1)")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(tx.execute("SELECT pg_sleep(30)"), 0.2)
    task = asyncio.ensure_future(tx.commit())
    await asyncio.sleep(0)        # COMMIT waits for the cancelled pg_sleep to end
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tx.is_closed()
    assert not await asyncio.wait_for(conn.in_transaction(), 10)
    await conn.execute("INSERT INTO api_tx VALUES (2)")
    assert await _other_count(dsn) == 1


async def test_savepoints_with_names_needing_quotes(conn: Connection) -> None:
    async with conn.transaction() as tx:
        for name in ("plain", "my sp", '"x"', "Mixed Case", "semi;colon"):
            await tx.create_savepoint(name)
            await tx.execute("INSERT INTO api_tx VALUES (1)")
            await tx.rollback_savepoint(name)
            assert await tx.fetch_val("SELECT count(*) FROM api_tx") == 0
            await tx.execute("INSERT INTO api_tx VALUES (2)")
            await tx.release_savepoint(name)
            await tx.execute("DELETE FROM api_tx")
        await tx.create_savepoint("my sp")
        with pytest.raises(exc.TransactionSavepointError):
            await tx.rollback_savepoint("MY SP")   # exact case: another name
        await tx.rollback_savepoint("my sp")   # recovers from the failed command
    assert await _count(conn) == 0


async def test_savepoint_recovers_from_error(conn: Connection) -> None:
    async with conn.transaction() as tx:
        await tx.execute("INSERT INTO api_tx VALUES (1)")
        await tx.create_savepoint("before error")
        with pytest.raises(exc.TransactionExecuteError):
            await tx.execute("SELECT 1/0")
        await tx.rollback_savepoint("before error")
        await tx.execute("INSERT INTO api_tx VALUES (2)")
    assert await _count(conn) == 2


@pytest.mark.parametrize("level,shown", [
    (IsolationLevel.ReadUncommitted, "read uncommitted"),
    (IsolationLevel.ReadCommitted, "read committed"),
    (IsolationLevel.RepeatableRead, "repeatable read"),
    (IsolationLevel.Serializable, "serializable"),
])
async def test_isolation_levels(conn: Connection, level: IsolationLevel, shown: str) -> None:
    async with conn.transaction(isolation_level=level) as tx:
        assert await tx.fetch_val("SHOW transaction_isolation") == shown


async def test_read_variant(conn: Connection) -> None:
    async with conn.transaction(read_variant=ReadVariant.ReadOnly) as tx:
        assert await tx.fetch_val("SHOW transaction_read_only") == "on"
    with pytest.raises(exc.TransactionExecuteError) as ei:
        async with conn.transaction(read_variant=ReadVariant.ReadOnly) as tx:
            await tx.execute("INSERT INTO api_tx VALUES (1)")
    assert isinstance(ei.value, exc.PostgresError) and ei.value.sqlstate == "25006"
    async with conn.transaction(read_variant=ReadVariant.ReadWrite) as tx:
        assert await tx.fetch_val("SHOW transaction_read_only") == "off"
        await tx.execute("INSERT INTO api_tx VALUES (1)")
    assert await _count(conn) == 1


async def test_deferrable(conn: Connection) -> None:
    async with conn.transaction(isolation_level=IsolationLevel.Serializable,
                                read_variant=ReadVariant.ReadOnly, deferrable=True) as tx:
        assert await tx.fetch_val("SHOW transaction_deferrable") == "on"
    async with conn.transaction(deferrable=False) as tx:
        assert await tx.fetch_val("SHOW transaction_deferrable") == "off"


async def test_begin_inside_transaction_fails(conn: Connection) -> None:
    async with conn.transaction():
        with pytest.raises(exc.TransactionBeginError):
            await conn.transaction().begin()


async def test_query_methods(conn: Connection) -> None:
    async with conn.transaction() as tx:
        await tx.execute_many("INSERT INTO api_tx VALUES ($1)", [[1], [2], [3]])
        await tx.execute_batch("INSERT INTO api_tx VALUES (4); INSERT INTO api_tx VALUES (5)")
        assert (await tx.fetch("SELECT x FROM api_tx ORDER BY x")).result(as_tuple=True) == [
            (1,), (2,), (3,), (4,), (5,)]
        assert (await tx.fetch_row("SELECT max(x) AS m FROM api_tx")).result() == {"m": 5}
        assert await tx.fetch_val("SELECT $(n)p::int", {"n": 9}) == 9
        with pytest.raises(exc.TransactionExecuteError):
            await tx.fetch_val("SELECT 1 WHERE false")
        assert tx.dbname == conn.dbname and tx.user == conn.user
        assert tx.hosts == conn.hosts and tx.ports == conn.ports
        assert await tx.in_transaction()


async def test_pipeline(conn: Connection) -> None:
    async with conn.transaction() as tx:
        results = await tx.pipeline([
            "INSERT INTO api_tx VALUES (1)",
            ("INSERT INTO api_tx VALUES ($1)", [2]),
            ("SELECT count(*) AS n FROM api_tx", None),
            ("SELECT $(a)p::int AS a", {"a": 7}),
        ])
        assert all(isinstance(r, QueryResult) for r in results)
        assert len(results) == 4
        assert results[2].result() == [{"n": 2}]
        assert results[3].result() == [{"a": 7}]
        unprepared = await tx.pipeline([("SELECT $1::int AS v", [i]) for i in range(20)],
                                       prepared=False)
        assert [r.result()[0]["v"] for r in unprepared] == list(range(20))
        assert await tx.pipeline([]) == []
        assert await tx.pipeline() == []
    assert await _count(conn) == 2


async def test_pipeline_error_raises(conn: Connection) -> None:
    with pytest.raises(exc.TransactionExecuteError):
        async with conn.transaction() as tx:
            await tx.pipeline(["INSERT INTO api_tx VALUES (1)", "SELECT 1/0",
                               "INSERT INTO api_tx VALUES (2)"])
    assert await _count(conn) == 0
    assert await conn.fetch_val("SELECT 1") == 1


async def test_cursor_in_transaction(conn: Connection) -> None:
    await conn.execute("INSERT INTO api_tx SELECT generate_series(1, 10)")
    async with conn.transaction() as tx:
        cur = tx.cursor("SELECT x FROM api_tx ORDER BY x", array_size=4)
        async with cur:
            sizes = [len(b.result()) async for b in cur]
        assert sizes == [4, 4, 2]
        assert await tx.in_transaction()     # the cursor left the transaction alone
    assert not await conn.in_transaction()
