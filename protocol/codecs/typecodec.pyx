# Codecs for what a single function of the table cannot decode: arrays in
# text format (they need their element type), and user-defined types (enums,
# composites, domains, arrays of them) found by the connection's type
# introspection (psqlpy/types/_introspect.py) and built from what the
# catalogue says.
#
# A TypeCodec decodes one value of its type in one format: ``binary`` says
# which.  ``for_text()`` gives its text-format twin (the same values from
# the text form: what unprepared queries receive).  Element and attribute
# types of the table are wrapped in a TypeCodec of kind TC_BUILTIN, so a
# composite's attributes and an array's elements all dispatch the same way.
# A Statement holds one TypeCodec (or None) per result column; core.pyx calls
# ``decode`` for a column without a decoder of the table.
#
# Binary forms (rowtypes.c record_send, arrayfuncs.c array_send):
#   composite  int32 natts, then per attribute: uint32 type OID, int32 length
#              (-1 = NULL), the value's bytes; dropped attributes are left out
#   enum       the label's text (enum_send)
# Text forms (record_out, array_out):
#   composite  (a,"b c",,"")  -- nothing between commas is NULL, "" is empty;
#              inside quotes "" is a quote and \x is x
#   array      {1,NULL,"a,b",{2}} with an optional [1:2]= prefix; NULL unquoted
#              is NULL; elements separated by the element type's delimiter
#
# A composite decodes to a dict of attribute name -> value, in attribute
# order (the reference driver's shape).  When the data no longer matches what
# was introspected (ALTER TYPE added, dropped or retyped an attribute since),
# decoding raises StaleTypeError: the connection then forgets its cached
# statement and the pool its type cache, so the next query introspects again.

from cpython.dict cimport PyDict_Copy, PyDict_SetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc

cdef enum:
    TC_BUILTIN = 0       # c_dec: a function of the table (binary, or text for a twin)
    TC_TEXT = 1          # the value's text as str (enum labels; unknown types in text)
    TC_COMPOSITE = 2     # binary composite -> dict
    TC_ARRAY = 3         # binary array -> nested lists, elements by .element
    TC_TCOMPOSITE = 4    # text composite -> dict
    TC_TARRAY = 5        # text array -> nested lists, elements by .element

cdef tuple _KIND_NAMES = ("builtin", "text", "composite", "array", "composite", "array")
cdef dict _builtin_codecs = {}


