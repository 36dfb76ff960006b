# Geometric types (geo_ops.c): every coordinate is a float8.
#
#   point    x, y                          -> (x, y)
#   lseg     x1, y1, x2, y2                -> [(x1, y1), (x2, y2)] (a list, as the
#                                             reference driver returns it)
#   box      high x, y, low x, y           -> ((x1, y1), (x2, y2)) (the server
#                                             stores the upper-right corner first)
#   line     A, B, C  (Ax + By + C = 0)    -> (A, B, C)
#   circle   x, y, r                       -> ((x, y), r)
#   path     uint8 closed, int32 npts, pts -> tuple of points when the first
#                                             point equals the last, else a list
#                                             (the reference driver's rule; the
#                                             server's closed flag is not used)
#   polygon  int32 npts, pts               -> tuple of points
#
# Encoders take the same shapes (lists or tuples; numbers are float, int or
# Decimal), plus the flat forms the extra_types wrappers accept: box/lseg as
# (x1, y1, x2, y2), circle as (x, y, r).  A path is sent closed when its
# first point equals its last, open otherwise, list or tuple alike, so what
# decodes as a tuple is what was sent closed (the reference driver sends
# every path open; docs/migrating.md, "What differs").  The values of line A and B may not both be zero; a
# circle's radius may not be negative; a path or polygon needs a point.
#
# In arrays the element itself is a sequence, so the array encoder is told
# how deep an element nests (_geo_elem_depth) to tell dimensions from
# elements: point[] [(1, 2), (3, 4)] is one dimension of two points.

cdef inline tuple _read_point(const char* p):
    return (unpack_float8(p), unpack_float8(p + 8))


cdef object _dec_point(const char* data, Py_ssize_t n):
    if n != 16:
        _raise_bad_len("point", 16, n)
    return _read_point(data)


cdef object _dec_lseg(const char* data, Py_ssize_t n):
    if n != 32:
        _raise_bad_len("lseg", 32, n)
    return [_read_point(data), _read_point(data + 16)]


cdef object _dec_box(const char* data, Py_ssize_t n):
    if n != 32:
        _raise_bad_len("box", 32, n)
    return (_read_point(data), _read_point(data + 16))


cdef object _dec_line(const char* data, Py_ssize_t n):
    if n != 24:
        _raise_bad_len("line", 24, n)
    return (unpack_float8(data), unpack_float8(data + 8), unpack_float8(data + 16))


cdef object _dec_circle(const char* data, Py_ssize_t n):
    if n != 24:
        _raise_bad_len("circle", 24, n)
    return (_read_point(data), unpack_float8(data + 16))


cdef list _read_points(const char* data, Py_ssize_t n, int32_t npts, str pgtype):
    cdef int32_t i
    cdef list pts = []
    if npts < 0 or n != <Py_ssize_t>npts * 16:
        raise ProtocolError(
            f"malformed binary {pgtype} value: {npts} points in {n} bytes")
    for i in range(npts):
        pts.append(_read_point(data + 16 * i))
    return pts


cdef object _dec_path(const char* data, Py_ssize_t n):
    cdef list pts
    if n < 5:
        raise ProtocolError(f"malformed binary path value: {n} bytes")
    if data[0] != 0 and data[0] != 1:
        raise ProtocolError(f"malformed binary path value: closed flag {<uint8_t>data[0]}")
    pts = _read_points(data + 5, n - 5, <int32_t>unpack_uint32(data + 1), "path")
    # Equal as floats (0.0 == -0.0, NaN never equal), as the reference compares.
    if pts and _f8_pairs_equal(data + 5, data + n - 16):
        return tuple(pts)
    return pts


cdef object _dec_polygon(const char* data, Py_ssize_t n):
    if n < 4:
        raise ProtocolError(f"malformed binary polygon value: {n} bytes")
    return tuple(_read_points(data + 4, n - 4, <int32_t>unpack_uint32(data), "polygon"))


# --------------------------------------------------------------------------- encoders

cdef inline bint _is_seq(object v):
    return isinstance(v, (list, tuple))


cdef inline int _write_f8(WriteBuffer buf, double d) except -1:
    cdef char tmp[8]
    pack_float8(tmp, d)
    return buf.write_raw(tmp, 8)


cdef int _write_point(WriteBuffer buf, object p, str pgtype, object whole) except -1:
    if not _is_seq(p) or len(p) != 2:
        return _raise_encode(pgtype, pgtype, whole, "a point must be an (x, y) pair")
    _write_f8(buf, _as_double(p[0], pgtype, pgtype))
    return _write_f8(buf, _as_double(p[1], pgtype, pgtype))


cdef int _enc_point(WriteBuffer buf, object value) except -1:
    return _write_point(buf, value, "point", value)


