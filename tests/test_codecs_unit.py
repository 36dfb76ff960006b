"""Unit tests for the binary codecs (protocol/codecs/*.pyx).

The codecs are cdef-only; these tests go through the two test hooks
``_decode_binary(oid, data)`` and ``_encode_param(oid, value)`` (which returns
``(format, value bytes without the length word, or None for NULL)``).
"""
from __future__ import annotations

import datetime as dt
import math
import struct
import uuid
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given, settings, strategies as st

from psqlpy.exceptions import ProtocolError, PyToRustValueMappingError, RustToPyValueMappingError
from psqlpy.protocol import _decode_binary, _encode_param

UTC = dt.timezone.utc

BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, XML, FLOAT4, FLOAT8, UNKNOWN, BPCHAR, VARCHAR = 114, 142, 700, 701, 705, 1042, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, TIMETZ = 1082, 1083, 1114, 1184, 1186, 1266
NUMERIC, UUID, JSONB = 1700, 2950, 3802
INT4_ARRAY, INT8_ARRAY, TEXT_ARRAY, DATE_ARRAY, NUMERIC_ARRAY = 1007, 1016, 1009, 1182, 1231
JSONB_ARRAY, UUID_ARRAY, TIMESTAMPTZ_ARRAY, BOOL_ARRAY, FLOAT8_ARRAY = 3807, 2951, 1185, 1000, 1022

ARRAY_OIDS = {
    1000: BOOL, 1001: BYTEA, 1002: CHAR, 1003: NAME, 1005: INT2, 1007: INT4, 1009: TEXT,
    1014: BPCHAR, 1015: VARCHAR, 1016: INT8, 1021: FLOAT4, 1022: FLOAT8, 1028: OID,
    1115: TIMESTAMP, 1182: DATE, 1183: TIME, 1185: TIMESTAMPTZ, 1187: INTERVAL,
    1231: NUMERIC, 2951: UUID, 199: JSON, 3807: JSONB,
}


def roundtrip(oid, value):
    fmt, data = _encode_param(oid, value)
    assert fmt == 1, f"expected binary format for OID {oid}"
    assert data is not None
    return _decode_binary(oid, data)


def array_bytes(elem_oid, dims, elements, flags=0):
    """Binary array; ``elements`` are encoded bytes or None."""
    out = struct.pack(">iiI", len(dims), flags, elem_oid)
    for d in dims:
        out += struct.pack(">ii", d, 1)
    for e in elements:
        out += struct.pack(">i", -1) if e is None else struct.pack(">i", len(e)) + e
    return out


# --------------------------------------------------------------------------- ints

INT_RANGES = {INT2: (-2**15, 2**15 - 1), INT4: (-2**31, 2**31 - 1),
              INT8: (-2**63, 2**63 - 1), OID: (0, 2**32 - 1)}


@pytest.mark.parametrize("oid", sorted(INT_RANGES))
@given(data=st.data())
def test_int_roundtrip(oid, data):
    lo, hi = INT_RANGES[oid]
    v = data.draw(st.integers(lo, hi))
    assert roundtrip(oid, v) == v


@pytest.mark.parametrize("oid", sorted(INT_RANGES))
def test_int_edges(oid):
    lo, hi = INT_RANGES[oid]
    assert roundtrip(oid, lo) == lo
    assert roundtrip(oid, hi) == hi
    for bad in (lo - 1, hi + 1, 2**200, -2**200):
        with pytest.raises(PyToRustValueMappingError, match="out of range"):
            _encode_param(oid, bad)


def test_int2_error_message():
    with pytest.raises(PyToRustValueMappingError,
                       match=r"value 70000 out of range for int2 \(parameter type smallint\)"):
        _encode_param(INT2, 70000)


def test_int_known_bytes():
    assert _encode_param(INT2, 5) == (1, b"\x00\x05")
    assert _encode_param(INT4, -2) == (1, b"\xff\xff\xff\xfe")
    assert _encode_param(INT8, 1) == (1, b"\x00" * 7 + b"\x01")
    assert _encode_param(OID, 2**32 - 1) == (1, b"\xff" * 4)


def test_int_rejects_non_int():
    for v in (1.5, b"1", [1], None.__class__):
        with pytest.raises(PyToRustValueMappingError):
            _encode_param(INT4, v)
    assert roundtrip(INT4, Decimal("7")) == 7       # integral Decimal is fine
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(INT4, Decimal("7.5"))


@pytest.mark.parametrize("oid,size", [(INT2, 2), (INT4, 4), (INT8, 8), (OID, 4),
                                      (FLOAT4, 4), (FLOAT8, 8), (BOOL, 1), (DATE, 4),
                                      (TIME, 8), (TIMESTAMP, 8), (TIMESTAMPTZ, 8),
                                      (TIMETZ, 12), (INTERVAL, 16), (UUID, 16), (CHAR, 1)])
def test_fixed_width_wrong_length(oid, size):
    for n in (0, size - 1, size + 1):
        with pytest.raises(ProtocolError):
            _decode_binary(oid, b"\x00" * n)


# ------------------------------------------------------------------------- floats

@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float8_roundtrip(v):
    r = roundtrip(FLOAT8, v)
    if math.isnan(v):
        assert math.isnan(r)
    else:
        assert r == v and math.copysign(1, r) == math.copysign(1, v)


@given(st.floats(width=32, allow_nan=True, allow_infinity=True))
def test_float4_roundtrip(v):
    r = roundtrip(FLOAT4, v)
    if math.isnan(v):
        assert math.isnan(r)
    else:
        assert r == v


def test_float_accepts_int_and_decimal():
    assert roundtrip(FLOAT8, 3) == 3.0
    assert roundtrip(FLOAT8, Decimal("2.5")) == 2.5
    assert math.isnan(roundtrip(FLOAT8, Decimal("NaN")))
    assert roundtrip(FLOAT4, float("inf")) == float("inf")
    with pytest.raises(PyToRustValueMappingError, match="out of range"):
        _encode_param(FLOAT4, 1e300)
    with pytest.raises(PyToRustValueMappingError, match="out of range"):
        _encode_param(FLOAT8, 10**400)
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(FLOAT8, b"1")


def test_float8_known_bytes():
    assert _encode_param(FLOAT8, 1.0) == (1, struct.pack(">d", 1.0))
    assert _decode_binary(FLOAT4, struct.pack(">f", 0.5)) == 0.5


