# Binary codecs for PostgreSQL types.
#
# Included into protocol.pyx after buffer.pyx / frontend.pyx (one translation
# unit), so the state machine calls these as plain C functions.
#
# Interface (used by the state machine; names are stable):
#
#   ctypedef object (*decode_func)(const char* data, Py_ssize_t n)
#       Decode one non-NULL value of n bytes.  Never reads outside
#       data[0:n]; raises ProtocolError for malformed input and
#       RustToPyValueMappingError for well-formed values Python cannot
#       represent (e.g. a date in year 20000).
#   ctypedef int (*encode_func)(WriteBuffer buf, object value) except -1
#       Append ONLY the binary value bytes (no length word); raises
#       PyToRustValueMappingError for values that cannot be encoded.
#   cdef decode_func binary_decoder(uint32_t oid)   NULL if unsupported
#   cdef encode_func binary_encoder(uint32_t oid)   NULL if unsupported
#   cdef object decode_text_value(const char* data, Py_ssize_t n)
#   cdef int encode_param(WriteBuffer buf, uint32_t oid, object value,
#                         int16_t* fmt) except -1
#       Length word + value for one Bind parameter (see its docstring).
#
# Lookups are O(1): two static C arrays of function pointers indexed by the
# type OID (built-in types all have OIDs < 8192).  Array codecs dispatch
# per element through the same tables.
#
# Files: scalars.pyx (bool, integers, floats, oid), text.pyx (text-likes,
# bytea, "char", json/jsonb), uuid.pyx, numeric.pyx, datetime.pyx, network.pyx
# (inet, cidr, macaddr, macaddr8, money), geometry.pyx (point, lseg, box,
# line, circle, path, polygon), wrappers.pyx (enum.Enum members and the
# psqlpy.extra_types wrappers as parameters), typecodec.pyx (types found by
# introspection: enums, composites, arrays of them),
# array.pyx, textform.pyx (the
# PostgreSQL text form used for text-format parameters).

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from cpython.datetime cimport (
    import_datetime, date_new, time_new, datetime_new, timedelta_new,
    PyDate_Check, PyDateTime_Check, PyTime_Check, PyDelta_Check,
    PyDateTime_GET_YEAR, PyDateTime_GET_MONTH, PyDateTime_GET_DAY,
    PyDateTime_DATE_GET_HOUR, PyDateTime_DATE_GET_MINUTE,
    PyDateTime_DATE_GET_SECOND, PyDateTime_DATE_GET_MICROSECOND,
    PyDateTime_TIME_GET_HOUR, PyDateTime_TIME_GET_MINUTE,
    PyDateTime_TIME_GET_SECOND, PyDateTime_TIME_GET_MICROSECOND,
    PyDateTime_DELTA_GET_DAYS, PyDateTime_DELTA_GET_SECONDS,
    PyDateTime_DELTA_GET_MICROSECONDS, datetime_tzinfo, time_tzinfo,
)
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcpy, memset
from libc.math cimport isfinite, isnan

import datetime as _datetime_mod
import decimal as _decimal_mod
import json as _json_mod
import uuid as _uuid_mod

cimport cython

import_datetime()

# (Not cimported from libc.stdint: protocol.pyx's `import *` would then try
# to generate assignments to those macros.)
cdef int64_t _I64_MAX = 0x7FFFFFFFFFFFFFFF
cdef int64_t _I64_MIN = -_I64_MAX - 1

ctypedef object (*decode_func)(const char* data, Py_ssize_t n)
ctypedef int (*encode_func)(WriteBuffer buf, object value) except -1

cdef enum:
    CODEC_MAX_OID = 8192

