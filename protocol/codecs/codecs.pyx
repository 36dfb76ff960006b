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
#   cdef decode_func text_decoder(uint32_t oid)     NULL if unsupported
#   cdef object decode_text_value(const char* data, Py_ssize_t n)
#   cdef int encode_param(WriteBuffer buf, uint32_t oid, object value,
#                         int16_t* fmt) except -1
#       Length word + value for one Bind parameter (see its docstring).
#
# One table of types (_types, indexed by the type OID; built-in types all
# have OIDs < 8192) holds, per type, its binary decoder and encoder, its
# text-format decoder, an array's element type and the array delimiter:
# lookups are O(1) and the binary and text paths cannot drift apart.  Array
# codecs dispatch per element through the same table.
#
# Files: scalars.pyx (bool, integers, floats, oid), text.pyx (text-likes,
# bytea, "char", json/jsonb), uuid.pyx, numeric.pyx, datetime.pyx, network.pyx
# (inet, cidr, macaddr, macaddr8, money), geometry.pyx (point, lseg, box,
# line, circle, path, polygon), wrappers.pyx (enum.Enum members and the
# psqlpy.extra_types wrappers as parameters), typecodec.pyx (types found by
# introspection: enums, composites, arrays of them),
# array.pyx, textform.pyx (the
# PostgreSQL text form used for text-format parameters), textdecode.pyx
# (text-format results).

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
from libc.math cimport fabs, isfinite, isnan

import datetime as _datetime_mod
import decimal as _decimal_mod
import json as _json_mod
import uuid as _uuid_mod

cimport cython
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_New

cdef extern from "Python.h":
    void* PyUnicode_DATA(object u)

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
    INT2VECTOROID = 22
    INT4OID = 23
    TEXTOID = 25
    OIDOID = 26
    OIDVECTOROID = 30
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
    INT4RANGEOID = 3904
    INT4RANGEARRAYOID = 3905
    NUMRANGEOID = 3906
    NUMRANGEARRAYOID = 3907
    TSRANGEOID = 3908
    TSRANGEARRAYOID = 3909
    TSTZRANGEOID = 3910
    TSTZRANGEARRAYOID = 3911
    DATERANGEOID = 3912
    DATERANGEARRAYOID = 3913
    INT8RANGEOID = 3926
    INT8RANGEARRAYOID = 3927
    INT4MULTIRANGEOID = 4451
    NUMMULTIRANGEOID = 4532
    TSMULTIRANGEOID = 4533
    TSTZMULTIRANGEOID = 4534
    DATEMULTIRANGEOID = 4535
    INT8MULTIRANGEOID = 4536
    INT4MULTIRANGEARRAYOID = 6150
    NUMMULTIRANGEARRAYOID = 6151
    TSMULTIRANGEARRAYOID = 6152
    TSTZMULTIRANGEARRAYOID = 6153
    DATEMULTIRANGEARRAYOID = 6155
    INT8MULTIRANGEARRAYOID = 6157


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
    INT4RANGEOID: "int4range", INT8RANGEOID: "int8range", NUMRANGEOID: "numrange",
    TSRANGEOID: "tsrange", TSTZRANGEOID: "tstzrange", DATERANGEOID: "daterange",
    INT4MULTIRANGEOID: "int4multirange", INT8MULTIRANGEOID: "int8multirange",
    NUMMULTIRANGEOID: "nummultirange", TSMULTIRANGEOID: "tsmultirange",
    TSTZMULTIRANGEOID: "tstzmultirange", DATEMULTIRANGEOID: "datemultirange",
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


# ---------------------------------------------------------------------------
# The table of types: one entry per built-in type OID, with everything the
# codecs know about the type.  Filled by _init_types() below; read through
# binary_decoder() / binary_encoder() / text_decoder() and the fields.

cdef enum:
    TF_TEXT_LIKE = 1      # the binary form is the UTF-8 text (a str is sent binary)

