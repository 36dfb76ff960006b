# Ranges and multiranges (rangetypes.c range_send/range_out,
# multirangetypes.c multirange_send/multirange_out), and psqlpy.Range.
#
# Binary range: uint8 flags, then the lower bound unless the range is empty or
# unbounded below (int32 length + the subtype's binary value), then the upper
# likewise.  Flags: 0x01 empty, 0x02 lower inclusive, 0x04 upper inclusive,
# 0x08 no lower bound, 0x10 no upper bound.  Binary multirange: int32 count,
# then each range as int32 length + its binary form.
# Text range: "empty", or "[" / "(" lower "," upper "]" / ")" where an absent
# bound is nothing at all and a bound holding special characters is quoted as
# in composites ("" is a quote, \x is x).  Text multirange: {r1,r2} or {}.
#
# Python: a Range (below); a multirange is a list of Range.  Parameters take a
# Range, or (as asyncpg) a sequence (lower, upper) meaning [lower, upper); a
# multirange a list or tuple of those.  The built-in ranges and multiranges
# (int4, int8, num, ts, tstz, date) are entries of the table of types, their
# subtype fixed; user-defined ones are TypeCodecs (typecodec.pyx).

cdef enum:
    RANGE_EMPTY = 0x01
    RANGE_LB_INC = 0x02
    RANGE_UB_INC = 0x04
    RANGE_LB_INF = 0x08
    RANGE_UB_INF = 0x10


@cython.final
@cython.freelist(64)
cdef class Range:
    """A PostgreSQL range value: ``Range(lower, upper, *, lower_inc=True,
    upper_inc=False, empty=False)``.  ``None`` for a bound means unbounded on that
    side (never inclusive); ``Range(empty=True)`` is the empty range.  Immutable,
    hashable, equal to another Range with the same bounds and flags (no
    canonicalisation: the server turns ``int4range(1, 5, '(]')`` into ``[2,6)``, and
    that is what comes back).  Every built-in range type decodes to it; a multirange
    decodes to a list of them.  ``isinstance(v, psqlpy.Range)`` tells a range."""

    cdef readonly object lower
    cdef readonly object upper
    cdef readonly bint lower_inc
    cdef readonly bint upper_inc
    cdef readonly bint isempty

    def __init__(self, lower=None, upper=None, *, bint lower_inc=True, bint upper_inc=False,
                 bint empty=False):
        if empty:
            if lower is not None or upper is not None:
                raise ValueError("an empty range has no bounds")
            self.isempty = True
            return
        self.lower = lower
        self.upper = upper
        self.lower_inc = lower_inc and lower is not None
        self.upper_inc = upper_inc and upper is not None

    @property
    def lower_inf(self):
        """Unbounded below (and not empty)."""
        return not self.isempty and self.lower is None

    @property
    def upper_inf(self):
        """Unbounded above (and not empty)."""
        return not self.isempty and self.upper is None

    def __bool__(self):
        return not self.isempty

    def __eq__(self, other):
        cdef Range o
        if not isinstance(other, Range):
            return NotImplemented
        o = <Range>other
        return (self.isempty == o.isempty and self.lower_inc == o.lower_inc
                and self.upper_inc == o.upper_inc and self.lower == o.lower
                and self.upper == o.upper)

    def __hash__(self):
        return hash((self.lower, self.upper, self.lower_inc, self.upper_inc, self.isempty))

    def __repr__(self):
        if self.isempty:
            return "Range(empty=True)"
        return (f"Range({self.lower!r}, {self.upper!r}, lower_inc={self.lower_inc}, "
                f"upper_inc={self.upper_inc})")

    def __str__(self):
        return _range_text(self)

    def __reduce__(self):
        return (_range_unpickle, (self.lower, self.upper, self.lower_inc, self.upper_inc,
                                  self.isempty))


def _range_unpickle(lower, upper, lower_inc, upper_inc, empty):
    return Range(lower, upper, lower_inc=lower_inc, upper_inc=upper_inc, empty=empty)


cdef Range _EMPTY_RANGE = Range(empty=True)


cdef inline Range _make_range(object lower, object upper, bint lower_inc, bint upper_inc):
    cdef Range r = Range.__new__(Range)
    r.lower = lower
    r.upper = upper
    r.lower_inc = lower_inc and lower is not None
    r.upper_inc = upper_inc and upper is not None
    return r


# --------------------------------------------------------------------------- binary

cdef object _range_bound(Frame* f, decode_func dec, TypeCodec codec):
    cdef int32_t blen = frame_int32(f)
    cdef object v
    if blen < 0:
        raise ProtocolError(f"malformed binary range: bound length {blen}")
    frame_need(f, blen)
    v = dec(f.p, blen) if dec != NULL else codec.decode(f.p, blen)
    f.p += blen
    f.n -= blen
    return v