# Type OIDs (pg_type.dat).
cdef enum:
    BOOLOID = 16
    BYTEAOID = 17
    CHAROID = 18
    NAMEOID = 19
    INT8OID = 20
    INT2OID = 21
    INT4OID = 23
    TEXTOID = 25
    OIDOID = 26
    JSONOID = 114
    XMLOID = 142
    JSONARRAYOID = 199
    FLOAT4OID = 700
    FLOAT8OID = 701
    UNKNOWNOID = 705
    BOOLARRAYOID = 1000
    BYTEAARRAYOID = 1001
    CHARARRAYOID = 1002
    NAMEARRAYOID = 1003
    INT2ARRAYOID = 1005
    INT4ARRAYOID = 1007
    TEXTARRAYOID = 1009
    BPCHARARRAYOID = 1014
    VARCHARARRAYOID = 1015
    INT8ARRAYOID = 1016
    FLOAT4ARRAYOID = 1021
    FLOAT8ARRAYOID = 1022
    OIDARRAYOID = 1028
    BPCHAROID = 1042
    VARCHAROID = 1043
    DATEOID = 1082
    TIMEOID = 1083
    TIMESTAMPOID = 1114
    TIMESTAMPARRAYOID = 1115
    DATEARRAYOID = 1182
    TIMEARRAYOID = 1183
    TIMESTAMPTZOID = 1184
    TIMESTAMPTZARRAYOID = 1185
    INTERVALOID = 1186
    INTERVALARRAYOID = 1187
    NUMERICARRAYOID = 1231
    TIMETZOID = 1266
    NUMERICOID = 1700
    UUIDOID = 2950
    UUIDARRAYOID = 2951
    JSONBOID = 3802
    JSONBARRAYOID = 3807
    POINTOID = 600
    LSEGOID = 601
    PATHOID = 602
    BOXOID = 603
    POLYGONOID = 604
    LINEOID = 628
    LINEARRAYOID = 629
    CIDROID = 650
    CIDRARRAYOID = 651
    CIRCLEOID = 718
    CIRCLEARRAYOID = 719
    MACADDR8OID = 774
    MACADDR8ARRAYOID = 775
    MONEYOID = 790
    MONEYARRAYOID = 791
    MACADDROID = 829
    INETOID = 869
    POINTARRAYOID = 1017
    LSEGARRAYOID = 1018
    PATHARRAYOID = 1019
    BOXARRAYOID = 1020
    POLYGONARRAYOID = 1027
    MACADDRARRAYOID = 1040
    INETARRAYOID = 1041
    TIMETZARRAYOID = 1270


cdef dict _TYPE_NAMES = {
    BOOLOID: "boolean", BYTEAOID: "bytea", CHAROID: '"char"', NAMEOID: "name",
    INT8OID: "bigint", INT2OID: "smallint", INT4OID: "integer", TEXTOID: "text",
    OIDOID: "oid", JSONOID: "json", XMLOID: "xml", FLOAT4OID: "real",
    FLOAT8OID: "double precision", UNKNOWNOID: "unknown", BPCHAROID: "character",
    VARCHAROID: "character varying", DATEOID: "date", TIMEOID: "time without time zone",
    TIMESTAMPOID: "timestamp without time zone", TIMESTAMPTZOID: "timestamp with time zone",
    INTERVALOID: "interval", TIMETZOID: "time with time zone", NUMERICOID: "numeric",
    UUIDOID: "uuid", JSONBOID: "jsonb",
    POINTOID: "point", LSEGOID: "lseg", PATHOID: "path", BOXOID: "box",
    POLYGONOID: "polygon", LINEOID: "line", CIDROID: "cidr", CIRCLEOID: "circle",
    MACADDR8OID: "macaddr8", MONEYOID: "money", MACADDROID: "macaddr", INETOID: "inet",
}


cdef int _raise_encode(str pgtype, str sqltype, object value, str why) except -1:
    """Raise the typed "cannot encode" error with a uniform message."""
    cdef str shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise PyToRustValueMappingError(
        f"cannot encode {type(value).__name__} {shown} as {pgtype} "
        f"(parameter type {sqltype}): {why}")


