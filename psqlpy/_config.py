"""Connection settings: DSN parsing (URL and libpq key=value forms, several
hosts, percent-encoding), PG* environment defaults, and the keyword
arguments of connect()/ConnectionPool.  Errors name the bad part and never
include the password."""
from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from urllib.parse import unquote

from ._enums import LoadBalanceHosts, SslMode, TargetSessionAttrs
from .exceptions import ConnectionPoolConfigurationError

_KNOWN_PARAMS = {
    "host", "hostaddr", "port", "user", "password", "dbname", "sslmode", "sslrootcert",
    "application_name", "options", "connect_timeout", "target_session_attrs",
    "load_balance_hosts", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "client_encoding", "fallback_application_name",
    "passfile", "channel_binding", "sslcert", "sslkey", "gssencmode",
}


@dataclass(frozen=True)
class ConnectConfig:
    hosts: tuple
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
    server_settings: tuple = ()

    def startup_parameters(self) -> dict:
        params = {"user": self.user, "database": self.database,
                  "client_encoding": "UTF8", "DateStyle": "ISO"}
        if self.application_name:
            params["application_name"] = self.application_name
        if self.options:
            params["options"] = self.options
        params.update(dict(self.server_settings))
        return params

    def __repr__(self) -> str:
        pw = "***" if self.password is not None else None
        return (f"ConnectConfig(hosts={self.hosts!r}, user={self.user!r}, password={pw}, "
                f"database={self.database!r}, ssl_mode={self.ssl_mode.value})")


def _err(msg: str) -> ConnectionPoolConfigurationError:
    return ConnectionPoolConfigurationError(msg)


def _parse_url(dsn: str) -> dict:
    m = re.match(r"^(postgres|postgresql)://", dsn)
    if not m:
        raise _err(f"unsupported DSN scheme in {dsn.split(':', 1)[0]!r}: use postgresql://")
    rest = dsn[m.end():]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    out: dict = {}
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, sep, pw = userinfo.partition(":")
        if user:
            out["user"] = unquote(user)
        if sep:
            out["password"] = unquote(pw)
    hosts, ports = [], []
    for part in netloc.split(",") if netloc else []:
        if part.startswith("["):
            end = part.find("]")
            if end < 0:
                raise _err(f"invalid IPv6 host {part!r} in DSN")
            host, port = part[1:end], part[end + 1:].lstrip(":")
        else:
            host, _, port = part.partition(":")
        hosts.append(unquote(host))
        ports.append(port)
    if hosts:
        out["host"] = ",".join(hosts)
    if any(ports):
        out["port"] = ",".join(ports)
    if path:
        out["dbname"] = unquote(path)
    if query:
        for item in query.split("&"):
            if not item:
                continue
            k, sep, v = item.partition("=")
            if not sep:
                raise _err(f"DSN query parameter {unquote(k)!r} has no value")
            out[unquote(k)] = unquote(v)
    return out


def _parse_kv(dsn: str) -> dict:
    out: dict = {}
    i, n = 0, len(dsn)
    while i < n:
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n:
            break
        m = re.match(r"(\w+)\s*=\s*", dsn[i:])
        if not m:
            raise _err(f"invalid DSN near {dsn[i:i + 20]!r}: expected key=value")
        key = m.group(1)
        i += m.end()
        if i < n and dsn[i] == "'":
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise _err(f"unterminated quoted value for {key!r} in DSN")
                c = dsn[i]
                if c == "\\" and i + 1 < n:
                    buf.append(dsn[i + 1])
                    i += 2
                    continue
                if c == "'":
                    i += 1
                    break
                buf.append(c)
                i += 1
            value = "".join(buf)
        else:
            j = i
            buf = []
            while j < n and not dsn[j].isspace():
                if dsn[j] == "\\" and j + 1 < n:
                    buf.append(dsn[j + 1])
                    j += 2
                    continue
                buf.append(dsn[j])
                j += 1
            value = "".join(buf)
            i = j
        out[key] = value
    return out


def parse_dsn(dsn: str) -> dict:
    dsn = dsn.strip()
    params = _parse_url(dsn) if "://" in dsn else _parse_kv(dsn)
    for k in params:
        if k not in _KNOWN_PARAMS:
            raise _err(f"unknown connection parameter {k!r} in DSN")
    return params


def _seconds(name: str, sec, nanosec):
    if nanosec is not None and sec is None:
        raise _err(f"{name}_nanosec given without {name}_sec")
    if sec is None:
        return None
    try:
        value = float(sec) + (float(nanosec) / 1e9 if nanosec is not None else 0.0)
    except (TypeError, ValueError):
        raise _err(f"{name}_sec must be a number, got {sec!r}") from None
    if value < 0:
        raise _err(f"{name}_sec must not be negative")
    return value


def _enum(cls, value, what):
    if value is None or isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise _err(f"invalid {what} {value!r}: expected one of {allowed}") from None


def _port(value, what="port") -> int:
    try:
        p = int(value)
    except (TypeError, ValueError):
        raise _err(f"invalid {what} {value!r}") from None
    if not 0 < p < 65536:
        raise _err(f"invalid {what} {value!r}: out of range")
    return p


def _bool(value, what) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "on", "yes"):
        return True
    if s in ("0", "false", "off", "no"):
        return False
    raise _err(f"invalid {what} {value!r}: expected a boolean")