# -------------------------------------------------------------------------- bool

def test_bool():
    assert _encode_param(BOOL, True) == (1, b"\x01")
    assert _encode_param(BOOL, False) == (1, b"\x00")
    assert _decode_binary(BOOL, b"\x01") is True
    assert _decode_binary(BOOL, b"\x00") is False
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(BOOL, 1)


# ----------------------------------------------------------------------- numeric

def numeric_bytes(ndigits, weight, sign, dscale, digits):
    return struct.pack(f">hhHH{len(digits)}h", ndigits, weight, sign, dscale, *digits)


def test_numeric_known_vector():
    expected = numeric_bytes(3, 1, 0, 3, [1, 2345, 6780])
    assert _encode_param(NUMERIC, Decimal("12345.678")) == (1, expected)
    assert _decode_binary(NUMERIC, expected) == Decimal("12345.678")
    assert str(_decode_binary(NUMERIC, expected)) == "12345.678"


def test_numeric_scale_preserved():
    for s in ("1.50", "0.00", "-0.0001", "100", "1000000", "0.1", "-12.3400"):
        r = roundtrip(NUMERIC, Decimal(s))
        assert str(r) == s


def test_numeric_specials():
    assert roundtrip(NUMERIC, Decimal("NaN")).is_nan()
    assert roundtrip(NUMERIC, Decimal("Infinity")) == Decimal("Infinity")
    assert roundtrip(NUMERIC, Decimal("-Infinity")) == Decimal("-Infinity")
    assert _encode_param(NUMERIC, Decimal("NaN")) == (1, numeric_bytes(0, 0, 0xC000, 0, []))
    assert _encode_param(NUMERIC, Decimal("-Infinity")) == (1, numeric_bytes(0, 0, 0xF000, 0, []))
    assert roundtrip(NUMERIC, float("nan")).is_nan()
    assert roundtrip(NUMERIC, float("-inf")) == Decimal("-Infinity")


def test_numeric_from_int_and_float():
    assert str(roundtrip(NUMERIC, 10**40)) == str(10**40)
    assert str(roundtrip(NUMERIC, -7)) == "-7"
    assert str(roundtrip(NUMERIC, 0.1)) == "0.1"


def test_numeric_dscale_truncates_hidden_digits():
    # digits [1, 5000], weight 0 = 1.5000; dscale 0 hides the fraction (as numeric_recv)
    assert str(_decode_binary(NUMERIC, numeric_bytes(2, 0, 0, 1, [1, 5000]))) == "1.5"
    assert str(_decode_binary(NUMERIC, numeric_bytes(2, 0, 0, 0, [1, 5000]))) == "1"


def test_numeric_limits():
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(NUMERIC, Decimal("1E-16384"))      # dscale too large
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(NUMERIC, Decimal("1E+200000"))     # weight beyond int16
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(NUMERIC, b"1")


@pytest.mark.parametrize("data", [
    b"",
    b"\x00\x01\x00\x00\x00\x00",                      # short header
    numeric_bytes(3, 0, 0, 0, [1]),                   # ndigits larger than the data
    numeric_bytes(1, 0, 0, 0, [1, 2]),                # ndigits smaller than the data
    numeric_bytes(-1, 0, 0, 0, []),                   # negative ndigits
    numeric_bytes(1, 0, 0x1234, 0, [1]),              # bad sign
    numeric_bytes(1, 0, 0, 0, [10000]),               # digit out of range
    numeric_bytes(1, 0, 0, 0x4000, [1]),              # bad dscale
])
def test_numeric_malformed(data):
    with pytest.raises(ProtocolError):
        _decode_binary(NUMERIC, data)


@settings(max_examples=300)
@given(st.decimals(allow_nan=True, allow_infinity=True, places=None))
def test_numeric_roundtrip(v):
    if v.is_snan():
        assert roundtrip(NUMERIC, v).is_nan()
        return
    t = v.as_tuple()
    if isinstance(t.exponent, int) and (-t.exponent > 0x3FFF or v.adjusted() > 4 * 32767):
        with pytest.raises(PyToRustValueMappingError):
            _encode_param(NUMERIC, v)
        return
    r = roundtrip(NUMERIC, v)
    if v.is_nan():
        assert r.is_nan()
    elif v.is_infinite():
        assert r == v
    else:
        assert r == v
        # PostgreSQL keeps the display scale: Decimal exponent -dscale.
        assert r.as_tuple().exponent == min(t.exponent, 0)


@given(st.integers(-30, 30), st.integers(0, 10**30), st.booleans())
def test_numeric_roundtrip_scaled(exp, coeff, neg):
    v = Decimal((1 if neg else 0, tuple(int(c) for c in str(coeff)), exp))
    r = roundtrip(NUMERIC, v)
    assert r == v
    if exp <= 0:
        assert str(r) == str(v) or v == 0


# ------------------------------------------------------------------------- text

@pytest.mark.parametrize("oid", [TEXT, VARCHAR, BPCHAR, NAME, XML, UNKNOWN])
@given(s=st.text().filter(lambda s: "\x00" not in s))
def test_text_roundtrip(oid, s):
    fmt, data = _encode_param(oid, s)
    assert fmt == 1 and data == s.encode()
    assert _decode_binary(oid, cast(bytes, data)) == s


def test_text_rejects_nul_and_surrogates():
    with pytest.raises(PyToRustValueMappingError, match="NUL"):
        _encode_param(TEXT, "a\x00b")
    with pytest.raises(PyToRustValueMappingError, match="NUL"):
        _encode_param(0, "a\x00b")
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(TEXT, "\ud800")
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(TEXT, 5)


def test_text_invalid_utf8():
    with pytest.raises(ProtocolError):
        _decode_binary(TEXT, b"\xff\xfe")


def test_char():
    assert _encode_param(CHAR, "a") == (1, b"a")
    assert _encode_param(CHAR, "") == (1, b"\x00")
    assert _decode_binary(CHAR, b"\x00") == ""
    assert _decode_binary(CHAR, b"\xe9") == "\xe9"
    assert roundtrip(CHAR, "\xe9") == "\xe9"
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(CHAR, "ab")


@given(st.binary())
def test_bytea_roundtrip(b):
    assert roundtrip(BYTEA, b) == b
    assert roundtrip(BYTEA, bytearray(b)) == b
    assert roundtrip(BYTEA, memoryview(b)) == b