cdef int _raise_bad_len(str pgtype, Py_ssize_t expected, Py_ssize_t n) except -1:
    raise ProtocolError(
        f"malformed binary {pgtype} value: expected {expected} bytes, got {n}")


include "scalars.pyx"
include "text.pyx"
include "uuid.pyx"
include "numeric.pyx"
include "datetime.pyx"
include "network.pyx"
include "geometry.pyx"
include "wrappers.pyx"
include "typecodec.pyx"
include "array.pyx"
include "textform.pyx"


# ---------------------------------------------------------------------------
# The lookup tables.

cdef decode_func[CODEC_MAX_OID] _binary_decoders
cdef encode_func[CODEC_MAX_OID] _binary_encoders
# Element OID of each supported array type (0 = not an array type).
cdef uint32_t[CODEC_MAX_OID] _array_elem_oid
# 1 for types whose binary form is their UTF-8 text (str is sent binary).
cdef uint8_t[CODEC_MAX_OID] _text_like

memset(_binary_decoders, 0, sizeof(_binary_decoders))
memset(_binary_encoders, 0, sizeof(_binary_encoders))
memset(_array_elem_oid, 0, sizeof(_array_elem_oid))
memset(_text_like, 0, sizeof(_text_like))


cdef inline void _register(uint32_t oid, decode_func dec, encode_func enc) noexcept:
    _binary_decoders[oid] = dec
    _binary_encoders[oid] = enc


cdef inline void _register_array(uint32_t oid, uint32_t elem, encode_func enc) noexcept:
    _binary_decoders[oid] = _dec_array
    _binary_encoders[oid] = enc
    _array_elem_oid[oid] = elem


