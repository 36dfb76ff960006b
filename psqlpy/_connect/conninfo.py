"""libpq connection strings: the URI form and the ``keyword=value`` form, parsed as libpq
18 parses them (``conninfo_uri_parse_options`` and ``conninfo_parse`` in fe-connect.c), into
a dict of keyword -> raw string value.

Details that matter, all libpq's:

* URI userinfo ends at the *first* ``@`` (a password containing ``@``, ``/``, ``#`` or ``?``
  must percent-encode ``@`` and ``/``; ``#`` and ``?`` are taken literally there).  There is
  no fragment: ``#`` is an ordinary character everywhere.
* Percent-decoding is strict (``%`` must be followed by two hex digits) and ``%00`` is
  refused; ``+`` stays ``+``.  Decoded bytes need not be UTF-8: a password keeps its raw
  bytes (``surrogateescape``), other values must be UTF-8 (we speak UTF-8 to the server).
* Several ``host[:port]`` separated by commas; ``[...]`` for IPv6.  A host without a port
  gets an empty port, which means 5432 (not ``PGPORT``) when another host has one.
* Query parameters must each have exactly one ``=``; unknown keywords are errors;
  ``ssl=true`` means ``sslmode=require`` and ``requiressl`` maps to ``sslmode``.
* ``keyword = value`` pairs separated by ASCII whitespace; values may be single-quoted;
  backslash escapes the next character in both quoted and unquoted values; a later
  keyword overrides an earlier one.

Errors are :class:`ConnectionPoolConfigurationError` and never quote a password: a message
about a password names it as "password" only, and no exception is chained to it.
"""

from __future__ import annotations

import re

from ..exceptions import ConnectionPoolConfigurationError

__all__ = ["parse_conninfo", "KEYWORDS", "UNSUPPORTED", "ENVIRONMENT", "SPACE"]

#: Every keyword libpq 18 knows.  Those in UNSUPPORTED are refused with a message that says
#: so (never ignored); the rest are implemented (some only with the values that need
#: nothing from us, checked by the settings module).
KEYWORDS = frozenset({
    "service", "user", "password", "passfile", "channel_binding", "connect_timeout",
    "dbname", "host", "hostaddr", "port", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "sslmode", "sslnegotiation", "sslcompression",
    "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir",
    "sslsni", "sslkeylogfile", "requirepeer", "require_auth", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "min_protocol_version", "max_protocol_version", "gssencmode",
    "krbsrvname", "gsslib", "gssdelegation", "replication", "target_session_attrs",
    "load_balance_hosts", "scram_client_key", "scram_server_key", "oauth_issuer",
    "oauth_client_id", "oauth_client_secret", "oauth_scope",
    # the reference driver's spelling, accepted by our DSN parser before: kept
    "keepalives_retries",
})

#: keyword -> why it is refused
UNSUPPORTED = {
    "service": "connection service files are not supported",
    "krbsrvname": "GSSAPI is not supported",
    "gsslib": "GSSAPI is not supported",
    "gssdelegation": "GSSAPI is not supported",
    "requirepeer": "requirepeer is not supported",
    "replication": "replication connections are not supported",
    "sslkeylogfile": "sslkeylogfile is not supported",
    "min_protocol_version": "protocol version negotiation is not supported (3.0 only)",
    "max_protocol_version": "protocol version negotiation is not supported (3.0 only)",
    "scram_client_key": "SCRAM pass-through keys are not supported",
    "scram_server_key": "SCRAM pass-through keys are not supported",
    "oauth_issuer": "OAuth authentication is not supported",
    "oauth_client_id": "OAuth authentication is not supported",
    "oauth_client_secret": "OAuth authentication is not supported",
    "oauth_scope": "OAuth authentication is not supported",
}

