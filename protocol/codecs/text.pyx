# Text-likes (text, varchar, bpchar, name, xml, unknown), "char", bytea,
# json and jsonb.

cdef object _json_loads = _json_mod.loads
# One encoder and one decoder made once: json.dumps with keyword arguments
# builds a JSONEncoder per call, and json.loads adds two Python frames and a
# regular expression on top of raw_decode (about a third of a small value's cost).
cdef object _json_encode = _json_mod.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
cdef object _json_raw_decode = _json_mod.JSONDecoder().raw_decode


cdef object _json_parse(str s):
    """json.loads(s), faster for what the server sends (no surrounding blanks
    in jsonb; json keeps its input's, which takes json.loads' way)."""
    cdef object obj
    cdef Py_ssize_t end
    if s and s[0] != " " and s[0] != "\t" and s[0] != "\n" and s[0] != "\r":
        try:
            obj, end = _json_raw_decode(s)
        except ValueError:
            pass            # json.loads below raises the same error
        else:
            if end == len(s):
                return obj
    return _json_loads(s)


cdef int _write_text(WriteBuffer buf, object value, str pgtype, str sqltype) except -1:
    """Append ``value`` (a str) as UTF-8; NUL and lone surrogates are errors."""
    cdef Py_ssize_t n
    cdef const char* p
    if not isinstance(value, str):
        return _raise_encode(pgtype, sqltype, value, "expected str")
    try:
        p = PyUnicode_AsUTF8AndSize(value, &n)
    except UnicodeEncodeError as e:
        raise PyToRustValueMappingError(
            f"cannot encode str as {pgtype} (parameter type {sqltype}): {e}") from None
    if n and memchr(p, 0, <size_t>n) != NULL:
        raise PyToRustValueMappingError(
            f"cannot encode str as {pgtype} (parameter type {sqltype}): "
            "it contains a NUL character (U+0000), which PostgreSQL text cannot hold")
    return buf.write_raw(p, n)


cdef int _enc_text(WriteBuffer buf, object value) except -1:
    # A UUID where the server inferred text (an uncast parameter in a VALUES
    # list, as SQLAlchemy's bulk INSERT writes) goes as its canonical form.
    if isinstance(value, _StdUUID):
        value = str(value)
    return _write_text(buf, value, "text", "text")


# "char": a single byte.  Byte 0 is the empty string; other bytes map to the
# code point of the same value (bytes >= 0x80 as Latin-1, as PostgreSQL has
# no encoding for a lone high byte), so decode/encode round-trip.

cdef object _dec_char(const char* data, Py_ssize_t n):
    if n != 1:
        _raise_bad_len('"char"', 1, n)
    if data[0] == 0:
        return ""
    return chr(<uint8_t>data[0])


cdef int _enc_char(WriteBuffer buf, object value) except -1:
    cdef Py_ssize_t k
    cdef Py_UCS4 c
    if not isinstance(value, str):
        return _raise_encode('"char"', '"char"', value, "expected str")
    k = len(<str>value)
    if k == 0:
        return buf.write_byte(0)
    c = (<str>value)[0]
    if k != 1 or c > 255 or c == 0:
        return _raise_encode('"char"', '"char"', value,
                             "expected a str of one character U+0001..U+00FF")
    return buf.write_byte(<char><uint8_t>c)


cdef object _dec_bytea(const char* data, Py_ssize_t n):
    if n < 0:
        raise ProtocolError(f"negative value length {n}")
    return PyBytes_FromStringAndSize(data, n)


cdef int _enc_bytea(WriteBuffer buf, object value) except -1:
    if isinstance(value, bytes):
        return buf.write_raw(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
    if isinstance(value, (bytearray, memoryview)):
        try:
            return buf.write_bytes(value)
        except BufferError as e:
            raise PyToRustValueMappingError(
                f"cannot encode {type(value).__name__} as bytea: {e}") from None
    return _raise_encode("bytea", "bytea", value, "expected bytes, bytearray or memoryview")


cdef object _dec_json(const char* data, Py_ssize_t n):
    cdef str s = decode_text_value(data, n)
    try:
        return _json_parse(s)
    except ValueError as e:
        raise ProtocolError(f"malformed json value from the server: {e}") from None
    except RecursionError:
        raise RustToPyValueMappingError(
            "json value nested too deeply for Python's json decoder") from None


cdef object _dec_jsonb(const char* data, Py_ssize_t n):
    if n < 1:
        raise ProtocolError("malformed binary jsonb value: empty (no version byte)")
    if data[0] != 1:
        raise ProtocolError(f"unsupported binary jsonb version {<uint8_t>data[0]}")
    cdef str s = decode_text_value(data + 1, n - 1)
    try:
        return _json_parse(s)
    except ValueError as e:
        raise ProtocolError(f"malformed jsonb value from the server: {e}") from None
    except RecursionError:
        raise RustToPyValueMappingError(
            "json value nested too deeply for Python's json decoder") from None


cdef int _write_json(WriteBuffer buf, object value, str pgtype) except -1:
    # A str is taken to be JSON text already and sent as-is; anything else
    # goes through json.dumps (dict, list, tuple, int, float, bool, ...).
    # NaN/Infinity are not JSON, so they are rejected here, not by the server.
    if not isinstance(value, str):
        try:
            value = _json_encode(value)
        except (TypeError, ValueError, RecursionError) as e:
            raise PyToRustValueMappingError(
                f"cannot encode {type(value).__name__} as {pgtype}: {e}") from None
    return _write_text(buf, value, pgtype, pgtype)


cdef int _enc_json(WriteBuffer buf, object value) except -1:
    return _write_json(buf, value, "json")


cdef int _enc_jsonb(WriteBuffer buf, object value) except -1:
    buf.write_byte(1)       # jsonb binary format version
    return _write_json(buf, value, "jsonb")
