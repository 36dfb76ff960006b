# Prepared statements: what Describe told us about a statement, resolved to
# C-level codec pointers once, so executing it decodes rows with no lookups.

from cpython.mem cimport PyMem_Free, PyMem_Malloc


cdef class Statement:
    """A parsed statement: parameter type OIDs, result columns and the
    per-column decoders chosen for them.

    ``codecs`` (optional): a TypeCodec or None per result column, for the
    types the static table does not decode (found by introspection) or whose
    codec the application registered; where one is given it wins."""
    cdef:
        readonly str name
        readonly str query
        readonly tuple param_oids
        readonly tuple columns          # FieldDescription per result column
        readonly tuple column_names
        readonly tuple result_formats   # 1 binary / 0 text per column
        readonly tuple codecs           # TypeCodec or None per column; None: no codecs
        readonly tuple param_codecs     # TypeCodec or None per parameter; None: no codecs
        readonly tuple column_types     # what is known of each column's type (TypeInfo)
        readonly tuple param_types      # ... and of each parameter's
        decode_func* decoders           # NULL entry: the codec's, else text
        Py_ssize_t ncols
        public bint closed
        public object cache_key
        # text results (unprepared queries, see text_results())
        readonly bint text_results
        object _lookup
        readonly list unknown_columns   # columns left as str: types not learned yet

    def __cinit__(self):
        self.decoders = NULL
        self.ncols = 0
        self.param_oids = ()
        self.columns = ()
        self.column_names = ()
        self.result_formats = ()
        self.codecs = None
        self.param_codecs = None
        self.column_types = ()
        self.param_types = ()
        self.closed = False
        self.text_results = False
        self._lookup = None
        self.unknown_columns = []

    @staticmethod
    def text_results_for(str name, str query, param_oids, lookup=None):
        """A statement whose results come in text format and are described only
        by the RowDescription the server sends before its rows (Describe of the
        portal, in the unprepared flow): the core then calls describe_text().
        ``lookup(oid)``: a user-defined type's binary TypeCodec, None when it
        has none, False when it was never introspected."""
        cdef Statement st = Statement(name, query, param_oids, ())
        st.text_results = True
        st._lookup = lookup
        return st

    cpdef describe_text(self, columns):
        """Per-column text decoders for ``columns``: the table's for scalars, a
        text array codec for arrays, user-defined types through the lookup;
        others (and types not learned yet: unknown_columns) stay str."""
        cdef Py_ssize_t i
        cdef uint32_t oid
        cdef decode_func dec
        cdef object codec
        cdef list codecs = []
        self.unknown_columns = []
        for i, col in enumerate(columns):
            oid = <uint32_t>col.type_oid
            codec = None
            if text_decoder(oid) == NULL:
                if oid < CODEC_MAX_OID and _types[oid].elem != 0:
                    codec = TypeCodec.builtin(oid).for_text()
                elif self._lookup is not None and oid >= 16384:
                    codec = self._lookup(oid)
                    if codec is False:
                        self.unknown_columns.append(i)
                        codec = None
                    elif codec is not None:
                        codec = (<TypeCodec>codec).for_text()
            codecs.append(codec)
        self.set_description(self.param_oids, columns, codecs)
        for i in range(self.ncols):
            if self.decoders[i] != NULL or self.codecs is None or self.codecs[i] is None:
                self.decoders[i] = text_decoder(<uint32_t>self.columns[i].type_oid)
        self.result_formats = (0,) * self.ncols

    def codec_for_text(self, Py_ssize_t i):
        """The text TypeCodec the lookup has now for column ``i`` (None: str)."""
        cdef object c = None
        if self._lookup is not None:
            c = self._lookup(self.columns[i].type_oid)
        if c is None or c is False:
            return None
        return (<TypeCodec>c).for_text()

    def __init__(self, str name, str query, param_oids, columns, codecs=None,
                 param_codecs=None):
        self.name = name
        self.query = query
        self.set_description(param_oids, columns, codecs)
        if param_codecs is not None:
            self.set_param_codecs(param_codecs)

    def set_param_codecs(self, param_codecs):
        """A TypeCodec (or None) per parameter: a parameter with one is encoded
        by it (user-defined and registered types), the others by the table."""
        cdef tuple pc = tuple(param_codecs)
        if len(pc) != len(self.param_oids):
            raise ValueError(f"{len(pc)} codecs for {len(self.param_oids)} parameters")
        for c in pc:
            if c is not None and not isinstance(c, TypeCodec):
                raise TypeError(f"expected TypeCodec or None, got {type(c).__name__}")
        self.param_codecs = pc if any([c is not None for c in pc]) else None

    def set_types(self, column_types, param_types):
        """What is known of the columns' and parameters' types (TypeInfo or None
        each), for statement descriptions."""
        self.column_types = tuple(column_types)
        self.param_types = tuple(param_types)

    cpdef set_description(self, param_oids, columns, codecs=None):
        cdef Py_ssize_t i
        cdef decode_func dec
        cdef object codec
        self.param_oids = tuple(param_oids or ())
        self.columns = tuple(columns or ())
        self.ncols = len(self.columns)
        self.codecs = None
        if codecs is not None:
            codecs = tuple(codecs)
            if len(codecs) != self.ncols:
                raise ValueError(f"{len(codecs)} codecs for {self.ncols} columns")
            for codec in codecs:
                if codec is not None and not isinstance(codec, TypeCodec):
                    raise TypeError(f"expected TypeCodec or None, got {type(codec).__name__}")
            if any([c is not None for c in codecs]):
                self.codecs = codecs
        if self.decoders != NULL:
            PyMem_Free(self.decoders)
            self.decoders = NULL
        if self.ncols:
            self.decoders = <decode_func*>PyMem_Malloc(sizeof(decode_func) * self.ncols)
            if self.decoders == NULL:
                raise MemoryError
        fmts = []
        for i in range(self.ncols):
            codec = self.codecs[i] if self.codecs is not None else None
            if codec is not None:
                self.decoders[i] = NULL
                fmts.append(1 if (<TypeCodec>codec).binary else 0)
            else:
                dec = binary_decoder(<uint32_t>self.columns[i].type_oid)
                self.decoders[i] = dec
                fmts.append(1 if dec != NULL else 0)
        self.result_formats = tuple(fmts)
        self.column_names = tuple([c.name for c in self.columns])

    def __dealloc__(self):
        if self.decoders != NULL:
            PyMem_Free(self.decoders)
            self.decoders = NULL

    def __repr__(self):
        return f"<Statement {self.name!r} params={len(self.param_oids)} columns={self.ncols}>"