cdef void _init_codecs() noexcept:
    _register(BOOLOID, _dec_bool, _enc_bool)
    _register(BYTEAOID, _dec_bytea, _enc_bytea)
    _register(CHAROID, _dec_char, _enc_char)
    _register(NAMEOID, decode_text_value, _enc_text)
    _register(INT8OID, _dec_int8, _enc_int8)
    _register(INT2OID, _dec_int2, _enc_int2)
    _register(INT4OID, _dec_int4, _enc_int4)
    _register(TEXTOID, decode_text_value, _enc_text)
    _register(OIDOID, _dec_oid, _enc_oid)
    _register(JSONOID, _dec_json, _enc_json)
    _register(XMLOID, decode_text_value, _enc_text)
    _register(FLOAT4OID, _dec_float4, _enc_float4)
    _register(FLOAT8OID, _dec_float8, _enc_float8)
    _register(UNKNOWNOID, decode_text_value, _enc_text)
    _register(BPCHAROID, decode_text_value, _enc_text)
    _register(VARCHAROID, decode_text_value, _enc_text)
    _register(DATEOID, _dec_date, _enc_date)
    _register(TIMEOID, _dec_time, _enc_time)
    _register(TIMESTAMPOID, _dec_timestamp, _enc_timestamp)
    _register(TIMESTAMPTZOID, _dec_timestamptz, _enc_timestamptz)
    _register(INTERVALOID, _dec_interval, _enc_interval)
    _register(TIMETZOID, _dec_timetz, _enc_timetz)
    _register(NUMERICOID, _dec_numeric, _enc_numeric)
    _register(UUIDOID, _dec_uuid, _enc_uuid)
    _register(JSONBOID, _dec_jsonb, _enc_jsonb)

    _text_like[CHAROID] = 1
    _text_like[NAMEOID] = 1
    _text_like[TEXTOID] = 1
    _text_like[JSONOID] = 1
    _text_like[XMLOID] = 1
    _text_like[UNKNOWNOID] = 1
    _text_like[BPCHAROID] = 1
    _text_like[VARCHAROID] = 1
    _text_like[JSONBOID] = 1

    _register_array(BOOLARRAYOID, BOOLOID, _enc_array_bool)
    _register_array(BYTEAARRAYOID, BYTEAOID, _enc_array_bytea)
    _register_array(CHARARRAYOID, CHAROID, _enc_array_char)
    _register_array(NAMEARRAYOID, NAMEOID, _enc_array_name)
    _register_array(INT2ARRAYOID, INT2OID, _enc_array_int2)
    _register_array(INT4ARRAYOID, INT4OID, _enc_array_int4)
    _register_array(TEXTARRAYOID, TEXTOID, _enc_array_text)
    _register_array(BPCHARARRAYOID, BPCHAROID, _enc_array_bpchar)
    _register_array(VARCHARARRAYOID, VARCHAROID, _enc_array_varchar)
    _register_array(INT8ARRAYOID, INT8OID, _enc_array_int8)
    _register_array(FLOAT4ARRAYOID, FLOAT4OID, _enc_array_float4)
    _register_array(FLOAT8ARRAYOID, FLOAT8OID, _enc_array_float8)
    _register_array(OIDARRAYOID, OIDOID, _enc_array_oid)
    _register_array(TIMESTAMPARRAYOID, TIMESTAMPOID, _enc_array_timestamp)
    _register_array(DATEARRAYOID, DATEOID, _enc_array_date)
    _register_array(TIMEARRAYOID, TIMEOID, _enc_array_time)
    _register_array(TIMESTAMPTZARRAYOID, TIMESTAMPTZOID, _enc_array_timestamptz)
    _register_array(INTERVALARRAYOID, INTERVALOID, _enc_array_interval)
    _register_array(NUMERICARRAYOID, NUMERICOID, _enc_array_numeric)
    _register_array(UUIDARRAYOID, UUIDOID, _enc_array_uuid)
    _register_array(JSONARRAYOID, JSONOID, _enc_array_json)
    _register_array(JSONBARRAYOID, JSONBOID, _enc_array_jsonb)
    _register_array(TIMETZARRAYOID, TIMETZOID, _enc_array_timetz)

    _register(INETOID, _dec_inet, _enc_inet)
    _register(CIDROID, _dec_cidr, _enc_cidr)
    _register(MACADDROID, _dec_macaddr, _enc_macaddr)
    _register(MACADDR8OID, _dec_macaddr8, _enc_macaddr8)
    _register(MONEYOID, _dec_money, _enc_money)
    _register(POINTOID, _dec_point, _enc_point)
    _register(LSEGOID, _dec_lseg, _enc_lseg)
    _register(PATHOID, _dec_path, _enc_path)
    _register(BOXOID, _dec_box, _enc_box)
    _register(POLYGONOID, _dec_polygon, _enc_polygon)
    _register(LINEOID, _dec_line, _enc_line)
    _register(CIRCLEOID, _dec_circle, _enc_circle)
    _register_array(INETARRAYOID, INETOID, _enc_array_inet)
    _register_array(CIDRARRAYOID, CIDROID, _enc_array_cidr)
    _register_array(MACADDRARRAYOID, MACADDROID, _enc_array_macaddr)
    _register_array(MACADDR8ARRAYOID, MACADDR8OID, _enc_array_macaddr8)
    _register_array(MONEYARRAYOID, MONEYOID, _enc_array_money)
    _register_array(POINTARRAYOID, POINTOID, _enc_array_point)
    _register_array(LSEGARRAYOID, LSEGOID, _enc_array_lseg)
    _register_array(PATHARRAYOID, PATHOID, _enc_array_path)
    _register_array(BOXARRAYOID, BOXOID, _enc_array_box)
    _register_array(POLYGONARRAYOID, POLYGONOID, _enc_array_polygon)
    _register_array(LINEARRAYOID, LINEOID, _enc_array_line)
    _register_array(CIRCLEARRAYOID, CIRCLEOID, _enc_array_circle)
    _geo_elem_kind[POINTOID] = GEO_FLAT
    _geo_elem_kind[LINEOID] = GEO_FLAT
    _geo_elem_kind[LSEGOID] = GEO_PAIR
    _geo_elem_kind[BOXOID] = GEO_PAIR
    _geo_elem_kind[CIRCLEOID] = GEO_PAIR
    _geo_elem_kind[PATHOID] = GEO_POINTS
    _geo_elem_kind[POLYGONOID] = GEO_POINTS

