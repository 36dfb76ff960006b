# Text-format result decoders: a value's PostgreSQL output text -> the same
# Python value the binary decoder of its type gives (so prepared=False, whose
# results come in text, returns what prepared=True returns).
#
# Each has the decode_func signature and reads data[0:n] only.  Text the
# decoder cannot read, or a value Python cannot represent, raises
# RustToPyValueMappingError (never ProtocolError: text output depends on
# server settings, e.g. DateStyle, IntervalStyle, lc_monetary, and the
# connection fixes only DateStyle=ISO).  They assume the defaults the
# connection sets or PostgreSQL ships: DateStyle ISO, IntervalStyle
# postgres, bytea_output hex (escape is read too), extra_float_digits >= 0.
#
# Arrays and composites are parsed by typecodec.pyx (they need the element
# type), with these as their leaves.  The pure-Python reference of all of
# this is psqlpy/types/_reference.py; tests/test_textdecode.py compares them.

from cpython.bytes cimport PyBytes_AS_STRING

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, object overflow_exception) except? -1.0
    object PyLong_FromString(const char* s, char** pend, int base)


cdef int _raise_text(str pgtype, const char* data, Py_ssize_t n) except -1:
    cdef object shown
    try:
        shown = PyUnicode_DecodeUTF8(data, n if n < 80 else 80, "replace")
    except Exception:
        shown = "?"
    raise RustToPyValueMappingError(f"cannot read {pgtype} value {shown!r} from its text form")


cdef inline bint _is_digit(char c) noexcept:
    return c >= b'0' and c <= b'9'


cdef inline int _hexval(char c) noexcept:
    if c >= b'0' and c <= b'9':
        return c - 48
    if c >= b'a' and c <= b'f':
        return c - 87
    if c >= b'A' and c <= b'F':
        return c - 55
    return -1


cdef inline bint _same(const char* data, Py_ssize_t n, const char* lit, Py_ssize_t k) noexcept:
    return n == k and memcmp(data, lit, <size_t>k) == 0


# --------------------------------------------------------------------------- scalars

cdef object _tdec_bool(const char* data, Py_ssize_t n):
    if n == 1:
        if data[0] == b't':
            return True
        if data[0] == b'f':
            return False
    _raise_text("bool", data, n)


cdef int64_t _parse_int(const char* data, Py_ssize_t n, int64_t lo, int64_t hi,
                        str pgtype) except? -1:
    cdef Py_ssize_t i = 0
    cdef bint neg = False
    cdef uint64_t v = 0, limit
    if n > 0 and (data[0] == b'-' or data[0] == b'+'):
        neg = data[0] == b'-'
        i = 1
    if i >= n or n - i > 20 or (neg and lo >= 0):
        _raise_text(pgtype, data, n)
    limit = (<uint64_t>(-(lo + 1)) + 1) if neg else <uint64_t>hi
    while i < n:
        if not _is_digit(data[i]):
            _raise_text(pgtype, data, n)
        if v > (limit - <uint64_t>(data[i] - 48)) // 10:
            _raise_text(pgtype, data, n)
        v = v * 10 + <uint64_t>(data[i] - 48)
        i += 1
    if neg:
        return -<int64_t>(v - 1) - 1
    return <int64_t>v


cdef object _tdec_int2(const char* data, Py_ssize_t n):
    return _parse_int(data, n, -32768, 32767, "int2")


cdef object _tdec_int4(const char* data, Py_ssize_t n):
    return _parse_int(data, n, -2147483648, 2147483647, "int4")


cdef object _tdec_int8(const char* data, Py_ssize_t n):
    return _parse_int(data, n, _I64_MIN, _I64_MAX, "int8")


cdef object _tdec_oid(const char* data, Py_ssize_t n):
    return _parse_int(data, n, 0, 4294967295, "oid")


cdef double _parse_double(const char* data, Py_ssize_t n, str pgtype) except? -1.0:
    cdef char buf[64]
    cdef char* end
    cdef double d = 0.0
    if n <= 0 or n >= 64:
        _raise_text(pgtype, data, n)
    memcpy(buf, data, <size_t>n)
    buf[n] = 0
    try:
        d = PyOS_string_to_double(buf, &end, None)
    except ValueError:
        _raise_text(pgtype, data, n)
    if end != buf + n:
        _raise_text(pgtype, data, n)
    return d


