# Arrays, one- and N-dimensional (PostgreSQL allows at most 6 dimensions).
#
# Binary format (array_send): int32 ndim, int32 flags (1 = has NULLs),
# uint32 element type OID, then ndim x (int32 length, int32 lower bound),
# then the elements in row-major order, each an int32 length (-1 = NULL)
# followed by the element's binary value.
#
# Decoding returns nested lists (one level per dimension) with None for
# NULL; lower bounds are ignored; an empty array is [].  The element type
# comes from the value itself and is dispatched through the same table as
# scalars; array-of-array element types are refused (no recursion).
#
# Encoding takes a list or tuple; nested lists/tuples are dimensions (so a
# json[] element that is itself a JSON array must be passed as a str), all
# sub-lists at one level must have the same length (ragged -> error).

cdef enum:
    ARRAY_MAXDIM = 6


cdef list _dec_array_level(Frame* f, int dim, int ndim, int32_t* dims, decode_func dec,
                           TypeCodec codec):
    # Elements decode with ``dec`` (the static table) or, when it is NULL,
    # with ``codec`` (an element type found by introspection).  The list is
    # made at its final size (the header's count; a NULL slot left by an
    # error is fine to free).
    cdef int32_t i, cnt = dims[dim]
    cdef int32_t elen
    cdef list out = PyList_New(cnt)
    cdef object item
    for i in range(cnt):
        if dim < ndim - 1:
            item = _dec_array_level(f, dim + 1, ndim, dims, dec, codec)
        else:
            elen = frame_int32(f)
            if elen == -1:
                item = None
            elif elen < 0:
                raise ProtocolError(f"malformed binary array: element length {elen}")
            else:
                frame_need(f, elen)
                if dec != NULL:
                    item = dec(f.p, elen)
                else:
                    item = codec.decode(f.p, elen)
                f.p += elen
                f.n -= elen
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    return out


cdef object _dec_array(const char* data, Py_ssize_t n):
    return _dec_array_with(data, n, None)


