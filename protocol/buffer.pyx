# Buffers.
#
# ReadBuffer owns one contiguous malloc'd region.  The asyncio transport
# receives straight into its free tail (BufferedProtocol.get_buffer), so a
# message that arrives whole is parsed where the kernel put it: no copy.
# A partial message stays at the front after compaction until the rest
# arrives.  Growth is geometric and driven by bytes actually received, never
# by a length word from the wire, so a hostile length costs no memory.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_WRITE, PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcpy, memmove
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint16_t, uint32_t, uint8_t, uint64_t


cdef extern from "byteorder.h":
    ctypedef unsigned long long uint64_t_ "unsigned long long"
    uint16_t unpack_uint16(const char* p) nogil
    uint32_t unpack_uint32(const char* p) nogil
    uint64_t_ unpack_uint64(const char* p) nogil
    void pack_uint16(char* p, uint16_t v) nogil
    void pack_uint32(char* p, uint32_t v) nogil
    void pack_uint64(char* p, uint64_t_ v) nogil
    float unpack_float4(const char* p) nogil
    double unpack_float8(const char* p) nogil
    void pack_float4(char* p, float v) nogil
    void pack_float8(char* p, double v) nogil


# PostgreSQL never sends a message larger than 1 GiB (MaxAllocSize); anything
# claiming more is garbage or an attack.
cdef enum:
    DEFAULT_MAX_MESSAGE = 0x40000000
    INITIAL_READ_CAP = 65536
    MAX_READ_TARGET = 1 << 20    # the most one read is offered: 1 MiB
    LARGE_MESSAGE = 1 << 18      # from 256 KiB, a message's rest is read on its own


cdef struct Frame:
    # A bounded read cursor over one message body: every read checks `n`
    # first, so a hostile length can never make us read past the message.
    const char* p
    Py_ssize_t n


cdef int _raise_short(Py_ssize_t need, Py_ssize_t have) except -1:
    raise ProtocolError(
        f"truncated message: needed {need} more bytes, {have} left in the message")


cdef inline int frame_need(Frame* f, Py_ssize_t k) except -1:
    if k < 0 or f.n < k:
        _raise_short(k, f.n)
    return 0


cdef inline int16_t frame_int16(Frame* f) except? -1:
    frame_need(f, 2)
    cdef int16_t v = <int16_t>unpack_uint16(f.p)
    f.p += 2
    f.n -= 2
    return v


cdef inline int32_t frame_int32(Frame* f) except? -1:
    frame_need(f, 4)
    cdef int32_t v = <int32_t>unpack_uint32(f.p)
    f.p += 4
    f.n -= 4
    return v


cdef inline uint32_t frame_uint32(Frame* f) except? 0xFFFFFFFF:
    frame_need(f, 4)
    cdef uint32_t v = unpack_uint32(f.p)
    f.p += 4
    f.n -= 4
    return v


cdef inline int64_t frame_int64(Frame* f) except? -1:
    frame_need(f, 8)
    cdef int64_t v = <int64_t>unpack_uint64(f.p)
    f.p += 8
    f.n -= 8
    return v


cdef inline uint8_t frame_byte(Frame* f) except? 0xFF:
    frame_need(f, 1)
    cdef uint8_t v = <uint8_t>f.p[0]
    f.p += 1
    f.n -= 1
    return v


cdef inline const char* frame_cstr(Frame* f, Py_ssize_t* length) except NULL:
    """A NUL-terminated string inside the message; the NUL must be there."""
    cdef const char* start = f.p
    cdef const char* nul
    if f.n <= 0:
        raise ProtocolError("missing NUL terminator: string runs past the end of the message")
    nul = <const char*>memchr(start, 0, <size_t>f.n)
    if nul == NULL:
        raise ProtocolError("missing NUL terminator: string runs past the end of the message")
    length[0] = nul - start
    f.n -= (nul - start) + 1
    f.p = nul + 1
    return start


cdef str frame_cstr_str(Frame* f):
    cdef Py_ssize_t n
    cdef const char* s = frame_cstr(f, &n)
    return decode_utf8(s, n)


cdef bytes frame_bytes(Frame* f, Py_ssize_t k):
    frame_need(f, k)
    cdef bytes b = PyBytes_FromStringAndSize(f.p, k)
    f.p += k
    f.n -= k
    return b


cdef inline int frame_done(Frame* f, char mtype) except -1:
    if f.n != 0:
        raise ProtocolError(
            f"{f.n} unexpected trailing bytes in message {chr(<uint8_t>mtype)!r}")
    return 0


cdef str decode_utf8(const char* s, Py_ssize_t n):
    try:
        return PyUnicode_DecodeUTF8(s, n, NULL)
    except UnicodeDecodeError as e:
        raise ProtocolError(f"invalid UTF-8 from the server: {e}") from None


