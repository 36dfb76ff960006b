"""Connection settings: the keyword arguments of ``connect()`` / ``ConnectionPool``, the
connection string (:mod:`.conninfo`), the ``PG*`` environment, the password file
(:mod:`.pgpass`) and the ``~/.postgresql`` defaults, merged into one immutable
:class:`ConnectConfig`.

Precedence, per setting:

* host, hostaddr, port, user, password, database: DSN > keyword argument > environment
  (``PGHOST``, ``PGHOSTADDR``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``) >
  built-in default (``localhost``, 5432, the OS user, the user name).  Without a password,
  each host's is looked up in the password file for that host and port (libpq does the
  same; an empty password counts as none).
* ``ssl_mode`` and ``ca_file`` (= ``sslrootcert``), options, application_name, timeouts,
  keepalives, target_session_attrs, load balancing: keyword argument > DSN > environment >
  default.
* Every other TLS and authentication setting (``sslcert``, ``sslkey``, ``sslpassword``,
  ``sslcrl``, ``sslcrldir``, ``sslsni``, ``sslcertmode``, ``ssl_min_protocol_version``,
  ``ssl_max_protocol_version``, ``channel_binding``, ``require_auth``, ``gssencmode``,
  ``sslnegotiation``): DSN > environment > libpq's default.  Values are checked as libpq
  checks them (exact spellings; an empty value from the environment is a value, as in
  libpq); the files they name are read when a connection is made (:mod:`.tls`).

Units: ``connect_timeout``, ``keepalives_idle``, ``keepalives_interval`` are seconds in the
DSN, as in libpq.  ``tcp_user_timeout`` in a DSN is read as **seconds** like the reference
driver (tokio-postgres) reads it, not milliseconds as libpq does: a DSN written for the
reference driver must not turn a 30 s timeout into 30 ms.  Zero means "no timeout / system
default" everywhere (stored as ``None``).

What we do not implement is refused, never ignored: GSSAPI in any form
(``gssencmode=require``, ``krbsrvname``, ``gsslib``, ``gssdelegation=1``,
``require_auth=gss``/``sspi``, from the DSN or the environment), service files, OAuth,
``sslcertmode=require``, ``sslnegotiation=direct``.  Errors are
:class:`ConnectionPoolConfigurationError`; they name the bad part and never contain a
password, and no exception is chained to one.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .._enums import LoadBalanceHosts, SslMode, TargetSessionAttrs
from ..exceptions import ConnectionPoolConfigurationError
from . import conninfo
from .pgpass import password_from_file

__all__ = ["ConnectConfig", "HostSpec", "TlsSettings", "AuthPolicy", "parse_settings",
           "parse_dsn", "DEFAULT_HOST", "DEFAULT_PORT", "AUTH_REQUESTS"]

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 5432

#: authentication request codes of the protocol (AuthenticationRequest 'R')
AUTH_OK, AUTH_PASSWORD, AUTH_MD5, AUTH_GSS, AUTH_GSS_CONT, AUTH_SSPI = 0, 3, 5, 7, 8, 9
AUTH_SASL, AUTH_SASL_CONT, AUTH_SASL_FIN = 10, 11, 12
#: require_auth method -> the request codes it allows (libpq's table)
AUTH_REQUESTS = {
    "password": frozenset({AUTH_PASSWORD}),
    "md5": frozenset({AUTH_MD5}),
    "gss": frozenset({AUTH_GSS, AUTH_GSS_CONT}),
    "sspi": frozenset({AUTH_SSPI, AUTH_GSS_CONT}),
    "scram-sha-256": frozenset({AUTH_SASL, AUTH_SASL_CONT, AUTH_SASL_FIN}),
    "oauth": frozenset({AUTH_SASL, AUTH_SASL_CONT, AUTH_SASL_FIN}),
}
_ALL_REQUESTS = frozenset(range(32))
_TLS_VERSIONS = {"tlsv1": 0, "tlsv1.1": 1, "tlsv1.2": 2, "tlsv1.3": 3}


# ------------------------------------------------------------------------------------------
# The settings objects
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class HostSpec:
    """One entry of the host list.

    ``host`` is the name given (used for TLS SNI, ``verify-full`` and the password file;
    empty when only ``hostaddr`` was given); ``hostaddr`` the numeric address to connect to
    without a name lookup; ``password`` this entry's password (given, or from the password
    file for this host and port, or None)."""

    host: str
    port: int
    hostaddr: str | None = None
    password: str | None = None

    @property
    def address(self) -> str:
        """What we connect to: ``hostaddr`` when given, else ``host``."""
        return self.hostaddr or self.host

    @property
    def is_unix_socket(self) -> bool:
        return not self.hostaddr and self.host.startswith("/")

    def where(self) -> str:
        if self.is_unix_socket:
            return f"{self.host}/.s.PGSQL.{self.port}"
        if self.hostaddr and self.host and self.host != self.hostaddr:
            return f"{self.host} ({self.hostaddr}):{self.port}"
        return f"{self.address}:{self.port}"

    def __repr__(self) -> str:
        pw = "***" if self.password is not None else "None"
        return (f"HostSpec(host={self.host!r}, port={self.port!r}, "
                f"hostaddr={self.hostaddr!r}, password={pw})")


@dataclass(frozen=True, slots=True, repr=False)
class TlsSettings:
    """TLS settings with libpq's meaning; the files are read when connecting.

    ``rootcert``/``cert``/``key``/``crl`` None mean libpq's defaults under ``home``
    (``~/.postgresql/root.crt``, ``postgresql.crt``, ``postgresql.key``, ``root.crl``);
    ``rootcert="system"`` the system's trust store."""

    mode: SslMode = SslMode.Prefer
    rootcert: str | None = None
    cert: str | None = None
    key: str | None = None
    password: str | None = None
    crl: str | None = None
    crldir: str | None = None
    sni: bool = True
    send_cert: bool = True            # sslcertmode: disable -> False, allow -> True
    min_version: str | None = "TLSv1.2"
    max_version: str | None = None
    home: str | None = None

    def __repr__(self) -> str:
        pw = "***" if self.password is not None else "None"
        return (f"TlsSettings(mode={self.mode.value!r}, rootcert={self.rootcert!r}, "
                f"cert={self.cert!r}, key={self.key!r}, password={pw}, crl={self.crl!r}, "
                f"crldir={self.crldir!r}, sni={self.sni!r}, send_cert={self.send_cert!r}, "
                f"min_version={self.min_version!r}, max_version={self.max_version!r}, "
                f"home={self.home!r})")


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """``channel_binding`` and ``require_auth`` (libpq's ``check_expected_areq``).

    ``allowed`` is the set of authentication request codes the server may send;
    ``auth_required`` whether an AuthenticationOk without a finished exchange is refused
    (``require_auth`` without ``none``)."""

    channel_binding: str = "prefer"
    require_auth: str | None = None
    allowed: frozenset = field(default=_ALL_REQUESTS, repr=False)
    auth_required: bool = False


