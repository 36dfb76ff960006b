"""Pure-Python reference decoders, for the differential tests only.

* ``decode_text(oid, text, types)``: a result value's text form (what unprepared queries
  receive) -> the Python value, as ``protocol/codecs/textdecode.pyx`` and the text
  arrays and composites of ``typecodec.pyx`` decode it;
* ``decode_binary(oid, data, types)``: the binary forms of user-defined types
  (composites, arrays of them, enums, domains, ranges, multiranges, hstore, vector), as
  ``typecodec.pyx`` decodes them, and of the built-in ranges and multiranges
  (``range.pyx``);
* ``encode_binary(oid, value, types)``: ranges, multiranges, hstore and vector, as
  ``range.pyx`` and ``extensions.pyx`` write them.

Written for clarity, not speed: ``tests/test_textdecode.py`` and
``tests/test_typecodec.py`` feed both implementations the same input, valid and
hostile, and expect the same value or the same exception class.  ``types`` is a
``TypeRegistry`` (user-defined types) or None.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import ipaddress
import json
import re
import struct

from .. import protocol as _proto
from ..exceptions import ProtocolError, RustToPyValueMappingError

UTC = _dt.timezone.utc

_MAXDIM = 6


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.left < n:
            raise ProtocolError(f"truncated value: needed {n} more bytes, {self.left} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i32(self) -> int:
        return struct.unpack("!i", self.take(4))[0]

    def u32(self) -> int:
        return struct.unpack("!I", self.take(4))[0]


def decode_binary(oid: int, data: bytes, types=None) -> object:
    """Decode ``data``, a binary value of type ``oid``, as ``types`` (a
    TypeRegistry) knows the type; built-in ranges, multiranges and their arrays
    here, other built-in types by the static table."""
    if oid in _proto.oids_without_decoder([oid]):
        return _decode_user(oid, data, types, 0)
    return _part(oid, data, types, 0)


def _decode_user(oid, data, types, depth):
    info = types.info(oid)
    if info is None or types.codec(oid) is None or depth > 64:
        raise ValueError(f"no binary codec for type OID {oid}")
    if info.kind == "enum":
        return _text(data)
    if info.kind == "domain":
        return _part(info.base, data, types, depth)
    if info.kind == "composite":
        return _composite(info, data, types, depth)
    if info.kind == "array":
        return _array(info, data, types, depth)
    if info.kind == "range":
        return _range(data, lambda b: _part(info.subtype, b, types, depth))
    if info.kind == "multirange":
        sub = types.info(info.range).subtype
        return _multirange(data, lambda b: _part(sub, b, types, depth))
    if info.kind == "base" and info.name == "hstore":
        return _hstore(data)
    if info.kind == "base" and info.name == "vector":
        return _vector(data)
    raise ValueError(f"no binary codec for type OID {oid}")


def _range(data, decode):
    r = _Reader(data)
    flags = r.take(1)[0]
    if flags & 0x01:
        if r.left:
            raise ProtocolError("malformed binary range: data after an empty range")
        return _proto.Range(empty=True)
    bounds = []
    for inf in (0x08, 0x10):
        if flags & inf:
            bounds.append(None)
            continue
        n = r.i32()
        if n < 0:
            raise ProtocolError(f"malformed binary range: bound length {n}")
        bounds.append(decode(r.take(n)))
    if r.left:
        raise ProtocolError(f"malformed binary range: {r.left} trailing bytes")
    return _proto.Range(bounds[0], bounds[1], lower_inc=bool(flags & 0x02),
                        upper_inc=bool(flags & 0x04))


def _multirange(data, decode):
    r = _Reader(data)
    count = r.i32()
    if count < 0 or count > r.left // 5:
        raise ProtocolError(f"malformed binary multirange: {count} ranges")
    out = []
    for _ in range(count):
        n = r.i32()
        if n < 0:
            raise ProtocolError(f"malformed binary multirange: range length {n}")
        out.append(_range(r.take(n), decode))
    if r.left:
        raise ProtocolError(f"malformed binary multirange: {r.left} trailing bytes")
    return out


def _hstore(data):
    r = _Reader(data)
    count = r.i32()
    if count < 0 or count > r.left // 8:
        raise ProtocolError(f"malformed binary hstore: {count} pairs")
    out = {}
    for _ in range(count):
        n = r.i32()
        if n < 0:
            raise ProtocolError(f"malformed binary hstore: key length {n}")
        key = _text(r.take(n))
        n = r.i32()
        if n == -1:
            out[key] = None
        elif n < 0:
            raise ProtocolError(f"malformed binary hstore: value length {n}")
        else:
            out[key] = _text(r.take(n))
    if r.left:
        raise ProtocolError(f"malformed binary hstore: {r.left} trailing bytes")
    return out


def _vector(data):
    if len(data) < 4:
        raise ProtocolError(f"malformed binary vector: {len(data)} bytes")
    dim = struct.unpack("!H", data[:2])[0]
    if len(data) != 4 + 4 * dim:
        raise ProtocolError(f"malformed binary vector: {dim} dimensions in {len(data)} bytes")
    return list(struct.unpack(f"!{dim}f", data[4:]))


def _part(oid, data, types, depth):
    if oid in _proto.oids_without_decoder([oid]):
        return _decode_user(oid, data, types, depth + 1)
    if oid in _BUILTIN_RANGES:
        return _range(data, lambda b: _proto._decode_binary(_BUILTIN_RANGES[oid], b))
    if oid in _BUILTIN_MULTIRANGES:
        return _multirange(data, lambda b: _proto._decode_binary(_BUILTIN_MULTIRANGES[oid], b))
    if oid in _RANGE_ARRAYS:
        return _array(_RANGE_ARRAYS[oid], data, types, depth)
    return _proto._decode_binary(oid, data)


def _text(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"invalid UTF-8 from the server: {e}") from None


def _composite(info, data, types, depth):
    r = _Reader(data)
    natts = r.i32()
    if natts != len(info.attributes):
        raise _proto.StaleTypeError(f"composite {info.qualified_name}: {natts} attributes")
    out = {}
    for name, att_oid in info.attributes:
        oid = r.u32()
        n = r.i32()
        if oid != att_oid:
            raise _proto.StaleTypeError(f"attribute {name!r} is of type OID {oid} now")
        if n == -1:
            out[name] = None
        elif n < 0:
            raise ProtocolError(f"malformed binary composite: attribute length {n}")
        else:
            out[name] = _part(att_oid, r.take(n), types, depth)
    if r.left:
        raise ProtocolError(f"malformed binary composite: {r.left} trailing bytes")
    return out


def _array(info, data, types, depth):
    r = _Reader(data)
    ndim, flags, elem_oid = r.i32(), r.i32(), r.u32()
    if ndim < 0 or ndim > _MAXDIM:
        raise ProtocolError(f"malformed binary array: {ndim} dimensions")
    if flags not in (0, 1):
        raise ProtocolError(f"malformed binary array: flags {flags}")
    elem_codec = types.codec(info.element) if types is not None else None
    if elem_oid == info.element or (elem_codec is not None and elem_oid == elem_codec.oid):
        def decode(b):
            return _part(info.element, b, types, depth)
    elif _proto.oids_without_decoder([elem_oid]) or _proto.array_element_oid(elem_oid):
        raise _proto.StaleTypeError(f"array of element type OID {elem_oid}")
    else:
        def decode(b):
            return _proto._decode_binary(elem_oid, b)
    dims = []
    total = 1
    empty = False
    for _ in range(ndim):
        n = r.i32()
        r.i32()                                  # lower bound
        if n < 0:
            raise ProtocolError(f"malformed binary array: dimension length {n}")
        dims.append(n)
        if n == 0:
            empty = True
        elif not empty:
            # as array.pyx: every element takes at least its 4-byte length word
            if n > (r.left // 4) // total:
                raise ProtocolError("malformed binary array: too many elements claimed")
            total *= n
    if ndim == 0 or empty:
        if r.left:
            raise ProtocolError("malformed binary array: data after an empty array")
        return []
    if total * 4 > r.left:
        raise ProtocolError(f"malformed binary array: {total} elements in {r.left} bytes")

    def level(d):
        if d < ndim - 1:
            return [level(d + 1) for _ in range(dims[d])]
        out = []
        for _ in range(dims[d]):
            n = r.i32()
            if n == -1:
                out.append(None)
            elif n < 0:
                raise ProtocolError(f"malformed binary array: element length {n}")
            else:
                out.append(decode(r.take(n)))
        return out

    out = level(0)
    if r.left:
        raise ProtocolError(f"malformed binary array: {r.left} trailing bytes")
    return out


# --------------------------------------------------------------------------- text


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


def _parse_range(s):
    """A range's text -> ("empty",) or (lower_inc, lower text|None, upper text|None, upper_inc)."""
    if s == "empty":
        return None
    if len(s) < 3 or s[0] not in "[(" or s[-1] not in "])":
        raise RustToPyValueMappingError(f"cannot read range value {s[:60]!r}")
    body, bounds, i = s[1:-1], [], 0
    for last in (False, True):
        buf, quoted, plain, start = [], False, True, i
        while True:
            if i >= len(body):
                if not last or quoted:
                    raise RustToPyValueMappingError(f"cannot read range value {s[:60]!r}")
                break
            c = body[i]
            if c == '"':
                plain = False
                if quoted and i + 1 < len(body) and body[i + 1] == '"':
                    buf.append('"')
                    i += 2
                    continue
                quoted = not quoted
            elif not last and not quoted and c == ",":
                break
            elif c == "\\":
                plain = False
                i += 1
                buf.append(body[i])
            else:
                buf.append(c)
            i += 1
        bounds.append(None if plain and i == start else "".join(buf))
        i += 1
    return s[0] == "[", bounds[0], bounds[1], s[-1] == "]"


