"""A throwaway PostgreSQL cluster for the test suite.

``PgCluster`` runs ``initdb`` into a temporary directory, writes a TLS CA and
server certificate, a ``pg_hba.conf`` with one role per authentication
method, starts the server on a free TCP port of 127.0.0.1 (plus a unix socket
inside the temporary directory), and removes everything on ``stop()`` (with an
``atexit`` safety net).

``ExternalCluster`` wraps a server given by ``PSQLPY_TEST_DSN``: it offers the
same ``dsn()`` interface for the DSN's own role; everything that needs the
throwaway cluster's roles, TLS or a restart calls ``pytest.skip``.

Roles and their authentication (``pg_hba.conf``, first match wins; the same
method over TCP and over the unix socket unless noted):

================  ==========  ================  ==================================
role              password    method            notes
================  ==========  ================  ==================================
postgres          (none)      trust             superuser; also ``replication``
trust_user        (none)      trust
clear_user        clear_pw    password          cleartext
md5_user          md5_pw      md5               stored as an MD5 hash
scram_user        scram_pw    scram-sha-256
ssl_user          ssl_pw      scram-sha-256     ``hostssl`` only; plain TCP and the
                                                unix socket are rejected
nossl_user        (none)      trust             ``hostnossl`` only (TLS over TCP is
                                                rejected); the unix socket, never
                                                TLS, is trusted too
cert_user         (none)      cert              ``hostssl`` only, with a client
                                                certificate signed by the suite's CA
                                                (CN=cert_user); everything else is
                                                rejected
================  ==========  ================  ==================================

With TLS, ``tls_dir`` holds the CA (``ca.crt``, ``ca.key``), the client certificate of
``cert_user`` (``client.crt``; ``client.key`` unencrypted, ``client-enc.key`` encrypted
with :data:`CLIENT_KEY_PASSWORD`), all mode 0600 except the certificates.  The server
trusts the same CA for client certificates (``ssl_ca_file``).

Binaries are looked up in this order: ``$PSQLPY_PG_BINDIR``, ``pg_config
--bindir``, the directory of ``initdb`` on ``PATH`` (symlinks resolved),
``/usr/lib/postgresql/*/bin`` (newest first), the ``pgserver`` wheel's
``pginstall/bin``.
"""

from __future__ import annotations

import atexit
import datetime
import glob
import ipaddress
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, NoReturn, cast

__all__ = [
    "USERS",
    "PgCluster",
    "ExternalCluster",
    "ClusterError",
    "find_bindir",
    "make_dsn",
    "PgStandby",
    "PgBouncer",
    "find_pgbouncer",
    "CLIENT_KEY_PASSWORD",
    "make_certificate",
    "load_ca",
    "write_pem",
]

DATABASE = "psqlpy_test"

#: role -> password (None: no password)
USERS: dict[str, str | None] = {
    "postgres": None,
    "trust_user": None,
    "clear_user": "clear_pw",
    "md5_user": "md5_pw",
    "scram_user": "scram_pw",
    "ssl_user": "ssl_pw",
    "nossl_user": None,
    "cert_user": None,
}

#: passphrase of ``client-enc.key``
CLIENT_KEY_PASSWORD = "client-key-pass"

_NEEDED = ("initdb", "pg_ctl", "postgres")


class ClusterError(RuntimeError):
    """The cluster could not be set up; the message carries the server log tail."""


# --------------------------------------------------------------------------- binaries


def _usable(bindir: str | os.PathLike | None) -> str | None:
    if not bindir:
        return None
    d = Path(bindir)
    if all(os.access(d / exe, os.X_OK) for exe in _NEEDED):
        return str(d)
    return None


def _pgserver_bindir() -> str | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        found = _usable(Path(loc) / "pginstall" / "bin")
        if found:
            return found
    return None


def _version_key(path: str) -> tuple:
    m = re.search(r"postgresql/(\d+)(?:\.(\d+))?/bin", path)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)