cdef struct TypeEntry:
    decode_func bin_dec   # binary result value -> Python (NULL: results come as text)
    encode_func bin_enc   # Python -> binary parameter (NULL: parameters go as text)
    decode_func text_dec  # text result value -> the same Python value as bin_dec
    uint32_t elem         # an array type's element type, else 0
    uint8_t flags         # TF_*
    uint8_t geo           # how an element nests in arrays (GEO_*, array.pyx)
    char delim            # array_out's delimiter between elements of this type

cdef TypeEntry[CODEC_MAX_OID] _types
memset(&_types[0], 0, sizeof(_types))


include "scalars.pyx"
include "text.pyx"
include "uuid.pyx"
include "numeric.pyx"
include "datetime.pyx"
include "network.pyx"
include "geometry.pyx"
include "wrappers.pyx"
include "range.pyx"
include "extensions.pyx"
include "typecodec.pyx"
include "array.pyx"
include "textform.pyx"
include "textdecode.pyx"


cdef void _type(uint32_t oid, decode_func bin_dec, encode_func bin_enc,
                decode_func text_dec, uint8_t flags=0) noexcept:
    _types[oid].bin_dec = bin_dec
    _types[oid].bin_enc = bin_enc
    _types[oid].text_dec = text_dec
    _types[oid].flags = flags
    _types[oid].delim = b','


cdef void _array_type(uint32_t oid, uint32_t elem, encode_func bin_enc) noexcept:
    # text results of arrays parse with the element's text_dec (typecodec.pyx)
    _type(oid, _dec_array, bin_enc, NULL)
    _types[oid].elem = elem


