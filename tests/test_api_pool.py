"""Conformance: ConnectionPool, ConnectionPoolBuilder, connect / connect_pool (API.md)."""
from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import psqlpy
from psqlpy import (
    Connection,
    ConnectionPool,
    ConnectionPoolBuilder,
    ConnectionPoolStatus,
    ConnRecyclingMethod,
    Listener,
    LoadBalanceHosts,
    SslMode,
    TargetSessionAttrs,
    connect,
    connect_pool,
)
from psqlpy import exceptions as exc
from psqlpy._connect import parse_settings


async def _close(pool: ConnectionPool) -> None:
    pool.close()
    await pool.wait_closed()


async def _pid(conn: Any) -> int:
    return int(await conn.fetch_val("SELECT pg_backend_pid()"))


async def _wait_backend_gone(dsn: str, pid: int) -> None:
    async with await connect(dsn=dsn) as admin:
        for _ in range(200):
            n = await admin.fetch_val("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [pid])
            if n == 0:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} still alive")


async def _terminate(dsn: str, pid: int) -> None:
    async with await connect(dsn=dsn) as admin:
        assert await admin.fetch_val("SELECT pg_terminate_backend($1)", [pid]) is True
    await _wait_backend_gone(dsn, pid)


# ---- construction and keywords ------------------------------------------------------------


async def test_pool_every_keyword(dsn: str) -> None:
    cfg = parse_settings(dsn=dsn)
    host, port = cfg.hosts[0]
    pool = ConnectionPool(
        dsn=None, username=cfg.user, password=cfg.password, host=host, hosts=None,
        port=port, ports=None, db_name=cfg.database,
        target_session_attrs=TargetSessionAttrs.Any,
        options="-c search_path=pg_catalog,public", application_name="api-pool",
        connect_timeout_sec=5, connect_timeout_nanosec=0, tcp_user_timeout_sec=30,
        tcp_user_timeout_nanosec=0, keepalives=True, keepalives_idle_sec=60,
        keepalives_idle_nanosec=0, keepalives_interval_sec=5,
        keepalives_interval_nanosec=0, keepalives_retries=3,
        load_balance_hosts=LoadBalanceHosts.Disable, max_db_pool_size=3,
        conn_recycling_method=ConnRecyclingMethod.Fast, ssl_mode=SslMode.Prefer, ca_file=None,
    )
    try:
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SHOW application_name") == "api-pool"
            assert await conn.fetch_val("SHOW search_path") == "pg_catalog,public"
            assert await conn.fetch_val("SELECT current_user") == cfg.user
            assert await conn.fetch_val("SELECT current_database()") == cfg.database
        assert pool.status().max_size == 3
    finally:
        await _close(pool)


async def test_pool_dsn_wins_and_session_settings_still_apply(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, username="nobody-such", db_name="nope",
                          application_name="dsn-wins", max_db_pool_size=2)
    try:
        conn = await pool.connection()
        assert await conn.fetch_val("SHOW application_name") == "dsn-wins"
        assert conn.user == parse_settings(dsn=dsn).user
        conn.close()
    finally:
        await _close(pool)


def test_pool_size_below_two_rejected(dsn: str) -> None:
    for bad in (0, 1, -5):
        with pytest.raises(exc.ConnectionPoolConfigurationError):
            ConnectionPool(dsn=dsn, max_db_pool_size=bad)


def test_nanosec_without_sec_rejected(dsn: str) -> None:
    with pytest.raises(exc.ConnectionPoolConfigurationError):
        ConnectionPool(dsn=dsn, connect_timeout_nanosec=10)


async def test_connect_pool_and_connect(dsn: str) -> None:
    pool = connect_pool(dsn=dsn, max_db_pool_size=2)
    assert isinstance(pool, ConnectionPool)
    try:
        async with pool.acquire() as conn:
            assert isinstance(conn, Connection)
            assert await conn.fetch_val("SELECT 1") == 1
    finally:
        await _close(pool)
    conn = await connect(dsn=dsn, application_name="single")
    try:
        assert isinstance(conn, Connection)
        assert await conn.fetch_val("SHOW application_name") == "single"
    finally:
        conn.close()
        await asyncio.wait_for(asyncio.shield(getattr(conn, "_conn").protocol.closed), 5)


# ---- status, acquire, connection, close -----------------------------------------------------


