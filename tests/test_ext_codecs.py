"""Ranges, multiranges, hstore and pgvector's vector: the Cython codecs (range.pyx,
extensions.pyx, typecodec.pyx) against the pure-Python reference
(psqlpy/types/_reference.py), without a server.

Random values are encoded by both implementations (the bytes must be equal) and decoded
by both (the value must come back); hostile bytes (random, truncated, mutated valid
values) and hostile text must give the same outcome in both: the same value or the same
exception class, and only ``psqlpy.exceptions.Error`` subclasses.  The server's side
(what it accepts and renders) is in test_types_orm.py and test_textdecode.py.
"""
from __future__ import annotations

import datetime as dt
import os
import struct
from decimal import Decimal
from typing import Any

from hypothesis import given, settings, strategies as st

from psqlpy import Range
from psqlpy import protocol as _proto
from psqlpy.exceptions import Error, PyToRustValueMappingError
from psqlpy.types import TypeInfo, TypeRegistry
from psqlpy.types._reference import decode_binary, decode_text, encode_binary

SETTINGS = settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "150")),
                    deadline=None)
UTC = dt.timezone.utc

# subtype values of the built-in ranges (range OID, multirange OID, values)
SUBTYPES: dict[str, tuple[int, int, Any]] = {
    "int4": (3904, 4451, st.integers(-2**31, 2**31 - 1)),
    "int8": (3926, 4536, st.integers(-2**63, 2**63 - 1)),
    "numeric": (3906, 4532, st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                        min_value=-10**9, max_value=10**9)),
    "timestamp": (3908, 4533, st.datetimes()),
    "timestamptz": (3910, 4534, st.datetimes(min_value=dt.datetime(1, 1, 2),
                                             timezones=st.just(UTC))),
    "date": (3912, 4535, st.dates()),
}


def ranges_of(values):
    """Any Range the codecs can carry: empty, unbounded either side, any inclusivity
    (the codecs do not order or normalise bounds; the server does)."""
    bound = st.none() | values
    return st.one_of(
        st.just(Range(empty=True)),
        st.builds(Range, bound, bound, lower_inc=st.booleans(), upper_inc=st.booleans()))


@st.composite
def builtin_cases(draw):
    name = draw(st.sampled_from(sorted(SUBTYPES)))
    roid, moid, values = SUBTYPES[name]
    if draw(st.booleans()):
        return roid, draw(ranges_of(values))
    return moid, draw(st.lists(ranges_of(values), max_size=4))


def outcome(fn, *args) -> tuple[str, Any]:
    try:
        return ("value", fn(*args))
    except Error as e:
        return ("error", type(e))


def mutations(valid: bytes, data) -> bytes:
    how = data.draw(st.sampled_from(["random", "truncate", "flip", "extend"]))
    if how == "random":
        return data.draw(st.binary(max_size=64))
    if how == "truncate":
        return valid[:data.draw(st.integers(0, max(0, len(valid) - 1)))]
    if how == "extend":
        return valid + data.draw(st.binary(min_size=1, max_size=8))
    raw = bytearray(valid or b"\0")
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    return bytes(raw)


# --------------------------------------------------------------------------- built-in

@SETTINGS
@given(builtin_cases())
def test_builtin_ranges_encode_and_decode_as_the_reference(case):
    oid, value = case
    fmt, data = _proto._encode_param(oid, value)
    assert fmt == 1
    assert data == encode_binary(oid, value)
    assert _proto._decode_binary(oid, data) == value
    assert decode_binary(oid, data) == value


@SETTINGS
@given(builtin_cases(), st.data())
def test_builtin_ranges_hostile_bytes_same_outcome(case, data):
    oid, value = case
    raw = mutations(encode_binary(oid, value), data)
    got = outcome(_proto._decode_binary, oid, raw)
    assert got == outcome(decode_binary, oid, raw), raw


@SETTINGS
@given(st.sampled_from(sorted(SUBTYPES)), st.lists(st.none() | st.just(0), max_size=4),
       st.data())
def test_arrays_of_ranges_and_multiranges(name, shape, data):
    roid, moid, values = SUBTYPES[name]
    for oid, elements in ((roid, ranges_of(values)),
                          (moid, st.lists(ranges_of(values), min_size=1, max_size=3))):
        arr_oid = {o: a for a, o in ARRAY_OF.items()}[oid]
        value = [None if s is None else data.draw(elements) for s in shape]
        fmt, raw = _proto._encode_param(arr_oid, value)
        assert raw is not None
        assert _proto._decode_binary(arr_oid, raw) == value
        assert decode_binary(arr_oid, raw) == value


ARRAY_OF = {3905: 3904, 3927: 3926, 3907: 3906, 3909: 3908, 3911: 3910, 3913: 3912,
            6150: 4451, 6157: 4536, 6151: 4532, 6152: 4533, 6153: 4534, 6155: 4535}


