"""Wrappers that pin the PostgreSQL type of a query parameter.

Each wrapper holds the Python value in ``inner_value`` and names, in the class attribute
``pg_type``, the PostgreSQL type the encoder must send (``SmallInt(1)`` is sent as ``int2``,
``TextArray([...])`` as ``text[]``).  Constructors validate cheaply where the reference
driver (psqlpy 0.13) rejects a value, raising ``PyToRustValueMappingError`` (or
``MacAddrConversionError`` for MAC addresses); geometric inputs are normalised to tuples of
floats:

* ``Point((x, y))``                      -> ``(x, y)``
* ``Box(((x1, y1), (x2, y2)))``          -> ``((x1, y1), (x2, y2))`` (also ``(x1, y1, x2, y2)``)
* ``LineSegment`` as ``Box``
* ``Path([...points])``                  -> tuple of points; ``closed`` is True when the first
  point equals the last (as the reference driver decides when it decodes a path; list or
  tuple makes no difference), and the path is sent closed then
* ``Polygon([...points])``               -> tuple of points (a flat even count of numbers too)
* ``Line((a, b, c))``                    -> ``(a, b, c)`` for the line ``a*x + b*y + c = 0``
* ``Circle(((x, y), r))``                -> ``((x, y), r)`` (also ``(x, y, r)``)
* ``PgVector([...])``                    -> list of floats (pgvector's ``vector``)

``CustomType(bytes)`` carries bytes sent as they are; its ``pg_type`` is ``None``: the
parameter keeps the type the server inferred for it.
Array wrappers take a possibly nested list or tuple (a multi-dimensional array).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence, Union

from psqlpy.exceptions import MacAddrConversionError, PyToRustValueMappingError

# The reference driver's names for what its geometric constructors accept.
Coordinates = Union[
    "list[int | float]", "set[int | float]", "tuple[int | float, int | float]"
]
PairsOfCoordinates = Union[
    "list[Coordinates | int | float]",
    "set[Coordinates | int | float]",
    "tuple[Coordinates | int | float, ...]",
]

__all__ = [
    "BigInt", "BoolArray", "Box", "BoxArray", "Circle", "CircleArray", "CustomType",
    "DateArray", "DateTimeArray", "DateTimeTZArray", "Float32", "Float32Array", "Float64",
    "Float64Array", "Int16Array", "Int32Array", "Int64Array", "Integer", "IntervalArray",
    "IpAddressArray", "JSON", "JSONArray", "JSONB", "JSONBArray", "Line", "LineArray",
    "LineSegment", "LsegArray", "MacAddr6", "MacAddr6Array", "MacAddr8", "MacAddr8Array",
    "Money", "MoneyArray", "NumericArray", "Path", "PathArray", "PgVector", "Point",
    "PointArray", "Polygon", "PolygonArray", "SmallInt", "Text", "TextArray", "TimeArray",
    "UUIDArray", "VarChar", "VarCharArray",
]


class _Wrapper:
    """Base of every wrapper: ``inner_value``, ``pg_type``, repr and equality."""

    __slots__ = ("inner_value",)
    pg_type: ClassVar[str | None] = None

    def __init__(self, inner_value: Any) -> None:
        self.inner_value = self._convert(inner_value)

    @classmethod
    def _convert(cls, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner_value!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.inner_value == other.inner_value)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.inner_value))


def _fail(cls: type, value: Any, why: str) -> PyToRustValueMappingError:
    return PyToRustValueMappingError(f"cannot convert {value!r} to {cls.__name__}: {why}")


# ---------------------------------------------------------------------------- integers / money


class _IntWrapper(_Wrapper):
    __slots__ = ()
    _bits: ClassVar[int] = 64

    @classmethod
    def _convert(cls, value: Any) -> int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise _fail(cls, value, "an integer is required")
        value = value.__index__()
        limit = 1 << (cls._bits - 1)
        if not -limit <= value < limit:
            raise _fail(cls, value, f"out of range for {cls.pg_type}")
        return int(value)


class SmallInt(_IntWrapper):
    """``int2``: an int in [-32768, 32767]."""

    __slots__ = ()
    pg_type = "int2"
    _bits = 16


class Integer(_IntWrapper):
    """``int4``: an int in the signed 32-bit range."""

    __slots__ = ()
    pg_type = "int4"
    _bits = 32


class BigInt(_IntWrapper):
    """``int8``: an int in the signed 64-bit range."""

    __slots__ = ()
    pg_type = "int8"
    _bits = 64


class Money(_IntWrapper):
    """``money``: an int, the amount in the currency's smallest unit (cents)."""

    __slots__ = ()
    pg_type = "money"
    _bits = 64


