"""Codecs of user-defined types (protocol/codecs/typecodec.pyx) against the pure-Python
reference (psqlpy/types/_reference.py), without a server.

Random type trees (composites of composites, arrays of them, enums, domains) and random
values are encoded by an encoder written here (record_send / array_send), decoded by both
implementations and compared with the value meant; hostile bytes (random, truncated,
mutated valid values) must give the same outcome in both: the same value or the same
exception class, and only ``psqlpy.exceptions.Error`` subclasses.
"""
from __future__ import annotations

import os
import struct
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from psqlpy import protocol as _proto
from psqlpy.exceptions import Error, ProtocolError
from psqlpy.types import TypeInfo, TypeRegistry
from psqlpy.types._reference import decode_binary

SETTINGS = settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "200")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT4, TEXT, BOOL, FLOAT8, INT4_ARRAY = 23, 25, 16, 701, 1007

# --------------------------------------------------------------------------- type trees
# A tree is ("int4",), ("text",), ("bool",), ("float8",), ("int4[]",), ("enum",),
# ("domain", base), ("array", elem) or ("composite", [attr trees]).

leaf = st.sampled_from([("int4",), ("text",), ("bool",), ("float8",), ("int4[]",), ("enum",)])


def _extend(children):
    return st.one_of(
        st.tuples(st.just("domain"), children),
        st.tuples(st.just("array"), children),
        st.tuples(st.just("composite"), st.lists(children, min_size=0, max_size=4)),
    )


trees = st.recursive(leaf, _extend, max_leaves=8)


class Catalog:
    """TypeInfos for a tree, with made-up OIDs, as introspection would give them."""

    def __init__(self):
        self.next_oid = 70000
        self.infos: list[TypeInfo] = []

    def oid_of(self, tree) -> int:
        kind = tree[0]
        builtin = {"int4": INT4, "text": TEXT, "bool": BOOL, "float8": FLOAT8,
                   "int4[]": INT4_ARRAY}
        if kind in builtin:
            return builtin[kind]
        self.next_oid += 1
        oid = self.next_oid
        if kind == "enum":
            self.infos.append(TypeInfo(oid, "public", f"e{oid}", "enum"))
        elif kind == "domain":
            self.infos.append(TypeInfo(oid, "public", f"d{oid}", "domain",
                                       base=self.oid_of(tree[1])))
        elif kind == "array":
            elem = self.oid_of(tree[1])
            if elem == INT4_ARRAY or self._is_array(elem):
                # no arrays of arrays in PostgreSQL: an array of a composite holding one
                elem = self.oid_of(("composite", [tree[1]]))
            self.infos.append(TypeInfo(oid, "public", f"_a{oid}", "array", element=elem))
        else:
            attrs = tuple((f"f{i}", self.oid_of(t)) for i, t in enumerate(tree[1]))
            self.infos.append(TypeInfo(oid, "public", f"c{oid}", "composite", attributes=attrs))
        return oid

    def _is_array(self, oid):
        return any(i.oid == oid and i.kind == "array" for i in self.infos) or \
            (any(i.oid == oid and i.kind == "domain" and self._is_array(i.base)
                 for i in self.infos))

    def registry(self) -> TypeRegistry:
        r = TypeRegistry()
        r.learn(self.infos)
        return r


def values_for(cat: Catalog, oid: int, depth=0):
    """A strategy of (python value, binary bytes) for type ``oid``."""
    infos = {i.oid: i for i in cat.infos}
    if oid == INT4:
        return st.integers(-2**31, 2**31 - 1).map(lambda v: (v, struct.pack("!i", v)))
    if oid == TEXT:
        return st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"),
                       max_size=8).map(lambda v: (v, v.encode()))
    if oid == BOOL:
        return st.booleans().map(lambda v: (v, b"\1" if v else b"\0"))
    if oid == FLOAT8:
        return st.floats(allow_nan=False).map(lambda v: (v, struct.pack("!d", v)))
    if oid == INT4_ARRAY:
        return st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=3).map(
            lambda vs: (vs, _array_bytes(INT4, [None if v is None else struct.pack("!i", v)
                                                 for v in vs])))
    info = infos[oid]
    if info.kind == "enum":
        return st.sampled_from(["sad", "ok", "happy", ""]).map(lambda v: (v, v.encode()))
    if info.kind == "domain":
        return values_for(cat, info.base, depth + 1)
    nullable = lambda s: st.one_of(st.just((None, None)), s)   # noqa: E731
    if info.kind == "array":
        return st.lists(nullable(values_for(cat, info.element, depth + 1)), max_size=3).map(
            lambda items: ([v for v, _ in items],
                           _array_bytes(info.element, [b for _, b in items])))
    parts = [nullable(values_for(cat, t, depth + 1)) for _, t in info.attributes]
    return st.tuples(*parts).map(lambda items: (
        {name: v for (name, _), (v, _) in zip(info.attributes, items)},
        _composite_bytes([t for _, t in info.attributes], [b for _, b in items])))


def _array_bytes(elem_oid, elems):
    if not elems:
        return struct.pack("!iiI", 0, 0, elem_oid)
    out = struct.pack("!iiI", 1, int(any(e is None for e in elems)), elem_oid)
    out += struct.pack("!ii", len(elems), 1)
    for e in elems:
        out += struct.pack("!i", -1) if e is None else struct.pack("!i", len(e)) + e
    return out