cdef void _init_types() noexcept:
    _type(BOOLOID, _dec_bool, _enc_bool, _tdec_bool)
    _type(BYTEAOID, _dec_bytea, _enc_bytea, _tdec_bytea)
    _type(CHAROID, _dec_char, _enc_char, _tdec_char, TF_TEXT_LIKE)
    _type(NAMEOID, decode_text_value, _enc_text, decode_text_value, TF_TEXT_LIKE)
    _type(INT8OID, _dec_int8, _enc_int8, _tdec_int8)
    _type(INT2OID, _dec_int2, _enc_int2, _tdec_int2)
    _type(INT4OID, _dec_int4, _enc_int4, _tdec_int4)
    _type(TEXTOID, decode_text_value, _enc_text, decode_text_value, TF_TEXT_LIKE)
    _type(OIDOID, _dec_oid, _enc_oid, _tdec_oid)
    _type(JSONOID, _dec_json, _enc_json, _tdec_json, TF_TEXT_LIKE)
    _type(XMLOID, decode_text_value, _enc_text, decode_text_value, TF_TEXT_LIKE)
    _type(FLOAT4OID, _dec_float4, _enc_float4, _tdec_float4)
    _type(FLOAT8OID, _dec_float8, _enc_float8, _tdec_float8)
    _type(UNKNOWNOID, decode_text_value, _enc_text, decode_text_value, TF_TEXT_LIKE)
    _type(BPCHAROID, decode_text_value, _enc_text, decode_text_value, TF_TEXT_LIKE)
    _type(VARCHAROID, decode_text_value, _enc_text, decode_text_value, TF_TEXT_LIKE)
    _type(DATEOID, _dec_date, _enc_date, _tdec_date)
    _type(TIMEOID, _dec_time, _enc_time, _tdec_time)
    _type(TIMESTAMPOID, _dec_timestamp, _enc_timestamp, _tdec_timestamp)
    _type(TIMESTAMPTZOID, _dec_timestamptz, _enc_timestamptz, _tdec_timestamptz)
    _type(INTERVALOID, _dec_interval, _enc_interval, _tdec_interval)
    _type(TIMETZOID, _dec_timetz, _enc_timetz, _tdec_timetz)
    _type(NUMERICOID, _dec_numeric, _enc_numeric, _tdec_numeric)
    _type(UUIDOID, _dec_uuid, _enc_uuid, _tdec_uuid)
    _type(JSONBOID, _dec_jsonb, _enc_jsonb, _tdec_json, TF_TEXT_LIKE)
    _type(INETOID, _dec_inet, _enc_inet, _tdec_inet)
    _type(CIDROID, _dec_cidr, _enc_cidr, _tdec_cidr)
    _type(MACADDROID, _dec_macaddr, _enc_macaddr, _tdec_macaddr)
    _type(MACADDR8OID, _dec_macaddr8, _enc_macaddr8, _tdec_macaddr)
    _type(MONEYOID, _dec_money, _enc_money, _tdec_money)
    _type(POINTOID, _dec_point, _enc_point, _tdec_point)
    _type(LSEGOID, _dec_lseg, _enc_lseg, _tdec_lseg)
    _type(PATHOID, _dec_path, _enc_path, _tdec_path)
    _type(BOXOID, _dec_box, _enc_box, _tdec_box)
    _type(POLYGONOID, _dec_polygon, _enc_polygon, _tdec_polygon)
    _type(LINEOID, _dec_line, _enc_line, _tdec_line)
    _type(CIRCLEOID, _dec_circle, _enc_circle, _tdec_circle)
    _types[BOXOID].delim = b';'           # box's text holds commas
    _types[POINTOID].geo = GEO_FLAT
    _types[LINEOID].geo = GEO_FLAT
    _types[LSEGOID].geo = GEO_PAIR
    _types[BOXOID].geo = GEO_PAIR
    _types[CIRCLEOID].geo = GEO_PAIR
    _types[PATHOID].geo = GEO_POINTS
    _types[POLYGONOID].geo = GEO_POINTS

    _array_type(BOOLARRAYOID, BOOLOID, _enc_array_bool)
    _array_type(BYTEAARRAYOID, BYTEAOID, _enc_array_bytea)
    _array_type(CHARARRAYOID, CHAROID, _enc_array_char)
    _array_type(NAMEARRAYOID, NAMEOID, _enc_array_name)
    _array_type(INT2ARRAYOID, INT2OID, _enc_array_int2)
    _array_type(INT4ARRAYOID, INT4OID, _enc_array_int4)
    _array_type(TEXTARRAYOID, TEXTOID, _enc_array_text)
    _array_type(BPCHARARRAYOID, BPCHAROID, _enc_array_bpchar)
    _array_type(VARCHARARRAYOID, VARCHAROID, _enc_array_varchar)
    _array_type(INT8ARRAYOID, INT8OID, _enc_array_int8)
    _array_type(FLOAT4ARRAYOID, FLOAT4OID, _enc_array_float4)
    _array_type(FLOAT8ARRAYOID, FLOAT8OID, _enc_array_float8)
    _array_type(OIDARRAYOID, OIDOID, _enc_array_oid)
    _array_type(TIMESTAMPARRAYOID, TIMESTAMPOID, _enc_array_timestamp)
    _array_type(DATEARRAYOID, DATEOID, _enc_array_date)
    _array_type(TIMEARRAYOID, TIMEOID, _enc_array_time)
    _array_type(TIMESTAMPTZARRAYOID, TIMESTAMPTZOID, _enc_array_timestamptz)
    _array_type(INTERVALARRAYOID, INTERVALOID, _enc_array_interval)
    _array_type(NUMERICARRAYOID, NUMERICOID, _enc_array_numeric)
    _array_type(UUIDARRAYOID, UUIDOID, _enc_array_uuid)
    _array_type(JSONARRAYOID, JSONOID, _enc_array_json)
    _array_type(JSONBARRAYOID, JSONBOID, _enc_array_jsonb)
    _array_type(TIMETZARRAYOID, TIMETZOID, _enc_array_timetz)
    _array_type(INETARRAYOID, INETOID, _enc_array_inet)
    _array_type(CIDRARRAYOID, CIDROID, _enc_array_cidr)
    _array_type(MACADDRARRAYOID, MACADDROID, _enc_array_macaddr)
    _array_type(MACADDR8ARRAYOID, MACADDR8OID, _enc_array_macaddr8)
    _array_type(MONEYARRAYOID, MONEYOID, _enc_array_money)
    _array_type(POINTARRAYOID, POINTOID, _enc_array_point)
    _array_type(LSEGARRAYOID, LSEGOID, _enc_array_lseg)
    _array_type(PATHARRAYOID, PATHOID, _enc_array_path)
    _array_type(BOXARRAYOID, BOXOID, _enc_array_box)
    _array_type(POLYGONARRAYOID, POLYGONOID, _enc_array_polygon)
    _array_type(LINEARRAYOID, LINEOID, _enc_array_line)
    _array_type(CIRCLEARRAYOID, CIRCLEOID, _enc_array_circle)
    # The catalogs' vectors (pg_index.indkey, indoption, ...) have the binary
    # form of a one-dimensional int2[] / oid[]: lists of ints, as SQLAlchemy's
    # reflection reads them; their text is the ints separated by spaces.
    # Decoded only: the server takes them in binary only with lower bound 0,
    # so parameters go as text ("1 2").
    _type(INT2VECTOROID, _dec_array, NULL, _tdec_int2vector)
    _type(OIDVECTOROID, _dec_array, NULL, _tdec_oidvector)

    _type(INT4RANGEOID, _dec_int4range, _enc_int4range, _tdec_int4range)
    _type(INT8RANGEOID, _dec_int8range, _enc_int8range, _tdec_int8range)
    _type(NUMRANGEOID, _dec_numrange, _enc_numrange, _tdec_numrange)
    _type(TSRANGEOID, _dec_tsrange, _enc_tsrange, _tdec_tsrange)
    _type(TSTZRANGEOID, _dec_tstzrange, _enc_tstzrange, _tdec_tstzrange)
    _type(DATERANGEOID, _dec_daterange, _enc_daterange, _tdec_daterange)
    _type(INT4MULTIRANGEOID, _dec_int4multirange, _enc_int4multirange, _tdec_int4multirange)
    _type(INT8MULTIRANGEOID, _dec_int8multirange, _enc_int8multirange, _tdec_int8multirange)
    _type(NUMMULTIRANGEOID, _dec_nummultirange, _enc_nummultirange, _tdec_nummultirange)
    _type(TSMULTIRANGEOID, _dec_tsmultirange, _enc_tsmultirange, _tdec_tsmultirange)
    _type(TSTZMULTIRANGEOID, _dec_tstzmultirange, _enc_tstzmultirange, _tdec_tstzmultirange)
    _type(DATEMULTIRANGEOID, _dec_datemultirange, _enc_datemultirange, _tdec_datemultirange)
    for oid in (INT4MULTIRANGEOID, INT8MULTIRANGEOID, NUMMULTIRANGEOID, TSMULTIRANGEOID,
                TSTZMULTIRANGEOID, DATEMULTIRANGEOID):
        _types[oid].geo = GEO_MULTIRANGE
    _array_type(INT4RANGEARRAYOID, INT4RANGEOID, _enc_array_int4range)
    _array_type(INT8RANGEARRAYOID, INT8RANGEOID, _enc_array_int8range)
    _array_type(NUMRANGEARRAYOID, NUMRANGEOID, _enc_array_numrange)
    _array_type(TSRANGEARRAYOID, TSRANGEOID, _enc_array_tsrange)
    _array_type(TSTZRANGEARRAYOID, TSTZRANGEOID, _enc_array_tstzrange)
    _array_type(DATERANGEARRAYOID, DATERANGEOID, _enc_array_daterange)
    _array_type(INT4MULTIRANGEARRAYOID, INT4MULTIRANGEOID, _enc_array_int4multirange)
    _array_type(INT8MULTIRANGEARRAYOID, INT8MULTIRANGEOID, _enc_array_int8multirange)
    _array_type(NUMMULTIRANGEARRAYOID, NUMMULTIRANGEOID, _enc_array_nummultirange)
    _array_type(TSMULTIRANGEARRAYOID, TSMULTIRANGEOID, _enc_array_tsmultirange)
    _array_type(TSTZMULTIRANGEARRAYOID, TSTZMULTIRANGEOID, _enc_array_tstzmultirange)
    _array_type(DATEMULTIRANGEARRAYOID, DATEMULTIRANGEOID, _enc_array_datemultirange)