def _range_decoder(sub):
    def dec(s):
        p = _parse_range(s)
        if p is None:
            return _proto.Range(empty=True)
        lo_inc, lo, hi, hi_inc = p
        conv = (lambda t: t) if sub is None else sub
        return _proto.Range(None if lo is None else conv(lo), None if hi is None else conv(hi),
                            lower_inc=lo_inc, upper_inc=hi_inc)
    return dec


def _multirange_decoder(sub):
    rdec = _range_decoder(sub)

    def dec(s):
        if len(s) < 2 or s[0] != "{" or s[-1] != "}":
            raise RustToPyValueMappingError(f"cannot read multirange value {s[:60]!r}")
        out, i, body = [], 0, s[1:-1]
        while i < len(body):
            j, quoted = i, False
            while j < len(body):
                if body[j] == '"':
                    quoted = not quoted
                elif body[j] == "\\":
                    j += 1
                elif not quoted and body[j] in ")]":
                    break
                j += 1
            if j >= len(body):
                raise RustToPyValueMappingError(f"cannot read multirange value {s[:60]!r}")
            out.append(rdec(body[i:j + 1]))
            i = j + 1
            if i < len(body):
                if body[i] != ",":
                    raise RustToPyValueMappingError(f"cannot read multirange value {s[:60]!r}")
                i += 1
        return out
    return dec


