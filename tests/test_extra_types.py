"""psqlpy.extra_types and psqlpy.row_factories (no database needed)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import importlib
import pathlib
import sys
import types
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent




et = importlib.import_module("psqlpy.extra_types")
exc = importlib.import_module("psqlpy.exceptions")
rf = importlib.import_module("psqlpy.row_factories")

SCALARS = {
    "SmallInt": "int2", "Integer": "int4", "BigInt": "int8", "Money": "money",
    "Float32": "float4", "Float64": "float8", "Text": "text", "VarChar": "varchar",
    "JSON": "json", "JSONB": "jsonb", "MacAddr6": "macaddr", "MacAddr8": "macaddr8",
    "CustomType": None, "Point": "point", "Box": "box", "Path": "path", "Polygon": "polygon",
    "Line": "line",
    "LineSegment": "lseg", "Circle": "circle", "PgVector": "vector",
}
ARRAYS = {
    "BoolArray": "bool[]", "UUIDArray": "uuid[]", "VarCharArray": "varchar[]",
    "TextArray": "text[]", "Int16Array": "int2[]", "Int32Array": "int4[]",
    "Int64Array": "int8[]", "Float32Array": "float4[]", "Float64Array": "float8[]",
    "MoneyArray": "money[]", "IpAddressArray": "inet[]", "JSONBArray": "jsonb[]",
    "JSONArray": "json[]", "DateArray": "date[]", "TimeArray": "time[]",
    "DateTimeArray": "timestamp[]", "DateTimeTZArray": "timestamptz[]",
    "MacAddr6Array": "macaddr[]", "MacAddr8Array": "macaddr8[]", "NumericArray": "numeric[]",
    "PointArray": "point[]", "BoxArray": "box[]", "PathArray": "path[]",
    "LineArray": "line[]", "LsegArray": "lseg[]", "CircleArray": "circle[]",
    "PolygonArray": "polygon[]",
    "IntervalArray": "interval[]",
}


def test_all_names_present() -> None:
    assert set(et.__all__) == set(SCALARS) | set(ARRAYS)
    for name in et.__all__:
        cls = getattr(et, name)
        assert cls.__module__ == "psqlpy.extra_types"
        assert cls.__name__ == name


@pytest.mark.parametrize("name,pg_type", sorted({**SCALARS, **ARRAYS}.items()))
def test_pg_type(name: str, pg_type: str | None) -> None:
    assert getattr(et, name).pg_type == pg_type


@pytest.mark.parametrize(
    "cls,bits", [(et.SmallInt, 16), (et.Integer, 32), (et.BigInt, 64), (et.Money, 64)]
)
def test_int_ranges(cls: type, bits: int) -> None:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    assert cls(lo).inner_value == lo and cls(hi).inner_value == hi
    bad: object
    for bad in (lo - 1, hi + 1):
        with pytest.raises(exc.PyToRustValueMappingError):
            cls(bad)
    for bad in ("1", 1.5, None, True):
        with pytest.raises(exc.PyToRustValueMappingError):
            cls(bad)
    assert isinstance(exc.PyToRustValueMappingError(), exc.DataError)


def test_scalar_values_repr_eq() -> None:
    assert et.SmallInt(5) == et.SmallInt(5)
    assert et.SmallInt(5) != et.Integer(5)
    assert et.SmallInt(5) != 5
    assert repr(et.SmallInt(5)) == "SmallInt(5)"
    assert hash(et.SmallInt(5)) == hash(et.SmallInt(5))
    assert et.Float32(1).inner_value == 1.0 and isinstance(et.Float32(1).inner_value, float)
    assert et.Float64(decimal.Decimal("2.5")).inner_value == 2.5
    with pytest.raises(exc.PyToRustValueMappingError):
        et.Float32(1e39)
    with pytest.raises(exc.PyToRustValueMappingError):
        et.Float64("1.0")
    assert et.Text("abc").inner_value == "abc"
    assert et.VarChar("x") == et.VarChar("x")
    with pytest.raises(exc.PyToRustValueMappingError):
        et.Text(b"abc")
    with pytest.raises(exc.PyToRustValueMappingError):
        et.Text("a\x00b")
    assert et.JSONB({"a": [1, 2]}).inner_value == {"a": [1, 2]}
    assert et.JSON([1, {"b": None}]) == et.JSON([1, {"b": None}])
    assert et.CustomType(b"\x00\x01").inner_value == b"\x00\x01"
    with pytest.raises(exc.PyToRustValueMappingError):
        et.CustomType("text")


def test_slots() -> None:
    v = et.SmallInt(1)
    with pytest.raises(AttributeError):
        v.other = 1
    assert not hasattr(v, "__dict__")
    assert not hasattr(et.TextArray(["a"]), "__dict__")


def test_macaddr() -> None:
    m = et.MacAddr6("08:00:2b:01:02:03")
    assert m.octets == bytes([8, 0, 0x2B, 1, 2, 3])
    assert m.inner_value == "08:00:2b:01:02:03"
    assert str(m) == "08:00:2b:01:02:03"
    assert et.MacAddr6("08-00-2B-01-02-03") == m
    assert et.MacAddr6("08002b010203") == m
    assert et.MacAddr6(bytes([8, 0, 0x2B, 1, 2, 3])) == m
    for bad in ("08:00:2b:01:02", "zz:00:2b:01:02:03", "08:00:2b:01:02:03:04:05", 12, ""):
        with pytest.raises(exc.MacAddrConversionError):
            et.MacAddr6(bad)
    m8 = et.MacAddr8("08:00:2b:01:02:03:04:05")
    assert m8.octets == bytes([8, 0, 0x2B, 1, 2, 3, 4, 5])
    assert et.MacAddr8("08:00:2b:01:02:03").octets == bytes([8, 0, 0x2B, 0xFF, 0xFE, 1, 2, 3])
    with pytest.raises(exc.MacAddrConversionError):
        et.MacAddr8("08:00:2b:01:02:03:04")
    assert isinstance(exc.MacAddrConversionError(), exc.DataError)


def test_geometry() -> None:
    assert et.Point((1, 2)).inner_value == (1.0, 2.0)
    assert et.Point([1.5, 2]).inner_value == (1.5, 2.0)
    assert et.Point((1, 2)) == et.Point([1.0, 2.0])
    assert et.Box(((1, 2), (3, 4))).inner_value == ((1.0, 2.0), (3.0, 4.0))
    assert et.Box([1, 2, 3, 4]) == et.Box(((1, 2), (3, 4)))
    assert et.LineSegment(((0, 0), (1, 1))).inner_value == ((0.0, 0.0), (1.0, 1.0))
    # closed when the first point equals the last (the reference's rule), list or tuple alike
    closed = et.Path([(0, 0), (1, 1), (0, 0)])
    opened = et.Path(((0, 0), (1, 1), (2, 0)))
    assert closed.closed is True and opened.closed is False
    assert et.Path([(0, 0), (1, 1), (2, 0)]) == opened
    assert opened.inner_value == ((0.0, 0.0), (1.0, 1.0), (2.0, 0.0))
    assert closed != opened
    assert et.Path([0, 0, 1, 1]).inner_value == ((0.0, 0.0), (1.0, 1.0))
    tri = et.Polygon([(0, 0), (1, 1), (1, 0)])
    assert tri.inner_value == ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))
    assert tri == et.Polygon(((0, 0), (1, 1), (1, 0))) == et.Polygon([0, 0, 1, 1, 1, 0])
    assert tri.pg_type == "polygon" and repr(tri).startswith("Polygon(")
    assert et.Line((1, -1, 0)).inner_value == (1.0, -1.0, 0.0)
    assert et.Circle(((1, 2), 3)).inner_value == ((1.0, 2.0), 3.0)
    assert et.Circle((1, 2, 3)) == et.Circle(((1, 2), 3))
    assert et.PgVector([1, 2.5]).inner_value == [1.0, 2.5]
    bad_inputs = [
        (et.Point, (1,)), (et.Point, "12"), (et.Point, ("a", 1)), (et.Box, ((1, 2),)),
        (et.Path, []), (et.Path, [1, 2, 3]), (et.Polygon, []), (et.Polygon, [1, 2, 3]),
        (et.Polygon, [(0, "a")]), (et.Polygon, "(0,0)"), (et.Line, (0, 0, 1)), (et.Line, (1, 2)),
        (et.Circle, ((0, 0), -1)), (et.Circle, (1,)), (et.PgVector, "1,2"),
        (et.PgVector, [1, "x"]),
    ]
    for cls, value in bad_inputs:
        with pytest.raises(exc.PyToRustValueMappingError):
            cls(value)


def test_arrays() -> None:
    a = et.TextArray(["a", "b"])
    assert a.inner_value == ["a", "b"]
    assert a == et.TextArray(["a", "b"]) and a != et.VarCharArray(["a", "b"])
    assert repr(a) == "TextArray(['a', 'b'])"
    nested = et.Int32Array([[1, 2], [3, 4]])
    assert nested.inner_value == [[1, 2], [3, 4]]
    assert et.UUIDArray((uuid.UUID(int=1),)).inner_value == (uuid.UUID(int=1),)
    assert et.DateArray([datetime.date(2024, 1, 1)]).pg_type == "date[]"
    assert et.NumericArray([decimal.Decimal("1.5")]).inner_value == [decimal.Decimal("1.5")]
    assert et.PointArray([et.Point((1, 2))]).inner_value == [et.Point((1, 2))]
    for bad in ("abc", 5, None, {"a": 1}):
        with pytest.raises(exc.PyToRustValueMappingError):
            et.TextArray(bad)


def test_row_factories() -> None:
    row = {"b": 2, "a": 1, "c": None}
    assert rf.tuple_row(row) == (("b", 2), ("a", 1), ("c", None))

    @dataclasses.dataclass
    class Row:
        a: int
        b: int
        c: object

    assert rf.class_row(Row)(row) == Row(a=1, b=2, c=None)
    with pytest.raises(TypeError):
        rf.class_row(Row)({"a": 1})
