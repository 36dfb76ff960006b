# date, time, timetz, timestamp, timestamptz, interval.
#
# PostgreSQL's binary forms (integer datetimes, the only kind since 10):
#   date         int32 days since 2000-01-01
#   time         int64 microseconds since midnight (0 .. 24:00:00 inclusive)
#   timetz       int64 microseconds + int32 zone offset in seconds WEST of UTC
#   timestamp[tz] int64 microseconds since 2000-01-01 00:00:00 (UTC for tz)
#   interval     int64 microseconds, int32 days, int32 months
# Infinities: date +/-infinity is int32 max/min, timestamp[tz] int64 max/min;
# they map to date.max/date.min and datetime.max/datetime.min (aware, UTC,
# for timestamptz) and back: encoding a value whose fields equal date.max /
# datetime.max (resp. .min) sends infinity (resp. -infinity), whatever its
# tzinfo.
#
# Choices, documented:
# * timestamptz decodes to an aware datetime in UTC (datetime.timezone.utc).
# * timestamptz encodes an aware datetime as its UTC instant; a NAIVE
#   datetime is taken to be UTC (not local time: the driver must not depend
#   on the client machine's time zone).
# * timestamp (without time zone) encodes a datetime's wall-clock fields; a
#   tzinfo, if any, is ignored (as PostgreSQL does when casting such text).
# * a date passed for timestamp/timestamptz means its midnight.
# * time encodes the wall-clock fields and ignores tzinfo; timetz encodes
#   the offset of an aware time, and a naive time as UTC (offset 0).
# * interval -> timedelta with a month counted as 30 days (as asyncpg does;
#   timedelta has no months).  PostgreSQL 17's +/-infinity intervals decode
#   to timedelta.max / timedelta.min.  Encoding sends months = 0.

cdef enum:
    PG_EPOCH_DAYS_FROM_UNIX = 10957      # 2000-01-01 - 1970-01-01
    PG_EPOCH_ORDINAL = 730120            # date(2000, 1, 1).toordinal()
    MAX_ORDINAL = 3652059                # date(9999, 12, 31).toordinal()
    DATE_POS_INF = 0x7FFFFFFF
    DATE_NEG_INF = -0x7FFFFFFF - 1

cdef int64_t USECS_PER_DAY = 86400000000
cdef int64_t USECS_PER_HOUR = 3600000000
cdef int64_t USECS_PER_MINUTE = 60000000
cdef int64_t USECS_PER_SEC = 1000000
cdef int64_t TS_POS_INF = _I64_MAX
cdef int64_t TS_NEG_INF = _I64_MIN

cdef object _UTC = _datetime_mod.timezone.utc
cdef object _timezone = _datetime_mod.timezone
cdef object _DATE_MAX = _datetime_mod.date.max
cdef object _DATE_MIN = _datetime_mod.date.min
cdef object _DT_MAX = _datetime_mod.datetime.max
cdef object _DT_MIN = _datetime_mod.datetime.min
cdef object _DTTZ_MAX = _datetime_mod.datetime.max.replace(tzinfo=_datetime_mod.timezone.utc)
cdef object _DTTZ_MIN = _datetime_mod.datetime.min.replace(tzinfo=_datetime_mod.timezone.utc)
cdef object _TD_MAX = _datetime_mod.timedelta.max
cdef object _TD_MIN = _datetime_mod.timedelta.min


cdef inline int64_t _floordiv(int64_t a, int64_t b) noexcept:
    # Python-style floor division for b > 0 (the module uses cdivision).
    cdef int64_t q = a / b
    if (a % b) < 0:
        q -= 1
    return q


cdef inline void _civil_from_days(int64_t z, int* y, int* m, int* d) noexcept:
    # Days since 1970-01-01 -> proleptic Gregorian y/m/d (H. Hinnant's
    # algorithm; valid for the whole int64 day range used here).
    cdef int64_t era, doe, yoe, doy, mp, yy
    z += 719468
    era = (z if z >= 0 else z - 146096) / 146097
    doe = z - era * 146097
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    yy = yoe + era * 400
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    mp = (5 * doy + 2) / 153
    d[0] = <int>(doy - (153 * mp + 2) / 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = <int>(yy + (1 if m[0] <= 2 else 0))


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept:
    # Proleptic Gregorian y/m/d -> days since 1970-01-01.
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) / 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) / 5 + d - 1
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146097 + doe - 719468