@cython.final
cdef class TypeCodec:
    """How to decode values of one type in one format (see the factory methods)."""
    cdef:
        readonly uint32_t oid
        readonly str name             # schema-qualified, for messages
        readonly bint binary          # decodes the binary format (else the text one)
        int kind
        decode_func c_dec
        readonly TypeCodec element    # arrays
        uint32_t elem_oid             # arrays: the element type the catalogue names
        char delim                    # text arrays: the element delimiter
        tuple attr_names              # composites
        tuple attr_oids
        tuple attr_codecs
        dict template
        TypeCodec _text_twin

    def __cinit__(self):
        self.kind = TC_TEXT
        self.c_dec = NULL
        self.delim = b','

    def __repr__(self):
        fmt = "binary" if self.binary else "text"
        return f"<TypeCodec {self.name} ({self.oid}) {self.kind_name}, {fmt}>"

    @property
    def kind_name(self):
        return _KIND_NAMES[self.kind]

    @property
    def attributes(self):
        """Composite: ``((name, type OID), ...)``; otherwise ``()``."""
        if self.kind != TC_COMPOSITE and self.kind != TC_TCOMPOSITE:
            return ()
        return tuple(zip(self.attr_names, self.attr_oids))

    @staticmethod
    def builtin(uint32_t oid):
        """The table's (binary) codec for ``oid``, or None if it has none."""
        cdef TypeCodec c = _builtin_codecs.get(oid)
        cdef decode_func dec
        if c is not None:
            return c
        dec = binary_decoder(oid)
        if dec == NULL:
            return None
        c = TypeCodec.__new__(TypeCodec)
        c.oid = oid
        c.name = _TYPE_NAMES.get(oid, str(oid))
        c.kind = TC_BUILTIN
        c.c_dec = dec
        c.binary = True
        _builtin_codecs[oid] = c
        return c

    @staticmethod
    def text(uint32_t oid, str name, bint binary):
        """Values decode to their text as ``str``; ``binary``: the binary form
        is that text too (enums), else it can be read only in text format."""
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        c.oid = oid
        c.name = name
        c.kind = TC_TEXT
        c.binary = binary
        return c

    @staticmethod
    def composite(uint32_t oid, str name, attr_names, attr_oids, attr_codecs):
        """A composite type: attribute names, their type OIDs as the catalogue
        has them, and a binary TypeCodec for each."""
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        cdef object a
        c.oid = oid
        c.name = name
        c.kind = TC_COMPOSITE
        c.attr_names = tuple(attr_names)
        c.attr_oids = tuple([int(x) for x in attr_oids])
        c.attr_codecs = tuple(attr_codecs)
        if not (len(c.attr_names) == len(c.attr_oids) == len(c.attr_codecs)):
            raise ValueError("one name, type OID and codec per attribute")
        for a in c.attr_codecs:
            if not isinstance(a, TypeCodec) or not (<TypeCodec>a).binary:
                raise ValueError("every attribute needs a binary TypeCodec")
        c.template = dict.fromkeys(c.attr_names)
        if len(c.template) != len(c.attr_names):
            c.template = None          # duplicate names: built one by one
        c.binary = True
        return c

    @staticmethod
    def array(uint32_t oid, str name, uint32_t elem_oid, TypeCodec element not None,
              str delimiter=","):
        """An array type whose element type (``elem_oid``) decodes with
        ``element`` (binary); ``delimiter``: the element type's (typdelim)."""
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        if not element.binary:
            raise ValueError("the element needs a binary TypeCodec")
        if len(delimiter) != 1 or ord(delimiter) > 127:
            raise ValueError("the delimiter is one ASCII character")
        c.oid = oid
        c.name = name
        c.kind = TC_ARRAY
        c.elem_oid = elem_oid
        c.element = element
        c.delim = <char>ord(delimiter)
        c.binary = True
        return c

    def for_text(self):
        """This type's codec for the text format (itself if it is one)."""
        if not self.binary:
            return self
        if self._text_twin is None:
            self._text_twin = self._make_text_twin()
        return self._text_twin

    cdef TypeCodec _make_text_twin(self):
        cdef TypeCodec t = TypeCodec.__new__(TypeCodec)
        cdef uint32_t elem
        t.oid = self.oid
        t.name = self.name
        t.binary = False
        if self.kind == TC_BUILTIN:
            elem = _types[self.oid].elem if self.oid < CODEC_MAX_OID else 0
            if elem != 0:
                t.kind = TC_TARRAY
                t.elem_oid = elem
                t.element = TypeCodec.builtin(elem).for_text()
                t.delim = _types[elem].delim
            elif text_decoder(self.oid) != NULL:
                t.kind = TC_BUILTIN
                t.c_dec = text_decoder(self.oid)
            else:
                t.kind = TC_TEXT
        elif self.kind == TC_TEXT:
            t.kind = TC_TEXT
        elif self.kind == TC_COMPOSITE:
            t.kind = TC_TCOMPOSITE
            t.attr_names = self.attr_names
            t.attr_oids = self.attr_oids
            t.attr_codecs = tuple([(<TypeCodec>a).for_text() for a in self.attr_codecs])
            t.template = self.template
        else:
            t.kind = TC_TARRAY
            t.elem_oid = self.elem_oid
            t.element = self.element.for_text()
            t.delim = self.delim
        return t

    cdef object decode(self, const char* data, Py_ssize_t n):
        if self.kind == TC_BUILTIN:
            return self.c_dec(data, n)
        if self.kind == TC_TEXT:
            return decode_text_value(data, n)
        if self.kind == TC_COMPOSITE:
            return self._decode_composite(data, n)
        if self.kind == TC_ARRAY:
            return _dec_array_with(data, n, self)
        if self.kind == TC_TCOMPOSITE:
            return self._decode_text_composite(data, n)
        return _decode_text_array(data, n, self)

    cdef object _decode_composite(self, const char* data, Py_ssize_t n):
        cdef Frame f
        cdef int32_t natts, alen
        cdef Py_ssize_t i, expected = len(self.attr_codecs)
        cdef uint32_t oid
        cdef dict d
        cdef object val
        f.p = data
        f.n = n
        natts = frame_int32(&f)
        if natts != expected:
            _raise_stale_natts(self, natts)
        d = PyDict_Copy(self.template) if self.template is not None else {}
        for i in range(natts):
            oid = frame_uint32(&f)
            alen = frame_int32(&f)
            if oid != <uint32_t>self.attr_oids[i]:
                raise StaleTypeError(
                    f"attribute {self.attr_names[i]!r} of composite type {self.name} is of "
                    f"type OID {oid} now, {self.attr_oids[i]} when it was introspected: "
                    "run the query again")
            if alen == -1:
                val = None
            elif alen < 0:
                raise ProtocolError(f"malformed binary composite: attribute length {alen}")
            else:
                frame_need(&f, alen)
                val = (<TypeCodec>self.attr_codecs[i]).decode(f.p, alen)
                f.p += alen
                f.n -= alen
            PyDict_SetItem(d, self.attr_names[i], val)
        if f.n != 0:
            raise ProtocolError(f"malformed binary composite: {f.n} trailing bytes")
        return d

    cdef object _decode_text_composite(self, const char* data, Py_ssize_t n):
        cdef _Unquoted u
        cdef Py_ssize_t i = 1, k = 0, nattrs = len(self.attr_codecs)
        cdef dict d
        cdef object val
        cdef bint null
        if n < 2 or data[0] != b'(' or data[n - 1] != b')':
            _raise_text(self.name, data, n)
        d = PyDict_Copy(self.template) if self.template is not None else {}
        _unquoted_init(&u)
        try:
            while True:
                if k >= nattrs:
                    # one more field than attributes ("()" is one NULL field)
                    if not (nattrs == 0 and n == 2):
                        _raise_stale_natts(self, k + 1)
                    break
                i = _record_field(data, n, i, &u, &null)
                val = None if null else (<TypeCodec>self.attr_codecs[k]).decode(u.p, u.n)
                PyDict_SetItem(d, self.attr_names[k], val)
                k += 1
                if data[i] == b')':
                    break
                i += 1               # the comma
            if i != n - 1:
                _raise_text(self.name, data, n)
            if k != nattrs and nattrs != 0:
                _raise_stale_natts(self, k)
        finally:
            _unquoted_free(&u)
        return d