_init_types()


cdef decode_func binary_decoder(uint32_t oid) noexcept:
    """The binary decoder for ``oid``, or NULL when we have none."""
    if oid < CODEC_MAX_OID:
        return _types[oid].bin_dec
    return NULL


cdef encode_func binary_encoder(uint32_t oid) noexcept:
    """The binary encoder for ``oid``, or NULL when we have none."""
    if oid < CODEC_MAX_OID:
        return _types[oid].bin_enc
    return NULL


cdef decode_func text_decoder(uint32_t oid) noexcept:
    """The text-format decoder for a scalar ``oid`` (NULL: none; arrays parse
    with their element's, see typecodec.pyx)."""
    if oid < CODEC_MAX_OID:
        return _types[oid].text_dec
    return NULL


cdef object decode_text_value(const char* data, Py_ssize_t n):
    """A text-format column value (or a text-like binary one): UTF-8 -> str."""
    if n < 0:
        raise ProtocolError(f"negative value length {n}")
    return decode_utf8(data, n)


cdef inline bint _send_as_text(uint32_t oid, object value):
    # A str for a type whose binary form is not its text: let the server
    # parse it (text format), e.g. '2024-01-01' for a date parameter.
    return isinstance(value, str) and not (_types[oid].flags & TF_TEXT_LIKE)


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
            if wrapper is not None and (_types[oid].flags & TF_TEXT_LIKE):
                pass    # e.g. SmallInt(5) for a text parameter: send "5"
            elif _types[oid].elem == 0 or not _contains_str(value):
                raise
            # fall through: a str element of a non-text array -> text literal
        except BaseException:
            buf._len = start
            raise
        else:
            buf.end_value(at, "parameter value")
            fmt[0] = 1
            return 0

    fmt[0] = 0
    at = buf.reserve_int32()
    try:
        if wrapper is not None:
            _write_text(buf, _wrapper_text(wrapper, kind), "text", "text")
        else:
            _write_text_form(buf, value)
    except BaseException:
        buf._len = start
        raise
    return buf.end_value(at, "parameter value")


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


