"""Connecting as safely as libpq (issue 16, one test per numbered item), no task left
behind by a cancelled connect (issue 15 item 3), and public typed errors for every failure
to connect (issue 18).

Everything goes through the public API (``psqlpy.connect`` with a DSN, keyword arguments
and ``PG*`` variables), against the suite's real server or, for what a real server never
sends, the threaded fake servers of ``fakepg.py``.

What the reference driver (psqlpy 0.13.1, tried against a local server) raises when a
connection cannot be made: ``BaseConnectionPoolError`` for a refused port, an unknown
host, an unknown database, a wrong or missing password, a pg_hba rejection and a TLS
failure (its ``connect()`` goes through a pool); the builtin ``TimeoutError`` for
``connect_timeout``; ``ConnectionPoolBuildError`` for a DSN it cannot parse.  Ours raise
``psqlpy.exceptions.ConnectError`` (a ``BaseConnectionPoolError``), its subclasses
``ConnectTimeoutError`` (also a ``TimeoutError``) and ``ConnectSSLError`` (also an
``SSLError``), or the server's SQLSTATE class combined with ``ConnectError``.
"""
from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
import traceback
from pathlib import Path
from typing import Any, cast

import pytest

import psqlpy
from psqlpy import exceptions as exc

from fakepg import Behaviour, FakeServer, error_fields, script, server_context
from pgcluster import load_ca, make_certificate, write_pem