cdef object _dec_array_with(const char* data, Py_ssize_t n, TypeCodec array_codec):
    """An array whose elements decode by the static table (``array_codec`` None)
    or with ``array_codec.element`` (user-defined element types)."""
    cdef Frame f
    cdef int32_t ndim, flags, i
    cdef uint32_t elem_oid
    cdef int32_t dims[ARRAY_MAXDIM]
    cdef int64_t total = 1
    cdef bint empty = False
    cdef decode_func dec = NULL
    cdef TypeCodec elem = None
    cdef list result
    f.p = data
    f.n = n
    ndim = frame_int32(&f)
    flags = frame_int32(&f)
    elem_oid = frame_uint32(&f)
    if ndim < 0 or ndim > ARRAY_MAXDIM:
        raise ProtocolError(f"malformed binary array: {ndim} dimensions")
    if flags != 0 and flags != 1:
        raise ProtocolError(f"malformed binary array: flags {flags}")
    if array_codec is not None and (elem_oid == array_codec.elem_oid
                                    or elem_oid == array_codec.element.oid):
        elem = array_codec.element
    else:
        dec = binary_decoder(elem_oid)
        if dec == NULL or dec == _dec_array:
            if array_codec is not None:
                raise StaleTypeError(
                    f"array type {array_codec.name} holds elements of type OID {elem_oid}, "
                    f"not {array_codec.elem_oid} as introspected: run the query again")
            raise ProtocolError(f"binary array of unsupported element type OID {elem_oid}")
    for i in range(ndim):
        dims[i] = frame_int32(&f)
        frame_int32(&f)                    # lower bound: ignored
        if dims[i] < 0:
            raise ProtocolError(f"malformed binary array: dimension length {dims[i]}")
        if dims[i] == 0:
            empty = True
        elif not empty:
            # Every element takes at least its 4-byte length word: refuse a
            # header that claims more elements than the bytes could hold
            # (checked before multiplying, so total never overflows).
            if dims[i] > (f.n // 4) // total:
                raise ProtocolError(
                    f"malformed binary array: dimensions claim more than "
                    f"{(f.n // 4)} elements but only {f.n} bytes follow")
            total *= dims[i]
    if ndim == 0 or empty:
        if f.n != 0:
            raise ProtocolError("malformed binary array: data after an empty array")
        return []
    if total * 4 > f.n:
        raise ProtocolError(
            f"malformed binary array: {total} elements but only {f.n} bytes follow")
    result = _dec_array_level(&f, 0, ndim, dims, dec, elem)
    if f.n != 0:
        raise ProtocolError(f"malformed binary array: {f.n} trailing bytes")
    return result


# Geometric element types are sequences themselves; how to tell an element
# from a dimension (see geometry.pyx), by the nesting of its first item:
cdef enum:
    GEO_NONE = 0
    GEO_FLAT = 1      # point, line: (x, y) / (A, B, C)
    GEO_PAIR = 2      # box, lseg, circle: ((x, y), ...) or flat numbers
    GEO_POINTS = 3    # path, polygon: a sequence of points
    GEO_TUPLE = 4     # composites: a tuple is one element, a list a dimension
    GEO_MULTIRANGE = 5  # multiranges: a list of Range is one element



cdef inline bint _is_coord(object v):
    return isinstance(v, (float, int, _decimal_mod.Decimal))


cdef bint _is_geo_elem(object v, int geo):
    # v is a list/tuple: is it one geometric value (rather than a dimension
    # of them)?  Decided by whether its first item is a coordinate (flat
    # forms) or a point (x, y) of coordinates.
    cdef object first
    if geo == GEO_TUPLE:
        return isinstance(v, tuple)
    if geo == GEO_MULTIRANGE:
        return len(v) > 0 and isinstance(v[0], Range)
    if len(v) == 0:
        return False
    first = v[0]
    if _is_coord(first):
        return geo == GEO_FLAT or geo == GEO_PAIR
    if geo == GEO_FLAT or not isinstance(first, (list, tuple)) or len(first) == 0:
        return False
    return _is_coord(first[0])


cdef int _array_shape(object value, int32_t* dims, str label, int geo=GEO_NONE) except -1:
    """Number of dimensions of a nested list/tuple (dims filled in), 0 for an
    empty array.  Only the first element at each level is looked at here;
    the encoders check that every sub-list agrees.  ``geo``: the element is
    itself a sequence (geometric types), recognised by _is_geo_elem."""
    cdef int ndim = 0
    cdef Py_ssize_t k
    cdef object v = value
    while isinstance(v, (list, tuple)) and not (geo != GEO_NONE and _is_geo_elem(v, geo)):
        if ndim == ARRAY_MAXDIM:
            raise PyToRustValueMappingError(
                f"cannot encode {label}: more than {ARRAY_MAXDIM} dimensions")
        k = len(v)
        if k > 0x7FFFFFFF:
            raise PyToRustValueMappingError(f"cannot encode {label}: too many elements")
        dims[ndim] = <int32_t>k
        ndim += 1
        if k == 0:
            break
        v = v[0]
    return ndim


cdef int _raise_ragged(str label, int dim) except -1:
    raise PyToRustValueMappingError(
        f"cannot encode {label}: the array is ragged (sub-lists at depth {dim + 1} "
        "differ in length or nesting); multidimensional arrays must be rectangular")


cdef int _check_empty_shape(object v, int dim, int ndim, int32_t* dims, str pgtype) except -1:
    # Shapes with a zero-length dimension (e.g. [[], []]) are empty arrays;
    # they still have to be rectangular.
    if not isinstance(v, (list, tuple)) or len(v) != dims[dim]:
        _raise_ragged(pgtype, dim)
    if dim < ndim - 1:
        for item in v:
            _check_empty_shape(item, dim + 1, ndim, dims, pgtype)
    return 0


cdef bint _enc_array_level(WriteBuffer buf, object v, int dim, int ndim, int32_t* dims,
                           encode_func enc, str pgtype, int geo=GEO_NONE,
                           TypeCodec codec=None) except -1:
    """Write the elements of one level (with ``enc``, or ``codec`` when it is
    NULL); returns whether a NULL was written."""
    cdef bint has_null = False
    cdef Py_ssize_t at
    if not isinstance(v, (list, tuple)) or len(v) != dims[dim]:
        _raise_ragged(pgtype, dim)
    if dim < ndim - 1:
        for item in v:
            if _enc_array_level(buf, item, dim + 1, ndim, dims, enc, pgtype, geo, codec):
                has_null = True
        return has_null
    for item in v:
        if enc != NULL and item is not None and not isinstance(item, (list, tuple)) \
                and _value_kind(item) != KIND_PLAIN:
            item = _unwrap_element(item)       # enum members, extra_types wrappers
        if item is None:
            buf.write_int32(-1)
            has_null = True
        elif (geo == GEO_NONE and isinstance(item, (list, tuple))) or \
                (geo == GEO_TUPLE and isinstance(item, list)):
            _raise_ragged(pgtype, dim)
        else:
            at = buf.reserve_int32()
            if enc != NULL:
                enc(buf, item)
            else:
                codec.encode_binary(buf, item)
            buf.end_value(at, f"{pgtype} element")
    return has_null


cdef int _enc_array(WriteBuffer buf, object value, uint32_t elem_oid) except -1:
    cdef str pgtype = _TYPE_NAMES.get(elem_oid, str(elem_oid)) + "[]"
    cdef encode_func enc = binary_encoder(elem_oid)
    cdef int32_t dims[ARRAY_MAXDIM]
    cdef int ndim, i
    cdef Py_ssize_t flags_at
    cdef bint empty = False
    cdef int geo = _types[elem_oid].geo
    if not isinstance(value, (list, tuple)):
        return _raise_encode(pgtype, pgtype, value, "expected list or tuple")
    ndim = _array_shape(value, dims, pgtype, geo)
    if ndim == 0 and len(value) != 0:
        # a single geometric value where an array of them is expected
        return _raise_encode(pgtype, pgtype, value, "expected a list of elements")
    for i in range(ndim):
        if dims[i] == 0:
            empty = True
    if empty:
        _check_empty_shape(value, 0, ndim, dims, pgtype)
        ndim = 0
    buf.write_int32(ndim)
    flags_at = buf.reserve_int32()
    buf.write_uint32(elem_oid)
    if ndim == 0:
        buf.patch_int32(flags_at, 0)
        return 0
    for i in range(ndim):
        buf.write_int32(dims[i])
        buf.write_int32(1)                  # lower bound
    buf.patch_int32(flags_at,
                    1 if _enc_array_level(buf, value, 0, ndim, dims, enc, pgtype, geo) else 0)
    return 0


cdef int _codec_geo(TypeCodec elem):
    """How an element of a user-defined type nests in arrays: a composite is a
    tuple (a list is a dimension), a vector a list of numbers, a multirange a
    list of Range."""
    cdef int k = elem.kind
    if k == TC_COMPOSITE or k == TC_TCOMPOSITE or (k == TC_PYTHON and elem.base is not None):
        return GEO_TUPLE
    if k == TC_VECTOR or k == TC_TVECTOR:
        return GEO_FLAT
    if k == TC_MULTIRANGE or k == TC_TMULTIRANGE:
        return GEO_MULTIRANGE
    return GEO_NONE


cdef int _enc_array_codec(WriteBuffer buf, object value, TypeCodec arr) except -1:
    """An array of a user-defined element type (``arr.element``), binary."""
    cdef TypeCodec elem = arr.element
    cdef int32_t dims[ARRAY_MAXDIM]
    cdef int ndim, i
    cdef Py_ssize_t flags_at
    cdef int geo = _codec_geo(elem)
    if not isinstance(value, (list, tuple)):
        return _raise_encode(arr.name, arr.name, value, "expected list or tuple")
    ndim = _array_shape(value, dims, arr.name, geo)
    for i in range(ndim):
        if dims[i] == 0:
            _check_empty_shape(value, 0, ndim, dims, arr.name)
            ndim = 0
            break
    buf.write_int32(ndim)
    flags_at = buf.reserve_int32()
    buf.write_uint32(arr.elem_oid)
    if ndim == 0:
        buf.patch_int32(flags_at, 0)
        return 0
    for i in range(ndim):
        buf.write_int32(dims[i])
        buf.write_int32(1)
    buf.patch_int32(flags_at, 1 if _enc_array_level(buf, value, 0, ndim, dims, NULL, arr.name,
                                                    geo, elem) else 0)
    return 0


cdef bint _contains_str(object value, int depth=0):
    """Whether a nested list/tuple has a str leaf (decides the text fallback)."""
    if depth > ARRAY_MAXDIM or not isinstance(value, (list, tuple)):
        return False
    for item in value:
        if isinstance(item, str):
            return True
        if isinstance(item, (list, tuple)) and _contains_str(item, depth + 1):
            return True
    return False


cdef int _enc_array_bool(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, BOOLOID)

cdef int _enc_array_bytea(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, BYTEAOID)

cdef int _enc_array_char(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, CHAROID)

cdef int _enc_array_name(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, NAMEOID)

cdef int _enc_array_int2(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT2OID)

cdef int _enc_array_int4(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT4OID)

cdef int _enc_array_text(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TEXTOID)

cdef int _enc_array_bpchar(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, BPCHAROID)

cdef int _enc_array_varchar(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, VARCHAROID)

cdef int _enc_array_int8(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT8OID)

cdef int _enc_array_float4(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, FLOAT4OID)

cdef int _enc_array_float8(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, FLOAT8OID)

cdef int _enc_array_oid(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, OIDOID)

cdef int _enc_array_timestamp(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TIMESTAMPOID)

cdef int _enc_array_date(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, DATEOID)

cdef int _enc_array_time(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TIMEOID)

cdef int _enc_array_timestamptz(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TIMESTAMPTZOID)

cdef int _enc_array_interval(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INTERVALOID)

cdef int _enc_array_numeric(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, NUMERICOID)

cdef int _enc_array_uuid(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, UUIDOID)

cdef int _enc_array_json(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, JSONOID)

cdef int _enc_array_jsonb(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, JSONBOID)

cdef int _enc_array_timetz(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TIMETZOID)

cdef int _enc_array_inet(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INETOID)

cdef int _enc_array_cidr(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, CIDROID)

cdef int _enc_array_macaddr(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, MACADDROID)

cdef int _enc_array_macaddr8(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, MACADDR8OID)

cdef int _enc_array_money(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, MONEYOID)

cdef int _enc_array_point(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, POINTOID)

cdef int _enc_array_lseg(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, LSEGOID)

cdef int _enc_array_path(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, PATHOID)

cdef int _enc_array_box(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, BOXOID)

cdef int _enc_array_polygon(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, POLYGONOID)

cdef int _enc_array_line(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, LINEOID)

cdef int _enc_array_circle(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, CIRCLEOID)

cdef int _enc_array_int4range(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT4RANGEOID)

cdef int _enc_array_int8range(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT8RANGEOID)

cdef int _enc_array_numrange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, NUMRANGEOID)

cdef int _enc_array_tsrange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TSRANGEOID)

cdef int _enc_array_tstzrange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TSTZRANGEOID)

cdef int _enc_array_daterange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, DATERANGEOID)

cdef int _enc_array_int4multirange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT4MULTIRANGEOID)

cdef int _enc_array_int8multirange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, INT8MULTIRANGEOID)

cdef int _enc_array_nummultirange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, NUMMULTIRANGEOID)

cdef int _enc_array_tsmultirange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TSMULTIRANGEOID)

cdef int _enc_array_tstzmultirange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, TSTZMULTIRANGEOID)

cdef int _enc_array_datemultirange(WriteBuffer buf, object value) except -1:
    return _enc_array(buf, value, DATEMULTIRANGEOID)