cdef double _as_float4(double d, str pgtype, const char* data, Py_ssize_t n) except? -1.0:
    # the same double as the binary form: rounded to single precision.  A
    # finite value that would round to infinity (half an ulp over FLT_MAX, the
    # server prints FLT_MAX as 3.4028235e+38) is not a float4's text.
    if isfinite(d) and fabs(d) >= 3.4028235677973366e+38:
        _raise_text(pgtype, data, n)
    return <double><float>d


cdef object _tdec_float4(const char* data, Py_ssize_t n):
    return _as_float4(_parse_double(data, n, "float4"), "float4", data, n)


cdef object _tdec_float8(const char* data, Py_ssize_t n):
    return _parse_double(data, n, "float8")


cdef object _tdec_numeric(const char* data, Py_ssize_t n):
    cdef str s = decode_text_value(data, n)
    try:
        return _Decimal(s)
    except (ValueError, ArithmeticError):
        _raise_text("numeric", data, n)


cdef object _tdec_char(const char* data, Py_ssize_t n):
    # charout: NUL as '', a high byte as \ooo, else the byte itself
    if n == 0:
        return ""
    if n == 1:
        return chr(<uint8_t>data[0])
    if n == 4 and data[0] == b'\\' and data[1] >= b'0' and data[1] <= b'3' \
            and data[2] >= b'0' and data[2] <= b'7' and data[3] >= b'0' and data[3] <= b'7':
        return chr((data[1] - 48) * 64 + (data[2] - 48) * 8 + (data[3] - 48))
    _raise_text('"char"', data, n)