def _hstore_text(s):
    out, i = {}, 0

    def quoted(i):
        if i >= len(s) or s[i] != '"':
            raise RustToPyValueMappingError(f"cannot read hstore value {s[:60]!r}")
        buf, i = [], i + 1
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
            buf.append(s[i])
            i += 1
        return "".join(buf), i + 1
    while i < len(s):
        key, i = quoted(i)
        if s[i:i + 2] != "=>":
            raise RustToPyValueMappingError(f"cannot read hstore value {s[:60]!r}")
        i += 2
        if s[i:i + 4] == "NULL":
            out[key], i = None, i + 4
        else:
            out[key], i = quoted(i)
        if i < len(s):
            if s[i:i + 2] != ", ":
                raise RustToPyValueMappingError(f"cannot read hstore value {s[:60]!r}")
            i += 2
    return out


def _vector_text(s):
    if not (s.startswith("[") and s.endswith("]")):
        raise RustToPyValueMappingError(f"cannot read vector value {s[:60]!r}")
    return [_float4(x) for x in _nums(s)]


_BUILTIN_RANGES = {3904: 23, 3926: 20, 3906: 1700, 3908: 1114, 3910: 1184, 3912: 1082}
_BUILTIN_MULTIRANGES = {4451: 23, 4536: 20, 4532: 1700, 4533: 1114, 4534: 1184, 4535: 1082}
_RANGE_ARRAY_ELEMENTS = {3905: 3904, 3927: 3926, 3907: 3906, 3909: 3908, 3911: 3910,
                         3913: 3912, 6150: 4451, 6157: 4536, 6151: 4532, 6152: 4533,
                         6153: 4534, 6155: 4535}


class _ArrayInfo:
    """What _array needs of a built-in array type."""

    def __init__(self, element):
        self.element = element


_RANGE_ARRAYS = {a: _ArrayInfo(e) for a, e in _RANGE_ARRAY_ELEMENTS.items()}


def _int_vector(s):
    """int2vector / oidvector: space-separated ints (the binary path gives a list too)."""
    return [int(x) for x in s.split(" ")] if s else []


TEXT_DECODERS = {oid: d for oid, d in SCALAR_DECODERS.items()}
for _a, _e in ARRAY_ELEMENTS.items():
    TEXT_DECODERS[_a] = _array_decoder(SCALAR_DECODERS[_e], _ARRAY_DELIMITERS.get(_a, ","))