# ---------------------------------------------------------------------------- floats


class _FloatWrapper(_Wrapper):
    __slots__ = ()

    @classmethod
    def _convert(cls, value: Any) -> float:
        if isinstance(value, (str, bytes, bool)) or value is None:
            raise _fail(cls, value, "a number is required")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _fail(cls, value, "a number is required") from None


class Float32(_FloatWrapper):
    """``float4``."""

    __slots__ = ()
    pg_type = "float4"

    @classmethod
    def _convert(cls, value: Any) -> float:
        f = super()._convert(value)
        if math.isfinite(f) and abs(f) > 3.4028234663852886e38:
            raise _fail(cls, value, "out of range for float4")
        return f


class Float64(_FloatWrapper):
    """``float8``."""

    __slots__ = ()
    pg_type = "float8"


# ---------------------------------------------------------------------------- text / json


class _StrWrapper(_Wrapper):
    __slots__ = ()

    @classmethod
    def _convert(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(cls, value, "a str is required")
        if "\x00" in value:
            raise _fail(cls, value, "PostgreSQL text cannot contain NUL characters")
        return value


class Text(_StrWrapper):
    """``text``."""

    __slots__ = ()
    pg_type = "text"


class VarChar(_StrWrapper):
    """``varchar``."""

    __slots__ = ()
    pg_type = "varchar"


class _JsonWrapper(_Wrapper):
    __slots__ = ()

    def __hash__(self) -> int:  # dicts and lists are not hashable
        raise TypeError(f"unhashable type: {type(self).__name__!r}")


class JSON(_JsonWrapper):
    """``json``: any JSON-serialisable value (dict, list, str, number, bool, None)."""

    __slots__ = ()
    pg_type = "json"


class JSONB(_JsonWrapper):
    """``jsonb``: any JSON-serialisable value (dict, list, str, number, bool, None)."""

    __slots__ = ()
    pg_type = "jsonb"


# ---------------------------------------------------------------------------- MAC addresses


def _parse_mac(cls: type, value: Any, sizes: tuple[int, ...]) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, str):
        digits = value.strip().replace(":", "").replace("-", "").replace(".", "")
        if len(digits) % 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise MacAddrConversionError(f"invalid MAC address {value!r} for {cls.__name__}")
        raw = bytes.fromhex(digits)
    else:
        raise MacAddrConversionError(
            f"{cls.__name__} expects a str or bytes, not {type(value).__name__}"
        )
    if len(raw) not in sizes:
        raise MacAddrConversionError(f"invalid MAC address {value!r} for {cls.__name__}")
    return raw


class MacAddr6(_Wrapper):
    """``macaddr``: ``"08:00:2b:01:02:03"`` (``-``/``.`` separators or none also accepted)
    or 6 bytes.  ``inner_value`` is the input; ``octets`` the 6 parsed bytes."""

    __slots__ = ("octets",)
    pg_type = "macaddr"

    def __init__(self, inner_value: str | bytes) -> None:
        self.octets = _parse_mac(type(self), inner_value, (6,))
        self.inner_value = inner_value

    def __str__(self) -> str:
        return ":".join(f"{b:02x}" for b in self.octets)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.octets == other.octets  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.octets))


class MacAddr8(MacAddr6):
    """``macaddr8``: 8 octets; a 6-octet input becomes EUI-64 by inserting ``ff:fe`` in the
    middle, as PostgreSQL does."""

    __slots__ = ()
    pg_type = "macaddr8"

    def __init__(self, inner_value: str | bytes) -> None:
        raw = _parse_mac(type(self), inner_value, (6, 8))
        if len(raw) == 6:
            raw = raw[:3] + b"\xff\xfe" + raw[3:]
        self.octets = raw
        self.inner_value = inner_value


# ---------------------------------------------------------------------------- raw bytes


