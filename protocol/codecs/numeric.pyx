# numeric <-> decimal.Decimal.
#
# Binary format (numeric_send): int16 ndigits, int16 weight, uint16 sign,
# uint16 dscale, then ndigits int16 base-10000 digits, most significant
# first; the first digit is worth 10000**weight.  dscale is the number of
# decimal digits after the point the value displays with, which is what
# Decimal's exponent preserves: '1.50' -> Decimal('1.50').

from cpython.mem cimport PyMem_Malloc as _num_malloc, PyMem_Free as _num_free

cdef enum:
    NUMERIC_POS = 0x0000
    NUMERIC_NEG = 0x4000
    NUMERIC_NAN = 0xC000
    NUMERIC_PINF = 0xD000
    NUMERIC_NINF = 0xF000
    NUMERIC_DSCALE_MASK = 0x3FFF

cdef object _Decimal = _decimal_mod.Decimal
cdef object _DEC_NAN = _Decimal("NaN")
cdef object _DEC_PINF = _Decimal("Infinity")
cdef object _DEC_NINF = _Decimal("-Infinity")


cdef object _dec_numeric(const char* data, Py_ssize_t n):
    cdef int16_t ndigits, weight
    cdef uint16_t sign, dscale, d
    cdef Py_ssize_t i, j, pos, ndec, zeros, trim
    cdef int64_t exp, target
    cdef char* out
    cdef const char* digits
    if n < 8:
        raise ProtocolError(f"malformed binary numeric value: {n} bytes, need at least 8")
    ndigits = <int16_t>unpack_uint16(data)
    weight = <int16_t>unpack_uint16(data + 2)
    sign = unpack_uint16(data + 4)
    dscale = unpack_uint16(data + 6)
    if ndigits < 0 or n != 8 + 2 * <Py_ssize_t>ndigits:
        raise ProtocolError(
            f"malformed binary numeric value: ndigits={ndigits} "
            f"does not match the {n - 8} digit bytes")
    if sign == NUMERIC_NAN:
        return _DEC_NAN
    if sign == NUMERIC_PINF:
        return _DEC_PINF
    if sign == NUMERIC_NINF:
        return _DEC_NINF
    if sign != NUMERIC_POS and sign != NUMERIC_NEG:
        raise ProtocolError(f"malformed binary numeric value: invalid sign 0x{sign:04x}")
    if dscale & ~NUMERIC_DSCALE_MASK:
        raise ProtocolError(f"malformed binary numeric value: invalid dscale {dscale}")
    digits = data + 8
    for i in range(ndigits):
        d = unpack_uint16(digits + 2 * i)
        if d > 9999:
            raise ProtocolError(f"malformed binary numeric value: digit {d} > 9999")

    # Decimal digit string of the base-10000 digits, then rescale it so the
    # Decimal's exponent is exactly -dscale (pad with zeros, or truncate
    # digits hidden by dscale, as numeric_recv does).
    ndec = 4 * <Py_ssize_t>ndigits
    exp = 4 * (<int64_t>weight - ndigits + 1)     # exponent of the last digit
    target = -<int64_t>dscale
    zeros = <Py_ssize_t>(exp - target) if exp > target and ndigits > 0 else 0
    trim = <Py_ssize_t>(target - exp) if exp < target else 0
    if trim > ndec:
        trim = ndec
    out = <char*>_num_malloc(<size_t>(ndec + zeros + 32))
    if out == NULL:
        raise MemoryError
    try:
        pos = 0
        if sign == NUMERIC_NEG:
            out[pos] = b'-'
            pos += 1
        for i in range(ndigits):
            d = unpack_uint16(digits + 2 * i)
            out[pos] = <char>(48 + d // 1000)
            out[pos + 1] = <char>(48 + (d // 100) % 10)
            out[pos + 2] = <char>(48 + (d // 10) % 10)
            out[pos + 3] = <char>(48 + d % 10)
            pos += 4
        pos -= trim
        for j in range(zeros):
            out[pos] = b'0'
            pos += 1
        if pos == 0 or (pos == 1 and sign == NUMERIC_NEG):
            pos = 0                # everything truncated (or ndigits == 0): zero
            out[pos] = b'0'
            pos += 1
        pos += snprintf_exp(out + pos, target)
        return _Decimal(PyUnicode_DecodeASCII(out, pos, NULL))   # one temporary, not two
    finally:
        _num_free(out)


cdef inline Py_ssize_t snprintf_exp(char* p, int64_t e) noexcept:
    # Writes "E<e>" (e is in [-16383, 0]); returns the bytes written.
    cdef char tmp[24]
    cdef Py_ssize_t k = 0, i
    cdef bint neg = e < 0
    if neg:
        e = -e
    p[0] = b'E'
    i = 1
    if neg:
        p[i] = b'-'
        i += 1
    if e == 0:
        tmp[k] = b'0'
        k += 1
    while e > 0:
        tmp[k] = <char>(48 + e % 10)
        e //= 10
        k += 1
    while k > 0:
        k -= 1
        p[i] = tmp[k]
        i += 1
    return i


cdef int _write_numeric_special(WriteBuffer buf, uint16_t sign) except -1:
    buf.write_int16(0)
    buf.write_int16(0)
    buf.write_int16(<int16_t>sign)
    buf.write_int16(0)
    return 0


cdef int _enc_numeric(WriteBuffer buf, object value) except -1:
    cdef object dec
    cdef object t, dtuple
    cdef int64_t exp, k, eprime, weight, dscale
    cdef Py_ssize_t ndec, L, p, T, G, g, j, first, last, idx
    cdef int grp
    cdef int16_t* groups
    cdef bint neg
    if isinstance(value, _Decimal):
        dec = value
    elif isinstance(value, int) and not isinstance(value, bool):
        dec = _Decimal(value)
    elif isinstance(value, float):
        if isnan(<double>value):
            return _write_numeric_special(buf, NUMERIC_NAN)
        if not isfinite(<double>value):
            return _write_numeric_special(buf, NUMERIC_PINF if value > 0 else NUMERIC_NINF)
        dec = _Decimal(repr(value))    # shortest repr: 0.1 -> Decimal('0.1')
    else:
        return _raise_encode("numeric", "numeric", value, "expected Decimal, int or float")

    if not dec.is_finite():
        if dec.is_nan():               # quiet or signaling: PostgreSQL has one NaN
            return _write_numeric_special(buf, NUMERIC_NAN)
        return _write_numeric_special(
            buf, NUMERIC_NINF if dec.is_signed() else NUMERIC_PINF)

    t = dec.as_tuple()
    neg = t[0] == 1
    dtuple = t[1]
    try:
        exp = t[2]
    except OverflowError:
        raise PyToRustValueMappingError(
            f"value {value} out of range for numeric (exponent too large)") from None
    dscale = -exp if exp < 0 else 0
    if dscale > NUMERIC_DSCALE_MASK:
        raise PyToRustValueMappingError(
            f"value {value} out of range for numeric: {dscale} digits after the "
            f"decimal point, at most {NUMERIC_DSCALE_MASK} can be sent")

    # Align the decimal digits on base-10000 group boundaries: pad k zeros
    # on the right so the exponent is a multiple of 4, then p zeros on the
    # left so the length is too.
    ndec = len(dtuple)
    k = ((exp % 4) + 4) % 4
    eprime = exp - k
    L = ndec + <Py_ssize_t>k
    p = (4 - L % 4) % 4
    T = L + p
    G = T // 4
    groups = <int16_t*>_num_malloc(<size_t>(G * sizeof(int16_t) + 1))
    if groups == NULL:
        raise MemoryError
    try:
        for g in range(G):
            grp = 0
            for j in range(4 * g, 4 * g + 4):
                idx = j - p
                grp *= 10
                if 0 <= idx < ndec:
                    grp += <int>dtuple[idx]
            groups[g] = <int16_t>grp
        first = 0
        while first < G and groups[first] == 0:
            first += 1
        last = G
        while last > first and groups[last - 1] == 0:
            last -= 1
        if first == last:              # zero (any sign, any scale)
            buf.write_int16(0)
            buf.write_int16(0)
            buf.write_int16(<int16_t>NUMERIC_POS)
            buf.write_int16(<int16_t>dscale)
            return 0
        weight = (G - 1 - first) + eprime // 4
        if weight > 32767 or weight < -32768 or last - first > 32767:
            raise PyToRustValueMappingError(
                f"value {value} out of range for numeric (parameter type numeric)")
        buf.write_int16(<int16_t>(last - first))
        buf.write_int16(<int16_t>weight)
        buf.write_int16(<int16_t>(NUMERIC_NEG if neg else NUMERIC_POS))
        buf.write_int16(<int16_t>dscale)
        for g in range(first, last):
            buf.write_int16(groups[g])
        return 0
    finally:
        _num_free(groups)
