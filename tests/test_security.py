"""Security: no credentials in messages, reprs or logs; identifiers quoted;
verify-full checks the host name."""
from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any, cast

import pytest

import psqlpy
from psqlpy import exceptions as exc
from pgcluster import make_dsn
from tcpproxy import TcpProxy

pytestmark = pytest.mark.asyncio

SECRET = "S3cr3t-Pw_7781"          # never a real password of any role
SECRETS = (SECRET, SECRET.replace("-", "%2D"), "scram_pw", "md5_pw", "clear_pw")


def _all_text(e: BaseException | None) -> str:
    """Everything a user could print about an exception, its chain included."""
    parts = []
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        parts += [str(e), repr(e), repr(getattr(e, "args", ())),
                  "".join(traceback.format_exception_only(type(e), e))]
        for attr in ("detail", "hint", "message", "fields"):
            v = getattr(e, attr, None)
            if v is not None:
                parts.append(repr(v))
        e = e.__cause__ or e.__context__
    return "\n".join(parts)


def _assert_clean(text: str, secrets=(SECRET,)):
    for s in secrets:
        assert s not in text, f"credential {s!r} leaked in: {text[:500]}"


async def _failed_connect(dsn, caplog, **kw):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(exc.Error) as info:
        await asyncio.wait_for(psqlpy.connect(dsn=dsn, **kw), 10)
    logs = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    return info.value, logs


# ---- credentials never leak ----------------------------------------------------------

@pytest.mark.parametrize("user", ["scram_user", "md5_user", "clear_user"])
async def test_wrong_password(own_cluster, caplog, user):
    dsn = own_cluster.dsn(user, SECRET, sslmode="disable")
    e, logs = await _failed_connect(dsn, caplog)
    assert getattr(e, "sqlstate", None) == "28P01" or "28P01" in _all_text(e)
    _assert_clean(_all_text(e))
    _assert_clean(logs)


async def test_wrong_password_as_keyword(own_cluster, caplog):
    dsn = own_cluster.dsn("scram_user", sslmode="disable").replace("scram_user:scram_pw@", "scram_user@")
    e, logs = await _failed_connect(dsn, caplog, password=SECRET)
    _assert_clean(_all_text(e))
    _assert_clean(logs)


async def test_connection_refused(caplog):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                   # nothing listens there now
    dsn = make_dsn("someone", SECRET, "127.0.0.1", port, "db", "disable")
    e, logs = await _failed_connect(dsn, caplog)
    _assert_clean(_all_text(e))
    _assert_clean(logs)


@pytest.mark.parametrize("dsn", [
    f"postgresql://u:{SECRET}@127.0.0.1:notaport/db",
    f"postgresql://u:{SECRET}@127.0.0.1:99999/db",
    f"postgresql://u:{SECRET}@[::1/db",
    f"postgresql://u:{SECRET}@h/db?sslmode=bogus",
    f"postgresql://u:{SECRET}@h/db?connect_timeout=abc",
    f"host=h port=abc user=u password={SECRET}",
    f"host=h user=u password='{SECRET}",
    f"host=h user=u password={SECRET} sslmode=nope",
    f"mysql://u:{SECRET}@h/db",
], ids=["url-port-text", "url-port-range", "url-bad-ipv6", "url-sslmode", "url-timeout",
        "kv-port", "kv-unterminated-quote", "kv-sslmode", "wrong-scheme"])