class CustomType(_Wrapper):
    """Raw bytes sent as they are (binary format) for a parameter of the type the server
    inferred; ``pg_type`` is ``None``."""

    __slots__ = ()
    pg_type = None

    @classmethod
    def _convert(cls, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _fail(cls, value, "bytes are required")
        return bytes(value)


# ---------------------------------------------------------------------------- geometry


def _num(cls: type, value: Any, whole: Any) -> float:
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise _fail(cls, whole, "numbers are required")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _fail(cls, whole, "numbers are required") from None


def _seq(cls: type, value: Any, whole: Any, length: int | None = None) -> Sequence[Any]:
    # The reference driver takes any iterable of coordinates (its own tests pass sets).
    if isinstance(value, (set, frozenset)):
        value = tuple(value)
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, (list, tuple)):
        raise _fail(cls, whole, "a list, tuple or set is required")
    if length is not None and len(value) != length:
        raise _fail(cls, whole, f"{length} elements expected, got {len(value)}")
    return value


def _point(cls: type, value: Any, whole: Any) -> tuple[float, float]:
    x, y = _seq(cls, value, whole, 2)
    return (_num(cls, x, whole), _num(cls, y, whole))


def _two_points(cls: type, value: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    seq = _seq(cls, value, value)
    if len(seq) == 4:
        a, b, c, d = (_num(cls, v, value) for v in seq)
        return ((a, b), (c, d))
    if len(seq) == 2:
        return (_point(cls, seq[0], value), _point(cls, seq[1], value))
    raise _fail(cls, value, "two points or four numbers expected")


class Point(_Wrapper):
    """``point``: ``(x, y)`` or ``[x, y]``."""

    __slots__ = ()
    pg_type = "point"

    @classmethod
    def _convert(cls, value: Any) -> tuple[float, float]:
        return _point(cls, value, value)


class Box(_Wrapper):
    """``box``: ``((x1, y1), (x2, y2))`` or ``(x1, y1, x2, y2)``."""

    __slots__ = ()
    pg_type = "box"

    @classmethod
    def _convert(cls, value: Any) -> tuple[tuple[float, float], tuple[float, float]]:
        return _two_points(cls, value)


class LineSegment(_Wrapper):
    """``lseg``: ``((x1, y1), (x2, y2))`` or ``(x1, y1, x2, y2)``."""

    __slots__ = ()
    pg_type = "lseg"

    @classmethod
    def _convert(cls, value: Any) -> tuple[tuple[float, float], tuple[float, float]]:
        return _two_points(cls, value)


class Path(_Wrapper):
    """``path``: a sequence of points, closed (``closed`` attribute) when its first point
    equals its last.  A flat sequence of an even count of numbers is accepted too."""

    __slots__ = ("closed",)
    pg_type = "path"

    def __init__(self, inner_value: Sequence[Any]) -> None:
        self.inner_value = _points(type(self), inner_value, "path")
        pts = self.inner_value
        self.closed = pts[0] == pts[-1]

    def __repr__(self) -> str:
        return f"Path({self.inner_value!r}, closed={self.closed})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.inner_value, self.closed) == (other.inner_value, other.closed)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.inner_value, self.closed))


def _points(cls: type, value: Any, what: str) -> tuple[tuple[float, float], ...]:
    seq = _seq(cls, value, value)
    if seq and not isinstance(seq[0], (list, tuple)):
        if len(seq) % 2:
            raise _fail(cls, value, "an even count of numbers expected")
        seq = [seq[i : i + 2] for i in range(0, len(seq), 2)]
    if not seq:
        raise _fail(cls, value, f"a {what} needs at least one point")
    return tuple(_point(cls, p, value) for p in seq)


class Polygon(_Wrapper):
    """``polygon``: a sequence of points (always closed), or a flat sequence of an even
    count of numbers."""

    __slots__ = ()
    pg_type = "polygon"

    @classmethod
    def _convert(cls, value: Any) -> tuple[tuple[float, float], ...]:
        return _points(cls, value, "polygon")


class Line(_Wrapper):
    """``line``: ``(a, b, c)`` for ``a*x + b*y + c = 0`` (a and b not both zero)."""

    __slots__ = ()
    pg_type = "line"

    @classmethod
    def _convert(cls, value: Any) -> tuple[float, float, float]:
        a, b, c = (_num(cls, v, value) for v in _seq(cls, value, value, 3))
        if a == 0 and b == 0:
            raise _fail(cls, value, "A and B cannot both be zero")
        return (a, b, c)


class Circle(_Wrapper):
    """``circle``: ``((x, y), r)`` or ``(x, y, r)``; ``r`` must not be negative."""

    __slots__ = ()
    pg_type = "circle"

    @classmethod
    def _convert(cls, value: Any) -> tuple[tuple[float, float], float]:
        seq = _seq(cls, value, value)
        if len(seq) == 3:
            center = (_num(cls, seq[0], value), _num(cls, seq[1], value))
            r = _num(cls, seq[2], value)
        elif len(seq) == 2:
            center = _point(cls, seq[0], value)
            r = _num(cls, seq[1], value)
        else:
            raise _fail(cls, value, "((x, y), r) or (x, y, r) expected")
        if r < 0:
            raise _fail(cls, value, "the radius cannot be negative")
        return (center, r)


class PgVector(_Wrapper):
    """pgvector's ``vector``: a sequence of floats."""

    __slots__ = ()
    pg_type = "vector"

    @classmethod
    def _convert(cls, value: Any) -> list[float]:
        return [_num(cls, v, value) for v in _seq(cls, value, value)]

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.inner_value)))


