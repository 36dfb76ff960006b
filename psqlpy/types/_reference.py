"""Pure-Python reference decoders for the binary forms of user-defined types.

The same semantics as ``protocol/codecs/typecodec.pyx`` (and the array framing of
``array.pyx``), written for clarity, not speed: the differential tests feed both the
same bytes, valid and hostile, and expect the same value or the same exception class.
Values of built-in types inside them go through the static table
(``protocol._decode_binary``), which has tests of its own.
"""
from __future__ import annotations

import struct

from .. import protocol as _proto
from ..exceptions import ProtocolError

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


def decode_binary(oid: int, data: bytes, types) -> object:
    """Decode ``data``, a binary value of type ``oid``, as ``types`` (a
    TypeRegistry) knows the type; built-in types by the static table."""
    if oid in _proto.oids_without_decoder([oid]):
        return _decode_user(oid, data, types, 0)
    return _proto._decode_binary(oid, data)


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
    raise ValueError(f"no binary codec for type OID {oid}")


def _part(oid, data, types, depth):
    if oid in _proto.oids_without_decoder([oid]):
        return _decode_user(oid, data, types, depth + 1)
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
    elem_codec = types.codec(info.element)
    if elem_oid in (info.element, elem_codec.oid):
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


__all__ = ["decode_binary"]
