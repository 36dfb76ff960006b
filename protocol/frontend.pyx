# Frontend messages.  Each ``write_*`` appends one message to a WriteBuffer
# (the connection batches several into one send); each ``build_*`` wraps it
# for the low-level API and returns the message's bytes.

cdef enum:
    PROTOCOL_VERSION = 196608          # 3.0
    SSL_REQUEST_CODE = 80877103
    CANCEL_REQUEST_CODE = 80877102
    GSSENC_REQUEST_CODE = 80877104


cdef int write_startup(WriteBuffer b, dict params) except -1:
    b.start_untyped_message()
    b.write_int32(PROTOCOL_VERSION)
    for k, v in params.items():
        if v is None:
            continue
        b.write_str(str(k))
        b.write_str(str(v))
    b.write_byte(0)
    return b.end_message()


cdef int write_ssl_request(WriteBuffer b) except -1:
    b.start_untyped_message()
    b.write_int32(SSL_REQUEST_CODE)
    return b.end_message()


cdef int write_cancel_request(WriteBuffer b, int32_t process_id, int32_t secret_key) except -1:
    b.start_untyped_message()
    b.write_int32(CANCEL_REQUEST_CODE)
    b.write_int32(process_id)
    b.write_int32(secret_key)
    return b.end_message()


cdef int write_password(WriteBuffer b, object password) except -1:
    b.start_message(b'p')
    if isinstance(password, str):
        b.write_str(password)
    else:
        b.write_bytes(password)
        b.write_byte(0)
    return b.end_message()


cdef int write_sasl_initial_response(WriteBuffer b, str mechanism, object data) except -1:
    b.start_message(b'p')
    b.write_str(mechanism)
    if data is None:
        b.write_int32(-1)
    else:
        b.write_int32(<int32_t>len(data))
        b.write_bytes(data)
    return b.end_message()


cdef int write_sasl_response(WriteBuffer b, object data) except -1:
    b.start_message(b'p')
    b.write_bytes(data)
    return b.end_message()


cdef int write_query(WriteBuffer b, str sql) except -1:
    b.start_message(b'Q')
    b.write_str(sql)
    return b.end_message()


cdef int write_parse(WriteBuffer b, str name, str sql, object param_oids) except -1:
    b.start_message(b'P')
    b.write_str(name)
    b.write_str(sql)
    if param_oids is None:
        b.write_int16(0)
    else:
        if len(param_oids) > 65535:
            raise ValueError("too many parameters: the protocol allows 65535")
        b.write_int16(<int16_t>len(param_oids))
        for oid in param_oids:
            b.write_uint32(<uint32_t>oid)
    return b.end_message()


cdef int write_describe(WriteBuffer b, char kind, str name) except -1:
    b.start_message(b'D')
    b.write_byte(kind)
    b.write_str(name)
    return b.end_message()


cdef int write_execute(WriteBuffer b, str portal, int32_t max_rows) except -1:
    b.start_message(b'E')
    b.write_str(portal)
    b.write_int32(max_rows)
    return b.end_message()


cdef int write_close(WriteBuffer b, char kind, str name) except -1:
    b.start_message(b'C')
    b.write_byte(kind)
    b.write_str(name)
    return b.end_message()


cdef int write_empty(WriteBuffer b, char mtype) except -1:
    # Sync 'S', Flush 'H', CopyDone 'c', Terminate 'X'
    b.start_message(mtype)
    return b.end_message()


cdef int write_copy_data(WriteBuffer b, object data) except -1:
    b.start_message(b'd')
    b.write_bytes(data)
    return b.end_message()


cdef int write_copy_fail(WriteBuffer b, str reason) except -1:
    b.start_message(b'f')
    b.write_str(reason)
    return b.end_message()