cdef int _raise_date_range(str pgtype, int64_t pgdays) except -1:
    cdef int y, m, d
    _civil_from_days(pgdays + PG_EPOCH_DAYS_FROM_UNIX, &y, &m, &d)
    if y <= 0:
        shown = f"{1 - y:04d}-{m:02d}-{d:02d} BC"
    else:
        shown = f"{y:04d}-{m:02d}-{d:02d}"
    raise RustToPyValueMappingError(
        f"{pgtype} value {shown} is outside the range of Python's datetime "
        f"(years 1..9999)")


cdef object _make_date(int64_t pgdays):
    cdef int y, m, d
    cdef int64_t ordinal = pgdays + PG_EPOCH_ORDINAL
    if ordinal < 1 or ordinal > MAX_ORDINAL:
        _raise_date_range("date", pgdays)
    _civil_from_days(pgdays + PG_EPOCH_DAYS_FROM_UNIX, &y, &m, &d)
    return date_new(y, m, d)


cdef object _dec_date(const char* data, Py_ssize_t n):
    cdef int32_t v
    if n != 4:
        _raise_bad_len("date", 4, n)
    v = <int32_t>unpack_uint32(data)
    if v == DATE_POS_INF:
        return _DATE_MAX
    if v == DATE_NEG_INF:
        return _DATE_MIN
    return _make_date(v)


cdef inline bint _is_date_max(object v) noexcept:
    return (PyDateTime_GET_YEAR(v) == 9999 and PyDateTime_GET_MONTH(v) == 12
            and PyDateTime_GET_DAY(v) == 31)


cdef inline bint _is_date_min(object v) noexcept:
    return (PyDateTime_GET_YEAR(v) == 1 and PyDateTime_GET_MONTH(v) == 1
            and PyDateTime_GET_DAY(v) == 1)


cdef inline int64_t _pg_days(object v) noexcept:
    return _days_from_civil(PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v),
                            PyDateTime_GET_DAY(v)) - PG_EPOCH_DAYS_FROM_UNIX


cdef int _enc_date(WriteBuffer buf, object value) except -1:
    # A datetime is a date too: its date part is sent.
    if not PyDate_Check(value):
        return _raise_encode("date", "date", value, "expected datetime.date (or str)")
    if _is_date_max(value):
        return buf.write_int32(DATE_POS_INF)
    if _is_date_min(value):
        return buf.write_int32(DATE_NEG_INF)
    return buf.write_int32(<int32_t>_pg_days(value))


cdef object _make_time(int64_t us, object tz, str pgtype):
    if us < 0 or us > USECS_PER_DAY:
        raise ProtocolError(f"malformed binary {pgtype} value: {us} microseconds")
    if us == USECS_PER_DAY:
        raise RustToPyValueMappingError(
            f"{pgtype} value 24:00:00 cannot be represented as datetime.time")
    return time_new(<int>(us / USECS_PER_HOUR), <int>((us / USECS_PER_MINUTE) % 60),
                    <int>((us / USECS_PER_SEC) % 60), <int>(us % USECS_PER_SEC), tz)


cdef object _dec_time(const char* data, Py_ssize_t n):
    if n != 8:
        _raise_bad_len("time", 8, n)
    return _make_time(<int64_t>unpack_uint64(data), None, "time")


cdef object _dec_timetz(const char* data, Py_ssize_t n):
    cdef int32_t zone
    cdef object tz
    if n != 12:
        _raise_bad_len("timetz", 12, n)
    zone = <int32_t>unpack_uint32(data + 8)
    if zone <= -86400 or zone >= 86400:
        raise ProtocolError(f"malformed binary timetz value: zone offset {zone} s")
    # PostgreSQL counts the offset in seconds west of UTC (POSIX style).
    tz = _UTC if zone == 0 else _timezone(timedelta_new(0, -zone, 0))
    return _make_time(<int64_t>unpack_uint64(data), tz, "timetz")