def test_range_encode_errors_are_typed():
    for bad in ("[1,2)", 5, [1, 2, 3], Range("a", "b")):
        try:
            _proto._encode_param(3904, bad)
        except PyToRustValueMappingError:
            continue
        if isinstance(bad, str):        # the text form goes as text, for the server to parse
            continue
        raise AssertionError(f"{bad!r} was encoded as int4range")
    for bad_multi in (Range(1, 2), [Range(1, 2), "x"]):
        try:
            _proto._encode_param(4451, bad_multi)
        except PyToRustValueMappingError:
            continue
        raise AssertionError(f"{bad_multi!r} was encoded as int4multirange")


# --------------------------------------------------------------------------- hstore, vector,
# user-defined ranges: TypeCodecs from what introspection would find

REGISTRY = TypeRegistry()
REGISTRY.learn([
    TypeInfo(91001, "public", "hstore", "base"),
    TypeInfo(91002, "public", "vector", "base"),
    TypeInfo(91003, "public", "floatrange", "range", subtype=701),
    TypeInfo(91004, "public", "floatmultirange", "multirange", range=91003),
])
HSTORE, VECTOR, FRANGE, FMULTI = 91001, 91002, 91003, 91004

text_st = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"),
                  max_size=8)
float4s = st.floats(width=32, allow_nan=False, allow_infinity=False)
CASES = {
    HSTORE: st.dictionaries(text_st, st.none() | text_st, max_size=5),
    VECTOR: st.lists(float4s, max_size=8),
    FRANGE: ranges_of(st.floats(allow_nan=False)),
    FMULTI: st.lists(ranges_of(st.floats(allow_nan=False)), max_size=3),
}


@st.composite
def ext_cases(draw):
    oid = draw(st.sampled_from(sorted(CASES)))
    return oid, REGISTRY.codec(oid), draw(CASES[oid])


@SETTINGS
@given(ext_cases())
def test_extension_codecs_encode_and_decode_as_the_reference(case):
    oid, codec, value = case
    data = _proto._encode_with(codec, value)
    assert data == encode_binary(oid, value, REGISTRY)
    assert _proto._decode_with(codec, data) == value
    assert decode_binary(oid, data, REGISTRY) == value


@SETTINGS
@given(ext_cases(), st.data())
def test_extension_codecs_hostile_bytes_same_outcome(case, data):
    oid, codec, value = case
    raw = mutations(encode_binary(oid, value, REGISTRY), data)
    assert outcome(_proto._decode_with, codec, raw) == outcome(decode_binary, oid, raw, REGISTRY)


@SETTINGS
@given(ext_cases())
def test_extension_text_forms_read_back_in_both(case):
    # what the codec writes for the server is what the server's output functions
    # write for these values (hstore_out quotes everything; vector_out is [x,y])
    oid, codec, value = case
    if oid == FMULTI:
        # multirange_out never writes an empty range (a multirange holds none)
        value = [r for r in value if not r.isempty]
    text = _proto._encode_text_with(codec, value)
    tcodec = codec.for_text()
    got = _proto._decode_with(tcodec, text.encode())
    assert got == value
    assert decode_text(oid, text, REGISTRY) == value


@SETTINGS
@given(st.sampled_from([HSTORE, VECTOR, FRANGE, FMULTI]),
       st.one_of(st.binary(max_size=40),
                 st.text(alphabet='"\\=>, NUL[]()e.-1{}', max_size=40).map(str.encode)))
def test_extension_hostile_text_same_outcome(oid, raw):
    codec = REGISTRY.codec(oid).for_text()
    got = outcome(_proto._decode_with, codec, raw)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        assert got[0] == "error"
        return
    assert got == outcome(decode_text, oid, text, REGISTRY), raw


def test_known_forms():
    h = REGISTRY.codec(HSTORE)
    assert _proto._decode_with(h.for_text(), b'"a"=>"1", "b\\"c"=>NULL') == {"a": "1", 'b"c': None}
    assert _proto._encode_text_with(h, {"a": None, 'q"\\': "x"}) == \
        '"a"=>NULL, "q\\"\\\\"=>"x"'
    v = REGISTRY.codec(VECTOR)
    assert _proto._encode_with(v, [1, 2.5]) == struct.pack("!hhff", 2, 0, 1.0, 2.5)
    assert _proto._decode_with(v.for_text(), b"[1,2.5,-3e-05]") == \
        [1.0, 2.5, float(struct.unpack("!f", struct.pack("!f", -3e-05))[0])]
    raw = _proto._encode_param(3906, Range(Decimal("1.5"), None))[1]
    assert raw is not None
    assert _proto._decode_binary(3906, raw) == Range(Decimal("1.5"), None)