def test_bytea_text_form():
    assert _encode_param(0, b"\x00\xff") == (0, b"\\x00ff")
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(BYTEA, 5)


# ------------------------------------------------------------------------- json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text().filter(lambda s: "\x00" not in s)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text().filter(lambda s: "\x00" not in s), children, max_size=4),
    max_leaves=10)


@given(json_values.filter(lambda v: v is not None and not isinstance(v, str)))
def test_json_roundtrip(v):
    # (a top-level str is taken to be JSON text already and sent as-is)
    assert roundtrip(JSON, v) == v
    assert roundtrip(JSONB, v) == v


def test_jsonb_format():
    assert _encode_param(JSONB, {"a": 1}) == (1, b'\x01{"a": 1}')
    assert _encode_param(JSONB, '{"already": "text"}') == (1, b'\x01{"already": "text"}')
    assert _encode_param(JSON, "[1,2]") == (1, b"[1,2]")
    assert _decode_binary(JSONB, b'\x01[1, 2]') == [1, 2]
    with pytest.raises(ProtocolError):
        _decode_binary(JSONB, b"")
    with pytest.raises(ProtocolError):
        _decode_binary(JSONB, b'\x02{}')
    with pytest.raises(ProtocolError):
        _decode_binary(JSON, b'{not json')
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(JSON, {"a": float("nan")})
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(JSONB, {"a": object()})


# ------------------------------------------------------------------------- uuid

@given(st.uuids())
def test_uuid_roundtrip(u):
    fmt, data = _encode_param(UUID, u)
    assert data == u.bytes
    assert _decode_binary(UUID, cast(bytes, data)) == u


def test_uuid_str_goes_text():
    u = uuid.uuid4()
    assert _encode_param(UUID, str(u)) == (0, str(u).encode())


# ---------------------------------------------------------------------- datetime

def test_date_known_and_infinity():
    assert _encode_param(DATE, dt.date(2000, 1, 1)) == (1, b"\x00\x00\x00\x00")
    assert _encode_param(DATE, dt.date(1999, 12, 31)) == (1, b"\xff\xff\xff\xff")
    assert _encode_param(DATE, dt.date.max) == (1, struct.pack(">i", 2**31 - 1))
    assert _encode_param(DATE, dt.date.min) == (1, struct.pack(">i", -2**31))
    assert _decode_binary(DATE, struct.pack(">i", 2**31 - 1)) == dt.date.max
    assert _decode_binary(DATE, struct.pack(">i", -2**31)) == dt.date.min


def test_date_out_of_python_range():
    # 10000-01-01 and 0001-12-31 BC are valid PostgreSQL dates
    for days in (dt.date(9999, 12, 31).toordinal() - 730120 + 1, -730120):
        with pytest.raises(RustToPyValueMappingError, match="outside the range"):
            _decode_binary(DATE, struct.pack(">i", days))


@given(st.dates())
def test_date_roundtrip(d):
    assert roundtrip(DATE, d) == d


@given(st.times())
def test_time_roundtrip(t):
    assert roundtrip(TIME, t) == t


def test_time_bounds():
    assert _decode_binary(TIME, struct.pack(">q", 0)) == dt.time(0)
    with pytest.raises(RustToPyValueMappingError):
        _decode_binary(TIME, struct.pack(">q", 86400 * 10**6))     # 24:00:00
    with pytest.raises(ProtocolError):
        _decode_binary(TIME, struct.pack(">q", -1))
    with pytest.raises(ProtocolError):
        _decode_binary(TIME, struct.pack(">q", 86400 * 10**6 + 1))


@given(st.times(), st.integers(-15 * 3600 - 3599, 15 * 3600 + 3599))
def test_timetz_roundtrip(t, offset):
    tz = dt.timezone(dt.timedelta(seconds=offset))
    v = t.replace(tzinfo=tz)
    r = roundtrip(TIMETZ, v)
    assert r.replace(tzinfo=None) == t.replace(tzinfo=None)
    assert r.utcoffset() == dt.timedelta(seconds=offset)