cdef object _dec_range_with(const char* data, Py_ssize_t n, decode_func dec, TypeCodec codec):
    """A range whose bounds decode with ``dec`` (the table) or ``codec``."""
    cdef Frame f
    cdef uint8_t flags
    cdef object lower = None, upper = None
    f.p = data
    f.n = n
    flags = frame_byte(&f)
    if flags & RANGE_EMPTY:
        if f.n != 0:
            raise ProtocolError("malformed binary range: data after an empty range")
        return _EMPTY_RANGE
    if not (flags & RANGE_LB_INF):
        lower = _range_bound(&f, dec, codec)
    if not (flags & RANGE_UB_INF):
        upper = _range_bound(&f, dec, codec)
    if f.n != 0:
        raise ProtocolError(f"malformed binary range: {f.n} trailing bytes")
    return _make_range(lower, upper, (flags & RANGE_LB_INC) != 0, (flags & RANGE_UB_INC) != 0)


cdef object _dec_multirange_with(const char* data, Py_ssize_t n, decode_func dec,
                                 TypeCodec codec):
    cdef Frame f
    cdef int32_t count, rlen, i
    cdef list out
    f.p = data
    f.n = n
    count = frame_int32(&f)
    # each range takes at least its length word and flags byte
    if count < 0 or count > f.n // 5:
        raise ProtocolError(f"malformed binary multirange: {count} ranges in {n} bytes")
    out = PyList_New(count)
    for i in range(count):
        rlen = frame_int32(&f)
        if rlen < 0:
            raise ProtocolError(f"malformed binary multirange: range length {rlen}")
        frame_need(&f, rlen)
        item = _dec_range_with(f.p, rlen, dec, codec)
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
        f.p += rlen
        f.n -= rlen
    if f.n != 0:
        raise ProtocolError(f"malformed binary multirange: {f.n} trailing bytes")
    return out


cdef Range _as_range(object value, str pgtype):
    """A Range from a parameter: a Range, or a sequence (lower, upper) as [lower, upper)."""
    if isinstance(value, Range):
        return <Range>value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return _make_range(value[0], value[1], True, False)
    _raise_encode(pgtype, pgtype, value, "expected psqlpy.Range or (lower, upper)")


cdef int _write_bound(WriteBuffer buf, object v, encode_func enc, TypeCodec codec) except -1:
    cdef Py_ssize_t at = buf.reserve_int32()
    if enc != NULL:
        enc(buf, v)
    else:
        codec.encode_binary(buf, v)
    return buf.end_value(at, "range bound")


cdef int _enc_range_with(WriteBuffer buf, object value, encode_func enc, TypeCodec codec,
                         str pgtype) except -1:
    cdef Range r = _as_range(value, pgtype)
    cdef uint8_t flags = 0
    if r.isempty:
        return buf.write_byte(RANGE_EMPTY)
    if r.lower is None:
        flags |= RANGE_LB_INF
    elif r.lower_inc:
        flags |= RANGE_LB_INC
    if r.upper is None:
        flags |= RANGE_UB_INF
    elif r.upper_inc:
        flags |= RANGE_UB_INC
    buf.write_byte(<char>flags)
    if r.lower is not None:
        _write_bound(buf, r.lower, enc, codec)
    if r.upper is not None:
        _write_bound(buf, r.upper, enc, codec)
    return 0


cdef int _enc_multirange_with(WriteBuffer buf, object value, encode_func enc, TypeCodec codec,
                              str pgtype) except -1:
    cdef Py_ssize_t at
    if not isinstance(value, (list, tuple)):
        return _raise_encode(pgtype, pgtype, value, "expected a list of psqlpy.Range")
    if len(value) > 0x7FFFFFFF:
        return _raise_encode(pgtype, pgtype, value, "too many ranges")
    buf.write_int32(<int32_t>len(value))
    for r in value:
        at = buf.reserve_int32()
        _enc_range_with(buf, r, enc, codec, pgtype)
        buf.end_value(at, f"{pgtype} range")
    return 0


# --------------------------------------------------------------------------- text