SECRET = "Zq7#SEC?RET"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty HOME (no ~/.pgpass, no ~/.postgresql) and no PG* variables."""
    h = tmp_path / "home"
    h.mkdir()
    for name in list(os.environ):
        if name.startswith("PG") or name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(h))
    return h


def _chain(e: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while e is not None and all(e is not s for s in seen):
        seen.append(e)
        e = e.__cause__ or e.__context__
    return seen


def _texts(e: BaseException) -> str:
    out = []
    for x in _chain(e):
        out += [str(x), repr(x), repr(x.args), "".join(traceback.format_exception_only(type(x), x))]
        for attr in ("object", "fields", "attempts", "__notes__"):
            v = getattr(x, attr, None)
            if v is not None:
                out.append(repr(v))
    return "\n".join(out)


async def _refused(dsn: str | None = None, **kw) -> exc.Error:
    with pytest.raises(exc.Error) as ei:
        async with await asyncio.wait_for(psqlpy.connect(dsn=dsn, **kw), 20):
            pass
    return ei.value


async def _connects(dsn: str | None = None, **kw) -> str:
    async with await asyncio.wait_for(psqlpy.connect(dsn=dsn, **kw), 20) as conn:
        return await conn.fetch_val("SELECT current_user")


def _fake(**kw) -> FakeServer:
    return FakeServer(script(Behaviour(**kw))).__enter__()


def _silent(conn) -> None:
    """A server that reads the startup packet and never answers."""
    conn.read_startup()
    conn.wait_for_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fake_certs(own_cluster, tmp_path_factory):
    """Server certificates for fake TLS servers: one from the suite's CA for the name
    pg.test only, one self-signed with Ed25519, one from another CA."""
    own_cluster.need_ssl()
    from cryptography.hazmat.primitives.asymmetric import ed25519

    d = tmp_path_factory.mktemp("fake-certs")
    tls = Path(own_cluster.tls_dir)
    ca, ca_key = load_ca(tls)
    other, other_key = make_certificate(None, None, common_name="other CA", ca=True)
    out: dict[str, Any] = {"ca": tls / "ca.crt",
                           "other_ca": write_pem(d / "other-ca.crt", other, mode=0o644)}
    for name, issuer, ikey, kw in (
            ("named", ca, ca_key, dict(common_name="pg.test", dns=("pg.test",))),
            ("local", ca, ca_key, dict(common_name="localhost", dns=("localhost",),
                                       ips=("127.0.0.1",))),
            ("ed25519", None, None, dict(common_name="localhost", dns=("localhost",),
                                         key=ed25519.Ed25519PrivateKey.generate()))):
        cert, key = make_certificate(issuer, ikey, **kw)
        out[name] = (write_pem(d / f"{name}.crt", cert, mode=0o644),
                     write_pem(d / f"{name}.key", key))
    return out


def _tls_fake(pair, **kw) -> FakeServer:
    crt, key = pair
    return _fake(ssl_answer=b"S", tls=server_context(crt, key),
                 cert_der=ssl.PEM_cert_to_DER_cert(Path(crt).read_text()), **kw)


# ------------------------------------------------------------------------------------------
# 1, 2: which certificates are trusted
# ------------------------------------------------------------------------------------------


async def test_verify_ca_and_full_need_root_crt_not_the_system_store(own_cluster, home,
                                                                     monkeypatch):
    # The suite's CA stands for a public CA in the system store (SSL_CERT_FILE is where
    # OpenSSL finds it): without sslrootcert or ~/.postgresql/root.crt, libpq refuses
    # verify-ca and verify-full instead of trusting it.
    own_cluster.need_ssl()
    monkeypatch.setenv("SSL_CERT_FILE", str(own_cluster.ca_file))
    for mode, host in (("verify-ca", "127.0.0.1"), ("verify-full", "localhost")):
        e = await _refused(own_cluster.dsn("scram_user", sslmode=mode, host=host))
        assert isinstance(e, exc.ConnectSSLError), repr(e)
        assert "root certificate file" in str(e) and "does not exist" in str(e)
    # the same with the file in place, or the system store asked for explicitly
    (home / ".postgresql").mkdir()
    (home / ".postgresql" / "root.crt").write_bytes(Path(own_cluster.ca_file).read_bytes())
    assert await _connects(own_cluster.dsn("scram_user", sslmode="verify-ca")) == "scram_user"
    assert await _connects(own_cluster.dsn("scram_user", host="localhost",
                                           sslrootcert="system")) == "scram_user"


async def test_root_crt_turns_require_into_verify_ca(own_cluster, home, fake_certs):
    own_cluster.need_ssl()
    (home / ".postgresql").mkdir()
    root = home / ".postgresql" / "root.crt"
    root.write_bytes(Path(fake_certs["other_ca"]).read_bytes())
    e = await _refused(own_cluster.dsn("ssl_user", sslmode="require"))
    assert isinstance(e, exc.ConnectSSLError) and "certificate verify failed" in str(e)
    root.write_bytes(Path(own_cluster.ca_file).read_bytes())
    assert await _connects(own_cluster.dsn("ssl_user", sslmode="require")) == "ssl_user"


# ------------------------------------------------------------------------------------------
# 3: the environment forms are honoured, or refused
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("var, value", [
    ("PGCHANNELBINDING", "require"),
    ("PGREQUIREAUTH", "scram-sha-256"),
    ("PGREQUIREAUTH", "md5"),
    ("PGGSSENCMODE", "require"),
])
async def test_environment_settings_refuse_before_the_password(home, monkeypatch, var, value):
    srv = _fake(auth="password", password=SECRET)
    try:
        monkeypatch.setenv(var, value)
        await _refused(f"host=127.0.0.1 port={srv.port} user=u dbname=d sslmode=disable",
                       password=SECRET)
        assert srv.reached() == []
    finally:
        srv.close()


async def test_pgsslcrl_revokes_the_server_certificate(own_cluster, home, monkeypatch,
                                                      tmp_path):
    own_cluster.need_ssl()
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    ca, ca_key = load_ca(Path(own_cluster.tls_dir))
    served = x509.load_pem_x509_certificate(
        Path(own_cluster.data_dir, "server.crt").read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
           .last_update(now - datetime.timedelta(days=1))
           .next_update(now + datetime.timedelta(days=1))
           .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                    .serial_number(served.serial_number)
                                    .revocation_date(now - datetime.timedelta(hours=1)).build())
           .sign(ca_key, hashes.SHA256()))
    path = write_pem(tmp_path / "revoked.crl", crl, mode=0o644)
    dsn = own_cluster.dsn("scram_user", sslmode="verify-ca", sslrootcert=own_cluster.ca_file)
    assert await _connects(dsn) == "scram_user"
    monkeypatch.setenv("PGSSLCRL", str(path))
    e = await _refused(dsn)
    assert isinstance(e, exc.ConnectSSLError) and "revoked" in str(e)


# ------------------------------------------------------------------------------------------
# 4: the password file per host and port
# ------------------------------------------------------------------------------------------


async def test_password_file_is_looked_up_per_host(home):
    first = _fake(auth="password", password="pw-first",
                  after_auth=error_fields("57P03", "the database system is starting up"))
    second = _fake(auth="password", password="pw-second")
    try:
        pgpass = home / ".pgpass"
        pgpass.write_text(f"127.0.0.1:{first.port}:*:*:pw-first\n"
                          f"127.0.0.1:{second.port}:*:*:pw-second\n")
        os.chmod(pgpass, 0o600)
        dsn = (f"host=127.0.0.1,127.0.0.1 port={first.port},{second.port} user=u dbname=d "
               f"sslmode=disable")
        async with await asyncio.wait_for(psqlpy.connect(dsn=dsn), 20):
            pass
        assert first.reached() == [("password", "pw-first")]
        assert second.reached() == [("password", "pw-second")]
        # a host without a line gets no password at all (not the first host's)
        first.events.clear()
        second.events.clear()
        pgpass.write_text(f"127.0.0.1:{first.port}:*:*:pw-first\n")
        e = await _refused(dsn)
        assert second.reached() == [] and "no password supplied" in _texts(e)
    finally:
        first.close()
        second.close()


# ------------------------------------------------------------------------------------------
# 5, 12: hostaddr, verify-full and SNI
# ------------------------------------------------------------------------------------------


async def test_hostaddr_keeps_host_for_verify_full_and_sni(home, fake_certs):
    srv = _tls_fake(fake_certs["named"], auth="password", password=SECRET)
    try:
        dsn = (f"host=pg.test hostaddr=127.0.0.1 port={srv.port} user=u dbname=d "
               f"sslmode=verify-full sslrootcert={fake_certs['ca']}")
        async with await asyncio.wait_for(psqlpy.connect(dsn=dsn, password=SECRET), 20):
            pass
        assert ("tls", "pg.test") in srv.events
        assert srv.reached() == [("password", SECRET)]
    finally:
        srv.close()


@pytest.mark.parametrize("params, sni", [
    ("sslmode=require", "localhost"),
    ("sslmode=prefer", "localhost"),
    ("sslmode=require sslsni=0", None),
    ("sslmode=verify-full sslsni=0 sslrootcert={ca}", None),
    ("sslmode=verify-full sslrootcert={ca}", "localhost"),
])
async def test_sni_in_every_tls_mode_unless_sslsni_0(home, fake_certs, params, sni):
    srv = _tls_fake(fake_certs["local"], auth="password", password=SECRET)
    try:
        dsn = (f"host=localhost port={srv.port} user=u dbname=d password={SECRET} "
               + params.format(ca=fake_certs["ca"]))
        async with await asyncio.wait_for(psqlpy.connect(dsn=dsn), 20):
            pass
        assert [e for e in srv.events if e[0] == "tls"] == [("tls", sni)]
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------
# 6: URL passwords with reserved characters
# ------------------------------------------------------------------------------------------


async def test_url_password_with_hash_and_question_mark(home):
    srv = _fake(auth="password", password=SECRET)
    try:
        async with await asyncio.wait_for(
                psqlpy.connect(dsn=f"postgresql://u:{SECRET}@127.0.0.1:{srv.port}/d"
                                   f"?sslmode=disable"), 20):
            pass
        assert srv.reached() == [("password", SECRET)]
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------
# 7: SCRAM-SHA-256-PLUS offered without TLS
# ------------------------------------------------------------------------------------------


async def test_plus_offered_without_tls_is_a_stripped_connection(home):
    srv = _fake(auth="scram", password=SECRET,
                mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))
    try:
        e = await _refused(f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=prefer",
                           password=SECRET)
        assert "SCRAM-SHA-256-PLUS" in str(e) and "non-SSL" in str(e)
        assert [ev for ev in srv.events if ev[0] in ("sasl", "scram_proof")] == []
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------
# 8: messages before authentication are capped
# ------------------------------------------------------------------------------------------


async def test_pre_auth_message_cap(home):
    # A header claiming 600 MiB, then a steady stream: refused on the header, at once.
    def stream(conn):
        conn.read_startup()
        conn.send(b"R" + (600 * 2**20).to_bytes(4, "big"))
        for _ in range(100):
            conn.send(b"\0" * 65536)

    srv = FakeServer(stream).__enter__()
    try:
        t0 = time.monotonic()
        e = await _refused(f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=disable",
                           connect_timeout_sec=10)
        assert time.monotonic() - t0 < 3
        assert "over the limit of 30000" in str(e), str(e)
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------
# 9: SCRAM's hashing stalls nothing; connect_timeout covers it
# ------------------------------------------------------------------------------------------


async def test_scram_hashing_is_off_the_event_loop(home):
    srv = _fake(auth="scram", password=SECRET, iterations=10_000_000)
    gaps: list[float] = []
    stop = False

    async def ticker():
        last = time.monotonic()
        while not stop:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    try:
        t0 = time.monotonic()
        e = await _refused(f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=disable",
                           password=SECRET, connect_timeout_sec=1)
        elapsed = time.monotonic() - t0
    finally:
        stop = True
        await tick
        srv.close()
    assert isinstance(e, exc.ConnectTimeoutError), repr(e)
    assert elapsed < 1.8, elapsed
    assert max(gaps) < 0.5, max(gaps)


# ------------------------------------------------------------------------------------------
# 10: a malformed SCRAM message is a typed error, and the next host is tried
# ------------------------------------------------------------------------------------------


async def test_malformed_scram_is_typed_and_failover_continues(home):
    bad = _fake(auth="scram", password=SECRET, scram_first="r={nonce},s=c2FsdA==,i=\u00b2")
    good = _fake(auth="password", password=SECRET)
    try:
        e = await _refused(f"postgresql://u@127.0.0.1:{bad.port}/d?sslmode=disable",
                           password=SECRET)
        assert isinstance(e, exc.ConnectError) and "iteration count" in str(e)
        async with await asyncio.wait_for(psqlpy.connect(
            dsn=f"host=127.0.0.1,127.0.0.1 port={bad.port},{good.port} user=u dbname=d "
                f"sslmode=disable", password=SECRET), 20):
            pass
        assert good.reached() == [("password", SECRET)]
    finally:
        bad.close()
        good.close()


# ------------------------------------------------------------------------------------------
# 11: no secret in any exception chain
# ------------------------------------------------------------------------------------------


async def test_no_password_in_any_exception_chain(home):
    srv = _fake(auth="password", password=SECRET)
    try:
        for kw in (dict(dsn=f"postgresql://u:%ff{SECRET}%zz@127.0.0.1:{srv.port}/d"),
                   dict(dsn=f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=disable",
                        password="\ud800" + SECRET),
                   dict(dsn=f"postgresql://u:{SECRET}@127.0.0.1:{srv.port}/d?sslmode=disable"
                            f"&options=%ff")):
            e = await _refused(**kw)
            assert isinstance(e, exc.Error)
            text = _texts(e)
            assert SECRET not in text and SECRET.encode().hex() not in text, text
        assert srv.reached() == []
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------
# 13: channel binding that cannot be computed; the settings libpq has
# ------------------------------------------------------------------------------------------


async def test_ed25519_certificate_fails_channel_binding_closed(home, fake_certs):
    offered = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
    srv = _tls_fake(fake_certs["ed25519"], auth="scram", password=SECRET, mechanisms=offered)
    try:
        e = await _refused(f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=require",
                           password=SECRET)
        assert "Ed25519" in str(e) and "channel_binding=disable" in str(e)
        assert [ev for ev in srv.events if ev[0] == "scram_proof"] == []
        async with await asyncio.wait_for(psqlpy.connect(
            dsn=f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=require&channel_binding=disable",
            password=SECRET), 20):
            pass
        assert ("sasl", "SCRAM-SHA-256", "n") in srv.events
        assert ("scram_proof", True) in srv.events
    finally:
        srv.close()


async def test_channel_binding_require_against_the_real_server(own_cluster, home):
    own_cluster.need_ssl()
    dsn = own_cluster.dsn("ssl_user", sslmode="verify-full", host="localhost",
                          sslrootcert=own_cluster.ca_file, channel_binding="require",
                          require_auth="scram-sha-256")
    assert await _connects(dsn) == "ssl_user"
    e = await _refused(own_cluster.dsn("md5_user", sslmode="disable", channel_binding="require"))
    assert "channel binding required" in str(e)


async def test_client_certificates_against_the_real_server(own_cluster, home, monkeypatch):
    own_cluster.need_ssl()
    tls = Path(own_cluster.tls_dir)
    key = home / "client.key"
    key.write_bytes((tls / "client.key").read_bytes())
    os.chmod(key, 0o600)
    ca = own_cluster.ca_file
    # in the DSN
    assert await _connects(own_cluster.dsn("cert_user", sslmode="verify-full", host="localhost",
                                           sslrootcert=ca, sslcert=tls / "client.crt",
                                           sslkey=key)) == "cert_user"
    # from the environment
    monkeypatch.setenv("PGSSLCERT", str(tls / "client.crt"))
    monkeypatch.setenv("PGSSLKEY", str(key))
    assert await _connects(own_cluster.dsn("cert_user", sslmode="require")) == "cert_user"
    monkeypatch.delenv("PGSSLCERT")
    monkeypatch.delenv("PGSSLKEY")
    # ~/.postgresql defaults, an encrypted key with sslpassword
    pg = home / ".postgresql"
    pg.mkdir()
    (pg / "postgresql.crt").write_bytes((tls / "client.crt").read_bytes())
    (pg / "postgresql.key").write_bytes((tls / "client-enc.key").read_bytes())
    os.chmod(pg / "postgresql.key", 0o600)
    from pgcluster import CLIENT_KEY_PASSWORD
    assert await _connects(own_cluster.dsn("cert_user", sslmode="require",
                                           sslpassword=CLIENT_KEY_PASSWORD)) == "cert_user"
    e = await _refused(own_cluster.dsn("cert_user", sslmode="require", sslpassword="wrong"))
    assert isinstance(e, exc.ConnectSSLError) and "wrong" not in str(e)
    # a key readable by others is refused before anything is sent
    os.chmod(pg / "postgresql.key", 0o644)
    e = await _refused(own_cluster.dsn("cert_user", sslmode="require",
                                       sslpassword=CLIENT_KEY_PASSWORD))
    assert "group or world access" in str(e)
    # no certificate: the server refuses
    e = await _refused(own_cluster.dsn("cert_user", sslmode="require", sslcertmode="disable"))
    assert isinstance(e, exc.InvalidAuthorizationSpecificationError), repr(e)


async def test_tls_protocol_versions(own_cluster, home, fake_certs):
    srv = _fake(ssl_answer=b"S", tls=server_context(*fake_certs["local"],
                                                    max_version=ssl.TLSVersion.TLSv1_2),
                auth="password", password=SECRET)
    try:
        e = await _refused(f"postgresql://u:{SECRET}@127.0.0.1:{srv.port}/d?sslmode=require"
                           f"&ssl_min_protocol_version=TLSv1.3")
        assert isinstance(e, exc.ConnectSSLError)
        assert srv.reached() == []
    finally:
        srv.close()
    assert await _connects(own_cluster.dsn("scram_user", sslmode="require",
                                           ssl_max_protocol_version="TLSv1.2")) == "scram_user"


async def test_require_auth_against_the_real_server(own_cluster, home):
    assert await _connects(own_cluster.dsn("md5_user", sslmode="disable",
                                           require_auth="md5")) == "md5_user"
    assert await _connects(own_cluster.dsn("trust_user", sslmode="disable",
                                           require_auth="none")) == "trust_user"
    e = await _refused(own_cluster.dsn("clear_user", sslmode="disable",
                                       require_auth="!password"))
    assert "server requested a cleartext password" in str(e)
    e = await _refused(own_cluster.dsn("trust_user", sslmode="disable",
                                       require_auth="scram-sha-256"))
    assert "server did not complete authentication" in str(e)


# ------------------------------------------------------------------------------------------
# issue 15 item 3: a cancelled or timed-out connect leaves no task behind
# ------------------------------------------------------------------------------------------


async def test_cancelled_connect_leaves_no_task(home):
    srv = FakeServer(_silent).__enter__()
    try:
        dsn = f"postgresql://u@127.0.0.1:{srv.port}/d?sslmode=disable"
        before = set(asyncio.all_tasks())

        def left() -> list:
            return [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]

        task = asyncio.ensure_future(psqlpy.connect(dsn=dsn))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert left() == []
        with pytest.raises(exc.Error) as ei:            # timed out during the startup
            await psqlpy.connect(dsn=dsn, connect_timeout_sec=0.3)
        await asyncio.sleep(0)
        assert left() == []
        assert isinstance(ei.value, exc.ConnectTimeoutError)
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------
# issue 18: every failure to connect raises a public, typed psqlpy.exceptions class
# ------------------------------------------------------------------------------------------


def _public(e: BaseException) -> None:
    assert isinstance(e, exc.ConnectError), repr(e)
    assert isinstance(e, exc.BaseConnectionPoolError)       # what the reference raises
    assert type(e).__module__ == "psqlpy.exceptions", type(e)
    for cls in type(e).__mro__:
        if cls.__module__.startswith("psqlpy"):
            assert cls.__module__ == "psqlpy.exceptions", cls


async def test_refused_port_and_unknown_host(home):
    e = await _refused(f"postgresql://u:{SECRET}@127.0.0.1:{_closed_port()}/d")
    _public(e)
    assert "could not connect" in str(e) and SECRET not in _texts(e)
    e = await _refused(f"postgresql://u:{SECRET}@no-such-host.invalid:5432/d")
    _public(e)
    assert "could not translate host name" in str(e) and SECRET not in _texts(e)


async def test_unknown_database(own_cluster, home):
    e = await _refused(own_cluster.dsn("scram_user", sslmode="disable", database="no_such_db"))
    _public(e)
    assert isinstance(e, exc.InvalidCatalogName) and isinstance(e, exc.InvalidCatalogNameError)
    assert e.sqlstate == "3D000" and "scram_pw" not in _texts(e)
    pool = psqlpy.ConnectionPool(dsn=own_cluster.dsn("scram_user", sslmode="disable",
                                                     database="no_such_db"))
    try:
        with pytest.raises(exc.InvalidCatalogName) as ei:
            await pool.connection()
        _public(ei.value)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_wrong_and_missing_password(own_cluster, home):
    e = await _refused(own_cluster.dsn("scram_user", password=SECRET, sslmode="disable"))
    _public(e)
    assert isinstance(e, exc.InvalidPassword) and e.sqlstate == "28P01"
    assert SECRET not in _texts(e)
    e = await _refused(own_cluster.dsn("ssl_user", sslmode="disable"))
    _public(e)
    assert isinstance(e, exc.InvalidAuthorizationSpecification)
    dsn = own_cluster.dsn("scram_user", sslmode="disable").replace("scram_user:scram_pw@",
                                                                   "scram_user@")
    e = await _refused(dsn)
    _public(e)
    assert "no password supplied" in str(e)


async def test_timeout_is_also_a_builtin_timeout_error(home):
    srv = FakeServer(_silent).__enter__()
    try:
        e = await _refused(f"postgresql://u:{SECRET}@127.0.0.1:{srv.port}/d?sslmode=disable",
                           connect_timeout_sec=0.5)
        _public(e)
        assert isinstance(e, exc.ConnectTimeoutError) and isinstance(e, TimeoutError)
        assert "timed out" in str(e) and SECRET not in _texts(e)
    finally:
        srv.close()


async def test_tls_failures(own_cluster, home, fake_certs):
    own_cluster.need_ssl()
    e = await _refused(own_cluster.dsn("scram_user", sslmode="verify-full", host="127.0.0.1",
                                       sslrootcert=fake_certs["other_ca"]))
    _public(e)
    assert isinstance(e, exc.ConnectSSLError) and isinstance(e, exc.SSLError)
    srv = _fake(auth="password", password=SECRET)     # answers 'N' to SSLRequest
    try:
        e = await _refused(f"postgresql://u:{SECRET}@127.0.0.1:{srv.port}/d?sslmode=require")
        _public(e)
        assert isinstance(e, exc.ConnectSSLError) and "does not support SSL" in str(e)
        assert srv.reached() == [] and SECRET not in _texts(e)
    finally:
        srv.close()


async def test_several_hosts_the_server_error_decides_the_class(own_cluster, home):
    dsn = (f"postgresql://scram_user:{SECRET}@127.0.0.1:{own_cluster.port},"
           f"127.0.0.1:{_closed_port()}/psqlpy_test?sslmode=disable")
    e = await _refused(dsn)
    _public(e)
    assert isinstance(e, exc.InvalidPassword) and isinstance(e, exc.ConnectError)
    attempts = cast(exc.ConnectError, e).attempts
    assert len(attempts) == 2 and SECRET not in _texts(e)
    assert any("Connect call failed" in str(x) or "refused" in str(x).lower()
               for _, x in attempts)
