"""The connection against a real server: queries, types, errors, cancel."""
import asyncio
import datetime
import decimal
import gc
import logging
import uuid
from typing import Any, cast

import pytest

import psqlpy
from psqlpy import exceptions as exc


@pytest.fixture
async def conn(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def test_select_values(conn):
    res = await conn.execute("SELECT 1::int4 AS a, 'x'::text AS b, NULL::int8 AS c")
    assert res.result() == [{"a": 1, "b": "x", "c": None}]
    assert res.result(as_tuple=True) == [(1, "x", None)]
    assert await conn.fetch_val("SELECT $1::int8 + 1", [41]) == 42


async def test_core_types_round_trip(conn):
    values = [
        ("int2", 7), ("int4", -2_000_000_000), ("int8", 9_000_000_000_000_000_000),
        ("float4", 1.5), ("float8", 3.25), ("bool", True), ("text", "héllo ✓"),
        ("varchar", "v"), ("name", "n"), ("bytea", b"\x00\x01\xff"),
        ("numeric", decimal.Decimal("12345.678")), ("date", datetime.date(2024, 2, 29)),
        ("time", datetime.time(12, 34, 56, 789)),
        ("timestamp", datetime.datetime(2020, 1, 2, 3, 4, 5, 6)),
        ("timestamptz", datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)),
        ("interval", datetime.timedelta(days=3, seconds=7, microseconds=11)),
        ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
        ("jsonb", {"a": [1, 2, {"b": None}]}), ("json", [1, "two"]),
    ]
    for typ, value in values:
        got = await conn.fetch_val(f"SELECT $1::{typ}", [value])
        assert got == value, typ
        assert await conn.fetch_val(f"SELECT $1::{typ} IS NULL", [None]) is True


async def test_text_results_for_other_types(conn):
    # Types with no binary codec come back in text format, as str.
    assert await conn.fetch_val("SELECT '1/16'::pg_lsn") == "1/16"
    assert await conn.fetch_val("SELECT 'pg_class'::regclass") == "pg_class"
    assert await conn.fetch_val("SELECT 'a b'::tsvector") == "'a' 'b'"


async def test_error_keeps_fields_and_connection_usable(conn):
    await conn.execute("CREATE TEMP TABLE t_err (id int PRIMARY KEY)")
    await conn.execute("INSERT INTO t_err VALUES (1)")
    with pytest.raises(exc.IntegrityError) as ei:
        await conn.execute("INSERT INTO t_err VALUES (1)")
    e = cast(exc.PostgresError, ei.value)
    assert isinstance(e, exc.ConnectionExecuteError)
    assert e.sqlstate == "23505"
    assert e.severity == "ERROR"
    assert e.table_name == "t_err"
    assert e.constraint_name == "t_err_pkey"
    assert "already exists" in cast(str, e.detail)
    with pytest.raises(exc.ProgrammingError) as ei2:
        await conn.execute("SELEC 1")
    assert cast(exc.PostgresError, ei2.value).sqlstate == "42601"
    assert cast(exc.PostgresError, ei2.value).position == 1
    assert await conn.fetch_val("SELECT 5") == 5


async def test_cancel_mid_query_leaves_connection_clean(conn):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(conn.execute("SELECT pg_sleep(30)"), 0.3)
    # No stale result: the next query gets its own answer, promptly.
    assert await asyncio.wait_for(conn.fetch_val("SELECT 'next'"), 5) == "next"
    assert await conn.fetch_val("SELECT count(*) FROM pg_stat_activity "
                                "WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'") == 0


async def test_cancel_goes_to_the_server_we_are_connected_to(conn):
    # The host name now leads elsewhere (DNS round robin over several servers,
    # a headless service): a CancelRequest sent there is lost and the query
    # would run on, holding the connection.
    accepted = []

    async def other_server(reader, writer):
        accepted.append(await reader.read(16))
        writer.close()

    other = await asyncio.start_server(other_server, "127.0.0.1", 0)
    pg = conn._conn
    pg.host, pg.port = "127.0.0.1", other.sockets[0].getsockname()[1]
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.execute("SELECT pg_sleep(30)"), 0.2)
        assert await asyncio.wait_for(conn.fetch_val("SELECT 'next'"), 5) == "next"
        assert accepted == []
    finally:
        other.close()
        await other.wait_closed()


async def test_late_cancel_of_an_earlier_query_never_hits_the_next(conn, monkeypatch):
    # Two pipelined queries cancelled at once: a CancelRequest for the one the
    # server runs (a second one only if the other is still unfinished then),
    # slow to reach the server.  The next query waits for it.
    from psqlpy._pgconn import PgConnection
    send_cancel = PgConnection.send_cancel
    sent = []

    async def slow_first(self):
        sent.append(self)
        if len(sent) == 1:
            await asyncio.sleep(0.5)
        await send_cancel(self)

    monkeypatch.setattr(PgConnection, "send_cancel", slow_first)
    t1 = asyncio.ensure_future(conn.execute("SELECT pg_sleep(30)"))
    t2 = asyncio.ensure_future(conn.execute("SELECT 2"))
    await asyncio.sleep(0.1)
    t1.cancel()
    t2.cancel()
    for t in (t1, t2):
        with pytest.raises(asyncio.CancelledError):
            await t
    assert await asyncio.wait_for(
        conn.fetch_val("SELECT 'next' FROM pg_sleep(1)"), 10) == "next"
    assert 1 <= len(sent) <= 2