cdef object _tdec_bytea(const char* data, Py_ssize_t n):
    cdef bytes out
    cdef char* o
    cdef Py_ssize_t i, k
    cdef int hi, lo
    if n >= 2 and data[0] == b'\\' and data[1] == b'x':
        if (n - 2) % 2:
            _raise_text("bytea", data, n)
        out = PyBytes_FromStringAndSize(NULL, (n - 2) // 2)
        o = PyBytes_AS_STRING(out)
        i = 2
        k = 0
        while i < n:
            hi = _hexval(data[i])
            lo = _hexval(data[i + 1])
            if hi < 0 or lo < 0:
                _raise_text("bytea", data, n)
            o[k] = <char>(hi * 16 + lo)
            k += 1
            i += 2
        return out
    # bytea_output = escape: \\ for a backslash, \ooo for other escaped bytes
    buf = bytearray()
    i = 0
    while i < n:
        if data[i] != b'\\':
            buf.append(<uint8_t>data[i])
            i += 1
        elif i + 1 < n and data[i + 1] == b'\\':
            buf.append(0x5C)
            i += 2
        elif i + 3 < n and b'0' <= data[i + 1] <= b'3' and b'0' <= data[i + 2] <= b'7' \
                and b'0' <= data[i + 3] <= b'7':
            buf.append((data[i + 1] - 48) * 64 + (data[i + 2] - 48) * 8 + (data[i + 3] - 48))
            i += 4
        else:
            _raise_text("bytea", data, n)
    return bytes(buf)


cdef object _tdec_json(const char* data, Py_ssize_t n):
    cdef str s = decode_text_value(data, n)
    try:
        return _json_parse(s)
    except ValueError:
        _raise_text("json", data, n)
    except RecursionError:
        raise RustToPyValueMappingError(
            "json value nested too deeply for Python's json decoder") from None


cdef object _tdec_uuid(const char* data, Py_ssize_t n):
    cdef char b[16]
    cdef Py_ssize_t i = 0, k = 0
    cdef int hi, lo
    if n != 36:
        _raise_text("uuid", data, n)
    while k < 16:
        if i == 8 or i == 13 or i == 18 or i == 23:
            if data[i] != b'-':
                _raise_text("uuid", data, n)
            i += 1
        hi = _hexval(data[i])
        lo = _hexval(data[i + 1])
        if hi < 0 or lo < 0:
            _raise_text("uuid", data, n)
        b[k] = <char>(hi * 16 + lo)
        k += 1
        i += 2
    return make_uuid(b)


cdef object _tdec_macaddr(const char* data, Py_ssize_t n):
    # the binary decoder's form: uppercase hex, ':' between octets
    cdef Py_ssize_t i
    cdef str s
    cdef char* out
    if n != 17 and n != 23:
        _raise_text("macaddr", data, n)
    s = PyUnicode_New(n, 127)
    out = <char*>PyUnicode_DATA(s)
    for i in range(n):
        if i % 3 == 2:
            if data[i] != b':':
                _raise_text("macaddr", data, n)
            out[i] = b':'
        else:
            if _hexval(data[i]) < 0:
                _raise_text("macaddr", data, n)
            out[i] = _HEX_UPPER[_hexval(data[i])]
    return s


cdef object _tdec_money(const char* data, Py_ssize_t n):
    # The output depends on lc_monetary ("$1,234.56", "-$1.00", "($1.00)"); the
    # binary value is the integer count of the smallest unit: every digit.
    cdef char buf[48]
    cdef Py_ssize_t i, k = 0
    cdef bint neg = False
    for i in range(n):
        if _is_digit(data[i]):
            if k >= 40:
                _raise_text("money", data, n)
            buf[k] = data[i]
            k += 1
        elif data[i] == b'-' or data[i] == b'(':
            neg = True
    if k == 0:                  # the server always prints digits ("$0.00")
        _raise_text("money", data, n)
    buf[k] = 0
    v = PyLong_FromString(buf, NULL, 10)
    return -v if neg else v


cdef object _tdec_inet(const char* data, Py_ssize_t n):
    cdef str s = decode_text_value(data, n)
    try:
        if memchr(data, b'/', <size_t>n) != NULL:
            return _ip_interface(s)
        return _ip_address(s)
    except ValueError:
        _raise_text("inet", data, n)


cdef object _tdec_cidr(const char* data, Py_ssize_t n):
    try:
        return _ip_network(decode_text_value(data, n))
    except ValueError:
        _raise_text("cidr", data, n)


cdef list _int_vector(const char* data, Py_ssize_t n, int64_t lo, int64_t hi, str pgtype):
    # int2vector / oidvector: the ints separated by single spaces
    cdef list out = []
    cdef Py_ssize_t i = 0, j
    while i < n:
        j = i
        while j < n and data[j] != b' ':
            j += 1
        out.append(_parse_int(data + i, j - i, lo, hi, pgtype))
        i = j + 1
        if j < n and i >= n:
            _raise_text(pgtype, data, n)      # a trailing space
    return out


cdef object _tdec_int2vector(const char* data, Py_ssize_t n):
    return _int_vector(data, n, -32768, 32767, "int2vector")


cdef object _tdec_oidvector(const char* data, Py_ssize_t n):
    return _int_vector(data, n, 0, 4294967295, "oidvector")


# --------------------------------------------------------------------------- date/time
# ISO forms: 2024-02-29, 2024-02-29 BC, 12:00:00.5, 12:00:00+05:30,
# 2024-01-02 03:04:05.000006+00, infinity, -infinity; years of more than four
# digits exist on the server (up to 294276) but not in Python.

cdef struct _Cursor:
    const char* p
    const char* end


cdef int _num(_Cursor* c, int mindigits, int maxdigits, int64_t* out) noexcept:
    """Unsigned decimal of mindigits..maxdigits digits; 0 ok, -1 not found."""
    cdef int k = 0
    cdef int64_t v = 0
    while c.p < c.end and _is_digit(c.p[0]) and k < maxdigits:
        v = v * 10 + (c.p[0] - 48)
        c.p += 1
        k += 1
    if k < mindigits:
        return -1
    out[0] = v
    return 0


cdef inline bint _take(_Cursor* c, char ch) noexcept:
    if c.p < c.end and c.p[0] == ch:
        c.p += 1
        return True
    return False


cdef int _ymd(_Cursor* c, int64_t* y, int64_t* m, int64_t* d) noexcept:
    if _num(c, 4, 9, y) < 0 or not _take(c, b'-') or _num(c, 2, 2, m) < 0 \
            or not _take(c, b'-') or _num(c, 2, 2, d) < 0:
        return -1
    if m[0] < 1 or m[0] > 12 or d[0] < 1 or d[0] > _month_days(y[0], m[0]):
        return -1
    return 0


cdef inline int64_t _month_days(int64_t y, int64_t m) noexcept:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if (m == 4 or m == 6 or m == 9 or m == 11) else 31


cdef int _hms(_Cursor* c, int64_t* us) noexcept:
    """HH:MM:SS[.f{1,6}] -> microseconds since midnight (24:00:00 allowed)."""
    cdef int64_t h, mi, s, frac = 0
    cdef int k = 0
    if _num(c, 2, 2, &h) < 0 or not _take(c, b':') or _num(c, 2, 2, &mi) < 0 \
            or not _take(c, b':') or _num(c, 2, 2, &s) < 0:
        return -1
    if _take(c, b'.'):
        while c.p < c.end and _is_digit(c.p[0]):
            if k < 6:
                frac = frac * 10 + (c.p[0] - 48)
            k += 1
            c.p += 1
        if k == 0 or k > 6:
            return -1
        while k < 6:
            frac *= 10
            k += 1
    if h > 24 or mi > 59 or s > 59 or (h == 24 and (mi != 0 or s != 0 or frac != 0)):
        return -1
    us[0] = ((h * 60 + mi) * 60 + s) * USECS_PER_SEC + frac
    return 0


cdef int _zone(_Cursor* c, int64_t* seconds_east) noexcept:
    """+HH[:MM[:SS]] or -HH[:MM[:SS]]."""
    cdef int64_t h, m = 0, s = 0
    cdef int sign
    if _take(c, b'+'):
        sign = 1
    elif _take(c, b'-'):
        sign = -1
    else:
        return -1
    if _num(c, 2, 2, &h) < 0:
        return -1
    if _take(c, b':'):
        if _num(c, 2, 2, &m) < 0:
            return -1
        if _take(c, b':') and _num(c, 2, 2, &s) < 0:
            return -1
    if m > 59 or s > 59 or h * 3600 + m * 60 + s >= 86400:
        return -1           # (datetime.timezone's range; the server's is under 16 h)
    seconds_east[0] = sign * (h * 3600 + m * 60 + s)
    return 0


cdef inline bint _bc(_Cursor* c) noexcept:
    if c.end - c.p == 3 and memcmp(c.p, b" BC", 3) == 0:
        c.p += 3
        return True
    return False


cdef int _raise_text_range(str pgtype, const char* data, Py_ssize_t n) except -1:
    raise RustToPyValueMappingError(
        f"{pgtype} value {PyUnicode_DecodeUTF8(data, n, 'replace')} is outside the range "
        "of Python's datetime (years 1..9999)")


cdef object _tdec_date(const char* data, Py_ssize_t n):
    cdef _Cursor c
    cdef int64_t y, m, d
    if _same(data, n, b"infinity", 8):
        return _DATE_MAX
    if _same(data, n, b"-infinity", 9):
        return _DATE_MIN
    c.p = data
    c.end = data + n
    if _ymd(&c, &y, &m, &d) < 0:
        _raise_text("date", data, n)
    if _bc(&c) or y > 9999 or y < 1:
        _raise_text_range("date", data, n)
    if c.p != c.end:
        _raise_text("date", data, n)
    return date_new(<int>y, <int>m, <int>d)


cdef object _tdec_time(const char* data, Py_ssize_t n):
    cdef _Cursor c
    cdef int64_t us
    c.p = data
    c.end = data + n
    if _hms(&c, &us) < 0 or c.p != c.end:
        _raise_text("time", data, n)
    return _make_time(us, None, "time")


cdef object _tdec_timetz(const char* data, Py_ssize_t n):
    cdef _Cursor c
    cdef int64_t us, east
    c.p = data
    c.end = data + n
    if _hms(&c, &us) < 0 or _zone(&c, &east) < 0 or c.p != c.end:
        _raise_text("timetz", data, n)
    return _make_time(us, _UTC if east == 0 else _timezone(timedelta_new(0, <int>east, 0)),
                      "timetz")


cdef object _tdec_ts(const char* data, Py_ssize_t n, bint with_tz):
    cdef _Cursor c
    cdef int64_t y, m, d, us, east = 0, v
    cdef str pgtype = "timestamptz" if with_tz else "timestamp"
    if _same(data, n, b"infinity", 8):
        return _DTTZ_MAX if with_tz else _DT_MAX
    if _same(data, n, b"-infinity", 9):
        return _DTTZ_MIN if with_tz else _DT_MIN
    c.p = data
    c.end = data + n
    if _ymd(&c, &y, &m, &d) < 0 or not _take(&c, b' ') or _hms(&c, &us) < 0 \
            or us >= USECS_PER_DAY:
        _raise_text(pgtype, data, n)
    if with_tz and _zone(&c, &east) < 0:
        _raise_text(pgtype, data, n)
    if _bc(&c) or y > 9999 or y < 1:
        _raise_text_range(pgtype, data, n)
    if c.p != c.end:
        _raise_text(pgtype, data, n)
    v = ((_days_from_civil(y, m, d) - PG_EPOCH_DAYS_FROM_UNIX) * USECS_PER_DAY + us
         - east * USECS_PER_SEC)
    return _make_timestamp(v, _UTC if with_tz else None, pgtype)


cdef object _tdec_timestamp(const char* data, Py_ssize_t n):
    return _tdec_ts(data, n, False)


cdef object _tdec_timestamptz(const char* data, Py_ssize_t n):
    return _tdec_ts(data, n, True)


cdef object _tdec_interval(const char* data, Py_ssize_t n):
    # IntervalStyle postgres: "1 year 2 mons -3 days -04:05:06.789"; a month
    # counts as 30 days, as in the binary decoder.
    cdef _Cursor c
    cdef int64_t months = 0, days = 0, us = 0, v, total
    cdef int sign
    cdef const char* start
    if _same(data, n, b"infinity", 8):
        return _TD_MAX
    if _same(data, n, b"-infinity", 9):
        return _TD_MIN
    c.p = data
    c.end = data + n
    while c.p < c.end:
        sign = 1
        if _take(&c, b'-'):
            sign = -1
        else:
            _take(&c, b'+')
        start = c.p
        if _num(&c, 1, 12, &v) < 0:
            _raise_text("interval", data, n)
        if c.p < c.end and c.p[0] == b':':        # the time part, always last
            c.p = start
            if _hms_hours(&c, &v) < 0 or c.p != c.end:
                _raise_text("interval", data, n)
            us = sign * v
            break
        if not _take(&c, b' '):
            _raise_text("interval", data, n)
        v *= sign
        if _word(&c, b"year", 4):
            months += 12 * v
        elif _word(&c, b"mon", 3):
            months += v
        elif _word(&c, b"day", 3):
            days += v
        else:
            _raise_text("interval", data, n)
        # (the server's fields are int32; a hostile repetition must not wrap)
        if months > 1000000000000 or months < -1000000000000 \
                or days > 1000000000000 or days < -1000000000000:
            _raise_text("interval", data, n)
        _take(&c, b's')
        if c.p < c.end and not _take(&c, b' '):
            _raise_text("interval", data, n)
    total = days + months * 30 + _floordiv(us, USECS_PER_DAY)
    us = us - _floordiv(us, USECS_PER_DAY) * USECS_PER_DAY
    if total > 999999999 or total < -999999999:
        raise RustToPyValueMappingError(
            f"interval of {total} days is outside the range of Python's timedelta")
    return timedelta_new(<int>total, <int>(us / USECS_PER_SEC), <int>(us % USECS_PER_SEC))


cdef inline bint _word(_Cursor* c, const char* w, Py_ssize_t k) noexcept:
    if c.end - c.p >= k and memcmp(c.p, w, <size_t>k) == 0:
        c.p += k
        return True
    return False


cdef int _hms_hours(_Cursor* c, int64_t* us) noexcept:
    """H+:MM:SS[.f] (hours unbounded, as intervals print them)."""
    cdef int64_t h, mi, s
    cdef int64_t rest
    cdef int k
    cdef _Cursor sub
    if _num(c, 1, 12, &h) < 0 or not _take(c, b':') or h > 2562047788:
        return -1
    # the rest is MM:SS[.f], read as a time of day starting at 00:
    if _num(c, 2, 2, &mi) < 0 or not _take(c, b':') or mi > 59:
        return -1
    sub.p = c.p
    sub.end = c.end
    if _num(&sub, 2, 2, &s) < 0 or s > 59:
        return -1
    rest = 0
    if _take(&sub, b'.'):
        k = 0
        while sub.p < sub.end and _is_digit(sub.p[0]):
            if k < 6:
                rest = rest * 10 + (sub.p[0] - 48)
            k += 1
            sub.p += 1
        if k == 0 or k > 6:
            return -1
        while k < 6:
            rest *= 10
            k += 1
    c.p = sub.p
    rest += (mi * 60 + s) * USECS_PER_SEC
    if h == 2562047788 and rest > 54775807:
        return -1           # over an int64 of microseconds: the server's limit
    us[0] = h * 3600 * USECS_PER_SEC + rest
    return 0


# --------------------------------------------------------------------------- geometry

cdef list _geo_numbers(const char* data, Py_ssize_t n, str pgtype):
    """Every number in a geometric value's text, in order."""
    cdef bytes copy = PyBytes_FromStringAndSize(data, n)   # NUL-terminated
    cdef const char* s = PyBytes_AS_STRING(copy)
    cdef const char* end = s + n
    cdef char* after
    cdef list out = []
    while s < end:
        if s[0] == b'(' or s[0] == b')' or s[0] == b'[' or s[0] == b']' or s[0] == b'{' \
                or s[0] == b'}' or s[0] == b'<' or s[0] == b'>' or s[0] == b',' or s[0] == b' ':
            s += 1
            continue
        try:
            out.append(PyOS_string_to_double(s, &after, None))
        except ValueError:
            _raise_text(pgtype, data, n)
        if after == s:
            _raise_text(pgtype, data, n)
        s = after
    return out


cdef object _tdec_point(const char* data, Py_ssize_t n):
    cdef list v = _geo_numbers(data, n, "point")
    if len(v) != 2:
        _raise_text("point", data, n)
    return (v[0], v[1])


cdef object _tdec_lseg(const char* data, Py_ssize_t n):
    cdef list v = _geo_numbers(data, n, "lseg")
    if len(v) != 4:
        _raise_text("lseg", data, n)
    return [(v[0], v[1]), (v[2], v[3])]


cdef object _tdec_box(const char* data, Py_ssize_t n):
    cdef list v = _geo_numbers(data, n, "box")
    if len(v) != 4:
        _raise_text("box", data, n)
    return ((v[0], v[1]), (v[2], v[3]))


cdef object _tdec_line(const char* data, Py_ssize_t n):
    cdef list v = _geo_numbers(data, n, "line")
    if len(v) != 3:
        _raise_text("line", data, n)
    return (v[0], v[1], v[2])


cdef object _tdec_circle(const char* data, Py_ssize_t n):
    cdef list v = _geo_numbers(data, n, "circle")
    if len(v) != 3:
        _raise_text("circle", data, n)
    return ((v[0], v[1]), v[2])


cdef list _text_points(const char* data, Py_ssize_t n, str pgtype):
    cdef list v = _geo_numbers(data, n, pgtype)
    cdef Py_ssize_t i
    if len(v) == 0 or len(v) % 2:
        _raise_text(pgtype, data, n)
    return [(v[i], v[i + 1]) for i in range(0, len(v), 2)]


cdef object _tdec_path(const char* data, Py_ssize_t n):
    cdef list pts = _text_points(data, n, "path")
    cdef tuple first = pts[0]
    cdef tuple last = pts[len(pts) - 1]
    # as the binary decoder: a tuple when the first point equals the last
    if <double>first[0] == <double>last[0] and <double>first[1] == <double>last[1]:
        return tuple(pts)
    return pts


cdef object _tdec_polygon(const char* data, Py_ssize_t n):
    return tuple(_text_points(data, n, "polygon"))