cdef int _raise_stale_natts(TypeCodec c, Py_ssize_t natts) except -1:
    raise StaleTypeError(
        f"composite type {c.name} has {natts} attributes now, {len(c.attr_codecs)} when "
        "it was introspected (the type changed): run the query again")


def _decode_with(TypeCodec codec not None, data):
    """Decode ``data`` (bytes) with ``codec`` (for tests)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return codec.decode(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


# --------------------------------------------------------------------------- text parsing

cdef struct _Unquoted:
    # One field or element of a composite's or array's text, unquoted: points
    # into the value itself when it needs no unescaping, else into buf.
    const char* p
    Py_ssize_t n
    char* buf
    Py_ssize_t cap


cdef inline void _unquoted_init(_Unquoted* u) noexcept:
    u.p = NULL
    u.n = 0
    u.buf = NULL
    u.cap = 0


cdef inline void _unquoted_free(_Unquoted* u) noexcept:
    if u.buf != NULL:
        PyMem_Free(u.buf)
        u.buf = NULL


cdef int _unquoted_room(_Unquoted* u, Py_ssize_t need) except -1:
    cdef char* nb
    if need <= u.cap:
        return 0
    nb = <char*>PyMem_Realloc(u.buf, <size_t>need)
    if nb == NULL:
        raise MemoryError
    u.buf = nb
    u.cap = need
    return 0


cdef Py_ssize_t _record_field(const char* data, Py_ssize_t n, Py_ssize_t i, _Unquoted* u,
                              bint* null) except -1:
    """The composite field starting at ``data[i]`` (up to ',' or ')' outside
    quotes) into ``u``; returns the index of that ',' or ')'."""
    cdef Py_ssize_t k = 0
    cdef bint quoted = False, plain = True
    cdef Py_ssize_t start = i
    cdef char c
    null[0] = data[i] == b',' or data[i] == b')'
    if null[0]:
        u.p = data + i
        u.n = 0
        return i
    _unquoted_room(u, n)
    while True:
        if i >= n:
            raise RustToPyValueMappingError("cannot read a composite value: unterminated field")
        c = data[i]
        if c == b'"':
            plain = False
            if quoted and i + 1 < n and data[i + 1] == b'"':
                u.buf[k] = b'"'
                k += 1
                i += 2
                continue
            quoted = not quoted
            i += 1
            continue
        if not quoted and (c == b',' or c == b')'):
            break
        if c == b'\\':
            plain = False
            i += 1
            if i >= n:
                raise RustToPyValueMappingError("cannot read a composite value: trailing backslash")
            c = data[i]
        u.buf[k] = c
        k += 1
        i += 1
    if plain:
        u.p = data + start
    else:
        u.p = u.buf
    u.n = k
    return i


cdef object _decode_text_array(const char* data, Py_ssize_t n, TypeCodec codec):
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t end
    cdef _Unquoted u
    cdef list out
    if n > 0 and data[0] == b'[':
        # explicit bounds, "[0:1]={7,8}": dropped, as the binary decoder does
        while i < n and data[i] != b'=':
            i += 1
        i += 1
    if i >= n or data[i] != b'{':
        _raise_text(codec.name, data, n)
    _unquoted_init(&u)
    try:
        out = _text_array_level(data, n, &i, codec.element, codec.delim, &u, 1)
    finally:
        _unquoted_free(&u)
    if i != n:
        _raise_text(codec.name, data, n)
    return out


cdef list _text_array_level(const char* data, Py_ssize_t n, Py_ssize_t* pos, TypeCodec elem,
                            char delim, _Unquoted* u, int depth):
    cdef Py_ssize_t i = pos[0] + 1            # past '{'
    cdef Py_ssize_t start, k
    cdef list out = []
    cdef bint quoted
    cdef char c
    if depth > ARRAY_MAXDIM:
        raise RustToPyValueMappingError("cannot read an array value: too many dimensions")
    if i < n and data[i] == b'}':
        pos[0] = i + 1
        return out
    while True:
        if i >= n:
            raise RustToPyValueMappingError("cannot read an array value: unterminated")
        c = data[i]
        if c == b'{':
            pos[0] = i
            out.append(_text_array_level(data, n, pos, elem, delim, u, depth + 1))
            i = pos[0]
        elif c == b'"':
            _unquoted_room(u, n)
            k = 0
            i += 1
            while True:
                if i >= n:
                    raise RustToPyValueMappingError("cannot read an array value: unterminated quote")
                c = data[i]
                if c == b'"':
                    break
                if c == b'\\':
                    i += 1
                    if i >= n:
                        raise RustToPyValueMappingError("cannot read an array value: trailing backslash")
                    c = data[i]
                u.buf[k] = c
                k += 1
                i += 1
            i += 1
            out.append(elem.decode(u.buf, k))
        else:
            start = i
            while i < n and data[i] != delim and data[i] != b'}':
                i += 1
            if i - start == 4 and memcmp(data + start, b"NULL", 4) == 0:
                out.append(None)
            elif i == start:
                raise RustToPyValueMappingError("cannot read an array value: empty element")
            else:
                out.append(elem.decode(data + start, i - start))
        if i >= n:
            raise RustToPyValueMappingError("cannot read an array value: unterminated")
        if data[i] == delim:
            i += 1
            continue
        if data[i] == b'}':
            pos[0] = i + 1
            return out
        raise RustToPyValueMappingError("cannot read an array value: unexpected character")