cdef inline int64_t _time_usecs(object v) noexcept:
    return ((<int64_t>PyDateTime_TIME_GET_HOUR(v) * 60 + PyDateTime_TIME_GET_MINUTE(v)) * 60
            + PyDateTime_TIME_GET_SECOND(v)) * USECS_PER_SEC + PyDateTime_TIME_GET_MICROSECOND(v)


cdef int _enc_time(WriteBuffer buf, object value) except -1:
    if not PyTime_Check(value):
        return _raise_encode("time", "time without time zone", value,
                             "expected datetime.time (or str)")
    return buf.write_int64(_time_usecs(value))


cdef int64_t _offset_usecs(object offset, str pgtype) except? -1:
    """A utcoffset() result (timedelta or None) in microseconds."""
    if offset is None:
        return 0
    return ((<int64_t>PyDateTime_DELTA_GET_DAYS(offset) * 86400
             + PyDateTime_DELTA_GET_SECONDS(offset)) * USECS_PER_SEC
            + PyDateTime_DELTA_GET_MICROSECONDS(offset))


# A datetime.timezone (timezone.utc, timezone(timedelta(hours=2))) has one
# offset for every datetime, and it cannot be subclassed: remember the last
# one's offset instead of calling utcoffset() per value, which is most of the
# cost of encoding a timestamptz.  Other tzinfos (zoneinfo, pytz) are asked
# every time: their offset depends on the date.
cdef object _FixedOffset = type(_UTC)
cdef object _last_fixed_tz = None
cdef int64_t _last_fixed_off = 0


cdef int64_t _dt_offset_usecs(object value) except? -1:
    global _last_fixed_tz, _last_fixed_off
    cdef object tz = datetime_tzinfo(value)
    cdef int64_t off
    if tz is _last_fixed_tz and tz is not None:
        return _last_fixed_off
    off = _offset_usecs(value.utcoffset(), "timestamptz")
    if type(tz) is _FixedOffset:
        _last_fixed_tz = tz
        _last_fixed_off = off
    return off


cdef int _enc_timetz(WriteBuffer buf, object value) except -1:
    cdef int64_t off
    if not PyTime_Check(value):
        return _raise_encode("timetz", "time with time zone", value,
                             "expected datetime.time (or str)")
    off = _offset_usecs(value.utcoffset(), "timetz")   # naive -> UTC (0)
    if off % USECS_PER_SEC != 0:
        return _raise_encode("timetz", "time with time zone", value,
                             "UTC offset has sub-second precision")
    buf.write_int64(_time_usecs(value))
    return buf.write_int32(<int32_t>(-(off / USECS_PER_SEC)))


cdef object _make_timestamp(int64_t v, object tz, str pgtype):
    cdef int64_t days = _floordiv(v, USECS_PER_DAY)
    cdef int64_t us = v - days * USECS_PER_DAY
    cdef int64_t ordinal = days + PG_EPOCH_ORDINAL
    cdef int y, m, d
    if ordinal < 1 or ordinal > MAX_ORDINAL:
        _raise_date_range(pgtype, days)
    _civil_from_days(days + PG_EPOCH_DAYS_FROM_UNIX, &y, &m, &d)
    return datetime_new(y, m, d, <int>(us / USECS_PER_HOUR),
                        <int>((us / USECS_PER_MINUTE) % 60),
                        <int>((us / USECS_PER_SEC) % 60),
                        <int>(us % USECS_PER_SEC), tz)


cdef object _dec_timestamp(const char* data, Py_ssize_t n):
    cdef int64_t v
    if n != 8:
        _raise_bad_len("timestamp", 8, n)
    v = <int64_t>unpack_uint64(data)
    if v == TS_POS_INF:
        return _DT_MAX
    if v == TS_NEG_INF:
        return _DT_MIN
    return _make_timestamp(v, None, "timestamp")


cdef object _dec_timestamptz(const char* data, Py_ssize_t n):
    cdef int64_t v
    if n != 8:
        _raise_bad_len("timestamptz", 8, n)
    v = <int64_t>unpack_uint64(data)
    if v == TS_POS_INF:
        return _DTTZ_MAX
    if v == TS_NEG_INF:
        return _DTTZ_MIN
    return _make_timestamp(v, _UTC, "timestamptz")