cdef Py_ssize_t _range_text_bound(const char* data, Py_ssize_t end, Py_ssize_t i, bint lower,
                                  _Unquoted* u, bint* absent) except -1:
    """The bound starting at data[i] into ``u``: the lower one ends at the first
    ',' outside quotes, the upper one at ``end``; returns where it ended."""
    cdef Py_ssize_t k = 0, start = i
    cdef bint quoted = False, plain = True
    cdef char c
    _unquoted_room(u, end + 1)
    while True:
        if i >= end:
            if lower or quoted:
                raise RustToPyValueMappingError("cannot read a range value: unterminated bound")
            break
        c = data[i]
        if c == b'"':
            plain = False
            if quoted and i + 1 < end and data[i + 1] == b'"':
                u.buf[k] = b'"'
                k += 1
                i += 2
                continue
            quoted = not quoted
            i += 1
            continue
        if lower and not quoted and c == b',':
            break
        if c == b'\\':
            plain = False
            i += 1
            if i >= end:
                raise RustToPyValueMappingError("cannot read a range value: trailing backslash")
            c = data[i]
        u.buf[k] = c
        k += 1
        i += 1
    absent[0] = plain and i == start
    u.p = data + start if plain else u.buf
    u.n = k
    return i


cdef object _tdec_range_with(const char* data, Py_ssize_t n, decode_func dec, TypeCodec codec):
    cdef _Unquoted u
    cdef Py_ssize_t i
    cdef bint lower_inc, upper_inc, absent
    cdef object lower = None, upper = None
    if _same(data, n, b"empty", 5):
        return _EMPTY_RANGE
    if n < 3 or (data[0] != b'[' and data[0] != b'(') or \
            (data[n - 1] != b']' and data[n - 1] != b')'):
        _raise_text("range", data, n)
    lower_inc = data[0] == b'['
    upper_inc = data[n - 1] == b']'
    _unquoted_init(&u)
    try:
        i = _range_text_bound(data, n - 1, 1, True, &u, &absent)
        if not absent:
            lower = dec(u.p, u.n) if dec != NULL else codec.decode(u.p, u.n)
        _range_text_bound(data, n - 1, i + 1, False, &u, &absent)
        if not absent:
            upper = dec(u.p, u.n) if dec != NULL else codec.decode(u.p, u.n)
    finally:
        _unquoted_free(&u)
    return _make_range(lower, upper, lower_inc, upper_inc)


cdef object _tdec_multirange_with(const char* data, Py_ssize_t n, decode_func dec,
                                  TypeCodec codec):
    # {[1,3),[5,7)}: each range ends at its closing bracket outside quotes
    cdef list out = []
    cdef Py_ssize_t i = 1, start
    cdef bint quoted
    if n < 2 or data[0] != b'{' or data[n - 1] != b'}':
        _raise_text("multirange", data, n)
    if n == 2:
        return out
    while True:
        start = i
        quoted = False
        while i < n - 1:
            if data[i] == b'"':
                quoted = not quoted
            elif data[i] == b'\\':
                i += 1
            elif not quoted and (data[i] == b')' or data[i] == b']'):
                break
            i += 1
        if i >= n - 1:
            _raise_text("multirange", data, n)
        out.append(_tdec_range_with(data + start, i + 1 - start, dec, codec))
        i += 1
        if i == n - 1:
            return out
        if data[i] != b',':
            _raise_text("multirange", data, n)
        i += 1


cdef str _range_bound_text(object v):
    # quoted only when range_in would read it otherwise
    cdef str s = _text_form(v)
    if not s or any([c in '"\\()[],' or c.isspace() for c in s]):
        return _quote_array_element(s)
    return s


cdef str _range_text(Range r):
    """``r`` as range input text."""
    if r.isempty:
        return "empty"
    return ("[" if r.lower_inc else "(") + \
        ("" if r.lower is None else _range_bound_text(r.lower)) + "," + \
        ("" if r.upper is None else _range_bound_text(r.upper)) + \
        ("]" if r.upper_inc else ")")


cdef str _multirange_text(object value, str pgtype):
    """``value`` (a sequence of Range) as multirange input text: ranges are not
    quoted there, unlike array elements."""
    if not isinstance(value, (list, tuple)):
        _raise_encode(pgtype, pgtype, value, "expected a list of psqlpy.Range")
    return "{" + ",".join([_range_text(_as_range(r, pgtype)) for r in value]) + "}"


# --------------------------------------------------------------------------- the table's
# (one set per built-in range: the subtype is not in the data)

cdef object _dec_int4range(const char* d, Py_ssize_t n):
    return _dec_range_with(d, n, _dec_int4, None)

cdef object _dec_int8range(const char* d, Py_ssize_t n):
    return _dec_range_with(d, n, _dec_int8, None)

cdef object _dec_numrange(const char* d, Py_ssize_t n):
    return _dec_range_with(d, n, _dec_numeric, None)

cdef object _dec_tsrange(const char* d, Py_ssize_t n):
    return _dec_range_with(d, n, _dec_timestamp, None)

cdef object _dec_tstzrange(const char* d, Py_ssize_t n):
    return _dec_range_with(d, n, _dec_timestamptz, None)

