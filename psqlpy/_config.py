"""Connection settings: the keyword arguments of ``connect()`` / ``ConnectionPool``, DSN
parsing (URL and libpq ``key=value`` forms, several hosts, IPv6, percent-encoding), the
``PG*`` environment defaults and the password file.

Precedence, per setting:

* host, port, user, password, database: DSN > keyword argument > environment (``PGHOST``,
  ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``) > password file (password only) >
  built-in default (``localhost``, 5432, the OS user, the user name).  "A dsn wins over the
  separate host/user/db arguments"; we still let a keyword fill what the DSN leaves out.
* options, application_name, timeouts, keepalives, target_session_attrs, load balancing, TLS
  (``ssl_mode``, ``ca_file``): keyword argument > DSN > environment > default.

Units: ``connect_timeout``, ``keepalives_idle``, ``keepalives_interval`` are seconds in the
DSN, as in libpq.  ``tcp_user_timeout`` in a DSN is read as **seconds** like the reference
driver (tokio-postgres) reads it, not milliseconds as libpq does: a DSN written for the
reference driver must not turn a 30 s timeout into 30 ms.  Zero means "no timeout / system
default" everywhere (stored as ``None``).

Unknown DSN parameters are rejected (as libpq does); libpq parameters we do not implement
(client certificates, GSSAPI, services, ...) are rejected with a message saying so rather
than silently ignored.  Errors are :class:`ConnectionPoolConfigurationError`; they name the
bad part and never contain the password.
"""

from __future__ import annotations

import getpass
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Mapping

from ._enums import LoadBalanceHosts, SslMode, TargetSessionAttrs
from .exceptions import ConnectionPoolConfigurationError