_init_codecs()


cdef decode_func binary_decoder(uint32_t oid) noexcept:
    """The binary decoder for ``oid``, or NULL when we have none."""
    if oid < CODEC_MAX_OID:
        return _binary_decoders[oid]
    return NULL


cdef encode_func binary_encoder(uint32_t oid) noexcept:
    """The binary encoder for ``oid``, or NULL when we have none."""
    if oid < CODEC_MAX_OID:
        return _binary_encoders[oid]
    return NULL


cdef object decode_text_value(const char* data, Py_ssize_t n):
    """A text-format column value (or a text-like binary one): UTF-8 -> str."""
    if n < 0:
        raise ProtocolError(f"negative value length {n}")
    return decode_utf8(data, n)


cdef inline bint _send_as_text(uint32_t oid, object value):
    # A str for a type whose binary form is not its text: let the server
    # parse it (text format), e.g. '2024-01-01' for a date parameter.
    return isinstance(value, str) and not _text_like[oid]


cdef int encode_param(WriteBuffer buf, uint32_t oid, object value, int16_t* fmt) except -1:
    """Append one Bind parameter: int32 length word, then the value.

    * ``None`` -> length -1 (SQL NULL); ``fmt[0]`` is still set (binary when
      we have a binary encoder for ``oid``, text otherwise).
    * binary (``fmt[0] = 1``) when ``binary_encoder(oid)`` exists and the
      value is not a str for a non-text type;
    * otherwise text (``fmt[0] = 0``): the value's PostgreSQL text form
      (``str(value)``, bools 't'/'f', bytes as ``\\x`` hex, lists as array
      literals, dicts as JSON, ...) and the server parses it.  OID 0
      (unspecified) always goes this way.
    * An array whose elements include str values for a non-text element type
      (e.g. ``['2024-01-01']`` for date[]) is sent as a text array literal.
    * An enum.Enum member is replaced by its ``.value`` (so it reaches a text
      or PostgreSQL-enum parameter as the text of its value); extra_types
      wrappers follow the rule documented in wrappers.pyx; CustomType bytes
      are sent binary as they are.

    On error nothing is left in ``buf`` (it is truncated back to where this
    parameter started) and PyToRustValueMappingError is raised.
    """
    cdef int kind
    cdef int depth = 0
    cdef Py_ssize_t at
    cdef Py_ssize_t start = buf._len

    if value is not None:
        kind = _value_kind(value)
        while kind == KIND_ENUM:
            value = value.value
            depth += 1
            if value is None or depth > 8:
                break
            kind = _value_kind(value)
        if value is not None and kind != KIND_PLAIN and kind != KIND_ENUM:
            if kind == KIND_CUSTOM:
                at = buf.reserve_int32()
                try:
                    _enc_bytea(buf, value.inner_value)
                    if buf._len - at - 4 > 0x7FFFFFFF:
                        raise PyToRustValueMappingError(
                            "parameter value too large (over 2 GiB)")
                except BaseException:
                    buf._len = start
                    raise
                buf.patch_int32(at, <int32_t>(buf._len - at - 4))
                fmt[0] = 1
                return 0
            if kind == KIND_VECTOR:
                return _encode_value(buf, oid, _vector_text(value), value, kind, fmt)
            return _encode_value(buf, oid, _wrapper_payload(value), value, kind, fmt)
    return _encode_value(buf, oid, value, None, KIND_PLAIN, fmt)


