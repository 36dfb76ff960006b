# Backend messages: framing and parsing into the typed objects of
# psqlpy._messages.  The connection's hot path (core.pyx) frames with the
# same function but decodes DataRow and NotificationResponse itself, without
# building these intermediate objects.

from libc.stdint cimport int8_t, int16_t, int32_t, uint32_t, uint8_t


# Type bytes the server may send.  Anything else is rejected at the framing
# stage, before we trust the length word that follows it.
cdef bint[256] _KNOWN_TYPES
for _c in bytearray(b"RKSZTDCIEAN123tnsGHWdcv"):
    _KNOWN_TYPES[_c] = True


cdef inline Py_ssize_t next_frame(const char* p, Py_ssize_t n, Py_ssize_t max_size,
                                  char* mtype, Frame* body) except -1:
    """Frame one message from ``p[0:n]``.

    Returns the bytes the whole message takes, or 0 when it is not complete
    yet.  Never reads outside ``p[0:n]``."""
    cdef uint32_t mlen
    if n < 1:
        return 0
    if not _KNOWN_TYPES[<uint8_t>p[0]]:
        raise ProtocolError(
            f"unknown message type byte {bytes([<uint8_t>p[0]])!r}; the stream is "
            f"corrupt or this is not a PostgreSQL server", msg_type=bytes([<uint8_t>p[0]]))
    if n < 5:
        return 0
    mlen = unpack_uint32(p + 1)
    if mlen < 4:
        raise ProtocolError(f"invalid message length {mlen} for {chr(<uint8_t>p[0])!r}",
                            msg_type=bytes([<uint8_t>p[0]]))
    if <Py_ssize_t>mlen - 4 > max_size:
        raise ProtocolError(
            f"message {chr(<uint8_t>p[0])!r} claims {mlen} bytes, over the limit of {max_size}",
            msg_type=bytes([<uint8_t>p[0]]))
    if n < <Py_ssize_t>mlen + 1:
        return 0
    mtype[0] = p[0]
    body.p = p + 5
    body.n = <Py_ssize_t>mlen - 4
    return <Py_ssize_t>mlen + 1


cdef dict parse_error_fields(Frame* f):
    """ErrorResponse / NoticeResponse body: (code byte, cstring)* then NUL."""
    cdef dict fields = {}
    cdef uint8_t code
    while True:
        code = frame_byte(f)
        if code == 0:
            break
        fields[chr(code)] = frame_cstr_str(f)
    return fields


cdef object parse_authentication(Frame* f):
    cdef int32_t code = frame_int32(f)
    cdef list mechanisms
    cdef str mech
    if code == 0:
        frame_done(f, b'R')
        return AuthenticationOk()
    if code == 3:
        frame_done(f, b'R')
        return AuthenticationCleartextPassword()
    if code == 5:
        salt = frame_bytes(f, 4)
        frame_done(f, b'R')
        return AuthenticationMD5Password(salt)
    if code == 10:
        mechanisms = []
        while True:
            mech = frame_cstr_str(f)
            if not mech:
                break
            mechanisms.append(mech)
        frame_done(f, b'R')
        return AuthenticationSASL(tuple(mechanisms))
    if code == 11:
        return AuthenticationSASLContinue(frame_bytes(f, f.n))
    if code == 12:
        return AuthenticationSASLFinal(frame_bytes(f, f.n))
    names = {2: "KerberosV5", 6: "SCMCredential", 7: "GSS", 8: "GSSContinue", 9: "SSPI"}
    if code in names:
        raise UnsupportedAuthenticationError(
            f"the server asks for {names[code]} authentication, which psqlpy does not "
            f"support; use trust, password, md5 or scram-sha-256 in pg_hba.conf")
    raise ProtocolError(f"unknown authentication request code {code}", msg_type=b"R")


cdef tuple parse_row_description_fields(Frame* f):
    cdef int16_t count = frame_int16(f)
    cdef int16_t i
    cdef list fields
    if count < 0:
        raise ProtocolError(f"negative field count {count} in RowDescription", msg_type=b"T")
    # Each field takes at least 19 bytes: check before allocating for it.
    frame_need(f, <Py_ssize_t>count * 19)
    fields = []
    for i in range(count):
        name = frame_cstr_str(f)
        frame_need(f, 18)
        table_oid = frame_uint32(f)
        column_attr = frame_int16(f)
        type_oid = frame_uint32(f)
        type_size = frame_int16(f)
        type_modifier = frame_int32(f)
        fmt = frame_int16(f)
        fields.append(FieldDescription(name, table_oid, column_attr, type_oid,
                                       type_size, type_modifier, fmt))
    frame_done(f, b'T')
    return tuple(fields)


cdef tuple parse_data_row_values(Frame* f):
    cdef int16_t count = frame_int16(f)
    cdef int16_t i
    cdef int32_t vlen
    cdef list values
    if count < 0:
        raise ProtocolError(f"negative column count {count} in DataRow", msg_type=b"D")
    frame_need(f, <Py_ssize_t>count * 4)
    values = []
    for i in range(count):
        vlen = frame_int32(f)
        if vlen == -1:
            values.append(None)
        elif vlen < 0:
            raise ProtocolError(f"invalid value length {vlen} in DataRow", msg_type=b"D")
        else:
            values.append(frame_bytes(f, vlen))
    frame_done(f, b'D')
    return tuple(values)


cdef tuple parse_copy_response(Frame* f, char mtype):
    cdef int8_t fmt = <int8_t>frame_byte(f)
    cdef int16_t count = frame_int16(f)
    cdef int16_t i
    if count < 0:
        raise ProtocolError(f"negative column count {count} in copy response")
    frame_need(f, <Py_ssize_t>count * 2)
    formats = tuple([frame_int16(f) for i in range(count)])
    frame_done(f, mtype)
    return (fmt, formats)