@dataclass(frozen=True, slots=True, repr=False)
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
    #: the host list with hostaddr and each host's password (built from ``hosts`` and
    #: ``password`` when not given)
    targets: tuple[HostSpec, ...] = ()
    tls: TlsSettings | None = None
    auth: AuthPolicy = field(default_factory=AuthPolicy)

    def __post_init__(self) -> None:
        if not self.targets:
            object.__setattr__(self, "targets", tuple(
                HostSpec(h, p, None, self.password or None) for h, p in self.hosts))
        if self.tls is None:
            object.__setattr__(self, "tls", TlsSettings(mode=self.ssl_mode,
                                                        rootcert=self.ca_file))

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

    def describe(self) -> str:
        """Where this connects, for reprs and logs: hosts, database, user (never a
        secret)."""
        where = ",".join(h if h.startswith("/") else f"{h}:{p}" for h, p in self.hosts)
        return f"{where} db={self.database} user={self.user}"

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
            f"server_settings={self.server_settings!r}, targets={self.targets!r}, "
            f"tls={self.tls!r}, auth={self.auth!r})"
        )

    __str__ = __repr__


def _err(msg: str) -> ConnectionPoolConfigurationError:
    return ConnectionPoolConfigurationError(msg)


def parse_dsn(dsn: str) -> dict[str, str]:
    """Parse a DSN into libpq keywords -> raw string values (see :mod:`.conninfo`)."""
    return conninfo.parse_conninfo(dsn)


# ------------------------------------------------------------------------------------------
# Value checks
# ------------------------------------------------------------------------------------------