cdef int write_bind(WriteBuffer b, str portal, Statement st, object params) except -1:
    """Bind ``params`` (a sequence) to ``st``, encoding each by the type the
    server inferred for it; result formats follow the chosen decoders."""
    cdef Py_ssize_t i, n, fmt_at
    cdef int16_t fmt = 0
    cdef tuple oids = st.param_oids
    if params is None:
        params = ()
    n = len(params)
    if n != len(oids):
        raise ParameterCountError(
            f"the statement takes {len(oids)} parameter(s), {n} given")
    b.start_message(b'B')
    b.write_str(portal)
    b.write_str(st.name)
    # Parameter format codes are known only after encoding each value; reserve
    # one int16 per parameter and patch them.
    b.write_int16(<int16_t>n)
    fmt_at = b._len
    b._grow(2 * n)
    b._len += 2 * n
    b.write_int16(<int16_t>n)
    i = 0
    cdef tuple pcodecs = st.param_codecs
    try:    # one try for the row: entering one costs about as much as encoding an int
        while i < n:
            if pcodecs is not None and pcodecs[i] is not None:
                (<TypeCodec>pcodecs[i]).encode(b, params[i], &fmt)
            else:
                encode_param(b, <uint32_t>oids[i], params[i], &fmt)
            pack_uint16(b._buf + fmt_at + 2 * i, <uint16_t>fmt)
            i += 1
    except PyToRustValueMappingError as e:
        b.reset()
        # the position added; a user encoder's own error stays the cause
        raise PyToRustValueMappingError(f"parameter ${i + 1}: {e}") from e.__cause__
    except Exception:
        b.reset()
        raise
    if st.ncols == 0:
        b.write_int16(0)
    else:
        b.write_int16(<int16_t>st.ncols)
        if st.codecs is None:
            for i in range(st.ncols):
                b.write_int16(1 if st.decoders[i] != NULL else 0)
        else:
            for i in range(st.ncols):
                b.write_int16(<int16_t>st.result_formats[i])
    return b.end_message()