def _decode_text(oid, data):
    """Decode ``data`` (bytes), the text form of a value of type ``oid``, as
    unprepared results are decoded (for tests)."""
    cdef decode_func dec = text_decoder(<uint32_t>oid)
    cdef TypeCodec codec
    if not isinstance(data, bytes):
        data = bytes(data)
    if dec != NULL:
        return dec(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    codec = TypeCodec.builtin(<uint32_t>oid)
    if codec is None or array_element_oid(oid) == 0:
        raise ValueError(f"no text decoder for type OID {oid}")
    return _decode_with(codec.for_text(), data)


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


def wire_bytes(oid, codec, value):
    """The bytes ``value`` (a decoded column value of type ``oid``) has on the
    wire: its binary form through ``codec`` (a statement's column codec) or
    the built-in binary encoder, else its text form; None stays None.  What
    ``result(custom_decoders=...)`` hands a decoder, as the reference driver
    hands it the column's raw binary bytes."""
    cdef WriteBuffer buf
    if value is None:
        return None
    if codec is not None and (<TypeCodec?>codec).binary:
        buf = WriteBuffer()
        try:
            (<TypeCodec>codec).encode_binary(buf, value)
            return buf.to_bytes()
        except PyToRustValueMappingError:
            pass   # a value a registered decoder made: the built-in encoders may know it
    return _encode_param(oid, value)[1]


def _binary_decoder_oids():
    """OIDs that have a binary decoder (for tests and introspection)."""
    return [i for i in range(CODEC_MAX_OID) if _types[i].bin_dec != NULL]


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
    return _types[v].elem if v < CODEC_MAX_OID else 0


def text_is_binary(oid):
    """Whether the binary form of built-in type ``oid`` is its UTF-8 text."""
    cdef uint32_t v = <uint32_t>oid
    return v < CODEC_MAX_OID and (_types[v].flags & TF_TEXT_LIKE) != 0 and v != JSONBOID


def _text_decoder_oids():
    """OIDs that have a text-format decoder of their own (arrays use their element's)."""
    return [i for i in range(CODEC_MAX_OID) if _types[i].text_dec != NULL]


def _binary_encoder_oids():
    return [i for i in range(CODEC_MAX_OID) if _types[i].bin_enc != NULL]
