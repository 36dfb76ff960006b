"""Queries under faults, through the TCP fault proxy and the real server.

Expected in every case: the caller gets a typed ``psqlpy.exceptions`` error (or
``TimeoutError``/``CancelledError`` it asked for) promptly; the pool discards the
broken connection and serves healthy ones; a transaction is never half-applied;
after a cancellation no connection in the pool is in a transaction and no query
of ours is still running on the server.
"""
from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

import pytest

import psqlpy
from psqlpy import exceptions as exc
from pgcluster import make_dsn
from tcpproxy import TcpProxy

pytestmark = pytest.mark.asyncio

PROMPT = 3.0   # seconds: "promptly"


async def _wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(0.05)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def proxy(own_cluster):
    p = await TcpProxy(own_cluster.host, own_cluster.port).start()
    yield p
    await p.close()


@pytest.fixture
async def admin(own_cluster):
    """A direct connection (no proxy) for watching and steering the server."""
    async with await psqlpy.connect(dsn=own_cluster.dsn(sslmode="disable")) as c:
        yield c


_APP_COUNTER = [0]


@pytest.fixture
async def app(admin):
    """A unique application_name; every backend using it is killed at teardown."""
    _APP_COUNTER[0] += 1
    name = f"qf_{os.getpid()}_{_APP_COUNTER[0]}"
    yield name
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        [name])


def _dsn_via(proxy, app):
    return make_dsn("postgres", None, "127.0.0.1", proxy.port, "psqlpy_test", "disable",
                    application_name=app)


async def _running(admin, app, needle="pg_sleep"):
    return await admin.fetch_val(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
        "AND state = 'active' AND query LIKE '%' || $2 || '%' AND pid <> pg_backend_pid()",
        [app, needle])


