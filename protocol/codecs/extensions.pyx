# Types of extensions, found by name through type introspection (their OIDs
# differ from one database to the next): hstore and pgvector's vector.
#
#   hstore  binary (hstore_send): int32 count, then per pair int32 key length +
#           key, int32 value length (-1 = NULL) + value; text (hstore_out):
#           "k"=>"v", "k2"=>NULL, keys and values quoted, " and \ escaped by \.
#           Python: dict of str to str or None (both ways).
#   vector  binary (vector_send): uint16 dimensions, uint16 unused (0), then
#           each element as a float4; text: [1,2.5,3].  Python: list of float
#           (a sequence of numbers, or extra_types.PgVector, as a parameter).

cdef object _dec_hstore(const char* data, Py_ssize_t n):
    cdef Frame f
    cdef int32_t count, klen, vlen, i
    cdef dict out = {}
    cdef str key
    f.p = data
    f.n = n
    count = frame_int32(&f)
    if count < 0 or count > f.n // 8:
        raise ProtocolError(f"malformed binary hstore: {count} pairs in {n} bytes")
    for i in range(count):
        klen = frame_int32(&f)
        if klen < 0:
            raise ProtocolError(f"malformed binary hstore: key length {klen}")
        frame_need(&f, klen)
        key = decode_text_value(f.p, klen)
        f.p += klen
        f.n -= klen
        vlen = frame_int32(&f)
        if vlen == -1:
            out[key] = None
            continue
        if vlen < 0:
            raise ProtocolError(f"malformed binary hstore: value length {vlen}")
        frame_need(&f, vlen)
        out[key] = decode_text_value(f.p, vlen)
        f.p += vlen
        f.n -= vlen
    if f.n != 0:
        raise ProtocolError(f"malformed binary hstore: {f.n} trailing bytes")
    return out


cdef int _enc_hstore(WriteBuffer buf, object value) except -1:
    cdef Py_ssize_t n
    if not isinstance(value, dict):
        return _raise_encode("hstore", "hstore", value, "expected a dict of str to str or None")
    n = len(<dict>value)
    if n > 0x7FFFFFFF:
        return _raise_encode("hstore", "hstore", value, "too many pairs")
    buf.write_int32(<int32_t>n)
    for k, v in (<dict>value).items():
        if not isinstance(k, str):
            return _raise_encode("hstore", "hstore", value, f"key {k!r} is not a str")
        _write_len_text(buf, k)
        if v is None:
            buf.write_int32(-1)
        elif isinstance(v, str):
            _write_len_text(buf, v)
        else:
            return _raise_encode("hstore", "hstore", value,
                                 f"the value of {k!r} is not a str or None")
    return 0


cdef int _write_len_text(WriteBuffer buf, str s) except -1:
    cdef Py_ssize_t at = buf.reserve_int32()
    _write_text(buf, s, "hstore", "hstore")
    buf.patch_int32(at, <int32_t>(buf._len - at - 4))
    return 0


cdef object _tdec_hstore(const char* data, Py_ssize_t n):
    # "k"=>"v", "k2"=>NULL
    cdef dict out = {}
    cdef Py_ssize_t i = 0
    cdef _Unquoted u
    cdef str key
    _unquoted_init(&u)
    try:
        while i < n:
            i = _hstore_quoted(data, n, i, &u)
            key = decode_text_value(u.p, u.n)
            if i + 2 > n or data[i] != b'=' or data[i + 1] != b'>':
                _raise_text("hstore", data, n)
            i += 2
            if n - i >= 4 and memcmp(data + i, b"NULL", 4) == 0:
                out[key] = None
                i += 4
            else:
                i = _hstore_quoted(data, n, i, &u)
                out[key] = decode_text_value(u.p, u.n)
            if i < n:
                if n - i < 2 or data[i] != b',' or data[i + 1] != b' ':
                    _raise_text("hstore", data, n)
                i += 2
    finally:
        _unquoted_free(&u)
    return out


cdef Py_ssize_t _hstore_quoted(const char* data, Py_ssize_t n, Py_ssize_t i,
                               _Unquoted* u) except -1:
    cdef Py_ssize_t k = 0
    if i >= n or data[i] != b'"':
        _raise_text("hstore", data, n)
    _unquoted_room(u, n)
    i += 1
    while True:
        if i >= n:
            _raise_text("hstore", data, n)
        if data[i] == b'"':
            break
        if data[i] == b'\\':
            i += 1
            if i >= n:
                _raise_text("hstore", data, n)
        u.buf[k] = data[i]
        k += 1
        i += 1
    u.p = u.buf
    u.n = k
    return i + 1


cdef str _hstore_quote(str s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


cdef str _hstore_text(object value):
    if not isinstance(value, dict) or not all(
            [isinstance(k, str) and (v is None or isinstance(v, str))
             for k, v in (<dict>value).items()]):
        _raise_encode("hstore", "hstore", value, "expected a dict of str to str or None")
    return ", ".join([_hstore_quote(k) + "=>" + ("NULL" if v is None else _hstore_quote(v))
                      for k, v in (<dict>value).items()])


cdef object _dec_vector(const char* data, Py_ssize_t n):
    cdef uint16_t dim
    cdef Py_ssize_t i
    cdef list out
    cdef object v
    if n < 4:
        raise ProtocolError(f"malformed binary vector: {n} bytes")
    dim = unpack_uint16(data)
    if n != 4 + 4 * <Py_ssize_t>dim:
        raise ProtocolError(f"malformed binary vector: {dim} dimensions in {n} bytes")
    out = PyList_New(dim)
    for i in range(dim):
        v = <double>unpack_float4(data + 4 + 4 * i)
        Py_INCREF(v)
        PyList_SET_ITEM(out, i, v)
    return out


cdef object _tdec_vector(const char* data, Py_ssize_t n):
    cdef list v
    if n < 2 or data[0] != b'[' or data[n - 1] != b']':
        _raise_text("vector", data, n)
    v = _geo_numbers(data, n, "vector")
    return [_as_float4(x, "vector", data, n) for x in v]


cdef list _vector_values(object value):
    cdef object inner = value
    if _value_kind(value) == KIND_VECTOR:
        inner = value.inner_value
    if isinstance(inner, (str, bytes, dict)):
        _raise_encode("vector", "vector", value, "expected a sequence of numbers")
    try:
        return [float(x) for x in inner]
    except (TypeError, ValueError) as e:
        _raise_encode("vector", "vector", value, f"expected a sequence of numbers ({e})")


cdef int _enc_vector(WriteBuffer buf, object value) except -1:
    cdef list v = _vector_values(value)
    cdef char tmp[4]
    if len(v) > 16000:
        return _raise_encode("vector", "vector", value, "more than 16000 dimensions")
    buf.write_int16(<int16_t>len(v))
    buf.write_int16(0)
    for x in v:
        pack_float4(tmp, <float><double>x)
        buf.write_raw(tmp, 4)
    return 0


cdef str _vector_text_of(object value):
    return "[" + ",".join([_text_form(x) for x in _vector_values(value)]) + "]"