cdef object _dec_daterange(const char* d, Py_ssize_t n):
    return _dec_range_with(d, n, _dec_date, None)

cdef object _dec_int4multirange(const char* d, Py_ssize_t n):
    return _dec_multirange_with(d, n, _dec_int4, None)

cdef object _dec_int8multirange(const char* d, Py_ssize_t n):
    return _dec_multirange_with(d, n, _dec_int8, None)

cdef object _dec_nummultirange(const char* d, Py_ssize_t n):
    return _dec_multirange_with(d, n, _dec_numeric, None)

cdef object _dec_tsmultirange(const char* d, Py_ssize_t n):
    return _dec_multirange_with(d, n, _dec_timestamp, None)

cdef object _dec_tstzmultirange(const char* d, Py_ssize_t n):
    return _dec_multirange_with(d, n, _dec_timestamptz, None)

cdef object _dec_datemultirange(const char* d, Py_ssize_t n):
    return _dec_multirange_with(d, n, _dec_date, None)

cdef object _tdec_int4range(const char* d, Py_ssize_t n):
    return _tdec_range_with(d, n, _tdec_int4, None)

cdef object _tdec_int8range(const char* d, Py_ssize_t n):
    return _tdec_range_with(d, n, _tdec_int8, None)

cdef object _tdec_numrange(const char* d, Py_ssize_t n):
    return _tdec_range_with(d, n, _tdec_numeric, None)

cdef object _tdec_tsrange(const char* d, Py_ssize_t n):
    return _tdec_range_with(d, n, _tdec_timestamp, None)

cdef object _tdec_tstzrange(const char* d, Py_ssize_t n):
    return _tdec_range_with(d, n, _tdec_timestamptz, None)

cdef object _tdec_daterange(const char* d, Py_ssize_t n):
    return _tdec_range_with(d, n, _tdec_date, None)

cdef object _tdec_int4multirange(const char* d, Py_ssize_t n):
    return _tdec_multirange_with(d, n, _tdec_int4, None)

cdef object _tdec_int8multirange(const char* d, Py_ssize_t n):
    return _tdec_multirange_with(d, n, _tdec_int8, None)

cdef object _tdec_nummultirange(const char* d, Py_ssize_t n):
    return _tdec_multirange_with(d, n, _tdec_numeric, None)

cdef object _tdec_tsmultirange(const char* d, Py_ssize_t n):
    return _tdec_multirange_with(d, n, _tdec_timestamp, None)

cdef object _tdec_tstzmultirange(const char* d, Py_ssize_t n):
    return _tdec_multirange_with(d, n, _tdec_timestamptz, None)

cdef object _tdec_datemultirange(const char* d, Py_ssize_t n):
    return _tdec_multirange_with(d, n, _tdec_date, None)

cdef int _enc_int4range(WriteBuffer b, object v) except -1:
    return _enc_range_with(b, v, _enc_int4, None, "int4range")

cdef int _enc_int8range(WriteBuffer b, object v) except -1:
    return _enc_range_with(b, v, _enc_int8, None, "int8range")

cdef int _enc_numrange(WriteBuffer b, object v) except -1:
    return _enc_range_with(b, v, _enc_numeric, None, "numrange")

cdef int _enc_tsrange(WriteBuffer b, object v) except -1:
    return _enc_range_with(b, v, _enc_timestamp, None, "tsrange")

cdef int _enc_tstzrange(WriteBuffer b, object v) except -1:
    return _enc_range_with(b, v, _enc_timestamptz, None, "tstzrange")

cdef int _enc_daterange(WriteBuffer b, object v) except -1:
    return _enc_range_with(b, v, _enc_date, None, "daterange")

cdef int _enc_int4multirange(WriteBuffer b, object v) except -1:
    return _enc_multirange_with(b, v, _enc_int4, None, "int4multirange")

cdef int _enc_int8multirange(WriteBuffer b, object v) except -1:
    return _enc_multirange_with(b, v, _enc_int8, None, "int8multirange")

cdef int _enc_nummultirange(WriteBuffer b, object v) except -1:
    return _enc_multirange_with(b, v, _enc_numeric, None, "nummultirange")

cdef int _enc_tsmultirange(WriteBuffer b, object v) except -1:
    return _enc_multirange_with(b, v, _enc_timestamp, None, "tsmultirange")

cdef int _enc_tstzmultirange(WriteBuffer b, object v) except -1:
    return _enc_multirange_with(b, v, _enc_timestamptz, None, "tstzmultirange")

cdef int _enc_datemultirange(WriteBuffer b, object v) except -1:
    return _enc_multirange_with(b, v, _enc_date, None, "datemultirange")
