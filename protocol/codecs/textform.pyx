# The PostgreSQL text form of a Python value, for text-format parameters
# (OID 0 / unspecified, types without a binary encoder, and str values for
# non-text types, which the server then parses).  An enum.Enum member is the
# text of its ``.value`` (not "Mood.HAPPY"); extra_types wrappers use their
# type's text form (wrappers.pyx).

cdef object _bytes_hex = bytes.hex


cdef str _text_form(object value):
    """``value`` as PostgreSQL input text (value is not None)."""
    cdef int64_t days
    cdef int kind
    if isinstance(value, str):
        return value
    kind = _value_kind(value)
    if kind != KIND_PLAIN:
        if kind == KIND_ENUM:
            return _text_form(value.value)
        if kind == KIND_CUSTOM:
            raise PyToRustValueMappingError(
                "cannot send CustomType in text format (it carries binary data)")
        return _wrapper_text(value, kind)
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + _bytes_hex(bytes(value))
    if isinstance(value, float):
        if isnan(<double>value):
            return "NaN"
        if not isfinite(<double>value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, Range):
        return _range_text(<Range>value)
    if isinstance(value, (list, tuple)):
        return _array_literal(value)
    if isinstance(value, dict):
        try:
            return _json_encode(value)
        except (TypeError, ValueError, RecursionError) as e:
            raise PyToRustValueMappingError(f"cannot encode dict as JSON: {e}") from None
    if PyDelta_Check(value):
        return (f"{PyDateTime_DELTA_GET_DAYS(value)} days "
                f"{PyDateTime_DELTA_GET_SECONDS(value)} seconds "
                f"{PyDateTime_DELTA_GET_MICROSECONDS(value)} microseconds")
    if PyDateTime_Check(value):
        # Same infinity mapping as the binary codecs.
        if value.replace(tzinfo=None) == _DT_MAX:
            return "infinity"
        if value.replace(tzinfo=None) == _DT_MIN:
            return "-infinity"
        return value.isoformat()
    if PyDate_Check(value):
        if _is_date_max(value):
            return "infinity"
        if _is_date_min(value):
            return "-infinity"
        return value.isoformat()
    if isinstance(value, _Decimal) and value.is_nan():
        return "NaN"
    return str(value)


cdef str _quote_array_element(str s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


cdef int _array_literal_level(list parts, object v, int dim, int ndim, int32_t* dims) except -1:
    cdef bint first = True
    if not isinstance(v, (list, tuple)) or len(v) != dims[dim]:
        _raise_ragged("array", dim)
    parts.append("{")
    for item in v:
        if not first:
            parts.append(",")
        first = False
        if dim < ndim - 1:
            _array_literal_level(parts, item, dim + 1, ndim, dims)
        elif item is None:
            parts.append("NULL")
        elif isinstance(item, (list, tuple)):
            _raise_ragged("array", dim)
        else:
            parts.append(_quote_array_element(_text_form(item)))
    parts.append("}")
    return 0


cdef str _array_literal(object value):
    cdef int32_t dims[ARRAY_MAXDIM]
    cdef int ndim = _array_shape(value, dims, "array")
    cdef int i
    cdef list parts = []
    for i in range(ndim):
        if dims[i] == 0:
            _check_empty_shape(value, 0, ndim, dims, "array")
            return "{}"
    if ndim == 0:
        return "{}"
    _array_literal_level(parts, value, 0, ndim, dims)
    return "".join(parts)


cdef int _write_text_form(WriteBuffer buf, object value) except -1:
    # UTF-8, refusing NUL (text-format parameters cannot carry it either).
    return _write_text(buf, _text_form(value), "text", "text")