def _composite_bytes(oids, elems):
    out = struct.pack("!i", len(oids))
    for oid, e in zip(oids, elems):
        out += struct.pack("!I", oid)
        out += struct.pack("!i", -1) if e is None else struct.pack("!i", len(e)) + e
    return out


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (a random float8 may be one)."""
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def outcome(fn, *args) -> tuple[str, Any]:
    try:
        return ("value", fn(*args))
    except Error as e:
        return ("error", type(e))


@st.composite
def typed_values(draw):
    cat = Catalog()
    tree = draw(trees.filter(lambda t: t[0] in ("composite", "array", "enum", "domain")))
    oid = cat.oid_of(tree)
    registry = cat.registry()
    codec = registry.codec(oid)
    value, data = draw(values_for(cat, oid))
    return registry, oid, codec, value, data


@SETTINGS
@given(typed_values())
def test_random_types_decode_to_what_was_meant(case):
    registry, oid, codec, value, data = case
    if codec is None:          # a domain over a built-in type: the static table decodes it
        info = registry.info(oid)
        assert info is not None and info.kind == "domain"
        return
    assert _proto._decode_with(codec, data) == value
    assert decode_binary(oid, data, registry) == value


@SETTINGS
@given(typed_values(), st.data())
def test_hostile_bytes_same_outcome_in_both(case, data):
    registry, oid, codec, _, valid = case
    if codec is None:
        return
    how = data.draw(st.sampled_from(["random", "truncate", "flip", "extend"]))
    if how == "random":
        raw = data.draw(st.binary(max_size=64))
    elif how == "truncate":
        raw = valid[:data.draw(st.integers(0, max(0, len(valid) - 1)))]
    elif how == "extend":
        raw = valid + data.draw(st.binary(min_size=1, max_size=8))
    else:
        raw = bytearray(valid or b"\0")
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
        raw = bytes(raw)
    got = outcome(_proto._decode_with, codec, raw)
    want = outcome(decode_binary, oid, raw, registry)
    assert got[0] == want[0] and same(got[1], want[1]), raw
    # the Cython decoder never lets anything but a typed error out (outcome() would
    # have raised otherwise)


def test_composite_shape_and_stale_types():
    cat = Catalog()
    oid = cat.oid_of(("composite", [("int4",), ("enum",), ("composite", [("text",)])]))
    reg = cat.registry()
    codec = reg.codec(oid)
    assert codec.kind_name == "composite" and codec.binary
    inner = cat.infos[-2].oid if cat.infos[-2].kind == "composite" else None
    enum_oid = next(i.oid for i in cat.infos if i.kind == "enum")
    inner = next(i.oid for i in cat.infos if i.kind == "composite" and i.oid != oid)
    data = _composite_bytes([INT4, enum_oid, inner],
                            [struct.pack("!i", 7), b"ok", _composite_bytes([TEXT], [b"x"])])
    assert _proto._decode_with(codec, data) == {"f0": 7, "f1": "ok", "f2": {"f0": "x"}}
    # an attribute more or less, or of another type, than introspected: StaleTypeError
    for bad in (_composite_bytes([INT4], [b"\0\0\0\1"]),
                _composite_bytes([INT4, TEXT, inner], [b"\0\0\0\1", b"ok", None])):
        with pytest.raises(_proto.StaleTypeError):
            _proto._decode_with(codec, bad)
    with pytest.raises(ProtocolError):
        _proto._decode_with(codec, data[:-1])
    with pytest.raises(ProtocolError):
        _proto._decode_with(codec, data + b"\0")


def test_what_gets_no_codec():
    reg = TypeRegistry()
    reg.learn([
        TypeInfo(80001, "ext", "citext", "base"),
        TypeInfo(80002, "public", "c", "composite", attributes=(("a", 80001),)),
        TypeInfo(80003, "public", "_citext", "array", element=80001),
        TypeInfo(80004, "public", "r", "range", subtype=INT4),
        TypeInfo(80005, "public", "e", "enum"),
        TypeInfo(80006, "public", "_e", "array", element=80005),
    ])
    # extension base types, and whatever holds one, stay text (no binary decoder)
    assert reg.codec(80001) is None and reg.codec(80002) is None and reg.codec(80003) is None
    assert reg.codec(80004).kind_name == "range"                # a range of int4: decoded
    assert reg.codec(80005).kind_name == "text" and reg.codec(80006).kind_name == "array"
    assert reg.codec(99999) is None                   # never introspected


def test_statement_uses_codecs():
    reg = TypeRegistry()
    reg.learn([TypeInfo(80005, "public", "e", "enum")])
    from psqlpy._messages import FieldDescription
    cols = (FieldDescription("a", 0, 0, INT4, 4, -1, 0), FieldDescription("e", 0, 0, 80005, 4, -1, 0),
            FieldDescription("x", 0, 0, 80001, 4, -1, 0))
    st_ = _proto.Statement("s", "q", (), cols, (None, reg.codec(80005), None))
    assert st_.result_formats == (1, 1, 0)
    assert st_.codecs is not None and st_.codecs[1] is reg.codec(80005)
    assert _proto.Statement("s", "q", (), cols).result_formats == (1, 0, 0)
    assert _proto.Statement("s", "q", (), cols, (None, None, None)).codecs is None
    with pytest.raises(ValueError):
        _proto.Statement("s", "q", (), cols, (None,))
    with pytest.raises(TypeError):
        _proto.Statement("s", "q", (), cols, cast(Any, (None, "x", None)))
