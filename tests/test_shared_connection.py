"""One connection, many tasks (issue 15): a cancellation touches only its own
query, results never cross, a timed-out caller gets control back in time, and
a dead connection raises a fresh error each time.

Each test here failed on the code before the request pipeline
(``psqlpy/_pipeline.py``); the randomized test is
``tests/test_shared_connection_stress.py``.
"""
from __future__ import annotations

import asyncio
import os
import time
import traceback

import pytest

import psqlpy
from psqlpy import exceptions as exc
from pgcluster import make_dsn
from tcpproxy import TcpProxy

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def conn(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


@pytest.fixture
async def admin(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def _sleeping(admin, needle: str) -> int:
    return await admin.fetch_val(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()", [needle])


# ---- 1. a cancellation touches only its own query --------------------------------------

async def test_timeout_of_a_queued_query_never_cancels_the_running_one(conn):
    # A runs; B is queued behind it on the same connection and times out.
    a = asyncio.ensure_future(conn.fetch_val("SELECT 'A' FROM pg_sleep(1)"))
    await asyncio.sleep(0.1)
    t0 = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(conn.fetch_val("SELECT 'B'"), 0.2)
    assert time.monotonic() - t0 < 0.5          # B's caller: its own deadline
    assert await asyncio.wait_for(a, 5) == "A"   # not QueryCanceled
    assert await conn.fetch_val("SELECT 'C'") == "C"


async def test_cancel_of_a_finished_query_never_cancels_the_next(conn):
    # B has finished on the server, its reply still unread; A runs behind it.
    # (prepared=False: each query is one unit, on the wire at once.)
    b = asyncio.ensure_future(conn.fetch_val("SELECT 'B'", prepared=False))
    a = asyncio.ensure_future(conn.fetch_val("SELECT 'A' FROM pg_sleep(0.5)", prepared=False))
    await asyncio.sleep(0)     # both are on the wire
    time.sleep(0.15)           # the server answers B and starts A; nobody reads
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b
    assert await asyncio.wait_for(a, 5) == "A"
    assert await conn.fetch_val("SELECT 'C'") == "C"


async def test_running_query_alone_is_cancelled_on_the_server(conn, admin):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(conn.fetch_val("SELECT 'alone' FROM pg_sleep(30)"), 0.3)
    assert await asyncio.wait_for(conn.fetch_val("SELECT 'next'"), 5) == "next"
    assert await _sleeping(admin, "'alone' FROM pg_sleep") == 0


async def test_pipelined_queries_all_cancelled_are_all_stopped(conn, admin):
    # Everything on the wire is abandoned: the CancelRequest may hit any of it.
    tasks = [asyncio.ensure_future(conn.fetch_val(f"SELECT {i} FROM pg_sleep(30)"))
             for i in range(3)]
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    for t in tasks:
        t.cancel()
    for t in tasks:
        with pytest.raises(asyncio.CancelledError):
            await t
    assert await asyncio.wait_for(conn.fetch_val("SELECT 'next'"), 5) == "next"
    assert time.monotonic() - t0 < 3
    assert await _sleeping(admin, "FROM pg_sleep(30)") == 0


async def test_cancelled_before_it_is_sent_is_never_sent(conn):
    await conn.execute("CREATE TEMP TABLE never_sent (x int)")
    slow = asyncio.ensure_future(conn.execute("SELECT pg_sleep(0.3)"))
    await asyncio.sleep(0.05)
    slow.cancel()              # its cancellation holds the wire for a moment ...
    ins = asyncio.ensure_future(conn.execute("INSERT INTO never_sent VALUES (1)"))
    await asyncio.sleep(0)     # ... so the INSERT waits, unsent
    ins.cancel()
    for t in (slow, ins):
        with pytest.raises(asyncio.CancelledError):
            await t
    assert await conn.fetch_val("SELECT count(*) FROM never_sent") == 0


async def test_abandoned_query_with_another_behind_runs_to_its_end(conn, admin):
    # A is abandoned, B (not cancelled) is already on the wire behind it: a
    # CancelRequest could hit B, so A is not cancelled on the server; B gets
    # its own result.
    a = asyncio.ensure_future(conn.fetch_val("SELECT 'A' FROM pg_sleep(0.4)"))
    b = asyncio.ensure_future(conn.fetch_val("SELECT 'B' FROM pg_sleep(0.1)"))
    await asyncio.sleep(0.1)
    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    assert await asyncio.wait_for(b, 5) == "B"


# ---- 2. results never cross ---------------------------------------------------------

async def test_cursor_with_cache_off_never_returns_another_statements_rows(dsn):
    async with await psqlpy.connect(dsn=dsn, statement_cache_size=0) as conn:
        async with conn.transaction() as tx:
            for _ in range(5):
                cur = tx.cursor("SELECT 42::int4 AS x, 'y'::text AS y")
                start = asyncio.ensure_future(cur.start())
                await asyncio.sleep(0)      # the cursor's first unit is on the wire
                other = asyncio.ensure_future(tx.fetch_val("SELECT 'abcd'::text"))
                await start
                assert await other == "abcd"
                assert (await cur.fetchall()).result(as_tuple=True) == [(42, "y")]
                await cur.close()


async def test_copy_data_never_mixes_with_another_tasks_query(conn):
    await conn.execute("CREATE TEMP TABLE copy_mix (x int4)")
    started = asyncio.Event()

    async def records():
        for i in range(2000):
            if i == 10:
                started.set()
            if i % 100 == 0:
                await asyncio.sleep(0.005)
            yield (i,)

    copy = asyncio.ensure_future(conn.copy_records_to_table("copy_mix", records()))
    await asyncio.wait_for(started.wait(), 5)
    assert await asyncio.wait_for(conn.fetch_val("SELECT 'between'::text"), 10) == "between"
    assert await asyncio.wait_for(copy, 10) == 2000
    assert await conn.fetch_val("SELECT count(*) FROM copy_mix") == 2000


async def test_execute_many_batches_never_mix_with_another_tasks_query(conn):
    # Enough data per batch that the transport pauses between batches.
    await conn.execute("CREATE TEMP TABLE em_mix (i int4, pad text)")
    pad = "p" * 4000
    rows = [[i, pad] for i in range(6000)]
    many = asyncio.ensure_future(
        conn.execute_many("INSERT INTO em_mix VALUES ($1, $2)", rows))
    others = []
    for k in range(20):
        await asyncio.sleep(0)
        others.append(asyncio.ensure_future(conn.fetch_val("SELECT $1::int4 * 2", [k])))
    assert await asyncio.wait_for(asyncio.gather(*others), 20) == [2 * k for k in range(20)]
    await asyncio.wait_for(many, 20)
    assert await conn.fetch_val("SELECT count(*) FROM em_mix") == 6000


# ---- 4. a timed-out caller gets control back in time -------------------------------------

@pytest.fixture
async def proxy(own_cluster):
    p = await TcpProxy(own_cluster.host, own_cluster.port).start()
    yield p
    await p.close()


def _dsn_via(proxy):
    return make_dsn("postgres", None, "127.0.0.1", proxy.port, "psqlpy_test", "disable",
                    application_name=f"sc_{os.getpid()}")


async def _returns_within(coro_fn, limit: float):
    """Run ``coro_fn()`` in a task; it must end within ``limit`` seconds."""
    task = asyncio.ensure_future(coro_fn())
    done, _ = await asyncio.wait([task], timeout=limit)
    if task not in done:
        task.cancel()
        pytest.fail(f"still running after {limit} s")
    return task


@pytest.mark.parametrize("block", ["transaction", "cursor"])
async def test_timeout_around_a_block_under_a_stall(proxy, block):
    # Leaving the block by the timeout's cancellation must not wait for the
    # server: the ROLLBACK (or the cursor's close) and the cancel of the
    # stalled query go on in the background.
    conn = await psqlpy.connect(dsn=_dsn_via(proxy))
    try:
        async def in_transaction():
            async with conn.transaction() as tx:
                await tx.execute("SELECT 1")
                proxy.stall()
                await tx.execute("SELECT 2")

        async def in_cursor():
            async with conn.cursor("SELECT g FROM generate_series(1, 10) g") as cur:
                await cur.fetchone()
                proxy.stall()
                await cur.fetchone()

        work = in_transaction if block == "transaction" else in_cursor
        t0 = time.monotonic()
        task = await _returns_within(lambda: asyncio.wait_for(work(), 1.0), 3.0)
        assert isinstance(task.exception(), asyncio.TimeoutError), task.exception()
        assert time.monotonic() - t0 < 2.0
    finally:
        await _aclose(conn)


async def test_stalled_connections_clean_up_keeps_the_next_request_waiting(proxy):
    # The connection is not reused while the cancelled query's clean-up runs:
    # the next request waits (here until its own timeout), it is not answered
    # with anything stale.
    conn = await psqlpy.connect(dsn=_dsn_via(proxy))
    try:
        assert await conn.fetch_val("SELECT 1") == 1
        proxy.stall()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.fetch_val("SELECT 2"), 0.3)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.fetch_val("SELECT 3"), 0.3)
    finally:
        await _aclose(conn)


async def _aclose(conn) -> None:
    # Close and wait for the socket and the background clean-up to end.
    await conn.__aexit__(None, None, None)
    await asyncio.sleep(0.05)


# ---- 5. a fresh exception object for every raise ------------------------------------------

async def test_dead_connection_raises_a_fresh_error_each_time(dsn, admin):
    conn = await psqlpy.connect(dsn=dsn)
    try:
        pid = await conn.fetch_val("SELECT pg_backend_pid()")
        await admin.execute("SELECT pg_terminate_backend($1)", [pid])
        errors = []
        for _ in range(200):
            try:
                await conn.fetch_val("SELECT 1")
            except exc.Error as e:
                errors.append(e)
            await asyncio.sleep(0)
        assert len(errors) == 200
        assert len({id(e) for e in errors}) == 200
        assert all(isinstance(e, exc.BaseConnectionError) for e in errors[1:]), errors[-1]
        depth = [len(traceback.extract_tb(e.__traceback__)) for e in errors]
        assert depth[-1] == depth[1], (depth[1], depth[-1])    # nothing grows per call
    finally:
        conn.close()


async def test_queries_failed_by_a_lost_connection_get_one_error_each(dsn, admin):
    conn = await psqlpy.connect(dsn=dsn)
    try:
        pid = await conn.fetch_val("SELECT pg_backend_pid()")
        tasks = [asyncio.ensure_future(conn.fetch_val("SELECT pg_sleep(10)")) for _ in range(5)]
        await asyncio.sleep(0.1)
        await admin.execute("SELECT pg_terminate_backend($1)", [pid])
        errors = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        assert all(isinstance(e, exc.Error) for e in errors), errors
        assert len({id(e) for e in errors}) == len(errors)
    finally:
        conn.close()


async def test_listener_lost_raises_a_fresh_error_each_time(dsn, admin):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener(reconnect=False)
    await listener.startup()
    try:
        await listener.add_callback("sc_fresh", _noop)
        pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        await admin.execute("SELECT pg_terminate_backend($1)", [pid])
        for _ in range(100):
            if not listener.is_started:
                break
            await asyncio.sleep(0.02)
        errors = []
        for _ in range(3):
            with pytest.raises(exc.ListenerClosedError) as info:
                await asyncio.wait_for(listener.__anext__(), 5)
            errors.append(info.value)
        assert len({id(e) for e in errors}) == 3
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def _noop(*_args) -> None:
    pass