__all__ = ["ConnectConfig", "parse_settings", "parse_dsn", "lookup_pgpass",
           "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 5432
_DEFAULT_SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")


@dataclass(frozen=True, slots=True)
class ConnectConfig:
    """Everything needed to open one connection (immutable, shared by a pool)."""

    hosts: tuple[tuple[str, int], ...]
    user: str
    password: str | None
    database: str
    options: str | None = None
    application_name: str | None = None
    connect_timeout: float | None = None
    tcp_user_timeout: float | None = None
    keepalives: bool = True
    keepalives_idle: float | None = None
    keepalives_interval: float | None = None
    keepalives_retries: int | None = None
    target_session_attrs: TargetSessionAttrs = TargetSessionAttrs.Any
    load_balance_hosts: LoadBalanceHosts = LoadBalanceHosts.Disable
    ssl_mode: SslMode = SslMode.Prefer
    ca_file: str | None = None
    server_settings: tuple[tuple[str, str], ...] = ()
    #: prepared-statement cache per connection; 0 = never prepare named
    #: statements (PgBouncer in transaction mode); None = the default (256)
    statement_cache_size: int | None = None

    def startup_parameters(self) -> dict[str, str]:
        """The parameters of the StartupMessage (TimeZone is left to the server)."""
        params = {"user": self.user, "database": self.database}
        if self.application_name:
            params["application_name"] = self.application_name
        if self.options:
            params["options"] = self.options
        params["client_encoding"] = "UTF8"
        params["DateStyle"] = "ISO"
        for key, value in self.server_settings:
            params[key] = value
        return params

    def __repr__(self) -> str:
        pw = "***" if self.password is not None else "None"
        return (
            f"ConnectConfig(hosts={self.hosts!r}, user={self.user!r}, password={pw}, "
            f"database={self.database!r}, options={self.options!r}, "
            f"application_name={self.application_name!r}, "
            f"connect_timeout={self.connect_timeout!r}, "
            f"tcp_user_timeout={self.tcp_user_timeout!r}, keepalives={self.keepalives!r}, "
            f"keepalives_idle={self.keepalives_idle!r}, "
            f"keepalives_interval={self.keepalives_interval!r}, "
            f"keepalives_retries={self.keepalives_retries!r}, "
            f"target_session_attrs={self.target_session_attrs.value!r}, "
            f"load_balance_hosts={self.load_balance_hosts.value!r}, "
            f"ssl_mode={self.ssl_mode.value!r}, ca_file={self.ca_file!r}, "
            f"server_settings={self.server_settings!r})"
        )

    __str__ = __repr__


def _err(msg: str) -> ConnectionPoolConfigurationError:
    return ConnectionPoolConfigurationError(msg)


# ------------------------------------------------------------------------------------------
# DSN parsing -> dict of libpq parameter name -> string value
# ------------------------------------------------------------------------------------------

#: parameters we implement
_KNOWN_PARAMS = frozenset({
    "host", "hostaddr", "port", "user", "password", "dbname", "passfile",
    "sslmode", "sslrootcert", "application_name", "fallback_application_name", "options",
    "connect_timeout", "target_session_attrs", "load_balance_hosts", "keepalives",
    "keepalives_idle", "keepalives_interval", "keepalives_count", "keepalives_retries",
    "tcp_user_timeout", "client_encoding",
    # accepted only with harmless values, checked in _apply_accepted_only
    "gssencmode", "channel_binding", "sslnegotiation", "sslsni", "sslcompression",
})

#: libpq parameters we know but do not implement: refused with a clear message
_UNSUPPORTED_PARAMS = frozenset({
    "sslcert", "sslkey", "sslpassword", "sslcertmode", "sslcrl", "sslcrldir",
    "ssl_min_protocol_version", "ssl_max_protocol_version", "requirepeer", "require_auth",
    "krbsrvname", "gsslib", "gssdelegation", "service", "replication", "requiressl",
    "min_protocol_version", "max_protocol_version", "scram_client_key", "scram_server_key",
})

_URL_PREFIXES = ("postgresql://", "postgres://")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _pct_decode(text: str, what: str) -> str:
    """Strict percent-decoding ('+' stays '+', like libpq)."""
    if "%" not in text:
        return text
    shown = "" if what == "password" else f" {text!r}"
    if _PCT_RE.search(text):
        raise _err(f"invalid percent-encoding in DSN {what}{shown}")
    from urllib.parse import unquote_to_bytes
    raw = unquote_to_bytes(text)
    if b"\x00" in raw:
        raise _err(f"percent-encoded DSN {what}{shown} contains a NUL character")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _err(f"percent-encoded DSN {what}{shown} is not valid UTF-8") from None


def _parse_url(dsn: str) -> dict[str, str]:
    rest = dsn.split("://", 1)[1]
    rest = rest.split("#", 1)[0]
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    path = None
    if "/" in rest:
        rest, path = rest.split("/", 1)
    authority = rest
    params: dict[str, str] = {}
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
        user, sep, password = userinfo.partition(":")
        if user:
            params["user"] = _pct_decode(user, "user")
        if sep:
            params["password"] = _pct_decode(password, "password")
    if authority:
        hosts, ports = [], []
        for item in authority.split(","):
            if item.startswith("["):
                end = item.find("]")
                if end < 0:
                    raise _err(f"missing ']' in IPv6 host address {item!r} in DSN")
                host = _pct_decode(item[1:end], "host")  # zone id: [fe80::1%25eth0]
                if not host:
                    raise _err("empty IPv6 host address '[]' in DSN")
                tail = item[end + 1:]
                if tail and not tail.startswith(":"):
                    raise _err(f"unexpected {tail!r} after IPv6 host address in DSN")
                port = tail[1:] if tail else None
                if port is not None and port == "":
                    raise _err(f"empty port after host {item!r} in DSN")
            else:
                host, sep, port = item.partition(":")
                host = _pct_decode(host, "host")
                if sep and port == "":
                    raise _err(f"empty port after host {host!r} in DSN")
                if not sep:
                    port = None
            hosts.append(host)
            ports.append(port)
        params["host"] = ",".join(hosts)
        if any(p is not None for p in ports):
            params["port"] = ",".join("" if p is None else p for p in ports)
    if path:
        params["dbname"] = _pct_decode(path, "database name")
    if query:
        for item in query.split("&"):
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = _pct_decode(key, "parameter name")
            if not sep:
                raise _err(f"missing '=' after DSN parameter {key!r}")
            value = _pct_decode(value, "password" if key == "password" else f"parameter {key!r}")
            if key == "ssl" and value == "true":  # JDBC spelling, accepted by libpq
                key, value = "sslmode", "require"
            _check_param_name(key)
            params[key] = value
    return params


def _parse_kv(dsn: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(dsn)
    while True:
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and dsn[i] != "=" and not dsn[i].isspace():
            i += 1
        key = dsn[start:i]
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n or dsn[i] != "=":
            raise _err(f"missing '=' after {key!r} in DSN")
        i += 1
        while i < n and dsn[i].isspace():
            i += 1
        value = []
        if i < n and dsn[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise _err(f"unterminated quoted string in DSN (value of {key!r})")
                c = dsn[i]
                if c == "\\":
                    i += 1
                    if i >= n:
                        raise _err(f"unterminated quoted string in DSN (value of {key!r})")
                    value.append(dsn[i])
                elif c == "'":
                    i += 1
                    break
                else:
                    value.append(c)
                i += 1
        else:
            while i < n and not dsn[i].isspace():
                c = dsn[i]
                if c == "\\" and i + 1 < n:
                    i += 1
                    c = dsn[i]
                value.append(c)
                i += 1
        _check_param_name(key)
        value = "".join(value)
        if key == "port" and any(not x.strip() for x in value.split(",")):
            raise _err(f"empty port in DSN port list {value!r}")
        params[key] = value
    return params


def _check_param_name(key: str) -> None:
    if key in _UNSUPPORTED_PARAMS:
        raise _err(f"DSN parameter {key!r} is not supported by psqlpy")
    if key not in _KNOWN_PARAMS:
        raise _err(f"invalid DSN parameter {key!r}")


def parse_dsn(dsn: str) -> dict[str, str]:
    """Parse a DSN into libpq parameter names -> raw string values (hosts and ports stay
    comma-separated lists, as in libpq)."""
    if not isinstance(dsn, str):
        raise _err(f"dsn must be a str, not {type(dsn).__name__}")
    if "\x00" in dsn:
        raise _err("DSN contains a NUL character")
    stripped = dsn.strip()
    if stripped.startswith(_URL_PREFIXES):
        return _parse_url(stripped)
    m = _SCHEME_RE.match(stripped)
    if m:
        raise _err(f"unsupported DSN scheme {m.group(1)!r} (use postgresql:// or postgres://)")
    return _parse_kv(dsn)


# ------------------------------------------------------------------------------------------
# Value checks
# ------------------------------------------------------------------------------------------


def _enum(cls, value, what: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        for member in cls:
            if low == member.value.lower() or low == member.name.lower():
                return member
        choices = ", ".join(m.value for m in cls)
        raise _err(f"invalid {what} value {value!r} (expected one of: {choices})")
    raise _err(f"{what} must be a {cls.__name__} or a str, not {type(value).__name__}")


def _port(value, source: str = "keyword arguments") -> int:
    if isinstance(value, bool):
        raise _err(f"invalid port {value!r} in {source}")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _err(f"empty port in {source}")
        if not text.isdigit():
            raise _err(f"invalid port {value!r} in {source}")
        value = int(text)
    if not isinstance(value, int):
        raise _err(f"invalid port {value!r} in {source}")
    if not 1 <= value <= 65535:
        raise _err(f"port {value} out of range 1..65535 in {source}")
    return value


def _split_list(value, what: str) -> list:
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise _err(f"{what} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise _err(f"{what} contains a NUL character")
    return value


def _seconds_dsn(value: str, what: str) -> float | None:
    """A DSN/env timeout in whole seconds; zero or negative means none (libpq)."""
    text = value.strip()
    try:
        n = int(text)
    except ValueError:
        raise _err(f"invalid {what} value {value!r} (expected whole seconds)") from None
    return float(n) if n > 0 else None


def _count_dsn(value: str, what: str) -> int | None:
    try:
        n = int(value.strip())
    except ValueError:
        raise _err(f"invalid {what} value {value!r} (expected an integer)") from None
    if n < 0:
        raise _err(f"{what} must not be negative, got {n}")
    return n or None


def _bool_dsn(value: str, what: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "on", "yes"):
        return True
    if low in ("0", "false", "off", "no"):
        return False
    try:
        return int(low) != 0
    except ValueError:
        raise _err(f"invalid {what} value {value!r} (expected 0 or 1)") from None


def _number(value, what: str, *, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(f"{what} must be {'an int' if integer else 'a number'}, "
                   f"not {type(value).__name__}")
    if integer and not isinstance(value, int):
        raise _err(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise _err(f"{what} must not be negative, got {value}")
    if value != value or value == float("inf"):
        raise _err(f"{what} must be finite, got {value}")
    return value


def _duration(name: str, sec, nanosec) -> float | None:
    """``<name>_sec`` + ``<name>_nanosec`` -> seconds (None when not given or zero)."""
    if nanosec is not None and sec is None:
        raise _err(f"{name}_nanosec given without {name}_sec")
    if sec is None:
        return None
    total = float(_number(sec, f"{name}_sec"))
    if nanosec is not None:
        total += _number(nanosec, f"{name}_nanosec", integer=True) / 1e9
    return total or None


# ------------------------------------------------------------------------------------------
# Password file
# ------------------------------------------------------------------------------------------


def _pgpass_fields(line: str) -> list[str]:
    fields, cur, i = [], [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if c == ":" and len(fields) < 4:
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    fields.append("".join(cur))
    return fields


def _pgpass_path(env: Mapping[str, str], passfile: str | None = None) -> str | None:
    if passfile:
        return passfile
    if env.get("PGPASSFILE"):
        return env["PGPASSFILE"]
    home = env.get("HOME") or os.path.expanduser("~")
    if not home or home == "~":
        return None
    return os.path.join(home, ".pgpass")


def lookup_pgpass(host: str, port: int, db: str, user: str, env: Mapping[str, str] | None = None,
                  *, passfile: str | None = None) -> str | None:
    """The password for (host, port, db, user) from ``PGPASSFILE`` or ``~/.pgpass``.

    libpq's rules: ``hostname:port:database:username:password`` lines, ``*`` matches
    anything, ``\\`` escapes ``:`` and ``\\``, the first matching line wins, ``#`` starts a
    comment; a Unix-socket host in the default socket directory matches ``localhost``; a
    missing file, a file that is not a regular file, or (on POSIX) a file readable by group or
    others is ignored."""
    env = os.environ if env is None else env
    path = _pgpass_path(env, passfile)
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None  # libpq: "WARNING: password file has group or world access"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    hostnames = {host}
    if not host or host in _DEFAULT_SOCKET_DIRS:
        hostnames.add(DEFAULT_HOST)
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _pgpass_fields(line)
        if len(fields) != 5:
            continue
        h, p, d, u, pw = fields
        if ((h == "*" or h in hostnames) and (p == "*" or p == str(port))
                and (d == "*" or d == db) and (u == "*" or u == user)):
            return pw
    return None


# ------------------------------------------------------------------------------------------
# parse_settings
# ------------------------------------------------------------------------------------------


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None  # empty means unset


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no such user in a container: libpq would fail too
        return "postgres"


def _hosts_and_ports(host_list: list, port_list: list, default_port: int,
                     source: str) -> tuple[tuple[str, int], ...]:
    hosts = []
    for h in host_list:
        if not isinstance(h, str):
            h = str(h)  # ipaddress objects from hostaddr()
        h = h.strip()
        if "\x00" in h:
            raise _err(f"host in {source} contains a NUL character")
        hosts.append(h or DEFAULT_HOST)
    if not hosts:
        hosts = [DEFAULT_HOST]
    if not port_list:
        ports = [default_port] * len(hosts)
    else:
        # a blank entry comes from a URL host without a port: the default port
        parsed = [default_port if (source == "DSN" and isinstance(p, str) and p == "")
                  else _port(p, source) for p in port_list]
        if len(parsed) == 1:
            ports = parsed * len(hosts)
        elif len(parsed) == len(hosts):
            ports = parsed
        else:
            raise _err(f"{len(hosts)} hosts but {len(parsed)} ports in {source}: give one "
                       f"port for all hosts or one per host")
    return tuple(zip(hosts, ports))


def parse_settings(*, dsn=None, username=None, password=None, host=None, hosts=None,
                   port=None, ports=None, db_name=None, target_session_attrs=None,
                   options=None, application_name=None, connect_timeout_sec=None,
                   connect_timeout_nanosec=None, tcp_user_timeout_sec=None,
                   tcp_user_timeout_nanosec=None, keepalives=None, keepalives_idle_sec=None,
                   keepalives_idle_nanosec=None, keepalives_interval_sec=None,
                   keepalives_interval_nanosec=None, keepalives_retries=None,
                   load_balance_hosts=None, ssl_mode=None, ca_file=None,
                   env: Mapping[str, str] | None = None) -> ConnectConfig:
    """Build a :class:`ConnectConfig` from the connection keyword arguments (see the module
    docstring for precedence).  Raises :class:`ConnectionPoolConfigurationError`."""
    env = os.environ if env is None else env
    p = parse_dsn(dsn) if dsn is not None else {}

    # --- where: hosts and ports ---------------------------------------------------------
    env_port = _env(env, "PGPORT")
    default_port = DEFAULT_PORT
    if "hostaddr" in p:
        if "host" in p and len(p["host"].split(",")) != len(p["hostaddr"].split(",")):
            raise _err("DSN hostaddr and host lists differ in length")
        p["host"] = p.pop("hostaddr")
    if "host" in p:
        host_list, host_source = p["host"].split(","), "DSN"
    else:
        host_list = []
        if host is not None:
            host_list += _split_list(host, "host")
        if hosts is not None:
            host_list += _split_list(hosts, "hosts")
        host_source = "keyword arguments"
        if not host_list and _env(env, "PGHOST"):
            host_list, host_source = _env(env, "PGHOST").split(","), "PGHOST"
    if "port" in p:
        port_list, port_source = p["port"].split(","), "DSN"
        if env_port is not None and len(env_port.split(",")) == 1:
            default_port = _port(env_port, "PGPORT")
    else:
        port_list = []
        if port is not None:
            port_list += _split_list(port, "port") if isinstance(port, str) else [port]
        if ports is not None:
            port_list += _split_list(ports, "ports")
        port_source = "keyword arguments"
        if not port_list and env_port is not None:
            port_list, port_source = env_port.split(","), "PGPORT"
    source = host_source if port_source == host_source or not port_list else (
        f"{host_source}/{port_source}")
    if port_source == "DSN" and host_source == "DSN":
        source = "DSN"
    host_pairs = _hosts_and_ports(host_list, port_list, default_port, source)

    # --- who ----------------------------------------------------------------------------
    if "user" in p and p["user"]:
        user = p["user"]
    elif username is not None:
        user = _text(username, "username")
    else:
        user = _env(env, "PGUSER") or _default_user()
    user = _text(user, "user")
    if "dbname" in p and p["dbname"]:
        database = p["dbname"]
    elif db_name is not None:
        database = _text(db_name, "db_name")
    else:
        database = _env(env, "PGDATABASE") or user
    database = _text(database, "database name")

    if "password" in p:
        pw = p["password"]
    elif password is not None:
        if not isinstance(password, str):
            raise _err(f"password must be a str, not {type(password).__name__}")
        pw = password
    else:
        pw = _env(env, "PGPASSWORD")
    if pw is None:
        for h, prt in host_pairs:
            pw = lookup_pgpass(h, prt, database, user, env, passfile=p.get("passfile"))
            if pw is not None:
                break
    if pw is not None and "\x00" in pw:
        raise _err("password contains a NUL character")

    # --- session ------------------------------------------------------------------------
    if options is not None:
        opts = _text(options, "options")
    else:
        opts = p.get("options", _env(env, "PGOPTIONS"))
    if application_name is not None:
        app = _text(application_name, "application_name")
    else:
        app = p.get("application_name") or _env(env, "PGAPPNAME") or p.get(
            "fallback_application_name")
    if "client_encoding" in p and p["client_encoding"].upper().replace("-", "") not in (
            "UTF8", "UNICODE"):
        raise _err(f"invalid client_encoding value {p['client_encoding']!r} "
                   f"(psqlpy always uses UTF8)")

    # --- timeouts and keepalives ------------------------------------------------------------
    connect_timeout = _duration("connect_timeout", connect_timeout_sec, connect_timeout_nanosec)
    if connect_timeout is None and connect_timeout_sec is None:
        if "connect_timeout" in p:
            connect_timeout = _seconds_dsn(p["connect_timeout"], "connect_timeout")
        elif _env(env, "PGCONNECT_TIMEOUT"):
            connect_timeout = _seconds_dsn(_env(env, "PGCONNECT_TIMEOUT"), "PGCONNECT_TIMEOUT")
    tcp_user_timeout = _duration("tcp_user_timeout", tcp_user_timeout_sec,
                                 tcp_user_timeout_nanosec)
    if tcp_user_timeout_sec is None and "tcp_user_timeout" in p:
        tcp_user_timeout = _seconds_dsn(p["tcp_user_timeout"], "tcp_user_timeout")

    if keepalives is not None:
        if not isinstance(keepalives, (bool, int)):
            raise _err(f"keepalives must be a bool, not {type(keepalives).__name__}")
        ka = bool(keepalives)
    elif "keepalives" in p:
        ka = _bool_dsn(p["keepalives"], "keepalives")
    else:
        ka = True
    ka_idle = _duration("keepalives_idle", keepalives_idle_sec, keepalives_idle_nanosec)
    if keepalives_idle_sec is None and "keepalives_idle" in p:
        ka_idle = _seconds_dsn(p["keepalives_idle"], "keepalives_idle")
    ka_interval = _duration("keepalives_interval", keepalives_interval_sec,
                            keepalives_interval_nanosec)
    if keepalives_interval_sec is None and "keepalives_interval" in p:
        ka_interval = _seconds_dsn(p["keepalives_interval"], "keepalives_interval")
    if keepalives_retries is not None:
        ka_retries = _number(keepalives_retries, "keepalives_retries", integer=True) or None
    elif "keepalives_count" in p or "keepalives_retries" in p:
        key = "keepalives_count" if "keepalives_count" in p else "keepalives_retries"
        ka_retries = _count_dsn(p[key], key)
    else:
        ka_retries = None
    if not ka:
        ka_idle = ka_interval = ka_retries = None

    # --- routing --------------------------------------------------------------------------
    if target_session_attrs is not None:
        tsa = _enum(TargetSessionAttrs, target_session_attrs, "target_session_attrs")
    elif "target_session_attrs" in p:
        tsa = _enum(TargetSessionAttrs, p["target_session_attrs"], "target_session_attrs")
    elif _env(env, "PGTARGETSESSIONATTRS"):
        tsa = _enum(TargetSessionAttrs, _env(env, "PGTARGETSESSIONATTRS"),
                    "PGTARGETSESSIONATTRS")
    else:
        tsa = TargetSessionAttrs.Any
    if load_balance_hosts is not None:
        lbh = _enum(LoadBalanceHosts, load_balance_hosts, "load_balance_hosts")
    elif "load_balance_hosts" in p:
        lbh = _enum(LoadBalanceHosts, p["load_balance_hosts"], "load_balance_hosts")
    elif _env(env, "PGLOADBALANCEHOSTS"):
        lbh = _enum(LoadBalanceHosts, _env(env, "PGLOADBALANCEHOSTS"), "PGLOADBALANCEHOSTS")
    else:
        lbh = LoadBalanceHosts.Disable

    # --- TLS ----------------------------------------------------------------------------
    if ssl_mode is not None:
        mode = _enum(SslMode, ssl_mode, "ssl_mode")
    elif "sslmode" in p:
        mode = _enum(SslMode, p["sslmode"], "sslmode")
    elif _env(env, "PGSSLMODE"):
        mode = _enum(SslMode, _env(env, "PGSSLMODE"), "PGSSLMODE")
    else:
        mode = None
    if ca_file is not None:
        ca = _text(ca_file, "ca_file")
    else:
        ca = p.get("sslrootcert") or _env(env, "PGSSLROOTCERT")
    if ca == "system":  # libpq 16: the system's trust store, and verify-full by default
        ca = None
        if mode is None:
            mode = SslMode.VerifyFull
        elif mode != SslMode.VerifyFull:
            raise _err(f"weak sslmode {mode.value!r} may not be used with "
                       f"sslrootcert=system (use verify-full)")
    if mode is None:
        mode = SslMode.Prefer

    _apply_accepted_only(p)

    return ConnectConfig(
        hosts=host_pairs, user=user, password=pw, database=database, options=opts or None,
        application_name=app or None, connect_timeout=connect_timeout,
        tcp_user_timeout=tcp_user_timeout, keepalives=ka, keepalives_idle=ka_idle,
        keepalives_interval=ka_interval, keepalives_retries=ka_retries,
        target_session_attrs=tsa, load_balance_hosts=lbh, ssl_mode=mode, ca_file=ca,
        server_settings=(),
    )


def _apply_accepted_only(p: dict[str, str]) -> None:
    """Parameters accepted only with values that need nothing from us."""
    allowed = {
        "gssencmode": ("disable", "prefer"),          # we never use GSSAPI encryption
        "channel_binding": ("disable", "prefer"),     # prefer is what we do
        "sslnegotiation": ("postgres",),              # the SSLRequest dance
        "sslsni": ("0", "1"),
        "sslcompression": ("0", "1"),                 # ignored by servers since PG 14
    }
    for key, values in allowed.items():
        if key in p and p[key].strip().lower() not in values:
            raise _err(f"DSN parameter {key}={p[key]!r} is not supported by psqlpy "
                       f"(accepted: {', '.join(values)})")