def _enum(cls, value, what: str):
    """A keyword argument's enum: the member, its value or its name, any case."""
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


def _libpq_enum(cls, value: str, what: str):
    """A DSN or environment value: libpq's exact spelling."""
    for member in cls:
        if value == member.value:
            return member
    choices = ", ".join(m.value for m in cls)
    raise _err(f"invalid {what} value {value!r} (expected one of: {choices})")


def _choice(value: str, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _err(f"invalid {what} value {value!r} (expected one of: {', '.join(choices)})")
    return value


def _port(value, source: str = "keyword arguments") -> int:
    if isinstance(value, bool):
        raise _err(f"invalid port {value!r} in {source}")
    if isinstance(value, str):
        text = value.strip(conninfo.SPACE)
        if not text:
            raise _err(f"empty port in {source}")
        if not (text.isascii() and text.isdigit()):
            raise _err(f"invalid port {value!r} in {source}")
        value = int(text)
    if not isinstance(value, int):
        raise _err(f"invalid port {value!r} in {source}")
    if not 1 <= value <= 65535:
        raise _err(f"port {value} out of range 1..65535 in {source}")
    return value


def _split_list(value) -> list:
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


def _int_param(value: str, what: str) -> int:
    """libpq's ``pqParseIntParam``: an integer with optional surrounding whitespace."""
    text = value.strip(conninfo.SPACE)
    sign = text[:1] if text[:1] in "+-" else ""
    digits = text[len(sign):]
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
        raise _err(f"invalid integer value {value!r} for connection option {what!r}")
    return int(text)


def _seconds_dsn(value: str, what: str) -> float | None:
    """A DSN/env timeout in whole seconds; zero or negative means none (libpq)."""
    n = _int_param(value, what)
    return float(n) if n > 0 else None


def _count_dsn(value: str, what: str) -> int | None:
    n = _int_param(value, what)
    if n < 0:
        raise _err(f"{what} must not be negative, got {n}")
    return n or None


def _bool_dsn(value: str, what: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "on", "yes"):
        return True
    if low in ("0", "false", "off", "no"):
        return False
    return _int_param(value, what) != 0


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


def _checked_password(value) -> str:
    """A password as a str whose bytes can be sent.  The check raises outside any handler,
    so no exception holding the password is chained to the error."""
    if not isinstance(value, str):
        raise _err(f"password must be a str, not {type(value).__name__}")
    encodable = True
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        encodable = False
    if not encodable:
        raise _err("password cannot be encoded as UTF-8 (it contains a lone surrogate)")
    if "\x00" in value:
        raise _err("password contains a NUL character")
    return value


# ------------------------------------------------------------------------------------------
# The sources: DSN keywords, then the environment
# ------------------------------------------------------------------------------------------


class _Sources:
    """libpq keyword lookups over the parsed DSN and the environment."""

    def __init__(self, dsn_params: dict[str, str], env: Mapping[str, str]):
        self.dsn = dsn_params
        self.env = env

    def from_dsn(self, key: str) -> str | None:
        return self.dsn.get(key)

    def from_env(self, key: str) -> str | None:
        """The environment variable of ``key`` (set means set, even empty: libpq)."""
        name = conninfo.ENVIRONMENT.get(key)
        return self.env.get(name) if name else None

    def get(self, key: str) -> tuple[str | None, str]:
        """(value, where it came from) with DSN > environment."""
        if key in self.dsn:
            return self.dsn[key], f"DSN parameter {key!r}"
        value = self.from_env(key)
        if value is not None:
            return value, conninfo.ENVIRONMENT[key]
        return None, ""

    def nonempty(self, key: str) -> str | None:
        """For the settings where libpq treats an empty value as unset (``[0] != '\\0'``)."""
        value, _ = self.get(key)
        return value or None


def _home(env: Mapping[str, str]) -> str | None:
    """libpq's ``pqGetHomeDirectory``: $HOME, else the user's entry in the password db."""
    home = env.get("HOME")
    if home:
        return home
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_dir or None
    except (ImportError, KeyError, OSError):
        return None


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no such user in a container: libpq would fail too
        return "postgres"


def _refuse_unsupported(src: _Sources) -> None:
    """A libpq setting we do not implement is refused wherever it comes from (an empty
    environment variable counts as unset here: it asks for nothing)."""
    for key, why in conninfo.UNSUPPORTED.items():
        if key in src.dsn:
            value, where = src.dsn[key], f"DSN parameter {key!r}"
        else:
            value, where = src.from_env(key), conninfo.ENVIRONMENT.get(key, key)
            if not value:
                continue
        if key == "gssdelegation" and value.strip() == "0":
            continue  # the default: nothing to delegate
        raise _err(f"{where} is not supported by psqlpy: {why}")


# ------------------------------------------------------------------------------------------
# Hosts, ports and passwords
# ------------------------------------------------------------------------------------------


def _host_lists(src: _Sources, host, hosts) -> tuple[list[str], list[str] | None, str]:
    """(host names, hostaddr list or None, source) before defaults."""
    def split(text: str | None) -> list[str]:
        return text.split(",") if text else []

    if "host" in src.dsn or "hostaddr" in src.dsn:
        # each from the DSN when there (even empty), else its environment variable
        names = split(src.dsn["host"] if "host" in src.dsn else src.env.get("PGHOST"))
        addrs = split(src.dsn["hostaddr"] if "hostaddr" in src.dsn
                      else src.env.get("PGHOSTADDR"))
        return names, addrs or None, "DSN"
    names: list[str] = []
    if host is not None:
        names += [str(h) for h in _split_list(host)]
    if hosts is not None:
        names += [str(h) for h in _split_list(hosts)]
    if names:
        return names, None, "keyword arguments"
    addrs = src.env["PGHOSTADDR"].split(",") if src.env.get("PGHOSTADDR") else None
    if src.env.get("PGHOST"):
        return src.env["PGHOST"].split(","), addrs, "PGHOST"
    return [], addrs, "PGHOSTADDR" if addrs else "defaults"


def _port_list(src: _Sources, port, ports) -> tuple[list, str]:
    if "port" in src.dsn:
        text = src.dsn["port"]
        return (text.split(",") if text else []), "DSN"
    listed: list = []
    if port is not None:
        listed += _split_list(port) if isinstance(port, str) else [port]
    if ports is not None:
        listed += _split_list(ports)
    if listed:
        return listed, "keyword arguments"
    if src.env.get("PGPORT"):
        return src.env["PGPORT"].split(","), "PGPORT"
    return [], "defaults"


def _targets(src: _Sources, host, hosts, port, ports) -> list[tuple[str, str | None, int, str]]:
    """(host, hostaddr, port, port text for the password file) per entry."""
    names, addrs, host_source = _host_lists(src, host, hosts)
    for h in names + (addrs or []):
        if "\x00" in h:
            raise _err(f"host in {host_source} contains a NUL character")
    if addrs is not None:
        if names and len(names) != len(addrs):
            raise _err(f"could not match {len(names)} host names to {len(addrs)} "
                       f"hostaddr values")
        entries = [(names[i].strip() if names else "", a.strip())
                   for i, a in enumerate(addrs)]
    else:
        entries = [(n.strip(), None) for n in names] or [("", None)]
    port_list, port_source = _port_list(src, port, ports)
    if port_list and len(port_list) not in (1, len(entries)):
        raise _err(f"could not match {len(port_list)} port numbers to {len(entries)} hosts "
                   f"({len(entries)} hosts but {len(port_list)} ports in {port_source}: "
                   f"give one port for all hosts or one per host)")
    if len(port_list) == 1:
        port_list = port_list * len(entries)
    out = []
    for i, (name, addr) in enumerate(entries):
        raw = port_list[i] if port_list else None
        if raw is None or (raw == "" and port_source != "keyword arguments"):
            number, text = DEFAULT_PORT, ""   # libpq: an empty entry means 5432
        else:
            number = _port(raw, port_source)
            text = raw if isinstance(raw, str) else str(raw)
        if not name and not addr:
            name = DEFAULT_HOST
        out.append((name, addr, number, text))
    return out


def _passfile(src: _Sources, home: str | None) -> str | None:
    value = src.nonempty("passfile")
    if value:
        return value
    return os.path.join(home, ".pgpass") if home else None


# ------------------------------------------------------------------------------------------
# TLS and authentication
# ------------------------------------------------------------------------------------------


def _require_auth(text: str) -> AuthPolicy | tuple[frozenset, bool]:
    """libpq's parsing of ``require_auth`` -> (allowed request codes, auth_required)."""
    allowed: set[int] = set()
    required = True
    negated = False
    for i, part in enumerate(text.split(",")):
        method = part
        if method.startswith("!"):
            if i == 0:
                negated = True
                required = False
                allowed = set(_ALL_REQUESTS)
            elif not negated:
                raise _err(f"negative require_auth method {method!r} cannot be mixed with "
                           f"non-negative methods")
            method = method[1:]
        elif negated:
            raise _err(f"require_auth method {method!r} cannot be mixed with negative methods")
        if method == "none":
            if negated:
                if required:
                    raise _err(f"require_auth method {part!r} is specified more than once")
                required = True
            else:
                if not required:
                    raise _err(f"require_auth method {part!r} is specified more than once")
                required = False
            continue
        bits = AUTH_REQUESTS.get(method)
        if bits is None:
            raise _err(f"invalid require_auth value {method!r}")
        if not negated and method in ("gss", "sspi"):
            raise _err(f"require_auth={method} is not supported by psqlpy: GSSAPI is not "
                       f"supported")
        if not negated and method == "oauth":
            raise _err("require_auth=oauth is not supported by psqlpy: OAuth authentication "
                       "is not supported")
        if negated:
            if not allowed & bits:
                raise _err(f"require_auth method {part!r} is specified more than once")
            allowed -= bits
        else:
            if bits <= allowed:
                raise _err(f"require_auth method {part!r} is specified more than once")
            allowed |= bits
    return frozenset(allowed), required


def _auth_policy(src: _Sources) -> AuthPolicy:
    cb, where = src.get("channel_binding")
    channel_binding = "prefer" if cb is None else _choice(cb, where, ("disable", "prefer",
                                                                      "require"))
    text = src.nonempty("require_auth")
    if text is None:
        return AuthPolicy(channel_binding=channel_binding)
    allowed, required = _require_auth(text)
    return AuthPolicy(channel_binding=channel_binding, require_auth=text, allowed=allowed,
                      auth_required=required)


def _tls_version(value: str | None, where: str) -> str | None:
    if value is None or value == "":
        return value
    if value.lower() not in _TLS_VERSIONS:
        raise _err(f"invalid {where} value {value!r} (expected TLSv1, TLSv1.1, TLSv1.2 or "
                   f"TLSv1.3)")
    return value


def _tls_settings(src: _Sources, ssl_mode, ca_file, home: str | None) -> TlsSettings:
    # GSSAPI encryption: never used; "require" cannot be satisfied
    value, where = src.get("gssencmode")
    if value is not None:
        _choice(value, where, ("disable", "prefer", "require"))
        if value == "require":
            raise _err(f"{where}=require is not supported by psqlpy: GSSAPI is not "
                       f"supported")
    value, where = src.get("sslnegotiation")
    if value is not None:
        _choice(value, where, ("postgres", "direct"))
        if value == "direct":
            raise _err(f"{where}=direct is not supported by psqlpy (use postgres)")
    value, where = src.get("sslcertmode")
    send_cert = True
    if value is not None:
        _choice(value, where, ("disable", "allow", "require"))
        if value == "require":
            raise _err(f"{where}=require is not supported by psqlpy")
        send_cert = value != "disable"

    explicit = True
    if ssl_mode is not None:
        mode = _enum(SslMode, ssl_mode, "ssl_mode")
    else:
        value, where = src.get("sslmode")
        if value is not None:
            mode = _libpq_enum(SslMode, value, where)
        elif (src.env.get("PGREQUIRESSL") or "").startswith("1"):
            mode = SslMode.Require
        else:
            mode, explicit = SslMode.Prefer, False
    if ca_file is not None:
        rootcert = _text(ca_file, "ca_file") or None
    else:
        rootcert = src.nonempty("sslrootcert")
    if rootcert == "system":  # libpq 16: the system's trust store, and verify-full by default
        if not explicit:
            mode = SslMode.VerifyFull
        elif mode != SslMode.VerifyFull:
            raise _err(f"weak sslmode {mode.value!r} may not be used with sslrootcert=system "
                       f"(use verify-full)")

    min_version, where = src.get("ssl_min_protocol_version")
    min_version = "TLSv1.2" if min_version is None else _tls_version(min_version, where)
    max_version, where = src.get("ssl_max_protocol_version")
    max_version = _tls_version(max_version, where)
    if (min_version and max_version and min_version.lower() != "tlsv1"
            and (max_version.lower() == "tlsv1"
                 or _TLS_VERSIONS[min_version.lower()] > _TLS_VERSIONS[max_version.lower()])):
        raise _err("invalid SSL protocol version range")

    password, _ = src.get("sslpassword")   # no environment variable, as in libpq
    if password is not None:
        password = _checked_password(password)
    sni, _ = src.get("sslsni")
    return TlsSettings(
        mode=mode, rootcert=rootcert, cert=src.nonempty("sslcert"),
        key=src.nonempty("sslkey"), password=password or None, crl=src.nonempty("sslcrl"),
        crldir=src.nonempty("sslcrldir"), sni=(sni if sni is not None else "1")[:1] == "1",
        send_cert=send_cert, min_version=min_version or None,
        max_version=max_version or None, home=home)


# ------------------------------------------------------------------------------------------
# parse_settings
# ------------------------------------------------------------------------------------------


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
    src = _Sources(conninfo.parse_conninfo(dsn) if dsn is not None else {}, env)
    p = src.dsn
    _refuse_unsupported(src)
    home = _home(env)

    # --- who ----------------------------------------------------------------------------
    if p.get("user"):
        user = p["user"]
    elif username is not None:
        user = _text(username, "username")
    else:
        user = env.get("PGUSER") or _default_user()
    user = _text(user, "user")
    if p.get("dbname"):
        database = p["dbname"]
    elif db_name is not None:
        database = _text(db_name, "db_name")
    else:
        database = env.get("PGDATABASE") or user
    database = _text(database, "database name")

    if "password" in p:
        pw: Any = p["password"]
    elif password is not None:
        pw = password
    else:
        pw = env.get("PGPASSWORD")
    if pw is not None:
        pw = _checked_password(pw)

    # --- where ----------------------------------------------------------------------------
    passfile = None if pw else _passfile(src, home)
    targets = []
    for name, addr, number, port_text in _targets(src, host, hosts, port, ports):
        host_pw = pw or None
        if host_pw is None and passfile:
            host_pw = password_from_file(passfile, name or addr or "", port_text, database,
                                         user)
        targets.append(HostSpec(name, number, addr, host_pw))
    host_pairs = tuple((t.host or t.address, t.port) for t in targets)

    # --- session ------------------------------------------------------------------------
    if options is not None:
        opts = _text(options, "options")
    else:
        opts = src.nonempty("options")
    if application_name is not None:
        app = _text(application_name, "application_name")
    else:
        app = src.nonempty("application_name") or p.get("fallback_application_name")
    encoding, where = src.get("client_encoding")
    if encoding and encoding.upper().replace("-", "") not in ("UTF8", "UNICODE"):
        raise _err(f"invalid {where} value {encoding!r} (psqlpy always uses UTF8)")

    # --- timeouts and keepalives ------------------------------------------------------------
    connect_timeout = _duration("connect_timeout", connect_timeout_sec, connect_timeout_nanosec)
    if connect_timeout_sec is None:
        value, where = src.get("connect_timeout")
        if value:
            connect_timeout = _seconds_dsn(value, where)
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
    else:
        value, where = src.get("target_session_attrs")
        tsa = (TargetSessionAttrs.Any if value is None
               else _libpq_enum(TargetSessionAttrs, value, where))
    if load_balance_hosts is not None:
        lbh = _enum(LoadBalanceHosts, load_balance_hosts, "load_balance_hosts")
    else:
        value, where = src.get("load_balance_hosts")
        lbh = (LoadBalanceHosts.Disable if value is None
               else _libpq_enum(LoadBalanceHosts, value, where))

    # --- TLS and authentication ------------------------------------------------------------
    tls = _tls_settings(src, ssl_mode, ca_file, home)
    auth = _auth_policy(src)

    return ConnectConfig(
        hosts=host_pairs, user=user, password=pw, database=database, options=opts or None,
        application_name=app or None, connect_timeout=connect_timeout,
        tcp_user_timeout=tcp_user_timeout, keepalives=ka, keepalives_idle=ka_idle,
        keepalives_interval=ka_interval, keepalives_retries=ka_retries,
        target_session_attrs=tsa, load_balance_hosts=lbh, ssl_mode=tls.mode,
        ca_file=tls.rootcert, server_settings=(), targets=tuple(targets), tls=tls, auth=auth,
    )