#: keyword -> its environment variable (libpq's table; PGREQUIRESSL is handled apart)
ENVIRONMENT = {
    "service": "PGSERVICE", "user": "PGUSER", "password": "PGPASSWORD",
    "passfile": "PGPASSFILE", "channel_binding": "PGCHANNELBINDING",
    "connect_timeout": "PGCONNECT_TIMEOUT", "dbname": "PGDATABASE", "host": "PGHOST",
    "hostaddr": "PGHOSTADDR", "port": "PGPORT", "client_encoding": "PGCLIENTENCODING",
    "options": "PGOPTIONS", "application_name": "PGAPPNAME", "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION", "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI", "requirepeer": "PGREQUIREPEER", "require_auth": "PGREQUIREAUTH",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "min_protocol_version": "PGMINPROTOCOLVERSION",
    "max_protocol_version": "PGMAXPROTOCOLVERSION", "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "gssdelegation": "PGGSSDELEGATION",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}

_URI_PREFIXES = ("postgresql://", "postgres://")
#: C isspace() in the C locale: libpq splits keyword=value strings on these only
SPACE = " \t\n\r\v\f"
_HEX = "0123456789abcdefABCDEF"
_KEYWORD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SCHEME_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*)://")


def _err(msg: str) -> ConnectionPoolConfigurationError:
    return ConnectionPoolConfigurationError(msg)


def _decode(text: str, what: str) -> str:
    """libpq's ``conninfo_uri_decode`` (libpq 17+: spaces around a value are dropped,
    spaces inside it are an error).  The value itself is quoted in a message unless it is
    (or may hold) the password."""
    shown = "" if what == "password" else f" {text!r}"
    if "%" not in text and " " not in text:
        return text
    raw = bytearray()
    i, n = 0, len(text)
    while i < n and text[i] == " ":
        i += 1
    while i < n and text[i] != " ":
        c = text[i]
        if c != "%":
            raw += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 2 >= n or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
            raise _err(f"invalid percent-encoded token in DSN {what}{shown}")
        byte = int(text[i + 1:i + 3], 16)
        if byte == 0:
            raise _err(f"forbidden value %00 in percent-encoded DSN {what}{shown}")
        raw.append(byte)
        i += 3
    while i < n and text[i] == " ":
        i += 1
    if i < n:
        raise _err(f"unexpected spaces found in DSN {what}{shown}, use percent-encoded "
                   f"spaces (%20) instead")
    return _to_text(bytes(raw), what, shown)


def _to_text(raw: bytes, what: str, shown: str) -> str:
    if what == "password":
        # libpq sends the bytes as they are; surrogateescape keeps them through str
        return raw.decode("utf-8", "surrogateescape")
    ok = True
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        ok = False
    if not ok:  # raised here, outside the handler: no exception chained to the bytes
        raise _err(f"percent-encoded DSN {what}{shown} is not valid UTF-8")
    return text


def _name(key: str) -> str:
    """A keyword as it may appear in a message: quoted when it looks like one, else not
    at all (a mistyped string may put a password where a keyword was expected)."""
    return repr(key) if _KEYWORD_RE.match(key) else "(not shown)"


def _store(params: dict[str, str], key: str, value: str) -> None:
    if key == "requiressl":  # libpq: requiressl=1 -> require, anything else -> prefer
        key, value = "sslmode", "require" if value.startswith("1") else "prefer"
    if key not in KEYWORDS:
        raise _err(f"invalid connection option {_name(key)}")
    params[key] = value