def find_bindir(include_pgserver: bool = True) -> str | None:
    """Return a directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    found = _usable(os.environ.get("PSQLPY_PG_BINDIR"))
    if found:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        found = _usable(out)
        if found:
            return found
    initdb = shutil.which("initdb")
    if initdb:
        # /usr/local/bin/initdb may be a symlink or a wrapper: resolve the link
        # and require its siblings.
        found = _usable(Path(initdb).resolve().parent) or _usable(Path(initdb).parent)
        if found:
            return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        found = _usable(d)
        if found:
            return found
    if include_pgserver:
        return _pgserver_bindir()
    return None


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_dsn(
    user: str,
    password: str | None,
    host: str,
    port: int,
    database: str,
    sslmode: str | None = None,
    **params: object,
) -> str:
    """``postgresql://user:pw@host:port/db?sslmode=...&k=v`` with percent-encoding.

    A host starting with ``/`` (a unix socket directory) goes into the ``host``
    query parameter, as libpq does.
    """
    auth = urllib.parse.quote(user, safe="")
    if password is not None:
        auth += ":" + urllib.parse.quote(password, safe="")
    query: dict[str, str] = {}
    if host.startswith("/"):
        netloc = f"{auth}@:{port}"
        query["host"] = host
    else:
        h = f"[{host}]" if ":" in host else host
        netloc = f"{auth}@{h}:{port}"
    if sslmode is not None:
        query["sslmode"] = sslmode
    for k, v in params.items():
        if v is not None:
            query[k] = str(v)
    url = f"postgresql://{netloc}/{urllib.parse.quote(database, safe='')}"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return url


def _skip(msg: str) -> NoReturn:
    import pytest

    pytest.skip(msg)


def make_certificate(issuer_cert, issuer_key, *, common_name: str, dns=(), ips=(),
                     ca: bool = False, key=None, client: bool = False, days: int = 3650,
                     not_before=None):
    """A certificate (and its key) signed by ``issuer_cert``/``issuer_key``; with
    ``issuer_cert=None`` a self-signed one.  ``key`` may be given (any `cryptography`
    private key: RSA, EC, Ed25519); by default a 2048-bit RSA key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start = not_before or now - datetime.timedelta(days=1)
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer_key = issuer_key if issuer_key is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False,
                          key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
    else:
        sans = [x509.DNSName(d) for d in dns] + [
            x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if issuer_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    algorithm = None if isinstance(signer_key, (ed25519.Ed25519PrivateKey,
                                                ed448.Ed448PrivateKey)) else hashes.SHA256()
    return builder.sign(signer_key, algorithm), key


def load_ca(tls_dir: Path) -> tuple[Any, Any]:
    """(certificate, private key) of the CA written by :func:`_write_tls`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((Path(tls_dir) / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((Path(tls_dir) / "ca.key").read_bytes(), None)
    return cert, key


def write_pem(path: Path, obj, *, password: str | None = None, mode: int = 0o600) -> Path:
    """Write a certificate, CRL or private key as PEM (a key encrypted when
    ``password`` is given) with ``mode``."""
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "private_bytes"):
        enc = (serialization.BestAvailableEncryption(password.encode()) if password
               else serialization.NoEncryption())
        fmt = (serialization.PrivateFormat.PKCS8 if password or not hasattr(obj, "key_size")
               else serialization.PrivateFormat.TraditionalOpenSSL)
        data = obj.private_bytes(serialization.Encoding.PEM, fmt, enc)
    else:
        data = obj.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def _write_tls(dest: Path) -> tuple[Path, Path, Path]:
    """Write ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key`` and the client
    certificate of ``cert_user`` into *dest*; return (ca.crt, server.crt, server.key)."""
    ca_cert, ca_key = make_certificate(None, None, common_name="psqlpy test CA", ca=True)
    cert, key = make_certificate(ca_cert, ca_key, common_name="localhost",
                                 dns=("localhost",), ips=("127.0.0.1",))
    client_cert, client_key = make_certificate(ca_cert, ca_key, common_name="cert_user",
                                               client=True)
    ca_file = write_pem(dest / "ca.crt", ca_cert, mode=0o644)
    write_pem(dest / "ca.key", ca_key)
    cert_file = write_pem(dest / "server.crt", cert, mode=0o644)
    key_file = write_pem(dest / "server.key", key)
    write_pem(dest / "client.crt", client_cert, mode=0o644)
    write_pem(dest / "client.key", client_key)
    write_pem(dest / "client-enc.key", client_key, password=CLIENT_KEY_PASSWORD)
    return ca_file, cert_file, key_file


_HBA = """\
# Generated by tests/pgcluster.py. First match wins.
# TYPE     DATABASE     USER        ADDRESS        METHOD
local      replication  postgres                   trust
host       replication  postgres    127.0.0.1/32   trust
host       replication  postgres    ::1/128        trust
local      all          postgres                   trust
host       all          postgres    127.0.0.1/32   trust
host       all          postgres    ::1/128        trust
local      all          trust_user                 trust
host       all          trust_user  127.0.0.1/32   trust
host       all          trust_user  ::1/128        trust
local      all          clear_user                 password
host       all          clear_user  127.0.0.1/32   password
host       all          clear_user  ::1/128        password
local      all          md5_user                   md5
host       all          md5_user    127.0.0.1/32   md5
host       all          md5_user    ::1/128        md5
local      all          scram_user                 scram-sha-256
host       all          scram_user  127.0.0.1/32   scram-sha-256
host       all          scram_user  ::1/128        scram-sha-256
local      all          ssl_user                   reject
hostnossl  all          ssl_user    0.0.0.0/0      reject
hostnossl  all          ssl_user    ::0/0          reject
hostssl    all          ssl_user    127.0.0.1/32   scram-sha-256
hostssl    all          ssl_user    ::1/128        scram-sha-256
local      all          nossl_user                 trust
hostssl    all          cert_user   127.0.0.1/32   cert
hostssl    all          cert_user   ::1/128        cert
hostssl    all          nossl_user  0.0.0.0/0      reject
hostssl    all          nossl_user  ::0/0          reject
hostnossl  all          nossl_user  127.0.0.1/32   trust
hostnossl  all          nossl_user  ::1/128        trust
local      all          all                        reject
host       all          all         0.0.0.0/0      reject
host       all          all         ::0/0          reject
"""

_SETUP_SQL = """\
SET password_encryption = 'scram-sha-256';
CREATE ROLE trust_user LOGIN;
CREATE ROLE clear_user LOGIN PASSWORD 'clear_pw';
CREATE ROLE scram_user LOGIN PASSWORD 'scram_pw';
CREATE ROLE ssl_user LOGIN PASSWORD 'ssl_pw';
CREATE ROLE nossl_user LOGIN;
CREATE ROLE cert_user LOGIN;
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5_pw';
RESET password_encryption;
"""

_SETUP_DB_SQL = """\
GRANT ALL ON SCHEMA public TO PUBLIC;
"""


# --------------------------------------------------------------------------- cluster


class PgCluster:
    """A private PostgreSQL server in a temporary directory.

    >>> with PgCluster() as pg:
    ...     pg.dsn("scram_user", "scram_pw", sslmode="require")
    """

    is_external = False
    database = DATABASE
    users = USERS

    def __init__(self, bindir: str | None = None, *, base_dir: str | None = None,
                 extra_conf: dict[str, object] | None = None):
        self.bindir = bindir or find_bindir()
        if not self.bindir:
            raise ClusterError(
                "no PostgreSQL binaries found (initdb/pg_ctl/postgres): install the "
                "`postgresql` package or the `pgserver` wheel, or set PSQLPY_PG_BINDIR"
            )
        self.host = "127.0.0.1"
        self.port: int = 0
        self._base_dir = base_dir
        self._extra_conf = dict(extra_conf or {})
        self.tmp_dir: Path | None = None
        self.data_dir: Path | None = None
        self.socket_dir: Path | None = None
        self.ca_file: Path | None = None
        #: with TLS: the directory of ca.crt, ca.key, client.crt, client.key, client-enc.key
        self.tls_dir: Path | None = None
        self.log_file: Path | None = None
        #: whether the server build supports TLS (the pgserver wheel's does not)
        self.ssl: bool = False
        self._run_as: pwd.struct_passwd | None = None
        self._started = False
        self._atexit_registered = False

    # ---- public API --------------------------------------------------------

    def __enter__(self) -> "PgCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PgCluster {self.host}:{self.port} data={self.data_dir} running={self._started}>"

    @property
    def running(self) -> bool:
        return self._started

    def exe(self, name: str) -> str:
        """Full path of a PostgreSQL binary (``psql``, ``pg_basebackup``, ...)."""
        assert self.bindir is not None  # checked by __init__
        return os.path.join(self.bindir, name)

    def start(self) -> "PgCluster":
        if self._started:
            return self
        try:
            if self.data_dir is None:
                self._init()
            for attempt in range(3):
                try:
                    self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file))
                    break
                except ClusterError:
                    # another process grabbed the free port between probe and bind
                    if attempt == 2 or "already in use" not in self.log_tail():
                        raise
                    self.port = _free_port()
                    assert self.data_dir is not None  # set by _init()
                    with open(self.data_dir / "postgresql.conf", "a") as fh:
                        fh.write(f"port = {self.port}\n")
            self._started = True
            if not self._atexit_registered:
                atexit.register(self.stop)
                self._atexit_registered = True
            if not getattr(self, "_provisioned", False):
                self._provision()
                self._provisioned = True
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and delete the temporary directory (idempotent)."""
        if self._started and self.data_dir is not None and self.data_dir.exists():
            try:
                self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)
            except ClusterError:
                try:
                    self._pg_ctl("stop", "-w", "-t", "10", "-m", "immediate")
                except ClusterError:
                    self._kill_postmaster()
        self._started = False
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = self.data_dir = self.socket_dir = None
            self.ca_file = self.log_file = self.tls_dir = None
            self._provisioned = False

    def shutdown(self, mode: str = "fast") -> None:
        """Stop the server but keep the data directory (``start()`` brings it back)."""
        if self._started:
            self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)
            self._started = False

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m mode``: every client connection is cut."""
        if not self._started:
            self.start()
            return
        self._pg_ctl("restart", "-w", "-t", "60", "-m", mode, "-l", str(self.log_file))

    def reload(self) -> None:
        self._pg_ctl("reload")

    def need_ssl(self) -> None:
        """``pytest.skip`` unless the server speaks TLS (``ca_file`` is then set)."""
        if not self.ssl:
            _skip(f"the PostgreSQL build in {self.bindir} has no TLS support")

    def dsn(
        self,
        user: str = "postgres",
        password: str | None = None,
        database: str = DATABASE,
        host: str | None = None,
        sslmode: str | None = None,
        **params: object,
    ) -> str:
        """A URL DSN. ``password`` defaults to the role's known password.

        ``host="unix"`` (or any path) targets the unix socket directory.
        """
        if password is None:
            password = USERS.get(user)
        if host == "unix":
            host = str(self.socket_dir)
        return make_dsn(user, password, host or self.host, self.port, database, sslmode, **params)

    def psql(self, sql: str, user: str = "postgres", database: str = DATABASE,
             check: bool = True) -> str:
        """Run *sql* with ``psql`` over the unix socket; return unaligned, tuples-only output."""
        env = dict(os.environ)
        pw = USERS.get(user)
        if pw is not None:
            env["PGPASSWORD"] = pw
        for k in ("PGSSLMODE", "PGSERVICE", "PGOPTIONS"):
            env.pop(k, None)
        proc = subprocess.run(
            [self.exe("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-p", str(self.port), "-U", user, "-d", database,
             "-c", sql],
            capture_output=True, text=True, env=env, timeout=60,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"psql failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.strip()

    def terminate_backends(self, application_name: str | None = None) -> int:
        """``pg_terminate_backend`` every client backend (except our own psql); return count."""
        cond = ""
        if application_name is not None:
            cond = " AND application_name = " + _sql_literal(application_name)
        out = self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'" + cond
        )
        return int(out or 0)

    def log_tail(self, n: int = 40) -> str:
        try:
            # a None log_file raises TypeError, caught below
            return "\n".join(Path(cast(Path, self.log_file)).read_text(errors="replace").splitlines()[-n:])
        except (OSError, TypeError):
            return ""

    # ---- internals ---------------------------------------------------------

    def _user_kwargs(self) -> dict:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _run(self, args: list[str], what: str, timeout: float = 120) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        if self._run_as is not None:
            env["HOME"] = str(self.tmp_dir)
            env["USER"] = env["LOGNAME"] = self._run_as.pw_name
        try:
            proc = subprocess.run(
                args, capture_output=True, text=True, env=env, cwd=str(self.tmp_dir),
                timeout=timeout, **self._user_kwargs(),
            )
        except subprocess.TimeoutExpired as e:
            raise ClusterError(f"{what} timed out\n{self.log_tail()}") from e
        if proc.returncode != 0:
            raise ClusterError(
                f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                f"--- server log ---\n{self.log_tail()}"
            )
        return proc.stdout

    def _pg_ctl(self, *args: str) -> str:
        return self._run([self.exe("pg_ctl"), "-D", str(self.data_dir), *args], f"pg_ctl {args[0]}")

    def _kill_postmaster(self) -> None:
        import signal

        try:
            pid = int((cast(Path, self.data_dir) / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def _chown(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _init(self) -> None:
        if os.geteuid() == 0:
            self._run_as = _ensure_os_user("postgres")
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="psqlpy-pg-", dir=self._base_dir))
        os.chmod(self.tmp_dir, 0o755)
        self._chown(self.tmp_dir)
        self.data_dir = self.tmp_dir / "data"
        self.socket_dir = self.tmp_dir / "sock"
        self.socket_dir.mkdir()
        os.chmod(self.socket_dir, 0o777)
        self._chown(self.socket_dir)
        self.log_file = self.tmp_dir / "postgres.log"
        self.log_file.touch()
        self._chown(self.log_file)

        self._run(
            [self.exe("initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )

        # `postgres -C ssl_library` prints "" for a build without TLS.
        self.ssl = bool(self._run(
            [self.exe("postgres"), "-D", str(self.data_dir), "-C", "ssl_library"],
            "postgres -C ssl_library",
        ).strip())
        if self.ssl:
            self.tls_dir = self.tmp_dir / "tls"
            self.tls_dir.mkdir()
            self.ca_file, cert, key = _write_tls(self.tls_dir)
            for f in (cert, key):
                target = self.data_dir / f.name
                shutil.move(str(f), target)
                self._chown(target)
            os.chmod(self.data_dir / "server.key", 0o600)
            shutil.copy(self.ca_file, self.data_dir / "ca.crt")
            self._chown(self.data_dir / "ca.crt")

        hba = self.data_dir / "pg_hba.conf"
        # A server built without TLS refuses to start on hostssl/cert lines; those roles
        # then fall through to the final reject lines.
        hba.write_text(_HBA if self.ssl else "".join(
            line for line in _HBA.splitlines(keepends=True) if not line.startswith("hostssl")))

        self.port = _free_port()
        conf = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0777",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 200,
            # logical: replication slots for psqlpy.replication (and its tests)
            "wal_level": "logical",
            "max_wal_senders": 20,
            "max_replication_slots": 20,
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            "log_min_messages": "warning",
            "log_connections": "on",
            "shared_buffers": "32MB",
            "dynamic_shared_memory_type": "posix",
        }
        if self.ssl:
            conf.update(ssl="on", ssl_cert_file="server.crt", ssl_key_file="server.key",
                        ssl_ca_file="ca.crt")
        conf.update(self._extra_conf)
        with open(self.data_dir / "postgresql.conf", "a") as fh:
            fh.write("\n# --- tests/pgcluster.py ---\n")
            for k, v in conf.items():
                fh.write(f"{k} = {_conf_value(v)}\n")

    def _provision(self) -> None:
        self.psql(_SETUP_SQL, database="postgres")
        self.psql(f"CREATE DATABASE {DATABASE} OWNER postgres", database="postgres")
        self.psql(f"GRANT CONNECT, TEMPORARY ON DATABASE {DATABASE} TO PUBLIC", database="postgres")
        self.psql(_SETUP_DB_SQL)


def _conf_value(v: object) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def _sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name],
        check=True, capture_output=True,
    )
    return pwd.getpwnam(name)


# --------------------------------------------------------------------------- external


def _parse_dsn(dsn: str) -> dict[str, str]:
    """Parse a URL or ``key=value`` DSN into libpq keywords (single host only)."""
    out: dict[str, str] = {}
    if re.match(r"^postgres(ql)?://", dsn):
        u = urllib.parse.urlsplit(dsn)
        netloc = u.netloc
        if "@" in netloc:
            auth, netloc = netloc.rsplit("@", 1)
            user, _, pw = auth.partition(":")
            if user:
                out["user"] = urllib.parse.unquote(user)
            if _:
                out["password"] = urllib.parse.unquote(pw)
        netloc = netloc.split(",")[0]
        m = re.match(r"^(\[[^\]]*\]|[^:]*)(?::(\d*))?$", netloc)
        if m:
            if m.group(1):
                out["host"] = urllib.parse.unquote(m.group(1).strip("[]"))
            if m.group(2):
                out["port"] = m.group(2)
        if u.path and u.path != "/":
            out["dbname"] = urllib.parse.unquote(u.path[1:])
        for k, v in urllib.parse.parse_qsl(u.query):
            out["dbname" if k == "database" else k] = v
    else:
        for m in re.finditer(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn):
            v = m.group(2)
            if v.startswith("'"):
                v = re.sub(r"\\(.)", r"\1", v[1:-1])
            out[m.group(1)] = v
    return out


class ExternalCluster:
    """A server the suite does not own (``PSQLPY_TEST_DSN``)."""

    is_external = True
    users = USERS

    def __init__(self, dsn: str):
        self.raw_dsn = dsn
        p = _parse_dsn(dsn)
        self.params = p
        self.user = p.pop("user", os.environ.get("PGUSER") or pwd.getpwuid(os.getuid()).pw_name)
        self.password = p.pop("password", os.environ.get("PGPASSWORD"))
        self.host = p.pop("host", os.environ.get("PGHOST") or "127.0.0.1")
        self.port = int(p.pop("port", os.environ.get("PGPORT") or 5432))
        self.database = p.pop("dbname", os.environ.get("PGDATABASE") or self.user)
        self.socket_dir = self.host if self.host.startswith("/") else None
        self.bindir = find_bindir()

    def __repr__(self) -> str:
        return f"<ExternalCluster {self.host}:{self.port}/{self.database}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    running = True

    def start(self):
        return self

    def stop(self, mode: str = "fast") -> None:
        pass

    def _unsupported(self, what: str) -> NoReturn:
        _skip(f"{what} needs the throwaway cluster (PSQLPY_TEST_DSN is set)")

    def restart(self, mode: str = "fast") -> None:
        self._unsupported("restarting the server")

    def shutdown(self, mode: str = "fast") -> None:
        self._unsupported("stopping the server")

    def reload(self) -> None:
        self._unsupported("reloading the server")

    @property
    def ssl(self) -> bool:
        return "sslrootcert" in self.params

    def need_ssl(self) -> None:
        if not self.ssl:
            self._unsupported("TLS with a known CA (give sslrootcert= in the DSN)")

    @property
    def ca_file(self):
        self.need_ssl()
        return self.params["sslrootcert"]

    @property
    def data_dir(self):
        self._unsupported("the data directory")

    def exe(self, name: str) -> str:
        if not self.bindir:
            self._unsupported(f"the {name} binary")
        return os.path.join(self.bindir, name)

    def dsn(
        self,
        user: str = "postgres",
        password: str | None = None,
        database: str | None = None,
        host: str | None = None,
        sslmode: str | None = None,
        **params: object,
    ) -> str:
        if user not in ("postgres", self.user):
            self._unsupported(f"role {user!r}")
        if host == "unix":
            if not self.socket_dir:
                self._unsupported("the unix socket")
            host = self.socket_dir
        merged: dict[str, object] = {k: v for k, v in self.params.items() if k != "sslmode"}
        merged.update(params)
        return make_dsn(
            self.user,
            password if password is not None else self.password,
            host or self.host,
            self.port,
            database or self.database,
            sslmode if sslmode is not None else self.params.get("sslmode"),
            **merged,
        )

    def psql(self, sql: str, user: str = "postgres", database: str | None = None,
             check: bool = True) -> str:
        if user not in ("postgres", self.user):
            self._unsupported(f"role {user!r}")
        if not self.bindir or not os.access(self.exe("psql"), os.X_OK):
            self._unsupported("psql")
        proc = subprocess.run(
            [self.exe("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.dsn(database=database), "-c", sql],
            capture_output=True, text=True, timeout=60,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"psql failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.strip()

    def terminate_backends(self, application_name: str | None = None) -> int:
        if application_name is None:
            self._unsupported("terminating every backend of a shared server")
        out = self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND application_name = "
            + _sql_literal(application_name)
        )
        return int(out or 0)


# --------------------------------------------------------------------------- standby


class PgStandby(PgCluster):
    """A hot standby streaming from a :class:`PgCluster` (``pg_basebackup -R``).

    Same interface as ``PgCluster`` (``dsn()``, ``psql()``, ``stop()``, ...); the
    roles and the database come from the primary.  ``start()`` returns once the
    standby is in recovery and its WAL receiver is streaming.

    >>> with PgStandby(primary) as sb:
    ...     sb.dsn()
    """

    def __init__(self, primary: PgCluster, *, base_dir: str | None = None,
                 timeout: float = 60.0):
        if getattr(primary, "is_external", False) or not primary.running:
            raise ClusterError("a standby needs a running throwaway PgCluster as its primary")
        super().__init__(primary.bindir, base_dir=base_dir)
        self.primary = primary
        self.timeout = timeout

    def __repr__(self) -> str:
        return (f"<PgStandby {self.host}:{self.port} of {self.primary.port} "
                f"data={self.data_dir} running={self._started}>")

    def _init(self) -> None:
        if os.geteuid() == 0:
            self._run_as = _ensure_os_user("postgres")
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="psqlpy-pg-standby-", dir=self._base_dir))
        os.chmod(self.tmp_dir, 0o755)
        self._chown(self.tmp_dir)
        self.data_dir = self.tmp_dir / "data"
        self.socket_dir = self.tmp_dir / "sock"
        self.socket_dir.mkdir()
        os.chmod(self.socket_dir, 0o777)
        self._chown(self.socket_dir)
        self.log_file = self.tmp_dir / "postgres.log"
        self.log_file.touch()
        self._chown(self.log_file)
        self.ssl = self.primary.ssl
        self.ca_file = self.primary.ca_file
        self.tls_dir = self.primary.tls_dir
        # -R writes standby.signal and primary_conninfo; -X stream copies the
        # WAL needed to reach consistency.
        self._run(
            [self.exe("pg_basebackup"), "-D", str(self.data_dir), "-h", "127.0.0.1",
             "-p", str(self.primary.port), "-U", "postgres", "-R", "-X", "stream",
             "-c", "fast", "--no-sync"],
            "pg_basebackup", timeout=180,
        )
        self.port = _free_port()
        conf = {
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            "hot_standby": True,
            "hot_standby_feedback": True,
            "wal_receiver_status_interval": "1s",
        }
        with open(self.data_dir / "postgresql.conf", "a") as fh:
            fh.write("\n# --- tests/pgcluster.py: standby ---\n")
            for k, v in conf.items():
                fh.write(f"{k} = {_conf_value(v)}\n")

    def _provision(self) -> None:
        # Nothing to create (a standby is read-only): wait until it replays.
        self.wait_streaming(self.timeout)

    def wait_streaming(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                last = self.psql(
                    "SELECT pg_is_in_recovery()::text || ' ' || "
                    "coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')",
                    check=True)
            except ClusterError as e:
                last = str(e)
            if last.strip() == "true streaming":
                return
            time.sleep(0.1)
        raise ClusterError(f"the standby did not start streaming in {timeout} s "
                           f"(last: {last!r})\n{self.log_tail()}")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Block until the standby has replayed everything the primary wrote so far."""
        lsn = self.primary.psql("SELECT pg_current_wal_insert_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")
            if done == "t":
                return
            time.sleep(0.05)
        raise ClusterError(f"the standby did not replay up to {lsn} in {timeout} s")