TEXT_DECODERS[22] = TEXT_DECODERS[30] = _int_vector
for _r, _sub in _BUILTIN_RANGES.items():
    TEXT_DECODERS[_r] = _range_decoder(SCALAR_DECODERS[_sub])
for _r, _sub in _BUILTIN_MULTIRANGES.items():
    TEXT_DECODERS[_r] = _multirange_decoder(SCALAR_DECODERS[_sub])
for _arr, _r in _RANGE_ARRAY_ELEMENTS.items():
    TEXT_DECODERS[_arr] = _array_decoder(TEXT_DECODERS[_r])
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
        elem_info = types.info(info.element)
        return _array_decoder(user_type_decoder(info.element, types, depth + 1) or None,
                              elem_info.delimiter if elem_info else ",")
    if info.kind == "range":
        return _range_decoder(user_type_decoder(info.subtype, types, depth + 1) or None)
    if info.kind == "multirange":
        sub = types.info(info.range).subtype
        return _multirange_decoder(user_type_decoder(sub, types, depth + 1) or None)
    if info.kind == "base" and info.name == "hstore":
        return _hstore_text
    if info.kind == "base" and info.name == "vector":
        return _vector_text
    return False


def decode_text(oid, text, types=None):
    """Decode the text form ``text`` of a value of type ``oid``; errors as the Cython
    decoders raise them (RustToPyValueMappingError for text it cannot read)."""
    dec = user_type_decoder(oid, types) if types is not None else TEXT_DECODERS.get(oid)
    if dec is False or dec is None:
        return text
    try:
        return dec(text)
    except (RustToPyValueMappingError, ProtocolError):
        raise
    except (ValueError, TypeError, IndexError, OverflowError, decimal.InvalidOperation) as e:
        raise RustToPyValueMappingError(f"cannot decode text value of type OID {oid}: {e}") from None


# --------------------------------------------------------------------------- binary encoders
# range_send / multirange_send / hstore_send / pgvector's vector_send, written from
# their C sources; the bounds of built-in ranges through the table's encoders.

_RANGE_EMPTY, _RANGE_LB_INC, _RANGE_UB_INC, _RANGE_LB_INF, _RANGE_UB_INF = 1, 2, 4, 8, 16


def _enc_range(r, enc_bound) -> bytes:
    if r.isempty:
        return bytes([_RANGE_EMPTY])
    flags = 0
    out = b""
    for bound, inc, inc_flag, inf_flag in ((r.lower, r.lower_inc, _RANGE_LB_INC, _RANGE_LB_INF),
                                           (r.upper, r.upper_inc, _RANGE_UB_INC, _RANGE_UB_INF)):
        if bound is None:
            flags |= inf_flag
            continue
        if inc:
            flags |= inc_flag
        b = enc_bound(bound)
        out += struct.pack("!i", len(b)) + b
    return bytes([flags]) + out


def _enc_multirange(ranges, enc_bound) -> bytes:
    out = struct.pack("!i", len(ranges))
    for r in ranges:
        b = _enc_range(r, enc_bound)
        out += struct.pack("!i", len(b)) + b
    return out


def _enc_hstore(d) -> bytes:
    out = struct.pack("!i", len(d))
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack("!i", len(kb)) + kb
        if v is None:
            out += struct.pack("!i", -1)
        else:
            vb = v.encode()
            out += struct.pack("!i", len(vb)) + vb
    return out


def _enc_vector(v) -> bytes:
    return struct.pack(f"!hh{len(v)}f", len(v), 0, *v)


def _builtin_bound(oid):
    return lambda v: _proto._encode_param(oid, v)[1]


def encode_binary(oid: int, value, types=None) -> bytes:
    """``value`` in the binary form of type ``oid``: a range or multirange (built-in,
    or user-defined as ``types`` knows it), hstore or vector."""
    if oid in _BUILTIN_RANGES:
        return _enc_range(value, _builtin_bound(_BUILTIN_RANGES[oid]))
    if oid in _BUILTIN_MULTIRANGES:
        return _enc_multirange(value, _builtin_bound(_BUILTIN_MULTIRANGES[oid]))
    info = types.info(oid)
    if info.kind == "range":
        return _enc_range(value, _builtin_bound(info.subtype))
    if info.kind == "multirange":
        return _enc_multirange(value, _builtin_bound(types.info(info.range).subtype))
    if info.name == "hstore":
        return _enc_hstore(value)
    if info.name == "vector":
        return _enc_vector(value)
    raise ValueError(f"no reference encoder for type OID {oid}")


__all__ = ["decode_binary", "decode_text", "encode_binary"]