cdef int write_bind_raw(WriteBuffer b, str portal, str statement, object param_formats,
                        object values, object result_formats) except -1:
    """Bind with parameters already encoded (bytes or None)."""
    b.start_message(b'B')
    b.write_str(portal)
    b.write_str(statement)
    b.write_int16(<int16_t>len(param_formats))
    for f in param_formats:
        b.write_int16(<int16_t>f)
    b.write_int16(<int16_t>len(values))
    for v in values:
        if v is None:
            b.write_int32(-1)
        else:
            b.write_int32(<int32_t>len(v))
            b.write_bytes(v)
    b.write_int16(<int16_t>len(result_formats))
    for f in result_formats:
        b.write_int16(<int16_t>f)
    return b.end_message()


# ---- the low-level API: one message as bytes --------------------------------

def build_startup(params):
    """StartupMessage for protocol 3.0 with the given parameters."""
    cdef WriteBuffer b = WriteBuffer()
    write_startup(b, dict(params))
    return b.to_bytes()

def build_ssl_request():
    cdef WriteBuffer b = WriteBuffer()
    write_ssl_request(b)
    return b.to_bytes()

def build_cancel_request(int32_t process_id, int32_t secret_key):
    cdef WriteBuffer b = WriteBuffer()
    write_cancel_request(b, process_id, secret_key)
    return b.to_bytes()

def build_password(password):
    """PasswordMessage: ``str`` is encoded as UTF-8; ``bytes`` go as they are."""
    cdef WriteBuffer b = WriteBuffer()
    write_password(b, password)
    return b.to_bytes()

def build_sasl_initial_response(str mechanism, data):
    cdef WriteBuffer b = WriteBuffer()
    write_sasl_initial_response(b, mechanism, data)
    return b.to_bytes()

def build_sasl_response(data):
    cdef WriteBuffer b = WriteBuffer()
    write_sasl_response(b, data)
    return b.to_bytes()

def build_query(str sql):
    cdef WriteBuffer b = WriteBuffer()
    write_query(b, sql)
    return b.to_bytes()

def build_parse(str name, str sql, param_oids=()):
    cdef WriteBuffer b = WriteBuffer()
    write_parse(b, name, sql, param_oids)
    return b.to_bytes()

def build_bind(str portal, str statement, values=(), param_formats=None, result_formats=()):
    """Bind with pre-encoded values (``bytes`` or ``None`` for NULL).

    ``param_formats`` defaults to binary for every value."""
    cdef WriteBuffer b = WriteBuffer()
    if param_formats is None:
        param_formats = (1,) * len(values)
    write_bind_raw(b, portal, statement, param_formats, values, result_formats)
    return b.to_bytes()

def build_describe(kind, str name):
    """Describe a statement (``kind`` 'S') or a portal ('P')."""
    cdef WriteBuffer b = WriteBuffer()
    write_describe(b, _kind(kind), name)
    return b.to_bytes()

def build_execute(str portal="", int32_t max_rows=0):
    cdef WriteBuffer b = WriteBuffer()
    write_execute(b, portal, max_rows)
    return b.to_bytes()

def build_close(kind, str name):
    cdef WriteBuffer b = WriteBuffer()
    write_close(b, _kind(kind), name)
    return b.to_bytes()

def build_sync():
    cdef WriteBuffer b = WriteBuffer()
    write_empty(b, b'S')
    return b.to_bytes()

def build_flush():
    cdef WriteBuffer b = WriteBuffer()
    write_empty(b, b'H')
    return b.to_bytes()

def build_copy_data(data):
    cdef WriteBuffer b = WriteBuffer()
    write_copy_data(b, data)
    return b.to_bytes()

def build_copy_done():
    cdef WriteBuffer b = WriteBuffer()
    write_empty(b, b'c')
    return b.to_bytes()

def build_copy_fail(str reason):
    cdef WriteBuffer b = WriteBuffer()
    write_copy_fail(b, reason)
    return b.to_bytes()

def build_terminate():
    cdef WriteBuffer b = WriteBuffer()
    write_empty(b, b'X')
    return b.to_bytes()


cdef char _kind(kind) except 0:
    if kind in ("S", b"S"):
        return b'S'
    if kind in ("P", b"P"):
        return b'P'
    raise ValueError("kind must be 'S' (statement) or 'P' (portal)")