# --------------------------------------------------------------------------- PgBouncer


def find_pgbouncer() -> str | None:
    """The ``pgbouncer`` executable (Debian installs it in /usr/sbin), or None."""
    found = os.environ.get("PSQLPY_PGBOUNCER")
    if found and os.access(found, os.X_OK):
        return found
    found = shutil.which("pgbouncer")
    if found:
        return found
    for d in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"):
        p = os.path.join(d, "pgbouncer")
        if os.access(p, os.X_OK):
            return p
    return None


class PgBouncer:
    """A PgBouncer in front of a :class:`PgCluster` on a free port of 127.0.0.1.

    ``pool_mode`` defaults to ``transaction``; ``auth_type=trust`` with an
    ``auth_file`` listing the roles without passwords (PgBouncer still wants
    the user to exist there).  ``default_pool_size`` is small so that client
    connections really share server connections.  As root it runs as the
    ``postgres`` OS user (PgBouncer refuses to run as root).
    """

    def __init__(self, cluster: PgCluster, *, pool_mode: str = "transaction",
                 default_pool_size: int = 3, exe: str | None = None,
                 extra_conf: dict[str, object] | None = None):
        self.cluster = cluster
        self.exe = exe or find_pgbouncer()
        if not self.exe:
            raise ClusterError("pgbouncer is not installed (Debian package `pgbouncer`)")
        self.pool_mode = pool_mode
        self.default_pool_size = default_pool_size
        self.extra_conf = dict(extra_conf or {})
        self.host = "127.0.0.1"
        self.port = 0
        self.tmp_dir: Path | None = None
        self.log_file: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._run_as: pwd.struct_passwd | None = None

    def __enter__(self) -> "PgBouncer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PgBouncer {self.host}:{self.port} -> {self.cluster.port} mode={self.pool_mode}>"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def dsn(self, user: str = "postgres", database: str = DATABASE, **params: object) -> str:
        return make_dsn(user, None, self.host, self.port, database, "disable", **params)

    def log_tail(self, n: int = 40) -> str:
        try:
            # a None log_file raises TypeError, caught below
            return "\n".join(Path(cast(Path, self.log_file)).read_text(errors="replace").splitlines()[-n:])
        except (OSError, TypeError):
            return ""

    def start(self, timeout: float = 30.0) -> "PgBouncer":
        if self.running:
            return self
        if os.geteuid() == 0:
            self._run_as = _ensure_os_user("postgres")
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="psqlpy-pgbouncer-"))
        os.chmod(self.tmp_dir, 0o755)
        self.log_file = self.tmp_dir / "pgbouncer.log"
        userlist = self.tmp_dir / "userlist.txt"
        userlist.write_text("".join(f'"{u}" ""\n' for u in ("postgres", "trust_user")))
        for attempt in range(3):
            self.port = _free_port()
            conf = {
                "listen_addr": "127.0.0.1",
                "listen_port": self.port,
                "unix_socket_dir": "",
                "auth_type": "trust",
                "auth_file": str(userlist),
                "pool_mode": self.pool_mode,
                "default_pool_size": self.default_pool_size,
                "max_client_conn": 500,
                "logfile": str(self.log_file),
                "pidfile": str(self.tmp_dir / "pgbouncer.pid"),
                "admin_users": "postgres",
                "ignore_startup_parameters": "extra_float_digits,options",
                "server_tls_sslmode": "disable",
                "server_login_retry": 1,
            }
            conf.update(self.extra_conf)
            ini = self.tmp_dir / "pgbouncer.ini"
            lines = ["[databases]",
                     f"* = host=127.0.0.1 port={self.cluster.port}", "", "[pgbouncer]"]
            lines += [f"{k} = {v}" for k, v in conf.items()]
            ini.write_text("\n".join(lines) + "\n")
            if self._run_as is not None:
                for f in (self.tmp_dir, userlist, ini):
                    os.chown(f, self._run_as.pw_uid, self._run_as.pw_gid)
                if self.log_file.exists():
                    os.chown(self.log_file, self._run_as.pw_uid, self._run_as.pw_gid)
            kwargs: dict[str, Any] = {}
            if self._run_as is not None:
                kwargs = {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid,
                          "extra_groups": []}
            # stderr to a file, not a pipe nobody reads (it would fill and block).
            assert self.exe is not None  # checked by __init__
            with open(self.tmp_dir / "stderr.log", "ab") as errf:
                self.proc = subprocess.Popen(
                    [self.exe, "-q", str(ini)], cwd=str(self.tmp_dir),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, **kwargs)
            if self._wait_listening(timeout):
                atexit.register(self.stop)
                return self
            err = self._reap()
            if attempt == 2 or "in use" not in (err + self.log_tail()):
                self.stop()
                raise ClusterError(f"pgbouncer did not start:\n{err}\n{self.log_tail()}")
        return self

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        assert self.proc is not None  # started by start()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _reap(self) -> str:
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:
            # a None tmp_dir raises TypeError, caught below
            return (cast(Path, self.tmp_dir) / "stderr.log").read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        self._reap()
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None


def cluster_from_env() -> PgCluster | ExternalCluster:
    """``ExternalCluster`` when ``PSQLPY_TEST_DSN`` is set, else a fresh ``PgCluster``."""
    dsn = os.environ.get("PSQLPY_TEST_DSN")
    if dsn:
        return ExternalCluster(dsn)
    return PgCluster()


if __name__ == "__main__":  # manual check: python tests/pgcluster.py
    t0 = time.monotonic()
    with PgCluster() as pg:
        print(f"started in {time.monotonic() - t0:.2f}s: {pg!r}")
        print("bindir:", pg.bindir)
        print("dsn:", pg.dsn("scram_user", sslmode="verify-full", sslrootcert=pg.ca_file))
        print(pg.psql("SELECT version()"))
        print(pg.psql("SELECT rolname, rolpassword IS NOT NULL FROM pg_authid WHERE rolname LIKE '%_user' ORDER BY 1"))
    print(f"total {time.monotonic() - t0:.2f}s")