cdef int _encode_value(WriteBuffer buf, uint32_t oid, object value, object wrapper,
                       int kind, int16_t* fmt) except -1:
    # ``value``: a plain value; ``wrapper``: the extra_types wrapper it came
    # from (its text form is used when we fall back to text), or None.
    cdef encode_func enc = binary_encoder(oid)
    cdef Py_ssize_t at
    cdef Py_ssize_t start = buf._len
    cdef Py_ssize_t vlen

    if value is None:
        fmt[0] = 1 if enc != NULL else 0
        buf.write_int32(-1)
        return 0

    if enc != NULL and not _send_as_text(oid, value):
        at = buf.reserve_int32()
        try:
            enc(buf, value)
        except PyToRustValueMappingError:
            buf._len = start
            if wrapper is not None and _text_like[oid]:
                pass    # e.g. SmallInt(5) for a text parameter: send "5"
            elif _array_elem_oid[oid] == 0 or not _contains_str(value):
                raise
            # fall through: a str element of a non-text array -> text literal
        except BaseException:
            buf._len = start
            raise
        else:
            vlen = buf._len - at - 4
            if vlen > 0x7FFFFFFF:
                buf._len = start
                raise PyToRustValueMappingError("parameter value too large (over 2 GiB)")
            buf.patch_int32(at, <int32_t>vlen)
            fmt[0] = 1
            return 0

    fmt[0] = 0
    at = buf.reserve_int32()
    try:
        if wrapper is not None:
            _write_text(buf, _wrapper_text(wrapper, kind), "text", "text")
        else:
            _write_text_form(buf, value)
        vlen = buf._len - at - 4
        if vlen > 0x7FFFFFFF:
            raise PyToRustValueMappingError("parameter value too large (over 2 GiB)")
    except BaseException:
        buf._len = start
        raise
    buf.patch_int32(at, <int32_t>vlen)
    return 0


# ---------------------------------------------------------------------------
# Test hooks (the codecs themselves are cdef-only).

def _decode_binary(oid, data):
    """Decode ``data`` (bytes) as a binary value of type ``oid`` (for tests)."""
    cdef decode_func dec = binary_decoder(<uint32_t>oid)
    if dec == NULL:
        raise ValueError(f"no binary decoder for type OID {oid}")
    if not isinstance(data, bytes):
        data = bytes(data)
    return dec(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


def _encode_param(oid, value):
    """Encode ``value`` for a parameter of type ``oid`` as ``encode_param``
    does; returns ``(format, value bytes without length word | None)``."""
    cdef WriteBuffer buf = WriteBuffer()
    cdef int16_t fmt = -1
    cdef int32_t vlen
    encode_param(buf, <uint32_t>oid, value, &fmt)
    vlen = <int32_t>unpack_uint32(buf._buf)
    if vlen == -1:
        return (fmt, None)
    if vlen != buf._len - 4:
        raise AssertionError("length word does not match the encoded value")
    return (fmt, PyBytes_FromStringAndSize(buf._buf + 4, vlen))


def _binary_decoder_oids():
    """OIDs that have a binary decoder (for tests and introspection)."""
    return [i for i in range(CODEC_MAX_OID) if _binary_decoders[i] != NULL]


def oids_without_decoder(oids):
    """The distinct OIDs of ``oids`` the static table has no binary decoder for,
    in order of first appearance (what type introspection has to look at)."""
    cdef list out = []
    cdef object o
    cdef uint32_t v
    for o in oids:
        v = <uint32_t>o
        if binary_decoder(v) == NULL and o not in out:
            out.append(o)
    return out


def array_element_oid(oid):
    """The element type of a built-in array type, 0 for any other type."""
    cdef uint32_t v = <uint32_t>oid
    return _array_elem_oid[v] if v < CODEC_MAX_OID else 0


def _binary_encoder_oids():
    return [i for i in range(CODEC_MAX_OID) if _binary_encoders[i] != NULL]
