# bool, int2, int4, int8, oid, float4, float8.

cdef object _dec_bool(const char* data, Py_ssize_t n):
    if n != 1:
        _raise_bad_len("bool", 1, n)
    # PostgreSQL's boolrecv treats any non-zero byte as true.
    return data[0] != 0


cdef int _enc_bool(WriteBuffer buf, object value) except -1:
    if value is True:
        return buf.write_byte(1)
    if value is False:
        return buf.write_byte(0)
    return _raise_encode("bool", "boolean", value, "expected bool")


cdef object _dec_int2(const char* data, Py_ssize_t n):
    if n != 2:
        _raise_bad_len("int2", 2, n)
    return <int16_t>unpack_uint16(data)


cdef object _dec_int4(const char* data, Py_ssize_t n):
    if n != 4:
        _raise_bad_len("int4", 4, n)
    return <int32_t>unpack_uint32(data)


cdef object _dec_int8(const char* data, Py_ssize_t n):
    if n != 8:
        _raise_bad_len("int8", 8, n)
    return <int64_t>unpack_uint64(data)


cdef object _dec_oid(const char* data, Py_ssize_t n):
    if n != 4:
        _raise_bad_len("oid", 4, n)
    return unpack_uint32(data)


cdef int64_t _int_in_range(object value, str pgtype, str sqltype,
                           int64_t lo, int64_t hi) except? -1:
    """``value`` as a C integer within [lo, hi] or the typed error."""
    cdef long long v
    if not isinstance(value, int):
        # Integral Decimals and numpy-style integers (objects with
        # __index__) are accepted; floats are not (they may be fractional).
        if isinstance(value, _decimal_mod.Decimal) and value.is_finite() \
                and value == value.to_integral_value():
            value = int(value)
        elif hasattr(type(value), "__index__") and not isinstance(value, float):
            value = value.__index__()
        else:
            _raise_encode(pgtype, sqltype, value, "expected int")
    try:
        v = value
    except OverflowError:
        raise PyToRustValueMappingError(
            f"value {value} out of range for {pgtype} (parameter type {sqltype})") from None
    if v < lo or v > hi:
        raise PyToRustValueMappingError(
            f"value {value} out of range for {pgtype} (parameter type {sqltype})")
    return v


cdef int _enc_int2(WriteBuffer buf, object value) except -1:
    return buf.write_int16(<int16_t>_int_in_range(value, "int2", "smallint", -32768, 32767))


cdef int _enc_int4(WriteBuffer buf, object value) except -1:
    return buf.write_int32(<int32_t>_int_in_range(
        value, "int4", "integer", -2147483648, 2147483647))


cdef int _enc_int8(WriteBuffer buf, object value) except -1:
    return buf.write_int64(_int_in_range(
        value, "int8", "bigint", _I64_MIN, _I64_MAX))


cdef int _enc_oid(WriteBuffer buf, object value) except -1:
    return buf.write_uint32(<uint32_t>_int_in_range(value, "oid", "oid", 0, 4294967295))


cdef object _dec_float4(const char* data, Py_ssize_t n):
    if n != 4:
        _raise_bad_len("float4", 4, n)
    return <double>unpack_float4(data)


cdef object _dec_float8(const char* data, Py_ssize_t n):
    if n != 8:
        _raise_bad_len("float8", 8, n)
    return unpack_float8(data)


cdef double _as_double(object value, str pgtype, str sqltype) except? -1.0:
    """float, int or Decimal -> C double (NaN and infinities pass through)."""
    if isinstance(value, float):
        return value
    if isinstance(value, (int, _decimal_mod.Decimal)) and not isinstance(value, bool):
        if isinstance(value, _decimal_mod.Decimal) and value.is_snan():
            _raise_encode(pgtype, sqltype, value, "signaling NaN")
        try:
            return float(value)
        except OverflowError:
            raise PyToRustValueMappingError(
                f"value {value} out of range for {pgtype} (parameter type {sqltype})") from None
    _raise_encode(pgtype, sqltype, value, "expected float, int or Decimal")
    return 0.0


cdef int _enc_float4(WriteBuffer buf, object value) except -1:
    cdef double d = _as_double(value, "float4", "real")
    cdef float f = <float>d
    cdef char tmp[4]
    if isfinite(d) and not isfinite(f):
        raise PyToRustValueMappingError(
            f"value {value!r} out of range for float4 (parameter type real)")
    pack_float4(tmp, f)
    return buf.write_raw(tmp, 4)


cdef int _enc_float8(WriteBuffer buf, object value) except -1:
    cdef double d = _as_double(value, "float8", "double precision")
    cdef char tmp[8]
    pack_float8(tmp, d)
    return buf.write_raw(tmp, 8)