def decode_text_columns(list rows, list columns, list codecs):
    """Decode again, in place, the ``columns`` (indexes) of ``rows`` that were
    left as str, with ``codecs`` (text TypeCodecs or None, one per column), once
    their types are learned.  Returns the first error (the value is then None)."""
    cdef Py_ssize_t r, j
    cdef object first = None
    cdef list vals
    cdef bytes raw
    cdef TypeCodec codec
    for r in range(len(rows)):
        vals = list(rows[r])
        for j in range(len(columns)):
            if codecs[j] is None or vals[columns[j]] is None:
                continue
            codec = codecs[j]
            raw = (<str>vals[columns[j]]).encode("utf-8")
            try:
                vals[columns[j]] = codec.decode(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
            except Exception as e:
                if first is None:
                    first = e
                vals[columns[j]] = None
        rows[r] = tuple(vals)
    return first


def build_prepare(str name, str query, param_oids=None):
    """Parse + Describe(statement) + Sync."""
    cdef WriteBuffer b = WriteBuffer()
    write_parse(b, name, query, param_oids)
    write_describe(b, b'S', name)
    write_empty(b, b'S')
    return b.to_bytes()


def build_execute_statement(Statement st, params, str portal="", int32_t max_rows=0,
                            bint sync=True, bint describe_portal=False):
    """Bind + [Describe(portal)] + Execute [+ Sync] for a described statement."""
    cdef WriteBuffer b = WriteBuffer()
    write_bind(b, portal, st, params)
    if describe_portal:
        write_describe(b, b'P', portal)
    write_execute(b, portal, max_rows)
    if sync:
        write_empty(b, b'S')
    return b.to_bytes()


def build_execute_many(Statement st, seq_of_params, bint sync=True):
    """Bind + Execute per parameter set, then one Sync: a pipelined batch.
    ``sync=False`` leaves the batch open for more (see build_pipeline_abort)."""
    cdef WriteBuffer b = WriteBuffer(8192)
    for params in seq_of_params:
        write_bind(b, "", st, params)
        write_execute(b, "", 0)
    if sync:
        write_empty(b, b'S')
    return b.to_bytes()


def build_pipeline_abort():
    """Execute a portal that cannot exist, then Sync: the server reports an
    error and discards everything sent since the last Sync, so a batch cut
    short is never half-applied."""
    cdef WriteBuffer b = WriteBuffer()
    write_execute(b, "__psqlpy_abort__", 0)
    write_empty(b, b'S')
    return b.to_bytes()


def build_close_statement(str name, bint sync=True):
    cdef WriteBuffer b = WriteBuffer()
    write_close(b, b'S', name)
    if sync:
        write_empty(b, b'S')
    return b.to_bytes()


def build_portal_execute(str portal, int32_t max_rows):
    """Execute more rows of an open portal, then Sync."""
    cdef WriteBuffer b = WriteBuffer()
    write_execute(b, portal, max_rows)
    write_empty(b, b'S')
    return b.to_bytes()


def build_close_portal(str portal):
    cdef WriteBuffer b = WriteBuffer()
    write_close(b, b'P', portal)
    write_empty(b, b'S')
    return b.to_bytes()


def build_bind_portal(Statement st, params, str portal):
    """Bind ``params`` to a named portal, then Sync: the portal lives until
    the transaction ends or it is closed."""
    cdef WriteBuffer b = WriteBuffer()
    write_bind(b, portal, st, params)
    write_empty(b, b'S')
    return b.to_bytes()


def build_open_portal_unnamed(Statement st, params, str portal):
    """Parse(unnamed, ``st.query``, ``st.param_oids``) + Bind(``portal``) +
    Describe(portal) + Sync: a portal over a one-shot statement, set up in one
    unit, so no other query's Parse can replace the unnamed statement between
    its Parse and its Bind.  ``st`` has no columns: results come in text."""
    cdef WriteBuffer b = WriteBuffer()
    write_parse(b, "", st.query, st.param_oids)
    write_bind(b, portal, st, params)
    write_describe(b, b'P', portal)
    write_empty(b, b'S')
    return b.to_bytes()