async def test_close_right_after_a_cancel_logs_no_unretrieved_error(dsn, monkeypatch, caplog):
    # close() ends the drain of a cancelled query (its CancelRequest still on
    # the way): the drained request's error must not surface as asyncio's
    # "Future exception was never retrieved" ERROR.
    from psqlpy._pgconn import PgConnection
    send_cancel = PgConnection.send_cancel

    async def slow(self):
        await send_cancel(self)
        await asyncio.sleep(1)    # its connection is slow to close: close() is done first

    monkeypatch.setattr(PgConnection, "send_cancel", slow)
    c = await psqlpy.connect(dsn=dsn)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(c.execute("SELECT pg_sleep(30)"), 0.1)
    await c.__aexit__(None, None, None)
    del c
    for _ in range(3):
        await asyncio.sleep(0.05)   # the cancelled drain task ends
        gc.collect()
    assert [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR and "never retrieved" in r.getMessage()] == []


async def test_simple_query_batch_and_transaction(conn):
    await conn.execute_batch("CREATE TEMP TABLE tb (v int); INSERT INTO tb VALUES (1), (2)")
    async with conn.transaction() as tx:
        await tx.execute("INSERT INTO tb VALUES ($1)", [3])
        assert await conn.in_transaction()
    assert not await conn.in_transaction()
    with pytest.raises(RuntimeError):
        async with conn.transaction() as tx:
            await tx.execute("INSERT INTO tb VALUES (4)")
            raise RuntimeError("boom")
    assert await conn.fetch_val("SELECT sum(v) FROM tb") == 6
    with pytest.raises(exc.TransactionClosedError):
        await tx.execute("SELECT 1")


async def test_named_parameters(conn):
    res = await conn.fetch_row("SELECT $(a)p::int4 + $(b)p::int4 AS s, $(a)p::int4 AS a",
                               {"a": 2, "b": 3})
    assert res.result() == {"s": 5, "a": 2}


async def test_wrong_parameter_count_is_typed(conn):
    with pytest.raises(exc.Error):
        await conn.execute("SELECT $1::int4", [1, 2])
    with pytest.raises(exc.PyToRustValueMappingError):
        await conn.execute("SELECT $1::int2", [70000])
    assert await conn.fetch_val("SELECT 1") == 1


async def test_statement_cache_recovers_after_schema_change(conn):
    await conn.execute("CREATE TEMP TABLE sc (a int)")
    await conn.execute("INSERT INTO sc VALUES (1)")
    assert (await conn.execute("SELECT * FROM sc")).result() == [{"a": 1}]
    await conn.execute("ALTER TABLE sc ADD COLUMN b text DEFAULT 'x'")
    assert (await conn.execute("SELECT * FROM sc")).result() == [{"a": 1, "b": "x"}]


async def test_unix_socket_and_pool(pg_cluster):
    if getattr(pg_cluster, "is_external", False):
        pytest.skip("needs the suite's own cluster")
    pool = psqlpy.ConnectionPool(dsn=pg_cluster.dsn(host="unix"), max_db_pool_size=2)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SELECT 1") == 1
        conns = [await pool.connection() for _ in range(2)]
        waiter = asyncio.ensure_future(pool.connection())
        await asyncio.sleep(0.05)
        assert pool.status().waiting == 1
        conns[0].close()
        c3 = await asyncio.wait_for(waiter, 5)
        assert await c3.fetch_val("SELECT 2") == 2
        c3.close()
        conns[1].close()
    finally:
        pool.close()
        await pool.wait_closed()


async def test_pool_discards_connection_left_in_transaction(dsn):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        conn = await pool.connection()
        await conn.execute("BEGIN")
        conn.close()
        await asyncio.sleep(0.1)
        async with pool.acquire() as c2:
            assert not await c2.in_transaction()
    finally:
        pool.close()
        await pool.wait_closed()


@pytest.mark.parametrize("prepared", [True, False])
async def test_execute_many_large_is_atomic_and_pipelined(conn, prepared):
    await conn.execute("CREATE TEMP TABLE em (v int4 PRIMARY KEY)")
    await conn.execute_many("INSERT INTO em VALUES ($1)", [[i] for i in range(5000)],
                            prepared=prepared)
    assert await conn.fetch_val("SELECT count(*) FROM em") == 5000
    # A duplicate in the last batch: nothing of the whole set is applied.
    rows: list[list[Any]] = [[i] for i in range(5000, 9000)] + [[1]]
    with pytest.raises(exc.IntegrityError):
        await conn.execute_many("INSERT INTO em VALUES ($1)", rows, prepared=prepared)
    assert await conn.fetch_val("SELECT count(*) FROM em") == 5000
    # A value that cannot be encoded (or, sent as text, cast) in a later batch:
    # the same.
    rows = [[i] for i in range(9000, 12000)] + [["not an int"]]
    with pytest.raises(exc.Error):
        await conn.execute_many("INSERT INTO em VALUES ($1)", rows, prepared=prepared)
    assert await conn.fetch_val("SELECT count(*) FROM em") == 5000
    assert not await conn.in_transaction()


async def test_execute_many_cancelled_midway_applies_nothing(conn):
    await conn.execute("CREATE TEMP TABLE emc (v int4)")
    rows = [[i] for i in range(200_000)]
    task = asyncio.ensure_future(conn.execute_many("INSERT INTO emc VALUES ($1)", rows))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    n = await asyncio.wait_for(conn.fetch_val("SELECT count(*) FROM emc"), 30)
    assert n in (0, 200_000)   # all or nothing, never part
