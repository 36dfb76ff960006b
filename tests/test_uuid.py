"""uuid values: psqlpy.protocol.UUID, what the uuid codec decodes to.

It must be a ``uuid.UUID`` in every way users rely on (isinstance, equality, hashing,
ordering, pickling, ``str()``, every property) and also equal its canonical text, the
lowercase hyphenated ``str(u)`` (the reference driver returns uuids as that str, and code
written for it, its own test suite included, compares with ``str(u)``).
"""
from __future__ import annotations

import copy
import gc
import pickle
import uuid

import pytest
from hypothesis import given, strategies as st

import psqlpy
from psqlpy.protocol import UUID, _decode_binary, _encode_param

UUID_OID, UUID_ARRAY = 2950, 2951
U = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")


def decoded(u: uuid.UUID) -> uuid.UUID:
    return _decode_binary(UUID_OID, u.bytes)


def test_is_a_uuid_with_the_same_value():
    d = decoded(U)
    assert type(d) is UUID and isinstance(d, uuid.UUID)
    assert d == U and U == d and not (d != U)
    assert d.int == U.int and d.bytes == U.bytes and d.hex == U.hex
    assert d.version == 4 and d.variant == uuid.RFC_4122 and d.urn == U.urn
    assert d.fields == U.fields and d.bytes_le == U.bytes_le
    assert d.is_safe is uuid.SafeUUID.unknown
    assert repr(d) == "UUID('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')"
    assert uuid.UUID(str(d)) == d and uuid.UUID(bytes=d.bytes) == d


def test_equals_its_canonical_text_only():
    d = decoded(U)
    text = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert str(d) == text
    assert d == text and text == d and not (d != text) and not (text != d)
    for other in (text.upper(), text.replace("-", ""), "{" + text + "}", "urn:uuid:" + text,
                  "", "x"):
        assert d != other and other != d and not (d == other)
    assert d != U.int and d != U.bytes and d != None  # noqa: E711
    assert decoded(uuid.uuid4()) != text


def test_hash_is_uuid_s_so_str_keys_do_not_find_it():
    d = decoded(U)
    assert hash(d) == hash(U)
    assert {U: 1}[d] == 1 and {d: 1}[U] == 1
    assert len({d, U}) == 1
    assert str(d) not in {d: 1} and d not in {str(d): 1}     # documented in docs/types.md and docs/migrating.md


def test_ordering_mixes_with_uuid():
    lo, hi = uuid.UUID(int=1), uuid.UUID(int=2**128 - 1)
    d = decoded(U)
    assert lo < d < hi and sorted([hi, d, lo]) == [lo, d, hi]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_as_itself(protocol):
    d = decoded(U)
    back = pickle.loads(pickle.dumps(d, protocol))
    assert type(back) is UUID and back == d and back == str(U) and hash(back) == hash(U)
    assert pickle.loads(pickle.dumps([d, d], protocol)) == [U, U]
    assert type(copy.copy(d)) is UUID and copy.copy(d) == d and copy.deepcopy(d) == d


def test_immutable_and_untracked():
    d = decoded(U)
    with pytest.raises(TypeError):
        setattr(d, "int", 5)
    with pytest.raises((TypeError, AttributeError)):
        setattr(d, "extra", 1)
    # holds an int and an enum member only: the GC need not traverse it (or its row)
    assert not gc.is_tracked(d)


def test_constructed_like_uuid():
    v = UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert v == U and v == str(U) and v.is_safe is uuid.SafeUUID.unknown
    assert UUID(int=0) == "00000000-0000-0000-0000-000000000000"


@given(st.uuids(), st.binary(min_size=16, max_size=16))
def test_any_16_bytes(u, raw):
    for value in (u, uuid.UUID(bytes=raw)):
        d = decoded(value)
        assert d == value and str(d) == str(value) and hash(d) == hash(value)
        assert _encode_param(UUID_OID, d) == (1, value.bytes)
        assert _encode_param(UUID_OID, value) == (1, value.bytes)


def test_wrong_lengths_and_bad_values():
    for n in (0, 15, 17):
        with pytest.raises(psqlpy.exceptions.ProtocolError):
            _decode_binary(UUID_OID, b"\x00" * n)
    with pytest.raises(psqlpy.exceptions.PyToRustValueMappingError):
        _encode_param(UUID_OID, 5)
    # a str goes in text format for the server to parse
    assert _encode_param(UUID_OID, str(U)) == (0, str(U).encode())


def test_arrays():
    fmt, data = _encode_param(UUID_ARRAY, [U, None, decoded(U)])
    assert fmt == 1 and data is not None
    got = _decode_binary(UUID_ARRAY, data)
    assert got == [U, None, U] and got == [str(U), None, str(U)]
    assert all(type(x) is UUID for x in got if x is not None)


async def test_from_the_server_both_ways(dsn):
    async with await psqlpy.connect(dsn=dsn) as conn:
        for prepared in (True, False):
            row = (await conn.execute(
                "SELECT $1::uuid AS u, ARRAY[$1::uuid, NULL] AS a, gen_random_uuid() AS g",
                [U], prepared=prepared)).result()[0]
            assert type(row["u"]) is UUID and row["u"] == U and row["u"] == str(U)
            assert row["a"] == [str(U), None] and type(row["a"][0]) is UUID
            assert isinstance(row["g"], uuid.UUID) and row["g"].version == 4
            assert await conn.fetch_val("SELECT $1::uuid = $2::uuid", [row["u"], U],
                                        prepared=prepared) is True
