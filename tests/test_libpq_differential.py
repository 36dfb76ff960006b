"""Differential test against libpq: the same settings (connection string, ``PG*``
variables, password file, ``~/.postgresql`` files) against the same servers (the suite's
real server with TLS and client certificates; fake servers that strip TLS, downgrade the
authentication, send malformed SCRAM or present certificates of another CA or name),
once through libpq (psycopg 3, see ``libpq_runner.py``) and once through ours.

Both must reach the same outcome (connected or refused) and leave the same traces on the
fake servers: the same credentials reaching each one (cleartext password, MD5 hash, SCRAM
proof, or nothing), the same SASL mechanism and channel-binding flag, the same TLS SNI.
Where a case also states what the outcome must be, both are checked against it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import ssl
from pathlib import Path
from typing import Any, Callable

import pytest

from psqlpy import exceptions as exc
from psqlpy._connect import open_connection, parse_settings

from fakepg import Behaviour, FakeServer, error_fields, script, server_context
from libpq_runner import LibpqWorker, find_libpq
from pgcluster import CLIENT_KEY_PASSWORD, load_ca, make_certificate, write_pem



#: events compared between the two clients
COMPARED = ("tls", "password", "md5", "sasl", "scram_proof")


# ------------------------------------------------------------------------------------------
# Certificates
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Certs:
    dir: Path
    ca: Path                    # the suite's CA (the real server's issuer)
    other_ca: Path              # a CA that signed nothing we connect to
    server_crt: Path            # suite CA: localhost + 127.0.0.1
    server_key: Path
    named_crt: Path             # suite CA: DNS pg.test only
    named_key: Path
    ed25519_crt: Path           # self-signed with Ed25519 (no channel-binding hash)
    ed25519_key: Path
    foreign_crt: Path           # other CA: localhost + 127.0.0.1
    foreign_key: Path
    crl_revoking_real: Path     # suite CA's CRL revoking the real server's certificate
    crl_empty: Path             # suite CA's CRL revoking nothing
    client_crt: Path
    client_key: Path
    client_key_enc: Path

    def der(self, path: Path) -> bytes:
        return ssl.PEM_cert_to_DER_cert(path.read_text())


@pytest.fixture(scope="module")
def certs(own_cluster, tmp_path_factory) -> Certs:
    own_cluster.need_ssl()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519

    d = tmp_path_factory.mktemp("certs")
    tls = Path(own_cluster.tls_dir)
    ca_cert, ca_key = load_ca(tls)
    other_cert, other_key = make_certificate(None, None, common_name="other CA", ca=True)

    def pair(name, issuer, issuer_key, **kw):
        cert, key = make_certificate(issuer, issuer_key, common_name=kw.pop("cn", "localhost"),
                                     **kw)
        return write_pem(d / f"{name}.crt", cert, mode=0o644), write_pem(d / f"{name}.key", key)

    server = pair("server", ca_cert, ca_key, dns=("localhost",), ips=("127.0.0.1",))
    named = pair("named", ca_cert, ca_key, cn="pg.test", dns=("pg.test",))
    # signed with Ed25519 (self-signed): tls-server-end-point defines no hash for it
    ed = pair("ed25519", None, None, dns=("localhost",), ips=("127.0.0.1",),
              key=ed25519.Ed25519PrivateKey.generate())
    foreign = pair("foreign", other_cert, other_key, dns=("localhost",), ips=("127.0.0.1",))

    real = x509.load_pem_x509_certificate(Path(own_cluster.data_dir, "server.crt").read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)

    def crl(revoked):
        b = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
             .last_update(now - datetime.timedelta(days=1))
             .next_update(now + datetime.timedelta(days=30)))
        for serial in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(now - datetime.timedelta(hours=1)).build())
        return b.sign(ca_key, hashes.SHA256())

    return Certs(
        dir=d, ca=tls / "ca.crt",
        other_ca=write_pem(d / "other-ca.crt", other_cert, mode=0o644),
        server_crt=server[0], server_key=server[1], named_crt=named[0], named_key=named[1],
        ed25519_crt=ed[0], ed25519_key=ed[1], foreign_crt=foreign[0], foreign_key=foreign[1],
        crl_revoking_real=write_pem(d / "revoking.crl", crl([real.serial_number]),
                                    mode=0o644),
        crl_empty=write_pem(d / "empty.crl", crl([]), mode=0o644),
        client_crt=tls / "client.crt", client_key=tls / "client.key",
        client_key_enc=tls / "client-enc.key",
    )


# ------------------------------------------------------------------------------------------
# libpq
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def libpq_python():
    py = find_libpq()
    if py is None:
        if os.environ.get("CI"):
            pytest.fail("could not install psycopg[binary] for the libpq differential test")
        pytest.skip("psycopg[binary] cannot be installed here (no network?)")
    return py


@pytest.fixture(scope="module")
def libpq(libpq_python):
    worker = LibpqWorker(libpq_python).start()
    try:
        yield worker
    finally:
        worker.close()


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------

Fake = Callable[[Certs], Behaviour]


def tls_fake(cert: str = "server", **kw) -> Fake:
    """A fake server that accepts TLS with the certificate ``cert`` of :class:`Certs`."""
    def make(c: Certs) -> Behaviour:
        crt, key = getattr(c, f"{cert}_crt"), getattr(c, f"{cert}_key")
        rest = dict(kw)
        max_version = rest.pop("max_version", None)
        return Behaviour(ssl_answer=b"S", tls=server_context(crt, key, max_version=max_version),
                         cert_der=c.der(crt), **rest)
    return make


def plain_fake(**kw) -> Fake:
    return lambda c: Behaviour(ssl_answer=b"N", **kw)


@dataclasses.dataclass
class Case:
    name: str
    conninfo: str
    fakes: tuple = ()
    env: dict = dataclasses.field(default_factory=dict)
    #: path relative to HOME -> (content template or a Certs attribute name, mode)
    home: dict = dataclasses.field(default_factory=dict)
    #: the outcome both must reach (None: only that they agree)
    connects: bool | None = None
    #: the compared events each fake server must have seen from each client
    traces: list | None = None


REAL = "host=127.0.0.1 port={real} dbname=psqlpy_test"
FAKE0 = "host=127.0.0.1 port={p0} user=u dbname=d"
NOTHING: list = []

CASES = [
    # --- 1, 2: which CA is trusted -----------------------------------------------------
    Case("verify-ca without root.crt is refused",
         REAL + " user=scram_user password=scram_pw sslmode=verify-ca", connects=False),
    Case("verify-full without root.crt is refused",
         REAL + " user=scram_user password=scram_pw sslmode=verify-full", connects=False),
    Case("verify-ca with ~/.postgresql/root.crt",
         REAL + " user=scram_user password=scram_pw sslmode=verify-ca",
         home={".postgresql/root.crt": ("ca", 0o644)}, connects=True),
    Case("verify-full with PGSSLROOTCERT",
         "host=localhost port={real} dbname=psqlpy_test user=scram_user password=scram_pw "
         "sslmode=verify-full", env={"PGSSLROOTCERT": "{ca}"}, connects=True),
    Case("require + root.crt of another CA is refused",
         REAL + " user=ssl_user password=ssl_pw sslmode=require",
         home={".postgresql/root.crt": ("other_ca", 0o644)}, connects=False),
    Case("require + root.crt of the right CA",
         REAL + " user=ssl_user password=ssl_pw sslmode=require",
         home={".postgresql/root.crt": ("ca", 0o644)}, connects=True),
    Case("prefer + root.crt of another CA goes on without TLS",
         REAL + " user=scram_user password=scram_pw sslmode=prefer",
         home={".postgresql/root.crt": ("other_ca", 0o644)}, connects=True),
    Case("require + root.crt: a fake with another CA's certificate gets nothing",
         FAKE0 + " password=secret sslmode=require", fakes=(tls_fake("foreign"),),
         home={".postgresql/root.crt": ("ca", 0o644)}, connects=False,
         traces=[[("tls", None)]]),
    Case("require without root.crt: any certificate",
         FAKE0 + " password=secret sslmode=require", fakes=(tls_fake("foreign"),),
         connects=True),
    # --- 3: CRLs, also from the environment --------------------------------------------
    Case("sslcrl revoking the server certificate",
         REAL + " user=scram_user password=scram_pw sslmode=verify-ca sslrootcert={ca} "
         "sslcrl={crl_revoking_real}", connects=False),
    Case("PGSSLCRL revoking the server certificate",
         REAL + " user=scram_user password=scram_pw sslmode=verify-ca sslrootcert={ca}",
         env={"PGSSLCRL": "{crl_revoking_real}"}, connects=False),
    Case("~/.postgresql/root.crl revoking the server certificate",
         REAL + " user=scram_user password=scram_pw sslmode=verify-ca",
         home={".postgresql/root.crt": ("ca", 0o644),
               ".postgresql/root.crl": ("crl_revoking_real", 0o644)}, connects=False),
    Case("a CRL revoking nothing", REAL + " user=scram_user password=scram_pw "
         "sslmode=verify-ca sslrootcert={ca} sslcrl={crl_empty}", connects=True),
    Case("a missing sslcrl file is ignored", REAL + " user=scram_user password=scram_pw "
         "sslmode=verify-ca sslrootcert={ca} sslcrl={home}/none.crl", connects=True),
    # --- 3, 13: authentication requirements, DSN and environment -------------------------
    Case("PGGSSENCMODE=require", FAKE0 + " password=secret sslmode=disable",
         fakes=(plain_fake(auth="password"),), env={"PGGSSENCMODE": "require"},
         connects=False, traces=[[]]),
    Case("PGCHANNELBINDING=require vs a cleartext password request",
         FAKE0 + " password=secret sslmode=disable", fakes=(plain_fake(auth="password"),),
         env={"PGCHANNELBINDING": "require"}, connects=False, traces=[[]]),
    Case("channel_binding=require vs MD5", FAKE0 + " password=secret sslmode=disable "
         "channel_binding=require", fakes=(plain_fake(auth="md5"),), connects=False,
         traces=[[]]),
    Case("PGREQUIREAUTH=scram-sha-256 vs a cleartext password request",
         FAKE0 + " password=secret sslmode=disable", fakes=(plain_fake(auth="password"),),
         env={"PGREQUIREAUTH": "scram-sha-256"}, connects=False, traces=[[]]),
    Case("require_auth=scram-sha-256 vs trust", FAKE0 + " password=secret sslmode=disable "
         "require_auth=scram-sha-256", fakes=(plain_fake(auth="trust"),), connects=False),
    Case("require_auth=scram-sha-256 vs SCRAM", FAKE0 + " password=secret sslmode=disable "
         "require_auth=scram-sha-256", fakes=(plain_fake(auth="scram"),), connects=True),
    Case("require_auth=!password vs cleartext", FAKE0 + " password=secret sslmode=disable "
         "require_auth=!password", fakes=(plain_fake(auth="password"),), connects=False,
         traces=[[]]),
    Case("require_auth=!password vs MD5", FAKE0 + " password=secret sslmode=disable "
         "require_auth=!password", fakes=(plain_fake(auth="md5"),), connects=True),
    Case("require_auth=none vs trust", FAKE0 + " sslmode=disable require_auth=none",
         fakes=(plain_fake(auth="trust"),), connects=True),
    Case("require_auth=md5,none vs cleartext", FAKE0 + " password=secret sslmode=disable "
         "require_auth=md5,none", fakes=(plain_fake(auth="password"),), connects=False),
    Case("require_auth=!none vs trust", FAKE0 + " sslmode=disable require_auth=!none",
         fakes=(plain_fake(auth="trust"),), connects=False),
    Case("SCRAM that skips SASLFinal, require_auth=scram-sha-256",
         FAKE0 + " password=secret sslmode=disable require_auth=scram-sha-256",
         fakes=(plain_fake(auth="scram", ok_without_final=True),), connects=False),
    Case("channel_binding=require against the real server",
         REAL + " user=ssl_user password=ssl_pw sslmode=verify-ca sslrootcert={ca} "
         "channel_binding=require", connects=True),
    Case("channel_binding=require vs SCRAM without -PLUS over TLS",
         FAKE0 + " password=secret sslmode=require channel_binding=require",
         fakes=(tls_fake(auth="scram"),), connects=False),
    Case("channel_binding=require vs -PLUS that skips SASLFinal",
         FAKE0 + " password=secret sslmode=require channel_binding=require",
         fakes=(tls_fake(auth="scram", mechanisms=("SCRAM-SHA-256-PLUS",),
                         ok_without_final=True),), connects=False),
    Case("SCRAM-SHA-256-PLUS over TLS (prefer)", FAKE0 + " password=secret sslmode=require",
         fakes=(tls_fake(auth="scram", mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),),
         connects=True),
    Case("channel_binding=disable picks SCRAM-SHA-256 over TLS",
         FAKE0 + " password=secret sslmode=require channel_binding=disable",
         fakes=(tls_fake(auth="scram", mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),),
         connects=True),
    # --- 13: Ed25519 certificates define no channel-binding hash -------------------------
    Case("Ed25519 certificate with -PLUS offered", FAKE0 + " password=secret sslmode=require",
         fakes=(tls_fake("ed25519", auth="scram",
                         mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),),
         connects=False),
    Case("Ed25519 certificate, channel_binding=disable",
         FAKE0 + " password=secret sslmode=require channel_binding=disable",
         fakes=(tls_fake("ed25519", auth="scram",
                         mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),),
         connects=True),
    # --- 4: the password file per host and port ----------------------------------------
    Case("password file: each host its own line",
         "host=127.0.0.1,127.0.0.1 port={p0},{p1} user=u dbname=d sslmode=disable",
         fakes=(plain_fake(auth="password", password="pw0",
                           after_auth=error_fields("57P03", "starting up")),
                plain_fake(auth="password", password="pw1")),
         home={".pgpass": ("127.0.0.1:{p0}:*:*:pw0\n127.0.0.1:{p1}:*:*:pw1\n", 0o600)},
         connects=True, traces=[[("password", "pw0")], [("password", "pw1")]]),
    Case("password file: no line for the second host",
         "host=127.0.0.1,127.0.0.1 port={p0},{p1} user=u dbname=d sslmode=disable",
         fakes=(plain_fake(auth="password", password="pw0",
                           after_auth=error_fields("57P03", "starting up")),
                plain_fake(auth="password", password="pw1")),
         home={".pgpass": ("127.0.0.1:{p0}:*:*:pw0\n", 0o600)},
         connects=False, traces=[[("password", "pw0")], []]),
    Case("password file matched on host, not hostaddr",
         "host=db.test hostaddr=127.0.0.1 port={p0} user=u dbname=d sslmode=disable",
         fakes=(plain_fake(auth="password", password="byname"),),
         home={".pgpass": ("127.0.0.1:*:*:*:byaddr\ndb.test:*:*:*:byname\n", 0o600)},
         connects=True, traces=[[("password", "byname")]]),
    Case("PGPASSFILE, a wildcard and an escaped colon",
         FAKE0 + " sslmode=disable", fakes=(plain_fake(auth="password", password="a:b\\c"),),
         env={"PGPASSFILE": "{home}/pf"},
         home={"pf": ("other:*:*:*:no\n*:{p0}:*:u:a\\:b\\\\c\n", 0o600)},
         connects=True),
    Case("a world-readable password file is ignored",
         FAKE0 + " sslmode=disable", fakes=(plain_fake(auth="password", password="pw"),),
         home={".pgpass": ("*:*:*:*:pw\n", 0o644)}, connects=False, traces=[[]]),
    # --- 5, 12: hostaddr, SNI and verify-full ----------------------------------------------
    Case("hostaddr: verify-full checks host, SNI carries host",
         "host=pg.test hostaddr=127.0.0.1 port={p0} user=u password=secret dbname=d "
         "sslmode=verify-full sslrootcert={ca}", fakes=(tls_fake("named"),), connects=True,
         traces=[[("tls", "pg.test"), ("password", "secret")]]),
    Case("verify-full: a certificate for another name is refused",
         FAKE0 + " password=secret sslmode=verify-full sslrootcert={ca}",
         fakes=(tls_fake("named"),), connects=False, traces=[[("tls", None)]]),
    Case("SNI in require mode", "host=localhost port={p0} user=u password=secret dbname=d "
         "sslmode=require", fakes=(tls_fake(),), connects=True),
    Case("sslsni=0", "host=localhost port={p0} user=u password=secret dbname=d "
         "sslmode=require sslsni=0", fakes=(tls_fake(),), connects=True),
    Case("PGSSLSNI=0", "host=localhost port={p0} user=u password=secret dbname=d "
         "sslmode=require", fakes=(tls_fake(),), env={"PGSSLSNI": "0"}, connects=True),
    # --- 6: connection strings ----------------------------------------------------------
    Case("URI password with # and ?", "postgresql://u:Zq7#SE?RET@127.0.0.1:{p0}/d?sslmode=disable",
         fakes=(plain_fake(password="Zq7#SE?RET"),), connects=True,
         traces=[[("password", "Zq7#SE?RET")]]),
    Case("URI password with percent-encoded @ : / and %",
         "postgresql://u:p%40ss%3Aw%2Fo%25rd@127.0.0.1:{p0}/d?sslmode=disable",
         fakes=(plain_fake(password="p@ss:w/o%rd"),), connects=True),
    Case("URI with the password in the query", "postgresql://u@127.0.0.1:{p0}/d?"
         "password=a%26b%3Dc&sslmode=disable", fakes=(plain_fake(password="a&b=c"),),
         connects=True),
    Case("keyword/value quoting", "host=127.0.0.1 port={p0} user=u dbname=d sslmode=disable "
         "password='it\\'s a \\\\ pw'", fakes=(plain_fake(password="it's a \\ pw"),),
         connects=True),
    Case("URI multi-host with per-host ports",
         "postgresql://u:pw@127.0.0.1:{p0},127.0.0.1:{p1}/d?sslmode=disable",
         fakes=(plain_fake(password="pw", after_auth=error_fields("57P03", "starting")),
                plain_fake(password="pw")), connects=True),
    # --- 7: a stripped TLS connection --------------------------------------------------
    Case("-PLUS offered without TLS", FAKE0 + " password=secret sslmode=prefer",
         fakes=(plain_fake(auth="scram", mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),),
         connects=False, traces=[[]]),
    Case("TLS refused while sslmode=require", FAKE0 + " password=secret sslmode=require",
         fakes=(plain_fake(),), connects=False, traces=[[]]),
    Case("sslmode=prefer accepts a server without TLS", FAKE0 + " password=secret",
         fakes=(plain_fake(),), connects=True),
    # --- 8, 10: hostile startup messages, and failover past them ---------------------------
    Case("a 1 GiB authentication request", FAKE0 + " password=secret sslmode=disable",
         fakes=(plain_fake(first=b"R\x3f\xff\xff\xff"),), connects=False),
    Case("malformed SCRAM iteration count", FAKE0 + " password=secret sslmode=disable",
         fakes=(plain_fake(auth="scram", scram_first="r={nonce},s=c2FsdA==,i=\u00b2"),),
         connects=False, traces=[[("sasl", "SCRAM-SHA-256", "n")]]),
    Case("malformed SCRAM, then a good host",
         "host=127.0.0.1,127.0.0.1 port={p0},{p1} user=u password=pw dbname=d sslmode=disable",
         fakes=(plain_fake(auth="scram", scram_first="r={nonce},s=c2FsdA==,i=\u00b2"),
                plain_fake(password="pw")), connects=True),
    Case("wrong password on the first host, then a good host",
         "host=127.0.0.1,127.0.0.1 port={p0},{p1} user=u password=pw dbname=d sslmode=disable",
         fakes=(plain_fake(password="other"), plain_fake(password="pw")), connects=True),
    # --- prefer/allow retries -------------------------------------------------------------
    Case("prefer: a password refused over TLS is sent again without TLS",
         FAKE0 + " password=secret sslmode=prefer",
         fakes=(tls_fake(password="other"),), connects=False,
         traces=[[("tls", None), ("password", "secret"), ("password", "secret")]]),
    Case("allow: refused without TLS, then with TLS",
         FAKE0 + " password=secret sslmode=allow",
         fakes=(tls_fake(password="other"),), connects=False,
         traces=[[("password", "secret"), ("tls", None), ("password", "secret")]]),
    Case("prefer for a hostnossl role", REAL + " user=nossl_user sslmode=prefer",
         connects=True),
    Case("allow for a hostssl role", REAL + " user=ssl_user password=ssl_pw sslmode=allow",
         connects=True),
    # --- 13: client certificates against the real server ------------------------------
    Case("sslcert/sslkey in the DSN", REAL + " user=cert_user sslmode=verify-full "
         "host=localhost sslrootcert={ca} sslcert={client_crt} sslkey={home}/client.key",
         home={"client.key": ("client_key", 0o600)}, connects=True),
    Case("PGSSLCERT/PGSSLKEY", REAL + " user=cert_user sslmode=require",
         env={"PGSSLCERT": "{client_crt}", "PGSSLKEY": "{home}/client.key"},
         home={"client.key": ("client_key", 0o600)}, connects=True),
    Case("~/.postgresql/postgresql.crt and .key", REAL + " user=cert_user sslmode=require",
         home={".postgresql/postgresql.crt": ("client_crt", 0o644),
               ".postgresql/postgresql.key": ("client_key", 0o600)}, connects=True),
    Case("encrypted key with sslpassword", REAL + " user=cert_user sslmode=require "
         "sslcert={client_crt} sslkey={home}/enc.key sslpassword=" + CLIENT_KEY_PASSWORD,
         home={"enc.key": ("client_key_enc", 0o600)}, connects=True),
    Case("a key readable by others is refused", REAL + " user=cert_user sslmode=require "
         "sslcert={client_crt} sslkey={home}/client.key",
         home={"client.key": ("client_key", 0o644)}, connects=False),
    Case("sslcertmode=disable sends no certificate", REAL + " user=cert_user sslmode=require "
         "sslcertmode=disable",
         home={".postgresql/postgresql.crt": ("client_crt", 0o644),
               ".postgresql/postgresql.key": ("client_key", 0o600)}, connects=False),
    Case("no client certificate", REAL + " user=cert_user sslmode=require", connects=False),
    # --- protocol versions --------------------------------------------------------------
    Case("ssl_min_protocol_version=TLSv1.3 vs a TLSv1.2 server",
         FAKE0 + " password=secret sslmode=require ssl_min_protocol_version=TLSv1.3",
         fakes=(tls_fake(max_version=ssl.TLSVersion.TLSv1_2),), connects=False, traces=[[]]),
    Case("PGSSLMAXPROTOCOLVERSION=TLSv1.2 against the real server",
         REAL + " user=scram_user password=scram_pw sslmode=require",
         env={"PGSSLMAXPROTOCOLVERSION": "TLSv1.2"}, connects=True),
]


def _materialize(case: Case, certs: Certs, home: Path, ports: list[int], real: int) -> dict:
    fmt: dict[str, Any] = {f"p{i}": p for i, p in enumerate(ports)}
    fmt.update(real=real, home=home)
    fmt.update({f.name: getattr(certs, f.name) for f in dataclasses.fields(Certs)})
    for rel, (content, mode) in case.home.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(certs, content):
            path.write_bytes(Path(getattr(certs, content)).read_bytes())
        else:
            path.write_text(content.format(**fmt))
        os.chmod(path, mode)
    return fmt


def _traces(servers) -> list:
    return [[e for e in s.events if e[0] in COMPARED] for s in servers]


async def _ours(conninfo: str, env: dict) -> tuple[bool, str]:
    try:
        config = parse_settings(dsn=conninfo, env=env)
        conn = await asyncio.wait_for(open_connection(config), 30)
    except exc.Error as e:
        return False, f"{type(e).__name__}: {e}"
    await conn.close()
    return True, ""


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_same_outcome_as_libpq(case: Case, certs: Certs, libpq, own_cluster, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    servers = [FakeServer(script(make(certs))) for make in case.fakes]
    for s in servers:
        s.__enter__()
    try:
        fmt = _materialize(case, certs, home, [s.port for s in servers], own_cluster.port)
        conninfo = case.conninfo.format(**fmt)
        env = {"HOME": str(home), **{k: v.format(**fmt) for k, v in case.env.items()}}

        theirs = await asyncio.to_thread(libpq.connect, conninfo, env)
        their_traces = _traces(servers)
        for s in servers:
            s.events.clear()
        ours_ok, ours_error = await _ours(conninfo, env)
        our_traces = _traces(servers)
    finally:
        for s in servers:
            s.close()
    detail = (f"\nlibpq: {theirs}\nours:  ok={ours_ok} {ours_error}\n"
              f"libpq traces: {their_traces}\nour traces:   {our_traces}")
    assert ours_ok == theirs["ok"], detail
    assert our_traces == their_traces, detail
    if case.connects is not None:
        assert ours_ok is case.connects, detail
    if case.traces is not None:
        assert our_traces == case.traces, detail
    for s in servers:
        assert not s.errors, s.errors


# ------------------------------------------------------------------------------------------
# Connection strings: parsed exactly as libpq parses them
# ------------------------------------------------------------------------------------------

_PIECES = ["postgresql://", "postgres://", "host", "port", "user", "password", "dbname",
           "sslmode", "ssl", "requiressl", "hostaddr", "=", "'", "\\", " ", "\t", "\n", "@",
           ":", "/", "?", "&", "#", ",", "[", "]", "::1", "%", "%41", "%2F", "%40", "%3D",
           "%2c", "%00", "%zz", "%C3%A9", "h", "5432", "u", "p", "d", "require", "true", "1",
           "x", "é", "+"]


@pytest.fixture(scope="module")
def parse_worker(libpq_python):
    worker = LibpqWorker(libpq_python).start()
    try:
        yield worker
    finally:
        worker.close()


def _compare_parse(worker: LibpqWorker, dsn: str) -> None:
    from psqlpy._connect.conninfo import parse_conninfo

    theirs = worker.parse(dsn)
    ours_error = None
    try:
        ours = parse_conninfo(dsn)
    except exc.ConnectionPoolConfigurationError as e:
        ours_error = str(e)
    if not theirs["ok"]:
        assert ours_error is not None, (dsn, theirs, ours)
        return
    assert ours_error is None, (dsn, theirs, ours_error)
    assert ours == theirs["params"], (dsn, theirs, ours)


@pytest.mark.parametrize("dsn", [
    "postgresql://u:p@ss@h/d", "postgresql://u:Zq7#SE?RET@h:1/d", "postgres://h1,h2:5/d",
    "postgres://h:/d", "postgres://[::1]:5,[fe80::1%25eth0]/d?ssl=true",
    "postgres:///d?host=/tmp&port=6", "postgres://h/d?a", "postgres://h/d?sslmode=require&",
    "postgres://h/d?sslmode=require&&port=1", "postgres://h/d?x=1=2", "postgres://h/%zz",
    "postgres://h/d%00", "host=a host=b", "host='a\\'b' port=\\ 5", "host = a", "host",
    "host=a user='", "requiressl=1", "requiressl=x", " host=a\t", "postgres://u:%41@h",
    "postgresql://%2Ftmp%2Fsock:5/d", "postgresql://u:pw@[::1]x/d", "postgresql://[]/d",
    "postgresql://h/d?password=a%26b", "postgresql:// h /d", "postgresql://u:p w@h/d",
    "postgresql://h/d?sslmode= require ", "postgresql://h/ d%20x",
])
def test_connection_strings_parse_like_libpq(parse_worker, dsn):
    _compare_parse(parse_worker, dsn)


def test_random_connection_strings_parse_like_libpq(parse_worker):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "300")),
              deadline=None, database=None)
    @given(st.lists(st.sampled_from(_PIECES), max_size=16).map("".join))
    def check(dsn):
        _compare_parse(parse_worker, dsn)

    check()