# ---------------------------------------------------------------------------- arrays


class _ArrayWrapper(_Wrapper):
    """A possibly nested list/tuple of elements; sent as ``pg_type`` (``"text[]"``...)."""

    __slots__ = ()

    @classmethod
    def _convert(cls, value: Any) -> Any:
        if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, (list, tuple)):
            raise _fail(cls, value, "a list or tuple is required")
        return value

    def __hash__(self) -> int:
        raise TypeError(f"unhashable type: {type(self).__name__!r}")


def _array(name: str, pg_type: str, doc: str) -> type[_ArrayWrapper]:
    return type(
        name,
        (_ArrayWrapper,),
        {"__slots__": (), "pg_type": pg_type, "__doc__": f"``{pg_type}``: {doc}",
         "__module__": __name__, "__qualname__": name},
    )


BoolArray = _array("BoolArray", "bool[]", "nested lists of bool.")
UUIDArray = _array("UUIDArray", "uuid[]", "nested lists of uuid.UUID (or str).")
VarCharArray = _array("VarCharArray", "varchar[]", "nested lists of str.")
TextArray = _array("TextArray", "text[]", "nested lists of str.")
Int16Array = _array("Int16Array", "int2[]", "nested lists of int (or SmallInt).")
Int32Array = _array("Int32Array", "int4[]", "nested lists of int (or Integer).")
Int64Array = _array("Int64Array", "int8[]", "nested lists of int (or BigInt).")
Float32Array = _array("Float32Array", "float4[]", "nested lists of float.")
Float64Array = _array("Float64Array", "float8[]", "nested lists of float.")
MoneyArray = _array("MoneyArray", "money[]", "nested lists of int (or Money).")
IpAddressArray = _array("IpAddressArray", "inet[]", "nested lists of ipaddress addresses.")
JSONBArray = _array("JSONBArray", "jsonb[]", "nested lists of JSON values.")
JSONArray = _array("JSONArray", "json[]", "nested lists of JSON values.")
DateArray = _array("DateArray", "date[]", "nested lists of datetime.date.")
TimeArray = _array("TimeArray", "time[]", "nested lists of datetime.time.")
DateTimeArray = _array("DateTimeArray", "timestamp[]", "nested lists of naive datetime.")
DateTimeTZArray = _array("DateTimeTZArray", "timestamptz[]", "nested lists of aware datetime.")
MacAddr6Array = _array("MacAddr6Array", "macaddr[]", "nested lists of MacAddr6 (or str).")
MacAddr8Array = _array("MacAddr8Array", "macaddr8[]", "nested lists of MacAddr8 (or str).")
NumericArray = _array("NumericArray", "numeric[]", "nested lists of Decimal.")
PointArray = _array("PointArray", "point[]", "nested lists of Point.")
BoxArray = _array("BoxArray", "box[]", "nested lists of Box.")
PathArray = _array("PathArray", "path[]", "nested lists of Path.")
LineArray = _array("LineArray", "line[]", "nested lists of Line.")
LsegArray = _array("LsegArray", "lseg[]", "nested lists of LineSegment.")
CircleArray = _array("CircleArray", "circle[]", "nested lists of Circle.")
PolygonArray = _array("PolygonArray", "polygon[]", "nested lists of Polygon.")
IntervalArray = _array("IntervalArray", "interval[]", "nested lists of datetime.timedelta.")