cdef class ReadBuffer:
    """Accumulates received bytes; the framing loop reads complete messages
    from ``data()[0:size()]`` and ``consume()``s them."""
    cdef:
        char* _buf
        Py_ssize_t _cap
        Py_ssize_t _start      # first unparsed byte
        Py_ssize_t _end        # one past the last received byte
        Py_ssize_t _read_target   # the free space get_buffer aims to offer
        Py_ssize_t _offered       # what the last get_buffer offered
        readonly Py_ssize_t max_message_size

    def __cinit__(self, Py_ssize_t max_message_size=DEFAULT_MAX_MESSAGE):
        self._cap = INITIAL_READ_CAP
        self._buf = <char*>PyMem_Malloc(self._cap)
        if self._buf == NULL:
            raise MemoryError
        self._start = 0
        self._end = 0
        self._read_target = INITIAL_READ_CAP
        self._offered = 0
        if max_message_size < 5:
            raise ValueError("max_message_size must be at least 5")
        self.max_message_size = max_message_size

    def __dealloc__(self):
        if self._buf != NULL:
            PyMem_Free(self._buf)
            self._buf = NULL

    cdef inline const char* data(self):
        return self._buf + self._start

    cdef inline Py_ssize_t size(self):
        return self._end - self._start

    cdef inline void consume(self, Py_ssize_t n):
        self._start += n
        if self._start == self._end:
            self._start = 0
            self._end = 0

    cdef int _ensure_free(self, Py_ssize_t want) except -1:
        cdef Py_ssize_t used = self._end - self._start
        cdef Py_ssize_t newcap
        cdef char* nb
        if self._cap - self._end >= want:
            return 0
        if self._start > 0:
            # Compact: move the partial message to the front.
            if used:
                memmove(self._buf, self._buf + self._start, <size_t>used)
            self._start = 0
            self._end = used
            if self._cap - self._end >= want:
                return 0
        newcap = self._cap
        while newcap - used < want:
            newcap *= 2
        nb = <char*>PyMem_Realloc(self._buf, <size_t>newcap)
        if nb == NULL:
            raise MemoryError
        self._buf = nb
        self._cap = newcap
        return 0

    cdef int append(self, const char* data, Py_ssize_t n) except -1:
        self._ensure_free(n)
        memcpy(self._buf + self._end, data, <size_t>n)
        self._end += n
        return 0

    def get_buffer(self, Py_ssize_t sizehint=-1):
        """A writable view of the free tail, for ``BufferedProtocol``.

        The view stays valid until the next ``get_buffer`` call, which is
        the contract asyncio and uvloop follow.  Its size adapts: a read that
        fills all of it doubles the next offer (up to MAX_READ_TARGET), so a
        burst is read in few syscalls and event-loop passes; small reads
        bring it back down, and an empty buffer far above the target shrinks."""
        cdef Py_ssize_t want = self._read_target
        cdef Py_ssize_t rest
        cdef Py_ssize_t newcap
        cdef char* nb
        if sizehint > want:
            want = sizehint
        if self._start == self._end and self._cap > 4 * want and self._cap > 4 * INITIAL_READ_CAP:
            newcap = 2 * want if 2 * want > INITIAL_READ_CAP else INITIAL_READ_CAP
            nb = <char*>PyMem_Realloc(self._buf, <size_t>newcap)
            if nb == NULL:
                raise MemoryError
            self._buf = nb
            self._cap = newcap
            self._start = self._end = 0
        rest = self._large_message_rest()
        if rest > 0:
            # The rest of a large message: read exactly that, so the read
            # ends on its boundary, the buffer empties once it is parsed and
            # the next message starts at offset 0 (never moved by compaction).
            # Room for at most one read target at a time: a header alone
            # (claiming up to the 1 GiB limit) must not make us allocate it.
            if rest > want:
                rest = want
            if self._cap - self._end < rest:
                self._ensure_free(rest)
            self._offered = rest
            return PyMemoryView_FromMemory(self._buf + self._end, rest, PyBUF_WRITE)
        if self._cap - self._end < want:
            # Compacts (moves the partial message to the front) and grows by
            # doubling only when that is not enough.
            self._ensure_free(want)
        self._offered = self._cap - self._end
        return PyMemoryView_FromMemory(self._buf + self._end, self._offered, PyBUF_WRITE)

    cdef Py_ssize_t _large_message_rest(self):
        # Bytes still missing of the message at the front when it is large
        # (LARGE_MESSAGE or more) and only partly here; 0 otherwise.  A length
        # over the limit is left for the parser to reject.
        cdef Py_ssize_t used = self._end - self._start
        cdef Py_ssize_t total
        if used < 5:
            return 0
        total = 1 + <Py_ssize_t>unpack_uint32(self._buf + self._start + 1)
        if total < LARGE_MESSAGE or total <= used or total - 1 > self.max_message_size:
            return 0
        return total - used

    def buffer_updated(self, Py_ssize_t nbytes):
        if nbytes < 0 or nbytes > self._cap - self._end:
            raise ValueError("nbytes out of range")
        self._end += nbytes
        if nbytes >= self._offered:
            if self._read_target < MAX_READ_TARGET:
                self._read_target *= 2
        elif nbytes < self._read_target // 16 and self._read_target > INITIAL_READ_CAP:
            self._read_target //= 2

    def __len__(self):
        return self._end - self._start