def test_timetz_wire_offset_is_west_of_utc():
    v = dt.time(1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert cast(bytes, _encode_param(TIMETZ, v)[1])[8:] == struct.pack(">i", -7200)
    assert roundtrip(TIMETZ, dt.time(1, 0)).utcoffset() == dt.timedelta(0)   # naive -> UTC


@given(st.datetimes())
def test_timestamp_roundtrip(v):
    assert roundtrip(TIMESTAMP, v) == v


def test_timestamp_known_and_infinity():
    assert _encode_param(TIMESTAMP, dt.datetime(2000, 1, 1)) == (1, b"\x00" * 8)
    assert _encode_param(TIMESTAMP, dt.datetime(2000, 1, 1, 0, 0, 1)) == (1, struct.pack(">q", 10**6))
    assert _encode_param(TIMESTAMP, dt.datetime.max) == (1, struct.pack(">q", 2**63 - 1))
    assert _encode_param(TIMESTAMP, dt.datetime.min) == (1, struct.pack(">q", -2**63))
    assert _decode_binary(TIMESTAMP, struct.pack(">q", 2**63 - 1)) == dt.datetime.max
    assert _decode_binary(TIMESTAMP, struct.pack(">q", -2**63)) == dt.datetime.min
    assert _decode_binary(TIMESTAMPTZ, struct.pack(">q", 2**63 - 1)) == dt.datetime.max.replace(tzinfo=UTC)
    with pytest.raises(RustToPyValueMappingError):
        _decode_binary(TIMESTAMP, struct.pack(">q", 2**62))
    with pytest.raises(RustToPyValueMappingError):
        _decode_binary(TIMESTAMPTZ, struct.pack(">q", -2**62))


@given(st.datetimes(timezones=st.timezones() | st.just(UTC)
                    | st.builds(lambda s: dt.timezone(dt.timedelta(seconds=s)),
                                st.integers(-86399, 86399))))
def test_timestamptz_roundtrip_aware(v):
    try:
        expected = v.astimezone(UTC)
    except (OverflowError, ValueError):
        return  # the instant is outside Python's range after conversion
    if v.utcoffset() is None:
        return
    try:
        r = roundtrip(TIMESTAMPTZ, v)
    except RustToPyValueMappingError:
        return
    assert r == expected and r.tzinfo is UTC


@given(st.datetimes())
def test_timestamptz_naive_is_utc(v):
    r = roundtrip(TIMESTAMPTZ, v)
    assert r == v.replace(tzinfo=UTC)


@given(st.timedeltas())
def test_interval_roundtrip(v):
    assert roundtrip(INTERVAL, v) == v


def test_interval_months_are_30_days():
    data = struct.pack(">qii", 3_600_000_000, 2, 1)       # 1 mon 2 days 01:00
    assert _decode_binary(INTERVAL, data) == dt.timedelta(days=32, hours=1)
    data = struct.pack(">qii", -1, 0, -1)
    assert _decode_binary(INTERVAL, data) == dt.timedelta(days=-30, microseconds=-1)
    with pytest.raises(RustToPyValueMappingError):
        _decode_binary(INTERVAL, struct.pack(">qii", 0, 0, 2**31 - 2))
    assert _decode_binary(INTERVAL, struct.pack(">qii", 2**63 - 1, 2**31 - 1, 2**31 - 1)) == dt.timedelta.max


def test_str_for_non_text_types_goes_text():
    assert _encode_param(DATE, "2024-01-01") == (0, b"2024-01-01")
    assert _encode_param(TIMESTAMPTZ, "now") == (0, b"now")
    assert _encode_param(INT4, "12") == (0, b"12")
    assert _encode_param(NUMERIC, "1.5") == (0, b"1.5")


# ------------------------------------------------------------------ text format

def test_text_format_for_unknown_oid():
    assert _encode_param(0, True) == (0, b"t")
    assert _encode_param(0, 12) == (0, b"12")
    assert _encode_param(0, "x") == (0, b"x")
    assert _encode_param(0, None) == (0, None)
    assert _encode_param(0, Decimal("1.50")) == (0, b"1.50")
    assert _encode_param(0, float("nan")) == (0, b"NaN")
    assert _encode_param(0, dt.date.max) == (0, b"infinity")
    assert _encode_param(0, dt.timedelta(days=1, seconds=2, microseconds=3)) == (
        0, b"1 days 2 seconds 3 microseconds")
    assert _encode_param(0, [1, None, 'a"b\\']) == (0, b'{"1",NULL,"a\\"b\\\\"}')
    assert _encode_param(0, [[1, 2], [3, 4]]) == (0, b'{{"1","2"},{"3","4"}}')
    assert _encode_param(0, []) == (0, b"{}")
    assert _encode_param(0, {"a": 1}) == (0, b'{"a": 1}')
    assert _encode_param(99999, 5) == (0, b"5")   # no binary encoder -> text


def test_null_param():
    assert _encode_param(INT4, None) == (1, None)


# ------------------------------------------------------------------------ arrays

def test_array_known_bytes():
    fmt, data = _encode_param(INT4_ARRAY, [1, None, 3])
    assert fmt == 1
    assert data == array_bytes(INT4, [3], [b"\x00\x00\x00\x01", None, b"\x00\x00\x00\x03"], flags=1)
    assert _decode_binary(INT4_ARRAY, cast(bytes, data)) == [1, None, 3]
    assert _encode_param(INT4_ARRAY, []) == (1, struct.pack(">iiI", 0, 0, INT4))


def test_array_2d_and_lower_bounds_ignored():
    v = [[1, 2, 3], [4, None, 6]]
    assert roundtrip(INT8_ARRAY, v) == v
    data = struct.pack(">iiI", 1, 0, INT4) + struct.pack(">ii", 2, -5) + \
        struct.pack(">ii", 4, 7) + struct.pack(">ii", 4, 8)
    assert _decode_binary(INT4_ARRAY, data) == [7, 8]
    assert roundtrip(INT4_ARRAY, [[], []]) == []
    assert roundtrip(INT4_ARRAY, (1, 2)) == [1, 2]


def test_array_ragged_and_bad_elements():
    with pytest.raises(PyToRustValueMappingError, match="ragged"):
        _encode_param(INT4_ARRAY, [[1, 2], [3]])
    with pytest.raises(PyToRustValueMappingError, match="ragged"):
        _encode_param(INT4_ARRAY, [[1, 2], 3])
    with pytest.raises(PyToRustValueMappingError, match="ragged"):
        _encode_param(INT4_ARRAY, [1, [2]])
    with pytest.raises(PyToRustValueMappingError, match="out of range"):
        _encode_param(1005, [1, 70000])
    with pytest.raises(PyToRustValueMappingError, match="dimensions"):
        _encode_param(INT4_ARRAY, [[[[[[[1]]]]]]])
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(INT4_ARRAY, 5)


def test_array_str_elements_of_non_text_type_go_text():
    assert _encode_param(DATE_ARRAY, ["2024-01-01", None]) == (0, b'{"2024-01-01",NULL}')


def test_array_of_every_type():
    samples: dict[int, list[Any]] = {
        BOOL: [True, None, False], BYTEA: [b"\x00", None], CHAR: ["a", ""], NAME: ["n"],
        INT2: [1, -2], INT4: [3], TEXT: ["x", "y"], BPCHAR: ["b "], VARCHAR: ["v"],
        INT8: [2**40], FLOAT4: [0.5], FLOAT8: [1.25, None], OID: [7],
        TIMESTAMP: [dt.datetime(2020, 1, 2, 3, 4, 5, 6)], DATE: [dt.date(2020, 1, 2), dt.date.max],
        TIME: [dt.time(1, 2, 3)], TIMESTAMPTZ: [dt.datetime(2020, 1, 2, tzinfo=UTC)],
        INTERVAL: [dt.timedelta(hours=1)], NUMERIC: [Decimal("1.50"), None],
        UUID: [uuid.UUID(int=5)], JSON: [{"a": 1}, None], JSONB: [{"b": [1]}],
    }
    for array_oid, elem in ARRAY_OIDS.items():
        v = samples[elem]
        r = roundtrip(array_oid, v)
        assert r == v, (array_oid, r, v)
        assert [str(x) for x in r] == [str(x) for x in v]


@given(st.lists(st.lists(st.one_of(st.none(), st.integers(-2**31, 2**31 - 1)),
                         min_size=3, max_size=3), min_size=1, max_size=4))
def test_array_2d_roundtrip(v):
    assert roundtrip(INT4_ARRAY, v) == v


@given(st.lists(st.one_of(st.none(), st.text().filter(lambda s: "\x00" not in s))))
def test_text_array_roundtrip(v):
    assert roundtrip(TEXT_ARRAY, v) == v


@pytest.mark.parametrize("data", [
    b"",
    struct.pack(">ii", 1, 0),                                                 # truncated header
    struct.pack(">iiI", 1, 0, INT4),                                          # missing dims
    struct.pack(">iiIii", 1, 0, INT4, 1000000, 1),                            # dims claim more than bytes
    struct.pack(">iiIiiii", 2, 0, INT4, 65536, 1, 65536, 1) + b"\x00" * 64,   # huge product
    struct.pack(">iiIii", 1, 0, INT4, 2**31 - 1, 1) + b"\x00" * 8,
    struct.pack(">iiIii", 1, 0, INT4, 2, 1) + struct.pack(">ii", 4, 1),       # second element missing
    struct.pack(">iiIii", 1, 0, INT4, 1, 1) + struct.pack(">i", 3) + b"\x00\x00\x00",  # wrong elem len
    struct.pack(">iiIii", 1, 0, INT4, 1, 1) + struct.pack(">i", 100) + b"\x00" * 4,   # len > data
    struct.pack(">iiIii", 1, 0, INT4, 1, 1) + struct.pack(">i", -2) + b"\x00" * 4,    # bad length
    struct.pack(">iiIii", 1, 0, INT4, 1, 1) + struct.pack(">ii", 4, 1) + b"x",  # trailing bytes
    struct.pack(">iiIii", 1, 0, INT4, -1, 1),                                  # negative dim
    struct.pack(">iiI", 7, 0, INT4) + struct.pack(">ii", 1, 1) * 7,           # too many dims
    struct.pack(">iiI", -1, 0, INT4),                                         # negative ndim
    struct.pack(">iiIii", 1, 2, INT4, 1, 1) + struct.pack(">ii", 4, 1),       # bad flags
    struct.pack(">iiIii", 1, 0, 1007, 1, 1) + struct.pack(">i", 12) + struct.pack(">iiI", 0, 0, 23),  # nested array elem
    struct.pack(">iiIii", 1, 0, 2278, 1, 1) + struct.pack(">i", -1),          # unsupported elem (void)
    struct.pack(">iiI", 0, 0, INT4) + b"\x00",                                # data after empty array
])
def test_array_malformed(data):
    with pytest.raises(ProtocolError):
        _decode_binary(INT4_ARRAY, data)


@settings(max_examples=500)
@given(st.sampled_from(sorted(set(ARRAY_OIDS) | set(ARRAY_OIDS.values()))), st.binary(max_size=64))
def test_random_bytes_never_crash(oid, data):
    # Arbitrary input may decode or raise, but only the documented errors.
    try:
        _decode_binary(oid, data)
    except (ProtocolError, RustToPyValueMappingError):
        pass


@settings(max_examples=300)
@given(st.binary(max_size=48))
def test_random_array_bodies_never_crash(body):
    for elem in (INT4, TEXT, NUMERIC, DATE, INTERVAL):
        data = struct.pack(">iiI", 1, 0, elem) + body
        try:
            _decode_binary(INT4_ARRAY, data)
        except (ProtocolError, RustToPyValueMappingError):
            pass


# ------------------------------------------------------------------ inet / cidr / mac / money

import enum
import ipaddress

from psqlpy import extra_types as et

INET, CIDR, MACADDR, MACADDR8, MONEY = 869, 650, 829, 774, 790
POINT, LSEG, PATH, BOX, POLYGON, LINE, CIRCLE = 600, 601, 602, 603, 604, 628, 718
NEW_ARRAY_OIDS = {
    1041: INET, 651: CIDR, 1040: MACADDR, 775: MACADDR8, 791: MONEY, 1017: POINT,
    1018: LSEG, 1019: PATH, 1020: BOX, 1027: POLYGON, 629: LINE, 719: CIRCLE, 1270: TIMETZ,
}


def test_new_oids_registered():
    from psqlpy.protocol import _binary_decoder_oids, _binary_encoder_oids
    dec, enc = set(_binary_decoder_oids()), set(_binary_encoder_oids())
    for oid in (INET, CIDR, MACADDR, MACADDR8, MONEY, POINT, LSEG, PATH, BOX, POLYGON,
                LINE, CIRCLE, *NEW_ARRAY_OIDS):
        assert oid in dec and oid in enc, oid


def test_inet_known_bytes():
    assert _encode_param(INET, ipaddress.IPv4Address("192.168.0.1")) == \
        (1, bytes([2, 32, 0, 4, 192, 168, 0, 1]))
    assert _encode_param(INET, ipaddress.IPv4Interface("10.1.2.3/24")) == \
        (1, bytes([2, 24, 0, 4, 10, 1, 2, 3]))
    assert _encode_param(CIDR, ipaddress.IPv4Network("10.1.2.0/24")) == \
        (1, bytes([2, 24, 1, 4, 10, 1, 2, 0]))
    assert _encode_param(INET, ipaddress.IPv6Address("::1")) == \
        (1, bytes([3, 128, 0, 16]) + bytes(15) + b"\x01")
    # a str goes as text (the server parses it)
    assert _encode_param(INET, "10.0.0.1/8") == (0, b"10.0.0.1/8")


@pytest.mark.parametrize("value,expected", [
    (ipaddress.IPv4Address("192.168.0.1"), ipaddress.IPv4Address("192.168.0.1")),
    (ipaddress.IPv4Interface("192.168.0.1/24"), ipaddress.IPv4Interface("192.168.0.1/24")),
    (ipaddress.IPv4Interface("192.168.0.1/32"), ipaddress.IPv4Address("192.168.0.1")),
    (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Interface("10.0.0.0/8")),
    (ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::1")),
    (ipaddress.IPv6Interface("2001:db8::1/64"), ipaddress.IPv6Interface("2001:db8::1/64")),
])
def test_inet_roundtrip(value, expected):
    got = roundtrip(INET, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value,expected", [
    (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("10.0.0.0/8")),
    (ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Network("10.0.0.1/32")),
    (ipaddress.IPv4Interface("10.0.0.0/8"), ipaddress.IPv4Network("10.0.0.0/8")),
    (ipaddress.IPv6Network("2001:db8::/32"), ipaddress.IPv6Network("2001:db8::/32")),
])
def test_cidr_roundtrip(value, expected):
    got = roundtrip(CIDR, value)
    assert got == expected and type(got) is type(expected)


def test_cidr_host_bits_refused():
    with pytest.raises(PyToRustValueMappingError, match="right of the prefix"):
        _encode_param(CIDR, ipaddress.IPv4Interface("10.1.2.3/24"))
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(INET, 12345)


def test_inet_malformed():
    for data in (b"", bytes([2, 32, 0, 4, 1, 2, 3]), bytes([7, 32, 0, 4, 1, 2, 3, 4]),
                 bytes([2, 33, 0, 4, 1, 2, 3, 4]), bytes([2, 32, 0, 16, 1, 2, 3, 4]),
                 bytes([3, 64, 0, 4, 1, 2, 3, 4])):
        with pytest.raises(ProtocolError):
            _decode_binary(INET, data)
    with pytest.raises(ProtocolError):
        _decode_binary(CIDR, bytes([2, 8, 1, 4, 10, 1, 2, 3]))   # host bits set


def test_macaddr():
    raw = bytes.fromhex("08002b010203")
    # the reference driver's form: uppercase hex
    assert _decode_binary(MACADDR, raw) == "08:00:2B:01:02:03"
    for v in ("08:00:2B:01:02:03", "08-00-2b-01-02-03", "0800.2b01.0203", raw,
              et.MacAddr6("08:00:2b:01:02:03")):
        assert _encode_param(MACADDR, v)[1] in (raw, b"08:00:2B:01:02:03",
                                               b"08-00-2b-01-02-03", b"0800.2b01.0203")
    assert _encode_param(MACADDR, raw) == (1, raw)
    assert _encode_param(MACADDR, et.MacAddr6("08-00-2b-01-02-03")) == (1, raw)
    assert _encode_param(MACADDR8, raw) == (1, bytes.fromhex("08002bfffe010203"))
    assert _encode_param(MACADDR8, et.MacAddr8("08:00:2b:01:02:03:04:05")) == \
        (1, bytes.fromhex("08002b0102030405"))
    assert _decode_binary(MACADDR8, bytes.fromhex("08002b0102030405")) == \
        "08:00:2B:01:02:03:04:05"
    assert _decode_binary(MACADDR, bytes(range(0xFA, 0x100))) == "FA:FB:FC:FD:FE:FF"
    # str elements of macaddr[] are parsed here (binary)
    assert roundtrip(1040, ["08:00:2b:01:02:03", None]) == ["08:00:2B:01:02:03", None]
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(MACADDR, b"\x00" * 5)
    # an unparsable str element: the whole array goes as text (server decides)
    assert _encode_param(1040, ["zz:00:2b:01:02:03"]) == (0, b'{"zz:00:2b:01:02:03"}')
    with pytest.raises(ProtocolError):
        _decode_binary(MACADDR, b"\x00" * 8)


def test_money():
    assert _encode_param(MONEY, 1234) == (1, struct.pack(">q", 1234))
    assert roundtrip(MONEY, -5) == -5
    assert _encode_param(MONEY, et.Money(99)) == (1, struct.pack(">q", 99))
    assert _encode_param(MONEY, "12.34") == (0, b"12.34")
    for bad in (1.5, Decimal("1.00"), True, 2**63):
        with pytest.raises(PyToRustValueMappingError):
            _encode_param(MONEY, bad)
    assert roundtrip(791, [[1, None], [3, 4]]) == [[1, None], [3, 4]]


# ------------------------------------------------------------------------- geometry

def test_geometry_roundtrip():
    assert roundtrip(POINT, (1.5, -2)) == (1.5, -2.0)
    assert roundtrip(POINT, [1, 2]) == (1.0, 2.0)
    # lseg: a list of two points, as the reference driver returns it
    assert roundtrip(LSEG, ((0, 0), (1, 1))) == [(0.0, 0.0), (1.0, 1.0)]
    assert roundtrip(LSEG, (0, 0, 1, 1)) == [(0.0, 0.0), (1.0, 1.0)]
    assert roundtrip(BOX, ((3, 4), (1, 2))) == ((3.0, 4.0), (1.0, 2.0))
    assert roundtrip(LINE, (1, -1, 0)) == (1.0, -1.0, 0.0)
    assert roundtrip(CIRCLE, ((1, 2), 3)) == ((1.0, 2.0), 3.0)
    assert roundtrip(CIRCLE, (1, 2, 3)) == ((1.0, 2.0), 3.0)
    # path: a tuple when the first point equals the last, else a list (the reference's
    # rule), and sent closed exactly then, list or tuple alike
    assert roundtrip(PATH, [(0, 0), (1, 1)]) == [(0.0, 0.0), (1.0, 1.0)]
    assert roundtrip(PATH, ((0, 0), (1, 1))) == [(0.0, 0.0), (1.0, 1.0)]
    assert roundtrip(PATH, [(0, 0), (1, 1), (0, 0)]) == ((0.0, 0.0), (1.0, 1.0), (0.0, 0.0))
    assert roundtrip(PATH, [(-0.0, 0), (1, 1), (0, 0)]) == ((0.0, 0.0), (1.0, 1.0), (0.0, 0.0))
    nan = float("nan")
    assert isinstance(roundtrip(PATH, [(nan, 0), (nan, 0)]), list)
    for closed_flag in (0, 1):   # the server's flag does not decide the shape
        assert _decode_binary(PATH, bytes([closed_flag]) + struct.pack(">idddd", 2, 1, 2, 3, 4)) \
            == [(1.0, 2.0), (3.0, 4.0)]
        assert _decode_binary(PATH, bytes([closed_flag]) + struct.pack(">idddd", 2, 1, 2, 1, 2)) \
            == ((1.0, 2.0), (1.0, 2.0))
    assert roundtrip(POLYGON, [(0, 0), (1, 1), (1, 0)]) == ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))
    assert _encode_param(POINT, (1, 2)) == (1, struct.pack(">dd", 1, 2))
    # one point: its first is its last, so closed
    assert _encode_param(PATH, [(1, 2)]) == (1, b"\x01" + struct.pack(">idd", 1, 1, 2))
    assert _encode_param(PATH, [(1, 2), (3, 4)]) == (1, b"\x00" + struct.pack(">idddd", 2, 1, 2, 3, 4))
    assert _encode_param(PATH, ((1, 2), (3, 4))) == (1, b"\x00" + struct.pack(">idddd", 2, 1, 2, 3, 4))
    assert _encode_param(PATH, [(1, 2), (1, 2)]) == (1, b"\x01" + struct.pack(">idddd", 2, 1, 2, 1, 2))


