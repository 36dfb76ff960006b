"""Checks of the test harness itself: event loops, the throwaway cluster, its roles.

Uses asyncpg (never psqlpy) so the harness can be trusted independently of the
driver under test. This is the only test module allowed to import asyncpg.
"""

from __future__ import annotations

import asyncio
import gc
import os
import ssl
import sys
import time
import types
from pathlib import Path
from typing import cast

import pytest

from pgcluster import USERS, ExternalCluster, PgCluster, _parse_dsn, make_dsn

asyncpg = pytest.importorskip("asyncpg")
uvloop: types.ModuleType | None
try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


@pytest.fixture(autouse=True)
def _collect_asyncpg_garbage():
    """asyncpg now and then leaves the socket of a connection the server
    rejected or ended unclosed (seen under uvloop, Python 3.10 and 3.13).
    Its ResourceWarning comes from the garbage collector, in whichever later
    test the collector happens to run, where it fails a test of ours.  The
    garbage is collected here, at the end of each test of this module (the
    only one using asyncpg), and that warning is dropped; anything else still
    reaches pytest."""
    yield
    hook = sys.unraisablehook

    def drop_resource_warnings(u):
        if not (u.exc_type is not None and issubclass(u.exc_type, ResourceWarning)):
            hook(u)
    sys.unraisablehook = drop_resource_warnings
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _loop_id(request) -> str:
    return request.node.callspec.id.split("-")[-1]


# --------------------------------------------------------------------------- loops


async def test_loop_type(request):
    loop = asyncio.get_running_loop()
    lid = _loop_id(request)
    assert lid in ("asyncio", "uvloop")
    if lid == "uvloop":
        assert isinstance(loop, cast(types.ModuleType, uvloop).Loop), type(loop)
    else:
        assert not (uvloop and isinstance(loop, uvloop.Loop)), type(loop)
        assert isinstance(loop, asyncio.BaseEventLoop), type(loop)


def test_sync_tests_run_once(request):
    assert not hasattr(request.node, "callspec"), request.node.name


# --------------------------------------------------------------------------- DSNs


def test_make_dsn_percent_encodes():
    dsn = make_dsn("us er@x", "p:w/@?", "127.0.0.1", 5432, "db", sslmode="require",
                   application_name="a b")
    assert dsn == (
        "postgresql://us%20er%40x:p%3Aw%2F%40%3F@127.0.0.1:5432/db"
        "?sslmode=require&application_name=a%20b"
    )
    assert make_dsn("u", None, "/tmp/sock", 1, "d") == "postgresql://u@:1/d?host=%2Ftmp%2Fsock"


def test_external_cluster_dsn():
    ext = ExternalCluster("postgresql://bob:s%40cret@db.example:6543/app?sslmode=require")
    assert (ext.user, ext.password, ext.host, ext.port, ext.database) == (
        "bob", "s@cret", "db.example", 6543, "app")
    assert ext.dsn() == "postgresql://bob:s%40cret@db.example:6543/app?sslmode=require"
    assert ext.dsn(sslmode="disable").endswith("?sslmode=disable")
    with pytest.raises(pytest.skip.Exception):
        ext.dsn("scram_user")
    with pytest.raises(pytest.skip.Exception):
        ext.restart()
    with pytest.raises(pytest.skip.Exception):
        ext.ca_file
    kv = _parse_dsn("host=h port=1 user='a b' password='x\\'y' dbname=d")
    assert kv == {"host": "h", "port": "1", "user": "a b", "password": "x'y", "dbname": "d"}


# --------------------------------------------------------------------------- cluster


async def _fetchval(dsn=None, **kw):
    conn = await asyncpg.connect(dsn, timeout=10, **kw)
    try:
        # "<user> <ssl true|false>" plus " unix" over the unix socket
        return await conn.fetchval(
            "SELECT current_user || ' ' || (SELECT ssl::text FROM pg_stat_ssl "
            "WHERE pid = pg_backend_pid()) || CASE WHEN inet_client_addr() IS NULL "
            "THEN ' unix' ELSE '' END")
    finally:
        await conn.close()


async def test_superuser_dsn(dsn, pg_cluster):
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        assert await conn.fetchval("SELECT current_database()") == pg_cluster.database
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()


def _ssl_ctx(pg) -> ssl.SSLContext:
    pg.need_ssl()
    ctx = ssl.create_default_context(cafile=str(pg.ca_file))
    ctx.check_hostname = True
    return ctx


@pytest.mark.parametrize("user", ["trust_user", "clear_user", "md5_user", "scram_user"])
async def test_auth_users(own_cluster, user):
    pg = own_cluster
    # plain TCP
    assert await _fetchval(pg.dsn(user), ssl=False) == f"{user} false"
    # TLS, server certificate verified against the CA (IP SAN 127.0.0.1)
    if pg.ssl:
        assert await _fetchval(pg.dsn(user), ssl=_ssl_ctx(pg)) == f"{user} true"
    # unix socket
    assert await _fetchval(host=str(pg.socket_dir), port=pg.port, user=user,
                           password=USERS[user], database=pg.database) == f"{user} false unix"


@pytest.mark.parametrize("user", ["clear_user", "md5_user", "scram_user", "ssl_user"])
async def test_wrong_password_rejected(own_cluster, user):
    ctx = _ssl_ctx(own_cluster) if user == "ssl_user" else False
    with pytest.raises(asyncpg.InvalidPasswordError):
        await _fetchval(own_cluster.dsn(user, password="wrong"), ssl=ctx)