async def test_status_counts(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        st = pool.status()
        assert isinstance(st, ConnectionPoolStatus)
        assert (st.max_size, st.size, st.available, st.waiting) == (2, 0, 0, 0)
        c1 = await pool.connection()
        c2 = await pool.connection()
        assert pool.status().size == 2 and pool.status().available == 0
        waiter = asyncio.ensure_future(pool.connection())
        await asyncio.sleep(0.01)
        assert pool.status().waiting == 1
        c1.close()
        c3 = await waiter
        assert pool.status().waiting == 0
        c2.close()
        c3.close()
        st = pool.status()
        assert (st.size, st.available) == (2, 2)
    finally:
        await _close(pool)


async def test_acquire_context_manager_returns_connection(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async with pool.acquire() as conn:
            assert isinstance(conn, Connection)
            assert pool.status().available == 0
        assert pool.status().available == 1
        assert conn.is_closed()
        with pytest.raises(exc.ConnectionClosedError):
            await conn.execute("SELECT 1")
    finally:
        await _close(pool)


async def test_connection_async_with_returns_to_pool(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        conn = await pool.connection()
        async with conn as same:
            assert same is conn
            pid = await _pid(conn)
        assert pool.status().available == 1
        async with pool.acquire() as again:
            assert await _pid(again) == pid
    finally:
        await _close(pool)


async def test_close_rejects_new_and_closes_returned(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    held = await pool.connection()
    idle = await pool.connection()
    idle.close()
    pool.close()
    with pytest.raises(exc.ConnectionPoolExecuteError):
        await pool.connection()
    with pytest.raises(exc.ConnectionPoolExecuteError):
        async with pool.acquire():
            pass
    assert await held.fetch_val("SELECT 2") == 2   # handed out: usable until returned
    held.close()
    assert pool.status().size == 0
    await pool.wait_closed()


async def test_close_fails_waiters(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    c1, c2 = await pool.connection(), await pool.connection()
    waiter = asyncio.ensure_future(pool.connection())
    await asyncio.sleep(0.01)
    pool.close()
    with pytest.raises(exc.ConnectionPoolExecuteError):
        await waiter
    c1.close()
    c2.close()
    await pool.wait_closed()


async def test_sync_context_manager_closes(dsn: str) -> None:
    with ConnectionPool(dsn=dsn, max_db_pool_size=2) as pool:
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SELECT 1") == 1
    with pytest.raises(exc.ConnectionPoolExecuteError):
        await pool.connection()
    await pool.wait_closed()


async def test_listener_from_pool(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        listener = pool.listener()
        assert isinstance(listener, Listener)
        assert not listener.is_started
        with pytest.raises(exc.ListenerStartError):
            listener.connection
        assert pool.status().size == 0          # nothing connects until startup()
        await listener.startup()
        try:
            assert listener.is_started
            assert pool.status().size == 0      # a dedicated connection, not a pooled one
            assert await listener.connection.fetch_val("SELECT 1") == 1
        finally:
            await listener.shutdown()
    finally:
        await _close(pool)


# ---- resize ------------------------------------------------------------------------------


async def test_resize_grow_wakes_waiters(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        held = [await pool.connection(), await pool.connection()]
        waiter = asyncio.ensure_future(pool.connection())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        pool.resize(3)
        assert pool.status().max_size == 3
        held.append(await asyncio.wait_for(waiter, 5))
        assert pool.status().size == 3
        for c in held:
            c.close()
    finally:
        await _close(pool)


async def test_resize_shrink(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=4)
    try:
        held = [await pool.connection() for _ in range(4)]
        held[0].close()
        pool.resize(2)
        assert pool.status().max_size == 2
        for c in held[1:]:
            c.close()
        st = pool.status()
        assert st.size <= 2 and st.available <= 2
        # As the reference: 1 is a valid size once the pool exists; 0 is refused
        # (the reference takes it, and every acquire() then waits for good).
        pool.resize(1)
        assert pool.status().max_size == 1
        assert await (await pool.connection()).fetch_val("SELECT 1") == 1
        bad: Any
        for bad in (0, -1, True, 1.5):
            with pytest.raises(exc.ConnectionPoolConfigurationError):
                pool.resize(bad)
    finally:
        await _close(pool)


# ---- recycling --------------------------------------------------------------------------


async def _reuse_check(pool: ConnectionPool, prepare_sql: list[str]) -> tuple[int, Connection]:
    """Fill both slots, dirty one, release it, and take it again through the wait queue
    (so the pool cannot simply open a fresh connection instead)."""
    dirty = await pool.connection()
    other = await pool.connection()
    pid = await _pid(dirty)
    for sql in prepare_sql:
        await dirty.execute_batch(sql)
    dirty.close()
    again = await asyncio.wait_for(pool.connection(), 5)
    assert await _pid(again) == pid
    other.close()
    return pid, again


@pytest.mark.parametrize("method", list(ConnRecyclingMethod))
async def test_recycling_methods_work(dsn: str, method: ConnRecyclingMethod) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2, conn_recycling_method=method)
    try:
        for _ in range(3):
            async with pool.acquire() as conn:
                assert await conn.fetch_val("SELECT $1::int", [5]) == 5
    finally:
        await _close(pool)


async def test_clean_runs_discard_all(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2,
                          conn_recycling_method=ConnRecyclingMethod.Clean)
    try:
        _, conn = await _reuse_check(pool, [
            "SET search_path TO pg_catalog", "CREATE TEMP TABLE api_clean (x int)",
            "PREPARE api_clean_stmt AS SELECT 1",
        ])
        assert await conn.fetch_val("SHOW search_path") == '"$user", public'
        assert await conn.fetch_val("SELECT to_regclass('pg_temp.api_clean') IS NULL") is True
        assert await conn.fetch_val("SELECT count(*) FROM pg_prepared_statements WHERE name = 'api_clean_stmt'") == 0
        # the driver's own statement cache was dropped with the server's statements
        assert await conn.fetch_val("SELECT $1::int + 1", [1]) == 2
        conn.close()
    finally:
        await _close(pool)


async def test_fast_keeps_session_state(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2,
                          conn_recycling_method=ConnRecyclingMethod.Fast)
    try:
        _, conn = await _reuse_check(pool, ["SET search_path TO pg_catalog"])
        assert await conn.fetch_val("SHOW search_path") == "pg_catalog"
        conn.close()
    finally:
        await _close(pool)


@pytest.mark.parametrize("method", list(ConnRecyclingMethod))
async def test_mid_transaction_connection_is_reset(dsn: str, method: ConnRecyclingMethod) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2, conn_recycling_method=method)
    try:
        _, conn = await _reuse_check(pool, [
            "BEGIN", "CREATE TEMP TABLE api_midtx (x int) ON COMMIT DROP"])
        assert not await conn.in_transaction()
        assert await conn.fetch_val("SELECT to_regclass('pg_temp.api_midtx') IS NULL") is True
        conn.close()
    finally:
        await _close(pool)


async def test_failed_transaction_connection_is_reset(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        conn = await pool.connection()
        await conn.execute_batch("BEGIN")
        with pytest.raises(exc.ConnectionExecuteError):
            await conn.execute("SELECT 1/0")
        conn.close()
        async with pool.acquire() as c2:
            assert await c2.fetch_val("SELECT 1") == 1
            assert not await c2.in_transaction()
    finally:
        await _close(pool)


@pytest.mark.parametrize("method", list(ConnRecyclingMethod))
async def test_terminated_backend_never_handed_out(dsn: str, method: ConnRecyclingMethod) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2, conn_recycling_method=method)
    try:
        conn = await pool.connection()
        pid = await _pid(conn)
        conn.close()
        await asyncio.sleep(0.05)           # Clean recycles in the background
        assert pool.status().available == 1
        await _terminate(dsn, pid)
        if method is not ConnRecyclingMethod.Verified:
            # without a check query the pool relies on having seen the socket close
            for _ in range(100):
                if pool.status().available == 0 or pool.status().size == 0:
                    break
                await asyncio.sleep(0.01)
        async with pool.acquire() as again:
            assert await _pid(again) != pid
            assert await again.fetch_val("SELECT 1") == 1
    finally:
        await _close(pool)


async def test_verified_checks_before_handing_out(dsn: str) -> None:
    """Verified: a dead idle connection is detected by the check query even before the
    client noticed the socket closing, and replaced."""
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2,
                          conn_recycling_method=ConnRecyclingMethod.Verified)
    try:
        async with pool.acquire() as conn:
            pid = await _pid(conn)
        async with await connect(dsn=dsn) as admin:
            await admin.fetch_val("SELECT pg_terminate_backend($1)", [pid])
        # no wait at all: whatever state the pooled socket is in, it must not come back
        async with pool.acquire() as again:
            assert await again.fetch_val("SELECT 1") == 1
            assert await _pid(again) != pid
    finally:
        await _close(pool)


async def test_connection_broken_while_handed_out_is_discarded(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        conn = await pool.connection()
        pid = await _pid(conn)
        await _terminate(dsn, pid)
        with pytest.raises(exc.Error):
            await conn.execute("SELECT 1")
        conn.close()
        assert pool.status().size == 0
        async with pool.acquire() as again:
            assert await _pid(again) != pid
    finally:
        await _close(pool)


# ---- waiting: fair and cancellable ------------------------------------------------------------


async def test_waiters_are_served_fifo(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        held = [await pool.connection(), await pool.connection()]
        order: list[int] = []

        async def waiter(i: int) -> None:
            conn = await pool.connection()
            order.append(i)
            await asyncio.sleep(0.01)
            conn.close()

        tasks = []
        for i in range(6):
            tasks.append(asyncio.ensure_future(waiter(i)))
            await asyncio.sleep(0.005)
        assert pool.status().waiting == 6
        held[0].close()
        held[1].close()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert order == list(range(6))
    finally:
        await _close(pool)


async def test_fifo_even_when_a_slot_is_freed(dsn: str) -> None:
    """A connection discarded (not returned) frees a slot: the oldest waiter gets it,
    not a newcomer that arrives before the waiter runs."""
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        c1, c2 = await pool.connection(), await pool.connection()
        first = asyncio.ensure_future(pool.connection())
        await asyncio.sleep(0.01)
        await _terminate(dsn, await _pid(c1))
        c1.close()                           # broken: discarded, frees a slot
        newcomer = asyncio.ensure_future(pool.connection())
        got = await asyncio.wait_for(first, 5)
        await asyncio.sleep(0.05)
        assert not newcomer.done()
        got.close()
        (await asyncio.wait_for(newcomer, 5)).close()
        c2.close()
    finally:
        await _close(pool)


async def test_cancelled_waiter_does_not_leak_a_slot(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        c1, c2 = await pool.connection(), await pool.connection()
        waiter = asyncio.ensure_future(pool.connection())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert pool.status().waiting == 0
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(pool.connection(), 0.05)   # cancelled by the timeout
        c1.close()
        c3 = await asyncio.wait_for(pool.connection(), 5)
        c2.close()
        c3.close()
        st = pool.status()
        assert (st.size, st.available, st.waiting) == (2, 2, 0)
    finally:
        await _close(pool)


async def test_waiter_cancelled_as_it_is_handed_a_connection(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        c1, c2 = await pool.connection(), await pool.connection()
        waiter = asyncio.ensure_future(pool.connection())
        await asyncio.sleep(0.01)
        c1.close()            # handed to the waiter ...
        waiter.cancel()       # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert pool.status().available == 1     # the connection came back
        c3 = await asyncio.wait_for(pool.connection(), 5)
        c3.close()
        c2.close()
        assert pool.status().size == 2
    finally:
        await _close(pool)


async def test_waiter_cancelled_as_the_pool_closes(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    c1, c2 = await pool.connection(), await pool.connection()
    waiter = asyncio.ensure_future(pool.connection())
    await asyncio.sleep(0.01)
    pool.close()              # fails the waiter ...
    waiter.cancel()           # ... which is cancelled before it runs
    # A cancelled task ends with CancelledError (asyncio.timeout and TaskGroup
    # rely on it), not with the error it was about to be woken with.
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.status().waiting == 0
    c1.close()
    c2.close()
    assert pool.status().size == 0
    await pool.wait_closed()


async def test_many_concurrent_users_bounded(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=3)
    peak = 0
    try:
        async def work(i: int) -> int:
            nonlocal peak
            async with pool.acquire() as conn:
                peak = max(peak, pool.status().size)
                return int(await conn.fetch_val("SELECT $1::int", [i]))

        results = await asyncio.gather(*(work(i) for i in range(40)))
        assert results == list(range(40))
        assert peak <= 3
        assert pool.status().size <= 3
    finally:
        await _close(pool)


# ---- garbage collection -------------------------------------------------------------------


async def test_unclosed_connection_returns_on_gc(dsn: str) -> None:
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        conn = await pool.connection()
        pid = await _pid(conn)
        del conn
        gc.collect()
        for _ in range(50):
            if pool.status().available == 1:
                break
            await asyncio.sleep(0.01)
        assert pool.status().available == 1
        async with pool.acquire() as again:
            assert await _pid(again) == pid
    finally:
        await _close(pool)


# ---- builder ----------------------------------------------------------------------------


async def test_builder_every_setter(dsn: str) -> None:
    cfg = parse_settings(dsn=dsn)
    host, port = cfg.hosts[0]
    builder = ConnectionPoolBuilder()
    chained = (
        builder.max_pool_size(3)
        .conn_recycling_method(ConnRecyclingMethod.Verified)
        .user(cfg.user)
        .password(cfg.password or "")
        .dbname(cfg.database)
        .options("-c search_path=pg_catalog")
        .application_name("built")
        .ssl_mode(SslMode.Prefer)
        .host(host)
        .port(port)
        .connect_timeout(5)
        .tcp_user_timeout(30)
        .target_session_attrs(TargetSessionAttrs.Any)
        .load_balance_hosts(LoadBalanceHosts.Disable)
        .keepalives(True)
        .keepalives_idle(60)
        .keepalives_interval(5)
        .keepalives_retries(3)
    )
    assert chained is builder
    assert builder.ca_file("/nonexistent/ca.pem") is builder
    builder.ca_file(None)   # type: ignore[arg-type]   # back to the default
    pool = builder.build()
    assert isinstance(pool, ConnectionPool)
    try:
        assert pool.status().max_size == 3
        cfgp = pool.config
        assert cfgp.keepalives_idle == 60 and cfgp.keepalives_retries == 3
        assert cfgp.connect_timeout == 5 and cfgp.tcp_user_timeout == 30
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SHOW application_name") == "built"
            assert await conn.fetch_val("SHOW search_path") == "pg_catalog"
            assert conn.user == cfg.user
            assert conn.dbname == cfg.database
    finally:
        await _close(pool)


async def test_builder_hostaddr(dsn: str) -> None:
    import ipaddress
    cfg = parse_settings(dsn=dsn)
    host, port = cfg.hosts[0]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        pytest.skip("the test server is not reached by IP address")
    pool = (ConnectionPoolBuilder().hostaddr(addr).port(port).user(cfg.user)
            .password(cfg.password or "").dbname(cfg.database).build())
    try:
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SELECT 1") == 1
            assert conn.hosts == [str(addr)]
    finally:
        await _close(pool)


def test_builder_rejects_small_pool() -> None:
    with pytest.raises(exc.ConnectionPoolConfigurationError):
        ConnectionPoolBuilder().max_pool_size(1).build()


def test_top_level_names() -> None:
    for name in ("connect", "connect_pool", "ConnectionPool", "ConnectionPoolBuilder",
                 "Connection", "Transaction", "Cursor", "QueryResult", "SingleQueryResult",
                 "Listener", "ListenerNotificationMsg", "Error", "IsolationLevel",
                 "ReadVariant", "ConnRecyclingMethod", "LoadBalanceHosts",
                 "TargetSessionAttrs", "SslMode", "KeepaliveConfig", "Record",
                 "PreparedStatement", "Column", "ConnectionPoolStatus"):
        assert hasattr(psqlpy, name), name
    import importlib
    for mod in ("exceptions", "extra_types", "row_factories", "protocol"):
        assert importlib.import_module(f"psqlpy.{mod}") is getattr(psqlpy, mod)


async def _noop_callback(*args) -> None:
    pass


async def test_reprs_show_state_and_never_secrets(pg_cluster) -> None:
    dsn = pg_cluster.dsn("scram_user", "scram_pw")
    pool = ConnectionPool(dsn=dsn, max_db_pool_size=3)
    try:
        assert "open" in repr(pool) and "db=psqlpy_test user=scram_user" in repr(pool)
        assert "size=0/3" in repr(pool)
        async with pool.acquire() as conn:
            r = repr(conn)
            assert r.startswith("<psqlpy.Connection open ") and "idle" in r
            assert f"pid={await _pid(conn)}" in r
            tx = conn.transaction(isolation_level=psqlpy.IsolationLevel.Serializable)
            assert repr(tx) == "<psqlpy.Transaction not begun isolation_level=Serializable>"
            async with tx:
                assert "in transaction" in repr(conn)
                assert repr(tx).startswith("<psqlpy.Transaction begun")
            assert repr(tx).startswith("<psqlpy.Transaction finished")
            assert "size=1/3" in repr(pool)
        assert repr(conn) == "<psqlpy.Connection closed>"
        listener = pool.listener()
        assert repr(listener).startswith("<psqlpy.Listener new ")
        assert repr(listener).endswith(" db=psqlpy_test user=scram_user channels=[] buffered=0>")
        await listener.add_callback("orders", _noop_callback)
        await listener.startup()
        listener.listen()
        r = repr(listener)
        assert r.startswith("<psqlpy.Listener running ") and "channels=['orders'] listening" in r
        await listener.shutdown()
        assert repr(listener).startswith("<psqlpy.Listener shut down ")
        for text in (repr(pool), repr(conn), repr(tx), r):
            assert "scram_pw" not in text
    finally:
        await _close(pool)
    assert repr(pool).startswith("<psqlpy.ConnectionPool closed")