cdef int _write_two_points(WriteBuffer buf, object value, str pgtype) except -1:
    cdef Py_ssize_t k
    if not _is_seq(value):
        return _raise_encode(pgtype, pgtype, value,
                             "expected ((x1, y1), (x2, y2)) or (x1, y1, x2, y2)")
    k = len(value)
    if k == 2:
        _write_point(buf, value[0], pgtype, value)
        return _write_point(buf, value[1], pgtype, value)
    if k == 4 and not _is_seq(value[0]):
        for i in range(4):
            _write_f8(buf, _as_double(value[i], pgtype, pgtype))
        return 0
    return _raise_encode(pgtype, pgtype, value,
                         "expected ((x1, y1), (x2, y2)) or (x1, y1, x2, y2)")


cdef int _enc_lseg(WriteBuffer buf, object value) except -1:
    return _write_two_points(buf, value, "lseg")


cdef int _enc_box(WriteBuffer buf, object value) except -1:
    return _write_two_points(buf, value, "box")


cdef int _enc_line(WriteBuffer buf, object value) except -1:
    cdef double a, b, c
    if not _is_seq(value) or len(value) != 3:
        return _raise_encode("line", "line", value, "expected (A, B, C)")
    a = _as_double(value[0], "line", "line")
    b = _as_double(value[1], "line", "line")
    c = _as_double(value[2], "line", "line")
    if a == 0.0 and b == 0.0:
        return _raise_encode("line", "line", value, "A and B cannot both be zero")
    _write_f8(buf, a)
    _write_f8(buf, b)
    return _write_f8(buf, c)


cdef int _enc_circle(WriteBuffer buf, object value) except -1:
    cdef double r
    cdef object center
    if not _is_seq(value) or len(value) not in (2, 3):
        return _raise_encode("circle", "circle", value, "expected ((x, y), r) or (x, y, r)")
    if len(value) == 3:
        center = (value[0], value[1])
        r = _as_double(value[2], "circle", "circle")
    else:
        center = value[0]
        r = _as_double(value[1], "circle", "circle")
    if r < 0:
        return _raise_encode("circle", "circle", value, "the radius cannot be negative")
    _write_point(buf, center, "circle", value)
    return _write_f8(buf, r)


cdef int _write_points(WriteBuffer buf, object value, str pgtype) except -1:
    cdef Py_ssize_t k = len(value)
    if k == 0:
        return _raise_encode(pgtype, pgtype, value, f"a {pgtype} needs at least one point")
    if k > 0x7FFFFFF:
        return _raise_encode(pgtype, pgtype, value, "too many points")
    buf.write_int32(<int32_t>k)
    for p in value:
        _write_point(buf, p, pgtype, value)
    return 0


cdef int _enc_path(WriteBuffer buf, object value) except -1:
    cdef Py_ssize_t at
    if not _is_seq(value):
        return _raise_encode("path", "path", value, "expected a sequence of points")
    at = buf._len
    buf.write_byte(0)
    _write_points(buf, value, "path")
    # closed when the first point equals the last (compared as written)
    if _f8_pairs_equal(buf._buf + at + 5, buf._buf + buf._len - 16):
        buf._buf[at] = 1
    return 0


cdef inline bint _f8_pairs_equal(const char* a, const char* b):
    return unpack_float8(a) == unpack_float8(b) and unpack_float8(a + 8) == unpack_float8(b + 8)


cdef int _enc_polygon(WriteBuffer buf, object value) except -1:
    if not _is_seq(value):
        return _raise_encode("polygon", "polygon", value, "expected a sequence of points")
    return _write_points(buf, value, "polygon")


cdef bint _path_closed(object pts):
    """Whether a path of points (x, y) is sent closed: first == last."""
    cdef Py_ssize_t k = len(pts)
    if k == 0:
        return False
    first = pts[0]
    last = pts[k - 1]     # (no negative indexes: the module is built with wraparound off)
    return float(first[0]) == float(last[0]) and float(first[1]) == float(last[1])


# --------------------------------------------------------------------------- text forms
# (text-format parameters: a geometric wrapper for a parameter whose type
# has no binary encoder, e.g. a domain over point)

cdef str _num_text(object v):
    return _text_form(float(v))


cdef str _point_text(object p):
    return f"({_num_text(p[0])},{_num_text(p[1])})"


cdef str _path_text(object v):
    cdef str inner = ",".join([_point_text(p) for p in v])
    return f"({inner})" if _path_closed(v) else f"[{inner}]"


cdef str _geo_text(str pg_type, object v):
    """PostgreSQL input text of geometric value ``v`` (already normalised by
    its extra_types wrapper) for type ``pg_type``; None if not geometric."""
    if pg_type == "point":
        return _point_text(v)
    if pg_type == "box" or pg_type == "lseg":
        return f"[{_point_text(v[0])},{_point_text(v[1])}]" if pg_type == "lseg" \
            else f"{_point_text(v[0])},{_point_text(v[1])}"
    if pg_type == "line":
        return "{" + ",".join([_num_text(x) for x in v]) + "}"
    if pg_type == "circle":
        return f"<{_point_text(v[0])},{_num_text(v[1])}>"
    if pg_type == "path":
        return _path_text(v)
    if pg_type == "polygon":
        return "(" + ",".join([_point_text(p) for p in v]) + ")"
    return None