cdef int _enc_ts(WriteBuffer buf, object value, bint with_tz) except -1:
    cdef int64_t v, off
    cdef bint is_dt
    if not PyDate_Check(value):
        if with_tz:
            return _raise_encode("timestamptz", "timestamp with time zone", value,
                                 "expected datetime.datetime (or str)")
        return _raise_encode("timestamp", "timestamp without time zone", value,
                             "expected datetime.datetime (or str)")
    is_dt = PyDateTime_Check(value)
    # datetime.min/max stand for -infinity/infinity only as UTC (or naive)
    # values: with another offset they are ordinary instants.
    off = 0
    if is_dt and with_tz and datetime_tzinfo(value) is not None:
        off = _dt_offset_usecs(value)
    if off == 0 and _is_date_max(value) and (not is_dt or (
            PyDateTime_DATE_GET_HOUR(value) == 23 and PyDateTime_DATE_GET_MINUTE(value) == 59
            and PyDateTime_DATE_GET_SECOND(value) == 59
            and PyDateTime_DATE_GET_MICROSECOND(value) == 999999)):
        return buf.write_int64(TS_POS_INF)
    v = _pg_days(value) * USECS_PER_DAY
    if is_dt:
        if off == 0 and _is_date_min(value) and PyDateTime_DATE_GET_HOUR(value) == 0 \
                and PyDateTime_DATE_GET_MINUTE(value) == 0 \
                and PyDateTime_DATE_GET_SECOND(value) == 0 \
                and PyDateTime_DATE_GET_MICROSECOND(value) == 0:
            return buf.write_int64(TS_NEG_INF)
        v += ((<int64_t>PyDateTime_DATE_GET_HOUR(value) * 60
               + PyDateTime_DATE_GET_MINUTE(value)) * 60
              + PyDateTime_DATE_GET_SECOND(value)) * USECS_PER_SEC \
             + PyDateTime_DATE_GET_MICROSECOND(value) - off
    elif _is_date_min(value):
        return buf.write_int64(TS_NEG_INF)
    return buf.write_int64(v)


cdef int _enc_timestamp(WriteBuffer buf, object value) except -1:
    return _enc_ts(buf, value, False)


cdef int _enc_timestamptz(WriteBuffer buf, object value) except -1:
    return _enc_ts(buf, value, True)


cdef object _dec_interval(const char* data, Py_ssize_t n):
    cdef int64_t us, days, secs
    cdef int32_t pgdays, months
    if n != 16:
        _raise_bad_len("interval", 16, n)
    us = <int64_t>unpack_uint64(data)
    pgdays = <int32_t>unpack_uint32(data + 8)
    months = <int32_t>unpack_uint32(data + 12)
    if us == TS_POS_INF and pgdays == DATE_POS_INF and months == DATE_POS_INF:
        return _TD_MAX          # PostgreSQL 17 'infinity'
    if us == TS_NEG_INF and pgdays == DATE_NEG_INF and months == DATE_NEG_INF:
        return _TD_MIN          # PostgreSQL 17 '-infinity'
    # A month counts as 30 days (timedelta has no months), like asyncpg.
    days = <int64_t>pgdays + <int64_t>months * 30 + _floordiv(us, USECS_PER_DAY)
    us = us - _floordiv(us, USECS_PER_DAY) * USECS_PER_DAY
    if days > 999999999 or days < -999999999:
        raise RustToPyValueMappingError(
            f"interval of {days} days is outside the range of Python's timedelta")
    secs = us / USECS_PER_SEC
    return timedelta_new(<int>days, <int>secs, <int>(us % USECS_PER_SEC))


cdef int _enc_interval(WriteBuffer buf, object value) except -1:
    if not PyDelta_Check(value):
        return _raise_encode("interval", "interval", value,
                             "expected datetime.timedelta (or str)")
    buf.write_int64(<int64_t>PyDateTime_DELTA_GET_SECONDS(value) * USECS_PER_SEC
                    + PyDateTime_DELTA_GET_MICROSECONDS(value))
    buf.write_int32(PyDateTime_DELTA_GET_DAYS(value))
    return buf.write_int32(0)