cdef object parse_message(char mtype, Frame* f):
    """Parse one framed message body into its typed object."""
    cdef int32_t pid
    cdef Py_ssize_t n
    if mtype == b'R':
        return parse_authentication(f)
    if mtype == b'D':
        return DataRow(parse_data_row_values(f))
    if mtype == b'A':
        pid = frame_int32(f)
        channel = frame_cstr_str(f)
        payload = frame_cstr_str(f)
        frame_done(f, mtype)
        return NotificationResponse(pid, channel, payload)
    if mtype == b'C':
        tag = frame_cstr_str(f)
        frame_done(f, mtype)
        return CommandComplete(tag)
    if mtype == b'Z':
        status = frame_byte(f)
        frame_done(f, mtype)
        if status not in (73, 84, 69):   # I, T, E
            raise ProtocolError(f"invalid transaction status {status!r} in ReadyForQuery",
                                msg_type=b"Z")
        return ReadyForQuery(chr(status))
    if mtype == b'T':
        return RowDescription(parse_row_description_fields(f))
    if mtype == b'E' or mtype == b'N':
        fields = parse_error_fields(f)
        frame_done(f, mtype)
        return (ErrorResponse if mtype == b'E' else NoticeResponse)(fields)
    if mtype == b'S':
        name = frame_cstr_str(f)
        value = frame_cstr_str(f)
        frame_done(f, mtype)
        return ParameterStatus(name, value)
    if mtype == b'K':
        pid = frame_int32(f)
        secret = frame_int32(f)
        frame_done(f, mtype)
        return BackendKeyData(pid, secret)
    if mtype == b'd':
        return CopyData(frame_bytes(f, f.n))
    if mtype == b't':
        count = frame_int16(f)
        if count < 0:
            raise ProtocolError("negative parameter count in ParameterDescription", msg_type=b"t")
        frame_need(f, <Py_ssize_t>count * 4)
        oids = tuple([frame_uint32(f) for _ in range(count)])
        frame_done(f, mtype)
        return ParameterDescription(oids)
    if mtype == b'G' or mtype == b'H' or mtype == b'W':
        fmt, formats = parse_copy_response(f, mtype)
        cls = CopyInResponse if mtype == b'G' else (CopyOutResponse if mtype == b'H' else CopyBothResponse)
        return cls(fmt, formats)
    if mtype == b'v':
        minor = frame_int32(f)
        count = frame_int32(f)
        if count < 0:
            raise ProtocolError("negative option count in NegotiateProtocolVersion", msg_type=b"v")
        frame_need(f, count)   # each option takes at least its NUL
        options = tuple([frame_cstr_str(f) for _ in range(count)])
        frame_done(f, mtype)
        return NegotiateProtocolVersion(minor, options)
    # The remaining types have empty bodies.
    frame_done(f, mtype)
    if mtype == b'I':
        return EmptyQueryResponse()
    if mtype == b'1':
        return ParseComplete()
    if mtype == b'2':
        return BindComplete()
    if mtype == b'3':
        return CloseComplete()
    if mtype == b'n':
        return NoData()
    if mtype == b's':
        return PortalSuspended()
    if mtype == b'c':
        return CopyDone()
    raise ProtocolError(f"unknown message type {chr(<uint8_t>mtype)!r}")


cdef class MessageReader:
    """Sans-IO reader: feed it bytes, get typed backend messages.

    ``feed(data)`` parses messages straight out of ``data`` when nothing is
    pending and only keeps the incomplete tail.  ``get_buffer`` /
    ``buffer_updated`` follow ``asyncio.BufferedProtocol`` for zero-copy use.
    After a ProtocolError the reader is poisoned: the stream has lost framing.
    """
    cdef ReadBuffer _rb
    cdef object _error

    def __cinit__(self, Py_ssize_t max_message_size=0x40000000):
        self._rb = ReadBuffer(max_message_size)
        self._error = None

    cdef list _drain(self, const char* p, Py_ssize_t n, Py_ssize_t* used):
        cdef list out = []
        cdef Py_ssize_t off = 0, k
        cdef char mtype
        cdef Frame body
        try:
            while True:
                k = next_frame(p + off, n - off, self._rb.max_message_size, &mtype, &body)
                if k == 0:
                    break
                out.append(parse_message(mtype, &body))
                off += k
        except Exception as e:
            # The failing message was not consumed: the reader stays poisoned.
            self._error = e
            raise
        used[0] = off
        return out

    def feed(self, data):
        """Parse every complete message in the stream so far."""
        cdef Py_buffer view
        cdef Py_ssize_t used = 0
        cdef list out
        if self._error is not None:
            raise self._error
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if self._rb.size() == 0:
                out = self._drain(<const char*>view.buf, view.len, &used)
                if used < view.len:
                    self._rb.append(<const char*>view.buf + used, view.len - used)
                return out
            self._rb.append(<const char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        out = self._drain(self._rb.data(), self._rb.size(), &used)
        self._rb.consume(used)
        return out

    def get_buffer(self, Py_ssize_t sizehint=-1):
        return self._rb.get_buffer(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef Py_ssize_t used = 0
        if self._error is not None:
            raise self._error
        self._rb.buffer_updated(nbytes)
        out = self._drain(self._rb.data(), self._rb.size(), &used)
        self._rb.consume(used)
        return out

    @property
    def pending(self):
        """Bytes received but not yet part of a complete message."""
        return self._rb.size()