def test_geometry_wrappers():
    assert _encode_param(POINT, et.Point((1, 2)))[1] == struct.pack(">dd", 1, 2)
    assert _encode_param(BOX, et.Box((1, 2, 3, 4)))[1] == struct.pack(">dddd", 1, 2, 3, 4)
    assert cast(bytes, _encode_param(PATH, et.Path([(1, 2), (3, 4)]))[1])[0] == 0
    assert cast(bytes, _encode_param(PATH, et.Path(((1, 2), (3, 4))))[1])[0] == 0
    assert cast(bytes, _encode_param(PATH, et.Path([(1, 2), (3, 4), (1, 2)]))[1])[0] == 1
    assert _encode_param(LINE, et.Line((1, 2, 3)))[1] == struct.pack(">ddd", 1, 2, 3)
    assert _encode_param(CIRCLE, et.Circle((1, 2, 3)))[1] == struct.pack(">ddd", 1, 2, 3)
    assert _encode_param(LSEG, et.LineSegment(((1, 2), (3, 4))))[1] == \
        struct.pack(">dddd", 1, 2, 3, 4)
    # a wrapper for a parameter whose type has no binary codec: its text form
    assert _encode_param(0, et.Point((1, 2))) == (0, b"(1.0,2.0)")
    assert _encode_param(0, et.Box((1, 2, 3, 4))) == (0, b"(1.0,2.0),(3.0,4.0)")
    assert _encode_param(0, et.LineSegment((1, 2, 3, 4))) == (0, b"[(1.0,2.0),(3.0,4.0)]")
    assert _encode_param(0, et.Line((1, 2, 3))) == (0, b"{1.0,2.0,3.0}")
    assert _encode_param(0, et.Circle((1, 2, 3))) == (0, b"<(1.0,2.0),3.0>")
    assert _encode_param(0, et.Path([(1, 2), (3, 4)])) == (0, b"[(1.0,2.0),(3.0,4.0)]")
    assert _encode_param(0, et.Path(((1, 2), (3, 4)))) == (0, b"[(1.0,2.0),(3.0,4.0)]")
    assert _encode_param(0, et.Path([(1, 2), (1, 2)])) == (0, b"((1.0,2.0),(1.0,2.0))")