async def test_ssl_user(own_cluster):
    pg = own_cluster
    pg.need_ssl()
    assert await _fetchval(pg.dsn("ssl_user", sslmode="verify-full", sslrootcert=pg.ca_file)) \
        == "ssl_user true"
    assert await _fetchval(pg.dsn("ssl_user"), ssl=_ssl_ctx(pg)) == "ssl_user true"
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="pg_hba.conf rejects"):
        await _fetchval(pg.dsn("ssl_user"), ssl=False)
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="pg_hba.conf rejects"):
        await _fetchval(host=str(pg.socket_dir), port=pg.port, user="ssl_user",
                        password="ssl_pw", database=pg.database)


async def test_nossl_user(own_cluster):
    pg = own_cluster
    assert await _fetchval(pg.dsn("nossl_user"), ssl=False) == "nossl_user false"
    # sslmode=prefer: TLS is tried first, rejected by hostssl ... reject, then
    # asyncpg retries without TLS.
    assert await _fetchval(pg.dsn("nossl_user", sslmode="prefer")) == "nossl_user false"
    pg.need_ssl()
    if type(asyncio.get_running_loop()).__module__.startswith("uvloop"):
        # asyncpg under uvloop intermittently leaves the rejected TLS transport
        # open at loop close (a peer's bug, not ours): check this under asyncio.
        return
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="pg_hba.conf rejects"):
        await _fetchval(pg.dsn("nossl_user"), ssl=_ssl_ctx(pg))


def test_auth_methods_in_log_and_md5_hash(own_cluster):
    pg = own_cluster
    assert pg.psql("SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'md5_user'") == "t"
    assert pg.psql(
        "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'scram_user'"
    ) == "t"
    log = Path(pg.log_file).read_text(errors="replace")
    pairs = [("clear_user", "password"), ("md5_user", "md5"), ("scram_user", "scram-sha-256")]
    if pg.ssl:
        pairs.append(("ssl_user", "scram-sha-256"))
    for user, method in pairs:
        assert f'identity="{user}" method={method}' in log, (user, method)


async def test_unknown_role_rejected(own_cluster):
    # pg_hba's final lines reject every role not listed above.
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="pg_hba.conf rejects"):
        await _fetchval(own_cluster.dsn("nobody_user", password="x"), ssl=False)


async def test_psql_and_terminate_backends(pg_cluster):
    pg = pg_cluster
    # Plain TCP: on Python 3.10 asyncpg leaves a terminated TLS connection's
    # transport unclosed, and its ResourceWarning would fail a later test.
    conn = await asyncpg.connect(pg.dsn(), ssl=False,
                                 server_settings={"application_name": "harness_victim"})
    try:
        assert pg.psql("SELECT count(*) FROM pg_stat_activity "
                       "WHERE application_name = 'harness_victim'") == "1"
        assert pg.terminate_backends("harness_victim") == 1
        with pytest.raises((asyncpg.AdminShutdownError, asyncpg.ConnectionDoesNotExistError,
                            ConnectionError)):
            await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def test_test_users_can_create_tables(own_cluster):
    conn = await asyncpg.connect(own_cluster.dsn("scram_user"), ssl=False)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS harness_scram_t (x int)")
        await conn.execute("DROP TABLE harness_scram_t")
    finally:
        await conn.close()


def test_replication_allowed_for_postgres(own_cluster):
    pg = own_cluster
    assert pg.psql("SHOW wal_level") == "logical"      # logical replication slots
    assert pg.psql("SHOW max_wal_senders") == "20"
    assert pg.psql("SHOW max_replication_slots") == "20"
    assert pg.psql("SHOW max_connections") == "200"
    import subprocess

    out = subprocess.run(
        [pg.exe("psql"), "-X", "-A", "-t", "-c", "IDENTIFY_SYSTEM",
         f"host={pg.host} port={pg.port} user=postgres replication=true dbname=postgres"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr


def test_restart(own_cluster):
    pg = own_cluster
    before = pg.psql("SELECT pg_postmaster_start_time()")
    pg.restart()
    assert pg.psql("SELECT pg_postmaster_start_time()") != before
    assert asyncio.run(_fetchval(pg.dsn("scram_user"), ssl=False)) == "scram_user false"


# --------------------------------------------------------------------------- lifecycle


def _postmaster_alive(data_dir: Path) -> list[str]:
    alive = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(data_dir) in cmd and state != "Z":
            alive.append(f"{pid} {cmd}")
    return alive


def test_fresh_cluster_starts_fast_and_cleans_up():
    if os.environ.get("PSQLPY_TEST_DSN"):
        pytest.skip("PSQLPY_TEST_DSN is set")
    t0 = time.monotonic()
    pg = PgCluster()
    with pg:
        elapsed = time.monotonic() - t0
        data_dir, tmp_dir = cast(Path, pg.data_dir), cast(Path, pg.tmp_dir)
        assert pg.psql("SELECT 1") == "1"
        assert _postmaster_alive(data_dir)
    assert elapsed < 5, f"cluster took {elapsed:.2f}s to start"
    assert not tmp_dir.exists()
    assert not _postmaster_alive(data_dir)
    pg.stop()  # idempotent
