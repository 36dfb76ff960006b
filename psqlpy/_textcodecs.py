"""Statements that are not prepared: parameters typed from their Python values,
results in text format decoded to the same Python values as the binary path.

Why this exists
---------------
``prepared=False`` (and ``statement_cache_size=0``) must work behind PgBouncer in
transaction pooling mode, where every Sync may end a "transaction" and the next
message go to another server connection.  So the whole query is ONE batch:

    Parse(unnamed, param OIDs) + Bind(unnamed portal, result format: text)
    + Describe(portal) + Execute + Sync

Nothing from the server is known before Bind, hence:

* Parameters.  Almost every value goes with type OID 0 (unspecified) in text
  format, so the server infers the type from the query exactly as it does for
  a prepared statement (``current_date + $1``, ``repeat('a', $1)``,
  ``round($1, 2)`` keep working; a fixed int8/float8 OID would break them);
  it then parses our text form, which is exact for int, float (repr),
  Decimal, UUID, date/time, timedelta, bool.  Where the text form would be
  read differently from the binary encoders we adjust it: naive datetimes and
  times get ``+00:00`` (the binary encoders treat naive as UTC; a
  ``timestamp``/``time`` parameter ignores the zone), dicts and lists holding
  dicts go as JSON.  bytes-likes go as bytea (OID 17, binary): their intended
  type is unambiguous and ``length($1)`` must not pick ``length(text)``.
  ``extra_types`` wrappers pin their OID.
* Results.  Column types are known only from the RowDescription that the
  Describe(portal) returns, after Bind chose the formats, so every column
  comes as text, and :func:`decode_rows` turns the text of every type the
  binary path decodes (exactly ``protocol._binary_decoder_oids()``) into the
  same Python value; other types stay ``str`` in both paths.  The connection
  forces ``DateStyle=ISO``; intervals are read in the default
  ``IntervalStyle=postgres``.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import ipaddress
import json
import re
import struct
import uuid

from . import protocol as _proto
from .exceptions import RustToPyValueMappingError

UTC = _dt.timezone.utc

# ---------------------------------------------------------------- parameters

_BYTEA = 17

# extra_types wrapper ``pg_type`` -> OID, only for types with a binary encoder
# (the encoder then does what it does on the prepared path).
_WRAPPER_OIDS = {
    "int2": 21, "int4": 23, "int8": 20, "float4": 700, "float8": 701, "text": 25,
    "varchar": 1043, "json": 114, "jsonb": 3802,
    "bool[]": 1000, "uuid[]": 2951, "varchar[]": 1015, "text[]": 1009, "int2[]": 1005,
    "int4[]": 1007, "int8[]": 1016, "float4[]": 1021, "float8[]": 1022, "json[]": 199,
    "jsonb[]": 3807, "date[]": 1182, "time[]": 1183, "timestamp[]": 1115,
    "timestamptz[]": 1185, "numeric[]": 1231, "interval[]": 1187,
    # pinned so they go binary: money's text form depends on lc_monetary
    "money": 790, "macaddr": 829, "macaddr8": 774, "point": 600, "box": 603, "lseg": 601,
    "line": 628, "circle": 718, "path": 602, "path[]": 1019,
    "money[]": 791, "inet[]": 1041, "macaddr[]": 1040, "macaddr8[]": 775, "point[]": 1017,
    "box[]": 1020, "lseg[]": 1018, "line[]": 629, "circle[]": 719,
}


def _has_dict(v) -> bool:
    for x in v:
        if isinstance(x, dict):
            return True
        if isinstance(x, (list, tuple)) and _has_dict(x):
            return True
    return False


def _param(v):
    """(oid, value to bind) for one Python value."""
    if v is None or isinstance(v, (str, bool, int, float, decimal.Decimal, uuid.UUID)):
        return 0, v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _BYTEA, v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None and v != _dt.datetime.max and v != _dt.datetime.min:
            return 0, v.isoformat() + "+00:00"
        return 0, v
    if isinstance(v, _dt.time):
        if v.tzinfo is None:
            return 0, v.isoformat() + "+00:00"
        return 0, v
    if isinstance(v, dict):
        return 0, json.dumps(v, ensure_ascii=False, allow_nan=False)
    if isinstance(v, (list, tuple)) and _has_dict(v):
        return 0, json.dumps(v, ensure_ascii=False, allow_nan=False)
    pg_type = getattr(type(v), "pg_type", None)
    if pg_type is not None and hasattr(v, "inner_value"):
        oid = _WRAPPER_OIDS.get(pg_type)
        if oid is not None:
            return oid, v.inner_value
    return 0, v


def prepare_params(params):
    """``(param_oids, values)`` for a one-shot statement."""
    if not params:
        return (), ()
    oids = []
    values = []
    for v in params:
        oid, val = _param(v)
        oids.append(oid)
        values.append(val)
    return tuple(oids), values


def prepare_many(seq_of_params):
    """One set of OIDs for every row of ``execute_many`` (a column is typed only
    when every non-NULL value in it agrees), and the converted rows."""
    rows = [prepare_params(p) for p in seq_of_params]
    if not rows:
        return (), []
    n = len(rows[0][0])
    oids = []
    for i in range(n):
        seen = {r[0][i] for r in rows if len(r[0]) == n and r[1][i] is not None}
        oids.append(seen.pop() if len(seen) == 1 else 0)
    out = []
    for r_oids, vals in rows:
        if len(r_oids) != n:
            out.append(vals)  # the count error comes from write_bind
            continue
        vals = list(vals)
        for i in range(n):
            if r_oids[i] != oids[i] and vals[i] is not None and oids[i] == 0:
                # typed in this row but not in all: send its text form
                # (bytes as \x hex, which bytea reads back)
                if isinstance(vals[i], (bytes, bytearray, memoryview)):
                    vals[i] = "\\x" + bytes(vals[i]).hex()
        out.append(vals)
    return tuple(oids), out


# ---------------------------------------------------------------- text decoders


def _range_error(pgtype, s):
    return RustToPyValueMappingError(
        f"{pgtype} value {s} is outside the range of Python's datetime (years 1..9999)")


def _bool(s):
    return s == "t"


def _float4(s):
    return struct.unpack("!f", struct.pack("!f", float(s)))[0]


def _numeric(s):
    return decimal.Decimal(s)


def _bytea(s):
    if s.startswith("\\x"):
        return bytes.fromhex(s[2:])
    # bytea_output = escape
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            if s[i + 1] == "\\":
                out.append(0x5C)
                i += 2
            else:
                out.append(int(s[i + 1:i + 4], 8))
                i += 4
        else:
            out += c.encode("utf-8")
            i += 1
    return bytes(out)


def _char(s):
    if len(s) == 4 and s[0] == "\\":
        return chr(int(s[1:], 8))
    return s


def _json(s):
    return json.loads(s)


def _uuid(s):
    return _proto.UUID(s)


def _macaddr(s):
    return s.upper()


_DATE_RE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)( BC)?$")
_TIME_RE = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?")
_TS_RE = re.compile(
    r"(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
    r"(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$")
_ZONE_RE = re.compile(r"([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$")


def _usec(frac):
    return int(frac.ljust(6, "0")) if frac else 0


def _date(s):
    if s == "infinity":
        return _dt.date.max
    if s == "-infinity":
        return _dt.date.min
    m = _DATE_RE.match(s)
    if m is None:
        raise RustToPyValueMappingError(f"cannot read date {s!r} (DateStyle must be ISO)")
    if m.group(4) or len(m.group(1)) > 4:
        raise _range_error("date", s)
    return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _time_parts(s, pgtype):
    m = _TIME_RE.match(s)
    if m is None:
        raise RustToPyValueMappingError(f"cannot read {pgtype} {s!r}")
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h == 24:
        raise RustToPyValueMappingError(
            f"{pgtype} value 24:00:00 cannot be represented as datetime.time")
    return h, mi, sec, _usec(m.group(4)), s[m.end():]


def _time(s):
    h, mi, sec, us, _ = _time_parts(s, "time")
    return _dt.time(h, mi, sec, us)


def _zone(sign, hh, mm, ss):
    off = int(hh) * 3600 + int(mm or 0) * 60 + int(ss or 0)
    return -off if sign == "-" else off


def _timetz(s):
    h, mi, sec, us, rest = _time_parts(s, "timetz")
    z = _ZONE_RE.match(rest)
    if z is None:
        raise RustToPyValueMappingError(f"cannot read timetz {s!r}")
    off = _zone(*z.groups())
    tz = UTC if off == 0 else _dt.timezone(_dt.timedelta(seconds=off))
    return _dt.time(h, mi, sec, us, tz)


def _ts(s, with_tz):
    pgtype = "timestamptz" if with_tz else "timestamp"
    if s == "infinity":
        return _dt.datetime.max.replace(tzinfo=UTC) if with_tz else _dt.datetime.max
    if s == "-infinity":
        return _dt.datetime.min.replace(tzinfo=UTC) if with_tz else _dt.datetime.min
    m = _TS_RE.match(s)
    if m is None:
        raise RustToPyValueMappingError(f"cannot read {pgtype} {s!r} (DateStyle must be ISO)")
    g = m.groups()
    if g[11] or len(g[0]) > 4:
        raise _range_error(pgtype, s)
    try:
        v = _dt.datetime(int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]),
                         _usec(g[6]))
        if with_tz:
            if g[7] is None:
                raise RustToPyValueMappingError(f"cannot read timestamptz {s!r}: no zone")
            off = _zone(g[7], g[8], g[9], g[10])
            v = (v - _dt.timedelta(seconds=off)).replace(tzinfo=UTC)
    except OverflowError:
        raise _range_error(pgtype, s) from None
    return v


def _timestamp(s):
    return _ts(s, False)


def _timestamptz(s):
    return _ts(s, True)


_IV_UNIT = re.compile(r"([+-]?\d+) (year|mon|day)s?")
_IV_TIME = re.compile(r"([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")
_USECS_PER_DAY = 86400 * 1000000


def _interval(s):
    if s == "infinity":
        return _dt.timedelta.max
    if s == "-infinity":
        return _dt.timedelta.min
    months = days = us = 0
    pos = 0
    for m in _IV_UNIT.finditer(s):
        if s[pos:m.start()].strip():
            raise RustToPyValueMappingError(
                f"cannot read interval {s!r} (IntervalStyle must be postgres)")
        n, unit = int(m.group(1)), m.group(2)
        if unit == "year":
            months += 12 * n
        elif unit == "mon":
            months += n
        else:
            days += n
        pos = m.end()
    rest = s[pos:].strip()
    if rest:
        t = _IV_TIME.match(rest)
        if t is None:
            raise RustToPyValueMappingError(
                f"cannot read interval {s!r} (IntervalStyle must be postgres)")
        us = ((int(t.group(2)) * 60 + int(t.group(3))) * 60 + int(t.group(4))) * 1000000 \
            + _usec(t.group(5))
        if t.group(1) == "-":
            us = -us
    # as the binary decoder: a month is 30 days
    total_days = days + months * 30 + us // _USECS_PER_DAY
    us %= _USECS_PER_DAY
    if not -999999999 <= total_days <= 999999999:
        raise RustToPyValueMappingError(
            f"interval of {total_days} days is outside the range of Python's timedelta")
    return _dt.timedelta(days=total_days, microseconds=us)


def _identity(s):
    return s


def _inet(s):
    return ipaddress.ip_interface(s) if "/" in s else ipaddress.ip_address(s)


def _cidr(s):
    return ipaddress.ip_network(s)


def _money(s):
    # lc_monetary output ("-$1,234.56", "($1.00)"): the binary value is the
    # integer count of the smallest unit, i.e. every digit
    digits = re.sub(r"\D", "", s)
    v = int(digits) if digits else 0
    return -v if ("-" in s or "(" in s) else v


_NUM = re.compile(r"[-+]?(?:Infinity|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _nums(s):
    return [float(x) for x in _NUM.findall(s)]


def _pairs(v):
    return tuple((v[i], v[i + 1]) for i in range(0, len(v), 2))


def _point(s):
    x, y = _nums(s)
    return (x, y)


def _box(s):
    return _pairs(_nums(s))


def _lseg(s):
    return list(_pairs(_nums(s)))


def _path(s):
    # as the binary decoder: a tuple when the first point equals the last
    pts = _pairs(_nums(s))
    return pts if pts and pts[0] == pts[-1] else list(pts)


def _polygon(s):
    return _pairs(_nums(s))


def _line(s):
    return tuple(_nums(s))


def _circle(s):
    x, y, r = _nums(s)
    return ((x, y), r)


# OID -> text decoder for every type the binary path decodes.
SCALAR_DECODERS = {
    16: _bool, 17: _bytea, 18: _char, 19: None, 20: int, 21: int, 23: int, 25: None,
    26: int, 114: _json, 142: None, 700: _float4, 701: float, 705: None, 1042: None,
    1043: None, 1082: _date, 1083: _time, 1114: _timestamp, 1184: _timestamptz,
    1186: _interval, 1266: _timetz, 1700: _numeric, 2950: _uuid, 3802: _json,
    869: _inet, 650: _cidr, 829: _macaddr, 774: _macaddr, 790: _money, 600: _point,
    601: _lseg, 602: _path, 603: _box, 604: _polygon, 628: _line, 718: _circle,
}
ARRAY_ELEMENTS = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1005: 21, 1007: 23, 1009: 25, 1014: 1042,
    1015: 1043, 1016: 20, 1021: 700, 1022: 701, 1028: 26, 1115: 1114, 1182: 1082,
    1183: 1083, 1185: 1184, 1187: 1186, 1231: 1700, 2951: 2950, 199: 114, 3807: 3802,
    1041: 869, 651: 650, 1040: 829, 775: 774, 791: 790, 1017: 600, 1018: 601, 1019: 602,
    1020: 603, 1027: 604, 629: 628, 719: 718, 1270: 1266,
}
_ARRAY_DELIMITERS = {1020: ";"}   # box[]


def _parse_array(s, delim=","):
    """A text array literal -> nested lists of str/None (lower bounds dropped)."""
    i = 0
    if s.startswith("["):
        i = s.index("=") + 1
    n = len(s)

    def level(i):
        out = []
        i += 1  # '{'
        if s[i] == "}":
            return out, i + 1
        while True:
            c = s[i]
            if c == "{":
                v, i = level(i)
            elif c == '"':
                j = i + 1
                buf = []
                while s[j] != '"':
                    if s[j] == "\\":
                        j += 1
                    buf.append(s[j])
                    j += 1
                v = _Str("".join(buf))
                i = j + 1
            else:
                j = i
                while j < n and s[j] != delim and s[j] != "}":
                    j += 1
                tok = s[i:j]
                v = None if tok == "NULL" else _Str(tok)
                i = j
            out.append(v)
            if s[i] == delim:
                i += 1
                continue
            return out, i + 1

    if i >= n or s[i] != "{":
        raise RustToPyValueMappingError(f"cannot read array literal {s[:60]!r}")
    v, _ = level(i)
    return v


class _Str(str):
    """A leaf of a parsed array (tells elements from nested levels)."""
    __slots__ = ()


def _array_decoder(elem_dec, delim=","):
    def dec(s):
        def walk(v):
            out = []
            for x in v:
                if x is None:
                    out.append(None)
                elif isinstance(x, _Str):
                    out.append(str(x) if elem_dec is None else elem_dec(str(x)))
                else:
                    out.append(walk(x))
            return out
        return walk(_parse_array(s, delim))
    return dec


TEXT_DECODERS = {oid: d for oid, d in SCALAR_DECODERS.items()}
for _a, _e in ARRAY_ELEMENTS.items():
    TEXT_DECODERS[_a] = _array_decoder(SCALAR_DECODERS[_e], _ARRAY_DELIMITERS.get(_a, ","))
# (types with a binary decoder we do not know yet stay str: see the test suite)


# ---------------------------------------------------------------- user-defined types
# Decoded exactly when the binary path has a codec for them (TypeRegistry.codec), so
# both paths give the same values: enums as str, domains as their base type,
# composites as dicts, arrays of these as lists.

def _parse_record(s):
    """A composite's text (record_out) -> list of attribute texts (None for NULL)."""
    if len(s) < 2 or s[0] != "(" or s[-1] != ")":
        raise RustToPyValueMappingError(f"cannot read composite value {s[:60]!r}")
    out = []
    i = 1
    while True:
        if s[i] == "," or s[i] == ")":
            out.append(None)          # nothing at all: NULL ("" is the empty string)
        else:
            buf = []
            quoted = False
            while quoted or (s[i] != "," and s[i] != ")"):
                c = s[i]
                if c == '"':
                    if quoted and s[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    quoted = not quoted
                elif c == "\\":
                    i += 1
                    buf.append(s[i])
                else:
                    buf.append(c)
                i += 1
            out.append("".join(buf))
        if s[i] == ")":
            break
        i += 1
    if i != len(s) - 1:
        raise RustToPyValueMappingError(f"cannot read composite value {s[:60]!r}")
    return out


def _composite_decoder(info, parts):
    names = [a for a, _ in info.attributes]
    n = len(names)

    def dec(s):
        texts = _parse_record(s)
        if n == 1 and not texts:
            texts = [None]
        if len(texts) != n:
            raise _proto.StaleTypeError(
                f"composite type {info.qualified_name} has {len(texts)} attributes now, "
                f"{n} when it was introspected")
        return {name: (t if t is None or d is None else d(t))
                for name, d, t in zip(names, parts, texts)}
    return dec


def user_type_decoder(oid, types, depth=0):
    """Text decoder (or None for str) for ``oid`` as ``types`` (a TypeRegistry) knows
    it; ``False`` when the binary path would leave it as text too."""
    if oid in TEXT_DECODERS:
        return TEXT_DECODERS[oid]
    if types.codec(oid) is None or depth > 64:
        return False
    info = types.info(oid)
    if info.kind == "enum":
        return None
    if info.kind == "domain":
        return user_type_decoder(info.base, types, depth + 1)
    if info.kind == "composite":
        parts = [user_type_decoder(t, types, depth + 1) for _, t in info.attributes]
        return _composite_decoder(info, parts)
    if info.kind == "array":
        return _array_decoder(user_type_decoder(info.element, types, depth + 1),
                              info.delimiter)
    return False


def decode_rows(columns, rows, types=None):
    """Decode text-format ``rows`` (tuples of str/None) in place of the binary
    decoders, by each column's type OID (user-defined types as ``types``, a
    TypeRegistry, knows them).  Returns (rows, first error)."""
    decs = []
    for c in columns:
        d = TEXT_DECODERS.get(c.type_oid)
        if d is None and types is not None and c.type_oid not in TEXT_DECODERS:
            d = user_type_decoder(c.type_oid, types) or None
        decs.append(d)
    if not any(decs):
        return rows, None
    error = None
    out = []
    idx = [(i, d) for i, d in enumerate(decs) if d is not None]
    for row in rows:
        vals = list(row)
        for i, d in idx:
            v = vals[i]
            if v is not None:
                try:
                    vals[i] = d(v)
                except RustToPyValueMappingError as e:
                    if error is None:
                        error = e
                    vals[i] = None
                except (ValueError, TypeError, IndexError, OverflowError,
                        decimal.InvalidOperation) as e:
                    if error is None:
                        error = RustToPyValueMappingError(
                            f"cannot decode text value of type OID {columns[i].type_oid}: {e}")
                    vals[i] = None
        out.append(tuple(vals))
    return out, error


class UnpreparedResult:
    """What ``PgConnection.execute`` returns for a one-shot statement: the
    attributes of a finished ``protocol.Request`` that callers read."""

    __slots__ = ("statement", "rows", "tags", "columns", "error_fields", "decode_error",
                 "transaction_status", "suspended", "empty_query", "param_oids")

    def __init__(self, sql, param_oids, req, types=None):
        columns = tuple(req.columns or ())
        self.columns = columns
        self.param_oids = param_oids
        self.statement = _proto.Statement("", sql, param_oids, columns)
        rows, err = decode_rows(columns, req.rows, types) if columns else (req.rows, None)
        self.rows = rows
        self.tags = list(req.tags)
        self.error_fields = req.error_fields
        self.decode_error = req.decode_error or err
        self.transaction_status = req.transaction_status
        self.suspended = req.suspended
        self.empty_query = req.empty_query

    @property
    def tag(self):
        return self.tags[-1] if self.tags else None

    def __repr__(self):
        return f"<UnpreparedResult rows={len(self.rows)} tags={self.tags}>"