def test_geometry_errors():
    for oid, bad in [(POINT, (1,)), (POINT, "x"), (POINT, (1, "a")), (LINE, (0, 0, 1)),
                     (CIRCLE, ((0, 0), -1)), (PATH, []), (POLYGON, ()), (BOX, (1, 2, 3)),
                     (1017, (1, 2))]:
        fmt_bad = None
        try:
            fmt_bad = _encode_param(oid, bad)
        except PyToRustValueMappingError:
            continue
        assert fmt_bad[0] == 0 and isinstance(bad, str), (oid, bad)
    for oid, n in [(POINT, 15), (LSEG, 31), (BOX, 33), (LINE, 16), (CIRCLE, 8)]:
        with pytest.raises(ProtocolError):
            _decode_binary(oid, b"\x00" * n)
    for data in (b"\x00", b"\x02" + struct.pack(">i", 0), b"\x00" + struct.pack(">i", 2) + b"\x00" * 16,
                 b"\x00" + struct.pack(">i", -1)):
        with pytest.raises(ProtocolError):
            _decode_binary(PATH, data)
    with pytest.raises(ProtocolError):
        _decode_binary(POLYGON, struct.pack(">i", 3) + b"\x00" * 16)


def test_geometry_arrays():
    pts = [(1.0, 2.0), None, (3.0, 4.0)]
    assert roundtrip(1017, pts) == pts
    assert roundtrip(1017, [[(1, 2), (3, 4)], [(5, 6), (7, 8)]]) == \
        [[(1.0, 2.0), (3.0, 4.0)], [(5.0, 6.0), (7.0, 8.0)]]
    assert roundtrip(1017, [et.Point((1, 2))]) == [(1.0, 2.0)]
    assert roundtrip(1020, [((1, 1), (0, 0)), (3, 3, 2, 2)]) == \
        [((1.0, 1.0), (0.0, 0.0)), ((3.0, 3.0), (2.0, 2.0))]
    assert roundtrip(1018, [et.LineSegment((0, 0, 1, 1))]) == [[(0.0, 0.0), (1.0, 1.0)]]
    assert roundtrip(719, [((0, 0), 1), (1, 1, 2)]) == [((0.0, 0.0), 1.0), ((1.0, 1.0), 2.0)]
    assert roundtrip(629, [(1, 2, 3)]) == [(1.0, 2.0, 3.0)]
    assert roundtrip(1019, [[(0, 0), (1, 1)], ((2, 2),)]) == [[(0.0, 0.0), (1.0, 1.0)], ((2.0, 2.0),)]
    assert roundtrip(1019, [((0, 0), (1, 1))]) == [[(0.0, 0.0), (1.0, 1.0)]]
    assert roundtrip(1019, [et.Path(((0, 0),))]) == [((0.0, 0.0),)]
    assert roundtrip(1027, [[(0, 0), (1, 1), (1, 0)]]) == [((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))]
    assert roundtrip(1017, []) == []