cdef class WriteBuffer:
    """Builds frontend messages.  ``start_message`` reserves the length word,
    ``end_message`` back-patches it once the body is known."""
    cdef:
        char* _buf
        Py_ssize_t _cap
        Py_ssize_t _len
        Py_ssize_t _msg_start   # offset of the current message's length word, or -1

    def __cinit__(self, Py_ssize_t capacity=1024):
        self._cap = capacity if capacity > 64 else 64
        self._buf = <char*>PyMem_Malloc(self._cap)
        if self._buf == NULL:
            raise MemoryError
        self._len = 0
        self._msg_start = -1

    def __dealloc__(self):
        if self._buf != NULL:
            PyMem_Free(self._buf)
            self._buf = NULL

    cdef int _grow(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t newcap = self._cap
        cdef char* nb
        if self._len + extra <= self._cap:
            return 0
        while newcap < self._len + extra:
            newcap *= 2
        nb = <char*>PyMem_Realloc(self._buf, <size_t>newcap)
        if nb == NULL:
            raise MemoryError
        self._buf = nb
        self._cap = newcap
        return 0

    cdef int start_message(self, char mtype) except -1:
        if self._msg_start != -1:
            raise RuntimeError("previous message not finished")
        self._grow(5)
        self._buf[self._len] = mtype
        self._msg_start = self._len + 1
        self._len += 5
        return 0

    cdef int start_untyped_message(self) except -1:
        # Startup, SSLRequest and CancelRequest have no type byte.
        if self._msg_start != -1:
            raise RuntimeError("previous message not finished")
        self._grow(4)
        self._msg_start = self._len
        self._len += 4
        return 0

    cdef int end_message(self) except -1:
        cdef Py_ssize_t mlen
        if self._msg_start == -1:
            raise RuntimeError("no message started")
        mlen = self._len - self._msg_start
        if mlen > 0x7FFFFFFF:
            raise ValueError("message too large for the protocol")
        pack_uint32(self._buf + self._msg_start, <uint32_t>mlen)
        self._msg_start = -1
        return 0

    cdef int write_byte(self, char b) except -1:
        self._grow(1)
        self._buf[self._len] = b
        self._len += 1
        return 0

    cdef int write_int16(self, int16_t v) except -1:
        self._grow(2)
        pack_uint16(self._buf + self._len, <uint16_t>v)
        self._len += 2
        return 0

    cdef int write_int32(self, int32_t v) except -1:
        self._grow(4)
        pack_uint32(self._buf + self._len, <uint32_t>v)
        self._len += 4
        return 0

    cdef int write_uint32(self, uint32_t v) except -1:
        self._grow(4)
        pack_uint32(self._buf + self._len, v)
        self._len += 4
        return 0

    cdef int write_int64(self, int64_t v) except -1:
        self._grow(8)
        pack_uint64(self._buf + self._len, <uint64_t_>v)
        self._len += 8
        return 0

    cdef int write_raw(self, const char* data, Py_ssize_t n) except -1:
        self._grow(n)
        memcpy(self._buf + self._len, data, <size_t>n)
        self._len += n
        return 0

    cdef int write_bytes(self, object data) except -1:
        cdef Py_buffer view
        if isinstance(data, bytes):
            return self.write_raw(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self.write_raw(<const char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int write_cstr(self, const char* data, Py_ssize_t n) except -1:
        if memchr(data, 0, <size_t>n) != NULL:
            raise QueryTextError("string contains a NUL byte, which the protocol cannot carry")
        self._grow(n + 1)
        memcpy(self._buf + self._len, data, <size_t>n)
        self._buf[self._len + n] = 0
        self._len += n + 1
        return 0

    cdef int write_str(self, str s) except -1:
        cdef Py_ssize_t n
        cdef const char* p
        try:
            p = PyUnicode_AsUTF8AndSize(s, &n)
        except UnicodeEncodeError as e:
            raise QueryTextError(f"text is not encodable as UTF-8: {e}") from None
        return self.write_cstr(p, n)

    cdef int reserve_int32(self) except -1:
        cdef Py_ssize_t at = self._len
        self._grow(4)
        self._len += 4
        return <int>at

    cdef int patch_int32(self, Py_ssize_t at, int32_t v) except -1:
        pack_uint32(self._buf + at, <uint32_t>v)
        return 0

    cdef int end_value(self, Py_ssize_t at, str what) except -1:
        """Patch the length word reserved at ``at`` (``reserve_int32``) with the
        length of the value written since.  A value over 2 GiB does not fit the
        int32 word: it is taken back and refused."""
        cdef Py_ssize_t vlen = self._len - at - 4
        if vlen > 0x7FFFFFFF:
            self._len = at
            raise PyToRustValueMappingError(f"{what} too large (over 2 GiB)")
        pack_uint32(self._buf + at, <uint32_t>vlen)
        return 0

    cdef bytes to_bytes(self):
        if self._msg_start != -1:
            raise RuntimeError("message not finished")
        return PyBytes_FromStringAndSize(self._buf, self._len)

    cdef void reset(self):
        self._len = 0
        self._msg_start = -1

    def getvalue(self):
        return self.to_bytes()

    def __len__(self):
        return self._len