def lookup_pgpass(host, port, database, user, env) -> str | None:
    path = env.get("PGPASSFILE") or os.path.join(os.path.expanduser("~"), ".pgpass")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields, cur, esc = [], [], False
        for c in line:
            if esc:
                cur.append(c)
                esc = False
            elif c == "\\":
                esc = True
            elif c == ":":
                fields.append("".join(cur))
                cur = []
            else:
                cur.append(c)
        fields.append("".join(cur))
        if len(fields) != 5:
            continue
        want = (host, str(port), database, user)
        if all(f == "*" or f == w for f, w in zip(fields[:4], want)):
            return fields[4]
    return None


def parse_settings(*, dsn=None, username=None, password=None, host=None, hosts=None, port=None,
                   ports=None, db_name=None, target_session_attrs=None, options=None,
                   application_name=None, connect_timeout_sec=None, connect_timeout_nanosec=None,
                   tcp_user_timeout_sec=None, tcp_user_timeout_nanosec=None, keepalives=None,
                   keepalives_idle_sec=None, keepalives_idle_nanosec=None,
                   keepalives_interval_sec=None, keepalives_interval_nanosec=None,
                   keepalives_retries=None, load_balance_hosts=None, ssl_mode=None,
                   ca_file=None, env=None) -> ConnectConfig:
    env = os.environ if env is None else env
    p: dict = {}
    if dsn:
        p = parse_dsn(dsn)
    else:
        if username is not None:
            p["user"] = username
        if password is not None:
            p["password"] = password
        if db_name is not None:
            p["dbname"] = db_name
        hl = list(hosts) if hosts else ([host] if host else [])
        pl = list(ports) if ports else ([port] if port is not None else [])
        if hl:
            p["host"] = ",".join(str(h) for h in hl)
        if pl:
            p["port"] = ",".join(str(x) for x in pl)

    host_list = (p.get("host") or p.get("hostaddr") or env.get("PGHOST") or "localhost").split(",")
    port_src = p.get("port") or env.get("PGPORT") or "5432"
    port_list = [_port(x) if x else 5432 for x in str(port_src).split(",")]
    if len(port_list) == 1:
        port_list = port_list * len(host_list)
    elif len(port_list) != len(host_list):
        raise _err(f"{len(host_list)} hosts but {len(port_list)} ports: give one port or one per host")
    host_list = [h or "localhost" for h in host_list]

    user = p.get("user") or env.get("PGUSER") or getpass.getuser()
    database = p.get("dbname") or env.get("PGDATABASE") or user
    pw = p.get("password") if p.get("password") is not None else env.get("PGPASSWORD")
    if pw is None:
        pw = lookup_pgpass(host_list[0], port_list[0], database, user, env)

    ct = _seconds("connect_timeout", connect_timeout_sec, connect_timeout_nanosec)
    if ct is None and (p.get("connect_timeout") or env.get("PGCONNECT_TIMEOUT")):
        raw = p.get("connect_timeout") or env.get("PGCONNECT_TIMEOUT")
        try:
            ct = float(raw)
        except ValueError:
            raise _err(f"invalid connect_timeout {raw!r}") from None
    if ct is not None and ct <= 0:
        ct = None   # libpq: zero means wait forever
    tut = _seconds("tcp_user_timeout", tcp_user_timeout_sec, tcp_user_timeout_nanosec)
    if tut is None and p.get("tcp_user_timeout"):
        tut = int(p["tcp_user_timeout"]) / 1000.0
    ka = keepalives if keepalives is not None else _bool(p.get("keepalives", "1"), "keepalives")
    ka_idle = _seconds("keepalives_idle", keepalives_idle_sec, keepalives_idle_nanosec)
    ka_int = _seconds("keepalives_interval", keepalives_interval_sec, keepalives_interval_nanosec)
    if ka_idle is None and p.get("keepalives_idle"):
        ka_idle = float(p["keepalives_idle"])
    if ka_int is None and p.get("keepalives_interval"):
        ka_int = float(p["keepalives_interval"])
    ka_retries = keepalives_retries
    if ka_retries is None and p.get("keepalives_count"):
        ka_retries = int(p["keepalives_count"])

    mode = _enum(SslMode, ssl_mode or p.get("sslmode") or env.get("PGSSLMODE") or "prefer", "sslmode")
    tsa = _enum(TargetSessionAttrs, target_session_attrs or p.get("target_session_attrs")
                or env.get("PGTARGETSESSIONATTRS") or "any", "target_session_attrs")
    lbh = _enum(LoadBalanceHosts, load_balance_hosts or p.get("load_balance_hosts") or "disable",
                "load_balance_hosts")
    return ConnectConfig(
        hosts=tuple(zip(host_list, port_list)), user=user, password=pw, database=database,
        options=options if options is not None else (p.get("options") or env.get("PGOPTIONS")),
        application_name=application_name if application_name is not None else (
            p.get("application_name") or env.get("PGAPPNAME")),
        connect_timeout=ct, tcp_user_timeout=tut, keepalives=ka,
        keepalives_idle=ka_idle if ka else None, keepalives_interval=ka_int if ka else None,
        keepalives_retries=ka_retries if ka else None, target_session_attrs=tsa,
        load_balance_hosts=lbh, ssl_mode=mode,
        ca_file=ca_file or p.get("sslrootcert") or env.get("PGSSLROOTCERT"),
    )