def test_network_arrays():
    v = [ipaddress.IPv4Address("1.2.3.4"), None, ipaddress.IPv6Interface("::1/64")]
    assert roundtrip(1041, v) == v
    assert roundtrip(1041, [[ipaddress.IPv4Address("1.2.3.4")], ["10.0.0.1/8"]]) == \
        [[ipaddress.IPv4Address("1.2.3.4")], [ipaddress.IPv4Interface("10.0.0.1/8")]]
    n = [ipaddress.IPv4Network("10.0.0.0/8")]
    assert roundtrip(651, n) == n
    assert roundtrip(775, [et.MacAddr8("08:00:2b:01:02:03:04:05")]) == ["08:00:2B:01:02:03:04:05"]
    assert roundtrip(1041, et.IpAddressArray(v).inner_value) == v


def test_timetz_array():
    t = dt.time(1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert roundtrip(1270, [t, None]) == [t, None]


# ------------------------------------------------------------------ wrappers and enums

class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Color(enum.IntEnum):
    RED = 1


class Kind(str, enum.Enum):
    A = "a"


def test_enum_params():
    assert _encode_param(TEXT, Mood.HAPPY) == (1, b"happy")
    assert _encode_param(VARCHAR, Mood.SAD) == (1, b"sad")
    assert _encode_param(UNKNOWN, Mood.HAPPY) == (1, b"happy")
    assert _encode_param(16385, Mood.HAPPY) == (0, b"happy")          # a PostgreSQL enum type
    assert _encode_param(0, Mood.HAPPY) == (0, b"happy")
    assert _encode_param(INT4, Color.RED) == (1, b"\x00\x00\x00\x01")
    assert _encode_param(16385, Color.RED) == (0, b"1")
    assert _encode_param(TEXT, Kind.A) == (1, b"a")
    assert _encode_param(16385, Kind.A) == (0, b"a")
    assert roundtrip(TEXT_ARRAY, [Mood.HAPPY, None, Kind.A]) == ["happy", None, "a"]
    assert _encode_param(16386, [Mood.HAPPY, Mood.SAD]) == (0, b'{"happy","sad"}')


def test_scalar_wrappers_use_server_type():
    assert _encode_param(INT4, et.SmallInt(5)) == (1, b"\x00\x00\x00\x05")
    assert _encode_param(INT2, et.BigInt(5)) == (1, b"\x00\x05")
    assert _encode_param(INT8, et.Integer(-1)) == (1, b"\xff" * 8)
    assert _encode_param(FLOAT4, et.Float64(1.5)) == (1, struct.pack(">f", 1.5))
    assert _encode_param(FLOAT8, et.Float32(1.5)) == (1, struct.pack(">d", 1.5))
    assert _encode_param(TEXT, et.Text("hi")) == (1, b"hi")
    assert _encode_param(VARCHAR, et.VarChar("hi")) == (1, b"hi")
    # payload the text-like server type cannot take binary -> the wrapper's text
    assert _encode_param(TEXT, et.SmallInt(5)) == (0, b"5")
    assert _encode_param(TEXT, et.Point((1, 2))) == (0, b"(1.0,2.0)")
    assert _encode_param(TEXT, et.MacAddr6("08002b010203")) == (0, b"08:00:2b:01:02:03")
    # no binary codec for the server's type -> text
    assert _encode_param(16385, et.Integer(7)) == (0, b"7")
    # a refused payload for a non-text type is an error
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(INT4, et.Point((1, 2)))


def test_json_wrappers():
    assert _encode_param(JSONB, et.JSONB({"a": 1})) == (1, b'\x01{"a": 1}')
    assert _encode_param(JSON, et.JSON([1, "x"])) == (1, b'[1, "x"]')
    assert _encode_param(JSONB, et.JSONB("x")) == (1, b'\x01"x"')     # a JSON string
    assert _encode_param(JSON, et.JSON(None)) == (1, b"null")
    assert _encode_param(TEXT, et.JSON({"a": 1})) == (1, b'{"a": 1}')
    assert roundtrip(JSONB_ARRAY, et.JSONBArray([et.JSONB({"a": 1}), {"b": 2}]).inner_value) == \
        [{"a": 1}, {"b": 2}]


def test_custom_and_vector_and_array_wrappers():
    assert _encode_param(INT4, et.CustomType(b"\x00\x00\x00\x07")) == (1, b"\x00\x00\x00\x07")
    assert _encode_param(16390, et.CustomType(b"\x01\x02")) == (1, b"\x01\x02")
    assert _encode_param(16390, et.PgVector([1, 2.5])) == (0, b"[1.0,2.5]")
    assert _encode_param(TEXT, et.PgVector([1])) == (1, b"[1.0]")
    assert _encode_param(INT4_ARRAY, et.Int32Array([1, None])) == _encode_param(INT4_ARRAY, [1, None])
    assert roundtrip(1005, et.Int16Array([et.SmallInt(1), 2])) == [1, 2]
    assert _encode_param(TEXT_ARRAY, et.TextArray(["a", "b"])) == _encode_param(TEXT_ARRAY, ["a", "b"])
    assert _encode_param(16386, et.TextArray(["a", None])) == (0, b'{"a",NULL}')
    assert roundtrip(791, et.MoneyArray([et.Money(1), 2]).inner_value) == [1, 2]
    assert roundtrip(1040, et.MacAddr6Array([et.MacAddr6("08:00:2b:01:02:03")]).inner_value) == \
        ["08:00:2B:01:02:03"]
    # wrapper-aware text literal for arrays without a binary codec
    assert _encode_param(16386, [et.Point((1, 2))]) == (0, b'{"(1.0,2.0)"}')
    with pytest.raises(PyToRustValueMappingError):
        _encode_param(BYTEA_ARRAY, [et.CustomType(b"x")])


BYTEA_ARRAY = 1001


@settings(max_examples=200)
@given(st.sampled_from(sorted(set(NEW_ARRAY_OIDS) | set(NEW_ARRAY_OIDS.values()))),
       st.binary(max_size=64))
def test_new_types_random_bytes_never_crash(oid, data):
    try:
        _decode_binary(oid, data)
    except (ProtocolError, RustToPyValueMappingError):
        pass


@given(st.tuples(st.floats(allow_nan=False), st.floats(allow_nan=False)))
def test_point_roundtrip_hypothesis(p):
    assert roundtrip(POINT, p) == p


@given(st.ip_addresses())
def test_inet_roundtrip_hypothesis(a):
    assert roundtrip(INET, a) == a
    net = ipaddress.ip_network(a)
    assert roundtrip(CIDR, net) == net


def test_money_wrapper_text_form_is_an_amount():
    # Money holds cents; in text format (no binary codec for the parameter's
    # type, e.g. OID 0 on the unprepared path) it must read as the same amount.
    assert _encode_param(0, et.Money(150)) == (0, b"1.50")
    assert _encode_param(0, et.Money(-5)) == (0, b"-0.05")
    assert _encode_param(0, et.MoneyArray([et.Money(1), 250, None])) == \
        (0, b'{"0.01","2.50",NULL}')
    assert _encode_param(MONEY, et.Money(150)) == (1, struct.pack(">q", 150))