async def test_bad_dsn_with_password(dsn, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as info:
        pool = psqlpy.ConnectionPool(dsn=dsn)
        try:
            await asyncio.wait_for(pool.connection(), 5)
        finally:
            pool.close()
            await pool.wait_closed()
    e = info.value
    assert isinstance(e, exc.Error), f"untyped {type(e).__name__}: {e}"
    _assert_clean(_all_text(e))
    _assert_clean("\n".join(r.getMessage() for r in caplog.records))


async def test_reprs_hide_password(own_cluster):
    dsn = own_cluster.dsn("scram_user", sslmode="disable")
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    pool_kw = psqlpy.ConnectionPool(host=own_cluster.host, port=own_cluster.port,
                                    username="scram_user", password="scram_pw",
                                    db_name="psqlpy_test", max_db_pool_size=2)
    try:
        texts = [repr(pool), str(pool), repr(pool.config), str(pool.config),
                 repr(pool_kw), repr(pool_kw.config), repr(pool.status())]
        async with pool.acquire() as c:
            texts += [repr(c), str(c), repr(cast(Any, c)._config)]
            try:
                r = await c.execute("SELECT 1 AS x")
                texts.append(repr(r))
            except Exception:
                pass
            async with c.transaction() as tx:
                texts.append(repr(tx))
        listener = pool.listener()
        texts.append(repr(listener))
        for t in texts:
            _assert_clean(t, ("scram_pw",))
        assert "***" in repr(pool.config)
    finally:
        pool.close()
        await pool.wait_closed()
        pool_kw.close()
        await pool_kw.wait_closed()


async def test_server_error_during_query_has_no_password(own_cluster):
    dsn = own_cluster.dsn("scram_user", sslmode="disable")
    async with await psqlpy.connect(dsn=dsn) as c:
        with pytest.raises(exc.Error) as info:
            await c.execute("SELECT * FROM no_such_table_here")
        _assert_clean(_all_text(info.value), ("scram_pw",))


# ---- identifiers are quoted ----------------------------------------------------------

NASTY_NAMES = ['sp"; DROP TABLE victim; --', "MixedCase", "with space", "ünï'cødé", 'a""b']


@pytest.fixture
async def conn(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def test_savepoint_names_are_quoted(conn):
    await conn.execute("CREATE TEMP TABLE victim (i int4)")
    async with conn.transaction() as tx:
        for name in NASTY_NAMES:
            await tx.create_savepoint(name)
            await tx.execute("INSERT INTO victim VALUES (1)")
            await tx.rollback_savepoint(name)     # exact name: found, not injected
            await tx.release_savepoint(name)
        # case and spelling are exact: a differently-cased name does not exist
        await tx.create_savepoint("CaseSP")
        with pytest.raises(exc.Error):
            await tx.rollback_savepoint("casesp")
    assert await conn.fetch_val("SELECT count(*) FROM victim") == 0


@pytest.mark.parametrize("bad", ["", "x\x00y", "n" * 64])
async def test_unrepresentable_savepoint_names_are_refused(conn, bad):
    async with conn.transaction() as tx:
        with pytest.raises(Exception) as info:
            await tx.create_savepoint(bad)
        # (typed would be better; see the report) and nothing was sent
        assert await tx.fetch_val("SELECT 1") == 1
    assert info.value is not None


@pytest.mark.parametrize("bad", ["", "x\x00y", "n" * 64, 5])
async def test_unrepresentable_savepoint_names_typed(conn, bad):
    async with conn.transaction() as tx:
        with pytest.raises(exc.TransactionSavepointError):
            await tx.create_savepoint(bad)


async def test_listener_channels_are_quoted(own_cluster):
    dsn = own_cluster.dsn(sslmode="disable")
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener()
    got = {}
    done = asyncio.Event()

    def make_cb(name):
        async def cb(connection, payload, channel, process_id):
            got[name] = (channel, payload)
            if len(got) == len(NASTY_NAMES):
                done.set()
        return cb

    try:
        for name in NASTY_NAMES:
            await listener.add_callback(name, make_cb(name))
        await listener.startup()
        listener.listen()
        async with await psqlpy.connect(dsn=dsn) as sender:
            for name in NASTY_NAMES:
                await sender.execute("SELECT pg_notify($1, $2)", [name, "p:" + name])
            await asyncio.wait_for(done.wait(), 10)
            assert got == {n: (n, "p:" + n) for n in NASTY_NAMES}
            # the server sees the exact names
            chans = await sender.fetch_val("SELECT count(*) FROM pg_listening_channels()")
            assert chans == 0        # (the sender's own session listens to nothing)
        for bad in ("", "x\x00y", "c" * 64):
            with pytest.raises(exc.Error):
                await listener.add_callback(bad, make_cb("bad"))
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def test_copy_identifiers_are_quoted(conn):
    if not hasattr(psqlpy.Connection, "copy_records_to_table") and \
            not hasattr(psqlpy.Connection, "binary_copy_to_table"):
        pytest.skip("no COPY API on Connection yet")
    await conn.execute('CREATE TEMP TABLE "Odd ""T"" x" ("we""ird c" int4, "Z" text)')
    if hasattr(conn, "copy_records_to_table"):
        await conn.copy_records_to_table('Odd "T" x', records=[(1, "a")],
                                         columns=['we"ird c', "Z"])
    assert await conn.fetch_val('SELECT count(*) FROM "Odd ""T"" x"') == 1
    # schema names too, and an injection attempt is just a (missing) name
    await conn.execute('CREATE SCHEMA IF NOT EXISTS "Sch""; x"')
    await conn.execute('CREATE TABLE IF NOT EXISTS "Sch""; x".t (a int4)')
    try:
        await conn.copy_records_to_table("t", records=[(5,)], schema_name='Sch"; x')
        assert await conn.fetch_val('SELECT a FROM "Sch""; x".t') == 5
        with pytest.raises(exc.Error):
            await conn.copy_records_to_table('t; DROP TABLE victim; --', records=[(1,)])
    finally:
        await conn.execute('DROP SCHEMA "Sch""; x" CASCADE')


# ---- verify-full checks the host name --------------------------------------------------

class _ProxyOn(TcpProxy):
    """The fault proxy listening on another loopback address (the server itself
    listens on 127.0.0.1 only)."""

    def __init__(self, bind_host, *a):
        super().__init__(*a)
        self.bind_host = bind_host

    async def start(self):
        self._server = await asyncio.start_server(self._accept, self.bind_host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self


@pytest.fixture
async def alias(own_cluster):
    own_cluster.need_ssl()
    try:
        p = await _ProxyOn("127.0.0.2", own_cluster.host, own_cluster.port).start()
    except OSError as e:
        pytest.skip(f"cannot bind 127.0.0.2: {e}")
    yield p
    await p.close()


async def test_verify_full_rejects_wrong_host_name(own_cluster, alias):
    dsn = make_dsn("scram_user", "scram_pw", "127.0.0.2", alias.port, "psqlpy_test",
                   "verify-full")
    with pytest.raises(exc.Error) as info:
        await asyncio.wait_for(
            psqlpy.connect(dsn=dsn, ca_file=str(own_cluster.ca_file)), 10)
    text = _all_text(info.value)
    assert "hostname" in text.lower() or "certificate" in text.lower() or "ssl" in text.lower()
    _assert_clean(text, ("scram_pw",))


async def test_verify_ca_accepts_the_same_server(own_cluster, alias):
    # control: the same path with verify-ca (no host name check) works, so the
    # failure above is the host name check and nothing else
    dsn = make_dsn("scram_user", "scram_pw", "127.0.0.2", alias.port, "psqlpy_test",
                   "verify-ca")
    async with await psqlpy.connect(dsn=dsn, ca_file=str(own_cluster.ca_file)) as c:
        assert await c.fetch_val("SELECT 1") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_verify_full_accepts_matching_name(own_cluster, host):
    own_cluster.need_ssl()
    dsn = make_dsn("scram_user", "scram_pw", host, own_cluster.port, "psqlpy_test", "verify-full")
    try:
        c = await psqlpy.connect(dsn=dsn, ca_file=str(own_cluster.ca_file))
    except exc.ConnectionExecuteError as e:
        if host == "localhost" and "Connect call failed" in str(e):
            pytest.skip("localhost resolves to ::1 first and the server is IPv4 only")
        raise
    async with c:
        assert await c.fetch_val("SELECT 1") == 1


async def test_verify_full_without_ca_is_refused(own_cluster, tmp_path, monkeypatch):
    # Issue 16: without sslrootcert or ~/.postgresql/root.crt, verify-full is refused
    # (libpq's rule), not verified against the system store.
    own_cluster.need_ssl()
    monkeypatch.setenv("HOME", str(tmp_path))
    dsn = make_dsn("scram_user", "scram_pw", "127.0.0.1", own_cluster.port, "psqlpy_test",
                   "verify-full")
    with pytest.raises(exc.ConnectSSLError, match="root certificate file"):
        await asyncio.wait_for(psqlpy.connect(dsn=dsn), 10)