async def _active_sleeps(admin):
    """The check from the issue, minus our own monitoring query."""
    return await admin.fetch_val(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()")


async def _aclose(conn):
    # a standalone connection: close it and wait for the socket (not just close())
    await conn.__aexit__(None, None, None)


async def _close(pool):
    pool.close()
    await pool.wait_closed()


async def _healthy(pool):
    async with pool.acquire() as c:
        assert await c.fetch_val("SELECT $1::int4 * 2", [21]) == 42
        assert not await c.in_transaction()
        return await c.fetch_val("SELECT pg_backend_pid()")


# ---- a backend terminated mid-query ------------------------------------------------

async def test_backend_terminated_mid_query(own_cluster, admin, app):
    dsn = own_cluster.dsn(sslmode="disable", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        conn = await pool.connection()
        pid = await conn.fetch_val("SELECT pg_backend_pid()")
        task = asyncio.ensure_future(conn.execute("SELECT pg_sleep(10)"))
        await _wait_for(lambda: _running(admin, app), what="pg_sleep running")
        t0 = time.monotonic()
        assert await admin.fetch_val("SELECT pg_terminate_backend($1)", [pid])
        with pytest.raises(exc.Error) as info:
            await asyncio.wait_for(task, PROMPT)
        assert time.monotonic() - t0 < PROMPT
        # 57P01 admin_shutdown arrives as an ErrorResponse, or the socket closes first
        assert getattr(info.value, "sqlstate", "57P01") == "57P01"
        conn.close()
        # discarded, and a healthy one is served
        new_pid = await _healthy(pool)
        assert new_pid != pid
        assert pool.status().size <= 2
    finally:
        await _close(pool)


# ---- the network cut mid-query ---------------------------------------------------

async def test_network_cut_mid_query(proxy, admin, app):
    pool = psqlpy.ConnectionPool(dsn=_dsn_via(proxy, app), max_db_pool_size=2)
    try:
        conn = await pool.connection()
        pid = await conn.fetch_val("SELECT pg_backend_pid()")
        task = asyncio.ensure_future(conn.execute("SELECT pg_sleep(10)"))
        await _wait_for(lambda: _running(admin, app), what="pg_sleep running")
        t0 = time.monotonic()
        proxy.cut()
        with pytest.raises(exc.Error):
            await asyncio.wait_for(task, PROMPT)
        assert time.monotonic() - t0 < PROMPT
        assert conn.is_closed()
        conn.close()
        assert await _healthy(pool) != pid
    finally:
        await _close(pool)


# ---- the network stalls mid-query (no FIN, no RST) ----------------------------------

async def test_stall_mid_query_times_out_and_is_not_reused(proxy, admin, app):
    pool = psqlpy.ConnectionPool(dsn=_dsn_via(proxy, app), max_db_pool_size=3)
    try:
        conn = await pool.connection()
        pid = await conn.fetch_val("SELECT pg_backend_pid()")
        proxy.stall()
        t0 = time.monotonic()
        with pytest.raises((asyncio.TimeoutError, exc.Error)):
            await asyncio.wait_for(conn.execute("SELECT 1"), 0.5)
        assert time.monotonic() - t0 < 0.5 + PROMPT
        conn.close()
        # Never handed out again while its fate is unknown: every later acquire
        # gets another backend, and they all work.
        pids = set()
        for _ in range(4):
            pids.add(await asyncio.wait_for(_healthy(pool), PROMPT))
        assert pid not in pids
    finally:
        await proxy.close()   # ends the stalled pair: the pool's reset task finishes
        await _close(pool)


async def test_stall_mid_query_with_tcp_user_timeout(proxy, app):
    # Without a caller timeout, tcp_user_timeout/keepalives must detect the dead
    # peer; here only unacknowledged *sent* data counts, so send a query.
    dsn = _dsn_via(proxy, app) + "&tcp_user_timeout=1&keepalives_idle=1&keepalives_interval=1"
    conn = await psqlpy.connect(dsn=dsn)
    try:
        proxy.stall()
        t0 = time.monotonic()
        # loopback never loses the segment, so the kernel timers cannot fire: we can
        # only check there is no crash and the caller's timeout works.
        with pytest.raises((asyncio.TimeoutError, exc.Error)):
            await asyncio.wait_for(conn.execute("SELECT 1"), 1.0)
        assert time.monotonic() - t0 < 1.0 + PROMPT
    finally:
        await _aclose(conn)


# ---- half-delivered messages -------------------------------------------------------

class _TruncatingProxy:
    """Forwards both ways; once armed with ``budget`` it forwards that many more
    bytes to the client, then closes both sides (FIN): a message cut in half."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.budget = None
        self.corrupt_at = None    # (offset, xor) applied within the armed budget stream
        self._server: asyncio.Server | None = None
        self._writers = []
        self._tasks = set()

    async def start(self):
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, cr, cw):
        sr, sw = await asyncio.open_connection(*self.target)
        self._writers += [cw, sw]
        for t in (self._pump(cr, sw, False), self._pump(sr, cw, True)):
            task = asyncio.ensure_future(t)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, r, w, to_client):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if to_client and self.budget is not None:
                    data = data[: self.budget]
                    self.budget -= len(data)
                    w.write(data)
                    await w.drain()
                    if self.budget <= 0:
                        self.budget = None
                        self._close_all()
                        return
                    continue
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    def _close_all(self):
        for w in self._writers:
            w.close()

    async def close(self):
        self._close_all()
        for t in list(self._tasks):
            t.cancel()
        assert self._server is not None  # started by start()
        self._server.close()
        await self._server.wait_closed()


async def test_half_delivered_data_row(own_cluster, app):
    tp = await _TruncatingProxy(own_cluster.host, own_cluster.port).start()
    dsn = make_dsn("postgres", None, "127.0.0.1", tp.port, "psqlpy_test", "disable",
                   application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        q = "SELECT repeat('x', 200000) AS big"
        async with pool.acquire() as c:
            assert len(await c.fetch_val(q)) == 200000   # prepared and cached
            # BindComplete (5 bytes) + DataRow header + part of the value
            tp.budget = 5 + 5 + 100
            t0 = time.monotonic()
            with pytest.raises(exc.Error) as info:
                await asyncio.wait_for(c.fetch_val(q), PROMPT)
            assert time.monotonic() - t0 < PROMPT
            assert isinstance(info.value, exc.BaseConnectionError), repr(info.value)
            assert c.is_closed()
        assert len(await _fetch_big(pool, q)) == 200000
    finally:
        await _close(pool)
        await tp.close()


async def _fetch_big(pool, q):
    async with pool.acquire() as c:
        return await c.fetch_val(q)


@pytest.mark.parametrize("budget", [1, 5, 6, 9, 10, 11], ids=lambda b: f"cut@{b}")
async def test_half_delivered_at_every_header_byte(own_cluster, app, budget):
    # Cut inside BindComplete, between messages, and inside the DataRow header.
    tp = await _TruncatingProxy(own_cluster.host, own_cluster.port).start()
    dsn = make_dsn("postgres", None, "127.0.0.1", tp.port, "psqlpy_test", "disable",
                   application_name=app)
    conn = await psqlpy.connect(dsn=dsn)
    try:
        assert await conn.fetch_val("SELECT 7::int4") == 7
        tp.budget = budget
        with pytest.raises(exc.Error):
            await asyncio.wait_for(conn.fetch_val("SELECT 7::int4"), PROMPT)
        with pytest.raises(exc.Error):          # closed, typed, no hang
            await asyncio.wait_for(conn.fetch_val("SELECT 1"), PROMPT)
    finally:
        await _aclose(conn)
        await tp.close()


async def test_corrupted_reply_mid_query(proxy, app):
    conn = await psqlpy.connect(dsn=_dsn_via(proxy, app))
    try:
        assert await conn.fetch_val("SELECT 1") == 1
        proxy.corrupt_next(1)    # the next message type byte becomes garbage
        with pytest.raises(exc.Error) as info:
            await asyncio.wait_for(conn.fetch_val("SELECT 1"), PROMPT)
        assert isinstance(info.value, (exc.ProtocolError, exc.BaseConnectionError)), repr(info.value)
        assert conn.is_closed()
    finally:
        await _aclose(conn)


# ---- a transaction is never half-applied ---------------------------------------------

@pytest.fixture
async def table(admin, app):
    name = f"qf_tx_{os.getpid()}_{_APP_COUNTER[0]}"
    await admin.execute(f"CREATE TABLE {name} (i int4)")
    yield name
    # a backend cut off mid-sleep still holds its lock: end it before DROP
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        [app])
    await admin.execute(f"DROP TABLE {name}")


@pytest.mark.parametrize("where", ["after-first-insert", "mid-sleep", "during-commit"])
async def test_transaction_cut_is_never_half_applied(proxy, admin, app, table, where):
    pool = psqlpy.ConnectionPool(dsn=_dsn_via(proxy, app), max_db_pool_size=2)
    try:
        conn = await pool.connection()

        async def work():
            async with conn.transaction() as tx:
                await tx.execute(f"INSERT INTO {table} VALUES (1)")
                if where == "after-first-insert":
                    proxy.cut()
                await tx.execute(f"INSERT INTO {table} VALUES (2)")
                if where == "mid-sleep":
                    await tx.execute("SELECT pg_sleep(10)")
                if where == "during-commit":
                    asyncio.get_running_loop().call_soon(proxy.cut)

        task = asyncio.ensure_future(work())
        if where == "mid-sleep":
            await _wait_for(lambda: _running(admin, app), what="pg_sleep running")
            proxy.cut()
        try:
            await asyncio.wait_for(task, PROMPT)
        except exc.Error:
            pass
        else:
            assert where == "during-commit", "the cut went unnoticed"
        conn.close()
        # Either both rows or none, never one; and the server forgets the backend.
        rows = await admin.fetch_val(f"SELECT count(*) FROM {table}")
        if where == "during-commit":
            assert rows in (0, 2)
        else:
            assert rows == 0
        await _healthy(pool)
    finally:
        await _close(pool)


# ---- cancellation at every point ----------------------------------------------------

class _SilentServer:
    """Accepts and reads, never answers: connect() waits for the startup reply."""

    def __init__(self, script=None):
        self.script = script
        self.clients = []

    async def start(self):
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, r, w):
        self.clients.append(w)
        try:
            if self.script is not None:
                await self.script(r, w)
            while await r.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def close(self):
        for w in self.clients:
            w.close()
        self._server.close()
        await self._server.wait_closed()


def _full_backlog_listener():
    """A listening socket whose accept queue is full: a new TCP connect hangs in
    SYN retransmission (Linux drops SYNs when the queue is full)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(srv.getsockname())
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    return srv, fillers


async def _cancel_after(coro, delay):
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(delay)
    assert not task.done(), f"finished before the cancel: {task}"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_during_tcp_connect():
    srv, fillers = _full_backlog_listener()
    try:
        port = srv.getsockname()[1]
        pool = psqlpy.ConnectionPool(
            dsn=make_dsn("postgres", None, "127.0.0.1", port, "psqlpy_test", "disable"),
            max_db_pool_size=2)
        before = _fds()
        await _cancel_after(pool.connection(), 0.3)
        assert pool.status().size == 0
        assert _fds() <= before
        await _close(pool)
    finally:
        for s in fillers:
            s.close()
        srv.close()


async def test_cancel_while_waiting_for_startup_reply():
    fake = await _SilentServer().start()
    try:
        pool = psqlpy.ConnectionPool(
            dsn=make_dsn("postgres", None, "127.0.0.1", fake.port, "psqlpy_test", "disable"),
            max_db_pool_size=2)
        await asyncio.sleep(0)
        before = _fds()
        await _cancel_after(pool.connection(), 0.2)
        assert pool.status().size == 0
        await asyncio.sleep(0.05)
        assert _fds() <= before
        await _close(pool)
    finally:
        await fake.close()


def _frame(code, body=b""):
    return code + struct.pack("!I", len(body) + 4) + body


@pytest.mark.parametrize("auth", ["cleartext", "sasl"])
async def test_cancel_while_authenticating(auth):
    async def script(r, w):
        n = struct.unpack("!I", await r.readexactly(4))[0]
        await r.readexactly(n - 4)
        if auth == "cleartext":
            w.write(_frame(b"R", struct.pack("!i", 3)))
        else:
            w.write(_frame(b"R", struct.pack("!i", 10) + b"SCRAM-SHA-256\0\0"))
        await w.drain()

    fake = await _SilentServer(script).start()
    try:
        dsn = make_dsn("u", "secret", "127.0.0.1", fake.port, "psqlpy_test", "disable")
        pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
        before = _fds()
        await _cancel_after(pool.connection(), 0.3)
        assert pool.status().size == 0
        await asyncio.sleep(0.05)
        assert _fds() <= before
        await _close(pool)
    finally:
        await fake.close()


async def test_connect_timeout_against_silent_server():
    fake = await _SilentServer().start()
    try:
        dsn = make_dsn("postgres", None, "127.0.0.1", fake.port, "psqlpy_test", "disable",
                       connect_timeout=1)
        t0 = time.monotonic()
        with pytest.raises(exc.Error):
            await psqlpy.connect(dsn=dsn)
        assert time.monotonic() - t0 < 1 + PROMPT
    finally:
        await fake.close()


async def test_cancel_right_after_tls_handshake_does_not_free_a_live_fd(own_cluster, monkeypatch):
    own_cluster.need_ssl()
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        pytest.skip("the symptom checked is the selector loop's fd registry")
    real = loop.create_connection
    transports = []

    async def handshake_then_cancel(*a, **kw):
        # What asyncio does when the cancel lands after the handshake completed
        # but before create_connection's caller resumed: transport.close(); raise.
        transport, protocol = await real(*a, **kw)
        transports.append(transport)
        transport.close()
        raise asyncio.CancelledError()

    monkeypatch.setattr(loop, "create_connection", handshake_then_cancel)
    dsn = own_cluster.dsn("scram_user", sslmode="require")
    with pytest.raises(asyncio.CancelledError):
        await psqlpy.connect(dsn=dsn)
    monkeypatch.setattr(loop, "create_connection", real)
    assert transports
    # The socket transport under TLS is still flushing close_notify; its fd must
    # still be its own.  A new socket takes the lowest free fd number:
    s = socket.socket()
    s.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(s, (own_cluster.host, own_cluster.port)), 5)
    finally:
        s.close()
        for t in transports:
            t.abort()


async def test_cancel_connect_at_every_point_against_real_server(own_cluster, admin, app):
    # scram over TLS: the longest handshake; cancel it after 0, 1, 2, ... ms.
    own_cluster.need_ssl()
    dsn = own_cluster.dsn("scram_user", sslmode="require", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=4)
    try:
        await asyncio.sleep(0)
        before = _fds()
        finished = 0
        for i in range(40):
            task = asyncio.ensure_future(pool.connection())
            await asyncio.sleep(i * 0.001)
            task.cancel()
            try:
                c = await task
            except asyncio.CancelledError:
                continue
            finished += 1
            c.close()
        assert pool.status().size <= 4
        for _ in range(3):
            await _healthy(pool)
        await _close(pool)
        await asyncio.sleep(0.1)
        assert _fds() <= before
        # no backend of ours survives: the server saw every socket close
        await _wait_for(lambda: _count_backends(admin, app), timeout=10,
                        what="all backends gone")
    finally:
        await _close(pool)


async def _count_backends(admin, app):
    n = await admin.fetch_val(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [app])
    return n == 0


async def test_cancel_mid_query(own_cluster, admin, app):
    dsn = own_cluster.dsn(sslmode="disable", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async def q():
            async with pool.acquire() as c:
                await c.execute("SELECT pg_sleep(10)")

        task = asyncio.ensure_future(q())
        await _wait_for(lambda: _running(admin, app), what="pg_sleep running")
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < PROMPT
        await _wait_for(lambda: _no_sleep(admin), timeout=PROMPT, what="pg_sleep gone")
        for _ in range(3):
            await _healthy(pool)
    finally:
        await _close(pool)


async def _no_sleep(admin):
    return await _active_sleeps(admin) == 0


async def test_timeout_mid_query_then_reuse(own_cluster, admin, app):
    dsn = own_cluster.dsn(sslmode="disable", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async with pool.acquire() as c:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.execute("SELECT pg_sleep(10)"), 0.3)
            # the same connection: the next query waits for the cancelled one and
            # never sees its stale result
            assert await asyncio.wait_for(c.fetch_val("SELECT 5::int4"), PROMPT) == 5
        assert await _active_sleeps(admin) == 0
    finally:
        await _close(pool)


async def test_cancel_mid_transaction(own_cluster, admin, app, table):
    dsn = own_cluster.dsn(sslmode="disable", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        async def work():
            async with pool.acquire() as c:
                async with c.transaction() as tx:
                    await tx.execute(f"INSERT INTO {table} VALUES (1)")
                    await tx.execute("SELECT pg_sleep(10)")
                    await tx.execute(f"INSERT INTO {table} VALUES (2)")

        task = asyncio.ensure_future(work())
        await _wait_for(lambda: _running(admin, app), what="pg_sleep running")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _wait_for(lambda: _no_sleep(admin), timeout=PROMPT, what="pg_sleep gone")
        assert await admin.fetch_val(f"SELECT count(*) FROM {table}") == 0
        # the pool's next connections are clean
        for _ in range(2):
            async with pool.acquire() as c:
                assert not await c.in_transaction()
                assert await c.fetch_val(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid() "
                    "AND xact_start IS NOT NULL AND state <> 'active'") == 0
        assert await admin.fetch_val(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
            "AND state LIKE 'idle in transaction%'", [app]) == 0
    finally:
        await _close(pool)


async def test_cancel_at_every_point_of_a_transaction(own_cluster, admin, app, table):
    # Sweep the cancel over the whole BEGIN / INSERT / INSERT / COMMIT exchange.
    dsn = own_cluster.dsn(sslmode="disable", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=3)
    try:
        async def work(i):
            async with pool.acquire() as c:
                async with c.transaction() as tx:
                    await tx.execute(f"INSERT INTO {table} VALUES ($1)", [i])
                    await tx.execute(f"INSERT INTO {table} VALUES ($1)", [i])

        await work(-1)   # warm: statements prepared, one connection open
        cancelled = 0
        for i in range(60):
            task = asyncio.ensure_future(work(i))
            await asyncio.sleep(i * 0.0002)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                cancelled += 1
        assert cancelled > 0
        await asyncio.sleep(0.2)
        # never half-applied: each i has 0 or 2 rows
        bad = await admin.fetch_val(
            f"SELECT count(*) FROM (SELECT i FROM {table} GROUP BY i HAVING count(*) <> 2) s")
        assert bad == 0
        for _ in range(3):
            await _healthy(pool)
        assert await admin.fetch_val(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
            "AND state LIKE 'idle in transaction%'", [app]) == 0
    finally:
        await _close(pool)


async def test_cancel_mid_copy(own_cluster, admin, app, table):
    if not hasattr(psqlpy.Connection, "copy_records_to_table"):
        pytest.skip("no COPY API")
    dsn = own_cluster.dsn(sslmode="disable", application_name=app)
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    started = asyncio.Event()

    async def records():
        for i in range(10_000_000):
            if i == 1000:
                started.set()
                await asyncio.sleep(0)
            yield (i,)
            if i % 1000 == 0:
                await asyncio.sleep(0)

    try:
        async def work():
            async with pool.acquire() as c:
                await c.copy_records_to_table(table, records=_sync_or_async(records), columns=["i"])

        task = asyncio.ensure_future(work())
        try:
            await asyncio.wait_for(started.wait(), 5)
        except asyncio.TimeoutError:
            task.cancel()
            pytest.skip("copy_records_to_table does not take async iterables")
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises((asyncio.CancelledError, exc.Error)):
            await asyncio.wait_for(task, PROMPT)
        await asyncio.sleep(0.2)
        # COPY is all-or-nothing: nothing of the cancelled COPY is visible
        assert await admin.fetch_val(f"SELECT count(*) FROM {table}") == 0
        for _ in range(2):
            await _healthy(pool)
        assert await admin.fetch_val(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
            "AND state <> 'idle' AND pid <> pg_backend_pid()", [app]) == 0
    finally:
        await _close(pool)


def _sync_or_async(gen_fn):
    return gen_fn()


async def test_server_restart_under_load_pool_recovers(own_cluster):
    """pg_ctl restart -m fast while 20 tasks run queries on a pool of 5: the
    failures are typed, and afterwards the same pool serves healthy
    connections again without being recreated."""
    pool = psqlpy.ConnectionPool(dsn=own_cluster.dsn(sslmode="disable"), max_db_pool_size=5,
                                 connect_timeout_sec=5)
    errors: list = []
    ok = 0
    stop = asyncio.Event()

    async def worker(i: int) -> None:
        nonlocal ok
        while not stop.is_set():
            try:
                async with pool.acquire() as conn:
                    assert await conn.fetch_val("SELECT $1::int8 + 1", [i]) == i + 1
                    ok += 1
            except psqlpy.exceptions.Error as e:
                errors.append(e)
                await asyncio.sleep(0.05)
            except OSError as e:   # must not happen: every failure is typed
                errors.append(AssertionError(f"untyped {e!r}"))

    try:
        tasks = [asyncio.ensure_future(worker(i)) for i in range(20)]
        await asyncio.sleep(0.3)
        await asyncio.get_running_loop().run_in_executor(None, own_cluster.restart)
        await asyncio.sleep(1.0)
        before = ok
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert ok > before, "no successful query after the restart"
        assert not [e for e in errors if isinstance(e, AssertionError)], errors
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SELECT 1") == 1
    finally:
        pool.close()
        await pool.wait_closed()