def _parse_uri(uri: str, prefix_len: int) -> dict[str, str]:
    params: dict[str, str] = {}
    s = uri[prefix_len:]
    n = len(s)
    # userinfo: up to the first '@' met before any '/'
    p = 0
    while p < n and s[p] not in "@/":
        p += 1
    if p < n and s[p] == "@":
        userinfo = s[:p]
        user, sep, password = userinfo.partition(":")
        if user:
            _store(params, "user", _decode(user, "user"))
        if sep and password:
            _store(params, "password", _decode(password, "password"))
        p += 1
    else:
        p = 0
    hosts: list[str] = []
    ports: list[str] = []
    terminator = ""
    while True:
        if p < n and s[p] == "[":
            end = s.find("]", p + 1)
            if end < 0:
                raise _err("end of string reached when looking for matching ']' in IPv6 "
                           "host address in DSN")
            if end == p + 1:
                raise _err("IPv6 host address may not be empty in DSN")
            host = s[p + 1:end]
            p = end + 1
            if p < n and s[p] not in ":/?,":
                raise _err(f"unexpected character {s[p]!r} after IPv6 host address in DSN "
                           "(expected ':' or '/')")
        else:
            start = p
            while p < n and s[p] not in ":/?,":
                p += 1
            host = s[start:p]
        terminator = s[p] if p < n else ""
        hosts.append(host)
        port = None
        if terminator == ":":
            p += 1
            start = p
            while p < n and s[p] not in "/?,":
                p += 1
            port = s[start:p]
            terminator = s[p] if p < n else ""
        ports.append(port or "")
        if terminator != ",":
            break
        p += 1
    host_text = ",".join(hosts)
    port_text = ",".join(ports)
    if host_text:
        _store(params, "host", _decode(host_text, "host"))
    if port_text.strip(","):
        _store(params, "port", _decode(port_text, "port"))
    elif port_text:  # only commas: libpq stores them (every host gets the default port)
        _store(params, "port", port_text)
    if terminator and terminator != "?":
        p += 1  # past '/'
        start = p
        while p < n and s[p] != "?":
            p += 1
        dbname = s[start:p]
        terminator = s[p] if p < n else ""
        if dbname:
            _store(params, "dbname", _decode(dbname, "database name"))
    if terminator:
        _parse_query(s[p + 1:], params)
    return params


def _parse_query(query: str, params: dict[str, str]) -> None:
    pos, n = 0, len(query)
    while pos < n:
        end = query.find("&", pos)
        if end < 0:
            end = n
        item = query[pos:end]
        pos = end + 1
        key, sep, value = item.partition("=")
        if not sep:
            raise _err(f"missing key/value separator '=' in DSN query parameter {_name(key)}")
        if "=" in value:
            raise _err(f"extra key/value separator '=' in DSN query parameter {_name(key)}")
        key = _decode(key, "parameter name")
        secret = key in ("password", "sslpassword")
        value = _decode(value, "password" if secret else f"parameter {key!r}")
        if key == "ssl" and value == "true":  # JDBC spelling, accepted by libpq
            key, value = "sslmode", "require"
        _store(params, key, value)


def _parse_keywords(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i] in SPACE:
            i += 1
            continue
        start = i
        while i < n and text[i] != "=" and text[i] not in SPACE:
            i += 1
        key = text[start:i]
        while i < n and text[i] in SPACE:
            i += 1
        if i >= n or text[i] != "=":
            raise _err(f"missing '=' after {_name(key)} in connection info string")
        i += 1
        while i < n and text[i] in SPACE:
            i += 1
        value: list[str] = []
        quoted = i < n and text[i] == "'"
        if quoted:
            i += 1
        # a backslash takes the next character as it is, quoted or not (libpq)
        while True:
            if i >= n:
                if quoted:
                    raise _err("unterminated quoted string in connection info string")
                break
            c = text[i]
            i += 1
            if c == "\\":
                if i < n:
                    value.append(text[i])
                    i += 1
            elif quoted and c == "'":
                break
            elif not quoted and c in SPACE:
                break
            else:
                value.append(c)
        _store(params, key, "".join(value))
    return params


def parse_conninfo(dsn: str) -> dict[str, str]:
    """Parse a connection string into libpq keywords -> raw values (host, hostaddr and
    port stay comma-separated lists).  URI when it starts with ``postgresql://`` or
    ``postgres://``, else ``keyword=value`` pairs (libpq does not skip leading spaces
    before a URI prefix either)."""
    if not isinstance(dsn, str):
        raise _err(f"dsn must be a str, not {type(dsn).__name__}")
    if "\x00" in dsn:
        raise _err("DSN contains a NUL character")
    for prefix in _URI_PREFIXES:
        if dsn.startswith(prefix):
            return _parse_uri(dsn, len(prefix))
    m = _SCHEME_RE.match(dsn)
    if m:  # libpq would say "missing '='" and quote the whole URL, password included
        raise _err(f"unsupported DSN scheme {m.group(1)!r} (use postgresql:// or postgres://)")
    return _parse_keywords(dsn)
