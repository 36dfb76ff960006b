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
    TC_RANGE = 6         # binary range -> Range, bounds by .element
    TC_TRANGE = 7
    TC_MULTIRANGE = 8    # binary multirange -> list of Range, bounds by .element
    TC_TMULTIRANGE = 9
    TC_HSTORE = 10       # hstore -> dict of str to str or None
    TC_THSTORE = 11
    TC_VECTOR = 12       # pgvector's vector -> list of float
    TC_TVECTOR = 13
    TC_PYTHON = 14       # registered: the application's decoder and encoder

cdef tuple _KIND_NAMES = ("builtin", "text", "composite", "array", "composite", "array",
                          "range", "range", "multirange", "multirange", "hstore", "hstore",
                          "vector", "vector", "registered")

# formats of a registered codec (TypeCodec.python)
cdef enum:
    PY_TEXT = 0          # decoder(str), encoder -> str
    PY_BINARY = 1        # decoder(bytes), encoder -> bytes
    PY_TUPLE = 2         # composites: decoder(tuple of values), encoder -> sequence
    PY_DICT = 3          # composites: decoder(dict), encoder -> mapping

cdef dict _PY_FORMATS = {"text": PY_TEXT, "binary": PY_BINARY, "tuple": PY_TUPLE, "dict": PY_DICT}
cdef dict _builtin_codecs = {}


cdef TypeCodec _new_codec(uint32_t oid, str name, int kind, bint binary):
    cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
    c.oid = oid
    c.name = name
    c.kind = kind
    c.binary = binary
    return c


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
        object py_decoder             # registered (TC_PYTHON)
        object py_encoder
        int py_format
        TypeCodec base                # TC_PYTHON over a composite (tuple/dict formats)

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
        c = _new_codec(oid, _TYPE_NAMES.get(oid, str(oid)), TC_BUILTIN, True)
        c.c_dec = dec
        _builtin_codecs[oid] = c
        return c

    @staticmethod
    def text(uint32_t oid, str name, bint binary):
        """Values decode to their text as ``str``; ``binary``: the binary form
        is that text too (enums), else it can be read only in text format."""
        return _new_codec(oid, name, TC_TEXT, binary)

    @staticmethod
    def composite(uint32_t oid, str name, attr_names, attr_oids, attr_codecs):
        """A composite type: attribute names, their type OIDs as the catalogue
        has them, and a TypeCodec for each.  With an attribute read only in
        text (a codec registered in text format), the composite is read in text."""
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
        c.binary = True
        for a in c.attr_codecs:
            if not isinstance(a, TypeCodec):
                raise TypeError("every attribute needs a TypeCodec")
            if not (<TypeCodec>a).binary:
                c.binary = False
        c.template = dict.fromkeys(c.attr_names)
        if len(c.template) != len(c.attr_names):
            c.template = None          # duplicate names: built one by one
        if not c.binary:
            c.kind = TC_TCOMPOSITE
            c.attr_codecs = tuple([(<TypeCodec>a).for_text() for a in c.attr_codecs])
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

    @staticmethod
    def range(uint32_t oid, str name, TypeCodec subtype not None):
        """A range type of ``subtype`` (binary)."""
        return TypeCodec._container(oid, name, subtype, TC_RANGE)

    @staticmethod
    def multirange(uint32_t oid, str name, TypeCodec subtype not None):
        """A multirange type whose ranges have bounds of ``subtype`` (binary)."""
        return TypeCodec._container(oid, name, subtype, TC_MULTIRANGE)

    @staticmethod
    def _container(uint32_t oid, str name, TypeCodec element, int kind):
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        if not element.binary:
            raise ValueError("the bounds need a binary TypeCodec")
        c.oid = oid
        c.name = name
        c.kind = kind
        c.element = element
        c.elem_oid = element.oid
        c.binary = True
        return c

    @staticmethod
    def hstore(uint32_t oid, str name):
        """The hstore extension's type (its OID differs between databases)."""
        return _new_codec(oid, name, TC_HSTORE, True)

    @staticmethod
    def vector(uint32_t oid, str name):
        """pgvector's vector (its OID differs between databases)."""
        return _new_codec(oid, name, TC_VECTOR, True)

    @staticmethod
    def python(uint32_t oid, str name, decoder, encoder, str format, TypeCodec base=None,
               bint text_is_binary=False):
        """A codec the application registered: ``format`` "text" (decoder(str),
        encoder -> str), "binary" (bytes both ways), "tuple" or "dict" (a
        composite, ``base``: decoder gets a tuple / dict of its decoded
        attributes, encoder returns a sequence / mapping).  ``text_is_binary``:
        the type's binary form is its text (enums, text): a text codec then
        reads and writes it in binary too (inside binary composites and arrays)."""
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        cdef object fmt = _PY_FORMATS.get(format)
        if fmt is None:
            raise ValueError(f"format must be one of {', '.join(_PY_FORMATS)}, got {format!r}")
        if (fmt == PY_TUPLE or fmt == PY_DICT) and (
                base is None or (base.kind != TC_COMPOSITE and base.kind != TC_TCOMPOSITE)):
            raise ValueError(f"format {format!r} is for composite types")
        c.oid = oid
        c.name = name
        c.kind = TC_PYTHON
        c.py_decoder = decoder
        c.py_encoder = encoder
        c.py_format = fmt
        c.base = base
        c.binary = fmt == PY_BINARY or (base is not None and base.binary) or (
            fmt == PY_TEXT and text_is_binary)
        return c

    @staticmethod
    def text_array(uint32_t oid, str name, uint32_t elem_oid, TypeCodec element not None,
                   str delimiter=","):
        """An array read in text format (its element codec reads only text)."""
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        c.oid = oid
        c.name = name
        c.kind = TC_TARRAY
        c.elem_oid = elem_oid
        c.element = element.for_text()
        c.delim = <char>ord(delimiter)
        c.binary = False
        return c

    @property
    def decoder(self):
        """A registered codec's decoder (None for the driver's own codecs)."""
        return self.py_decoder

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
        elif self.kind == TC_RANGE or self.kind == TC_MULTIRANGE:
            t.kind = TC_TRANGE if self.kind == TC_RANGE else TC_TMULTIRANGE
            t.element = self.element.for_text()
            t.elem_oid = self.elem_oid
        elif self.kind == TC_HSTORE:
            t.kind = TC_THSTORE
        elif self.kind == TC_VECTOR:
            t.kind = TC_TVECTOR
        elif self.kind == TC_PYTHON:
            # a registered codec reads the format it asked for: its text twin
            # (inside a text array or composite) hands the text to a text
            # decoder, a binary one cannot be read from text
            t.kind = TC_PYTHON
            t.py_decoder = self.py_decoder
            t.py_encoder = self.py_encoder
            t.py_format = self.py_format
            t.base = self.base.for_text() if self.base is not None else None
            if self.py_format == PY_BINARY:
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
        cdef int k = self.kind
        if k == TC_BUILTIN:
            return self.c_dec(data, n)
        if k == TC_TEXT:
            return decode_text_value(data, n)
        if k == TC_COMPOSITE:
            return self._decode_composite(data, n)
        if k == TC_ARRAY:
            return _dec_array_with(data, n, self)
        if k == TC_TCOMPOSITE:
            return self._decode_text_composite(data, n)
        if k == TC_TARRAY:
            return _decode_text_array(data, n, self)
        if k == TC_RANGE:
            return _dec_range_with(data, n, NULL, self.element)
        if k == TC_TRANGE:
            return _tdec_range_with(data, n, NULL, self.element)
        if k == TC_MULTIRANGE:
            return _dec_multirange_with(data, n, NULL, self.element)
        if k == TC_TMULTIRANGE:
            return _tdec_multirange_with(data, n, NULL, self.element)
        if k == TC_HSTORE:
            return _dec_hstore(data, n)
        if k == TC_THSTORE:
            return _tdec_hstore(data, n)
        if k == TC_VECTOR:
            return _dec_vector(data, n)
        if k == TC_TVECTOR:
            return _tdec_vector(data, n)
        return self._decode_python(data, n)

    cdef object _decode_python(self, const char* data, Py_ssize_t n):
        cdef object v
        if self.py_format == PY_TEXT:
            v = decode_text_value(data, n)
        elif self.py_format == PY_BINARY:
            v = PyBytes_FromStringAndSize(data, n)
        else:
            v = self.base.decode(data, n)
            if self.py_format == PY_TUPLE:
                v = tuple((<dict>v).values())
        try:
            return self.py_decoder(v)
        except RustToPyValueMappingError:
            raise
        except Exception as e:
            # the user's code failed: a typed error, theirs as the cause
            raise RustToPyValueMappingError(
                f"the decoder registered for {self.name} raised {type(e).__name__}: {e}") from e

    cdef object _call_encoder(self, object value):
        try:
            return self.py_encoder(value)
        except PyToRustValueMappingError:
            raise
        except Exception as e:
            raise PyToRustValueMappingError(
                f"the encoder registered for {self.name} raised {type(e).__name__}: {e}") from e

    # ---- encoding ------------------------------------------------------------

    cdef int encode_binary(self, WriteBuffer buf, object value) except -1:
        """Append ``value``'s binary form (no length word); raises
        PyToRustValueMappingError when this type has none or the value does
        not fit it."""
        cdef int k = self.kind
        cdef encode_func enc
        cdef object b
        if k == TC_BUILTIN or k == TC_TEXT:
            if value is not None and not isinstance(value, (list, tuple)) \
                    and _value_kind(value) != KIND_PLAIN:
                value = _unwrap_element(value)       # enum members, wrappers
            if k == TC_TEXT:                        # an enum: its label
                return _write_text(buf, value, self.name, self.name)
            enc = binary_encoder(self.oid)
            if enc == NULL:
                raise PyToRustValueMappingError(
                    f"cannot encode {type(value).__name__} as {self.name}: no binary form")
            return enc(buf, value)
        if k == TC_COMPOSITE:
            return self._encode_composite(buf, value)
        if k == TC_ARRAY:
            return _enc_array_codec(buf, value, self)
        if k == TC_RANGE:
            return _enc_range_with(buf, value, NULL, self.element, self.name)
        if k == TC_MULTIRANGE:
            return _enc_multirange_with(buf, value, NULL, self.element, self.name)
        if k == TC_HSTORE:
            return _enc_hstore(buf, value)
        if k == TC_VECTOR:
            return _enc_vector(buf, value)
        if k == TC_PYTHON and self.binary:
            if self.py_format == PY_TEXT:             # its binary form is its text
                return _write_text(buf, self.encode_text(value), self.name, self.name)
            if self.py_format == PY_BINARY:
                b = self._call_encoder(value)
                if not isinstance(b, (bytes, bytearray, memoryview)):
                    raise PyToRustValueMappingError(
                        f"the encoder registered for {self.name} returned "
                        f"{type(b).__name__}, not bytes")
                return _enc_bytea(buf, b)
            return self.base.encode_binary(buf, self._call_encoder(value))
        raise PyToRustValueMappingError(f"cannot encode a value of {self.name} in binary")

    cdef str encode_text(self, object value):
        """``value``'s text form (input text of this type)."""
        cdef object s
        cdef int k = self.kind
        if k == TC_PYTHON:
            if self.py_format == PY_TEXT:
                s = self._call_encoder(value)
                if not isinstance(s, str):
                    raise PyToRustValueMappingError(
                        f"the encoder registered for {self.name} returned "
                        f"{type(s).__name__}, not str")
                return s
            if self.base is not None:
                return self.base.encode_text(self._call_encoder(value))
            raise PyToRustValueMappingError(f"{self.name} has a binary codec only")
        if isinstance(value, str):
            return value
        if k == TC_COMPOSITE or k == TC_TCOMPOSITE:
            return self._composite_text(value)
        if k == TC_HSTORE or k == TC_THSTORE:
            return _hstore_text(value)
        if k == TC_VECTOR or k == TC_TVECTOR:
            return _vector_text_of(value)
        if k == TC_MULTIRANGE or k == TC_TMULTIRANGE:
            return _multirange_text(value, self.name)
        if k == TC_RANGE or k == TC_TRANGE:
            return _range_text(_as_range(value, self.name))
        if (k == TC_ARRAY or k == TC_TARRAY) and isinstance(value, (list, tuple)):
            return self._array_text(value, 0)
        return _text_form(value)

    cdef int encode(self, WriteBuffer buf, object value, int16_t* fmt) except -1:
        """One Bind parameter of this type: length word and value, in binary
        when the type has a binary form and the value fits it, else in text
        (a str is always sent as text, for the server to parse)."""
        cdef Py_ssize_t start = buf._len
        cdef Py_ssize_t at
        if value is None:
            fmt[0] = 1 if self.binary else 0
            return buf.write_int32(-1)
        if self.binary and not (isinstance(value, str) and self.kind != TC_TEXT
                                and self.kind != TC_PYTHON):
            at = buf.reserve_int32()
            try:
                self.encode_binary(buf, value)
            except PyToRustValueMappingError:
                buf._len = start
                if self.kind != TC_COMPOSITE and self.kind != TC_ARRAY:
                    raise
                # e.g. a str attribute of a composite for a non-text type: the
                # whole value as text, for the server to parse
            except BaseException:
                buf._len = start
                raise
            else:
                buf.end_value(at, "parameter value")
                fmt[0] = 1
                return 0
        fmt[0] = 0
        at = buf.reserve_int32()
        try:
            _write_text(buf, self.encode_text(value), self.name, self.name)
        except BaseException:
            buf._len = start
            raise
        return buf.end_value(at, "parameter value")

    cdef int _encode_composite(self, WriteBuffer buf, object value) except -1:
        cdef Py_ssize_t i, n = len(self.attr_codecs)
        cdef Py_ssize_t at
        cdef object v
        cdef list values = self._attr_values(value)
        buf.write_int32(<int32_t>n)
        for i in range(n):
            buf.write_uint32(<uint32_t>self.attr_oids[i])
            v = values[i]
            if v is None:
                buf.write_int32(-1)
                continue
            at = buf.reserve_int32()
            (<TypeCodec>self.attr_codecs[i]).encode_binary(buf, v)
            buf.end_value(at, f"{self.name} attribute")
        return 0

    cdef list _attr_values(self, object value):
        # a mapping by attribute name (missing ones NULL), or a sequence in
        # attribute order, or an object with the attributes
        cdef Py_ssize_t n = len(self.attr_names)
        cdef list extra
        if isinstance(value, dict):
            extra = [k for k in value if k not in self.attr_names]
            if extra:
                raise PyToRustValueMappingError(
                    f"cannot encode dict as {self.name}: no attribute {extra[0]!r}")
            return [value.get(a) for a in self.attr_names]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise PyToRustValueMappingError(
                    f"cannot encode {type(value).__name__} of {len(value)} values as "
                    f"{self.name}: it has {n} attributes")
            return list(value)
        if isinstance(value, (str, bytes, int, float)) or value is None:
            raise PyToRustValueMappingError(
                f"cannot encode {type(value).__name__} as {self.name}: expected a dict, a "
                "sequence of its attributes or an object that has them")
        try:
            return [getattr(value, a) for a in self.attr_names]
        except AttributeError as e:
            raise PyToRustValueMappingError(f"cannot encode {type(value).__name__} as "
                                            f"{self.name}: {e}") from None

    cdef str _composite_text(self, object value):
        cdef list parts = []
        cdef list values = self._attr_values(value)
        cdef Py_ssize_t i
        for i in range(len(values)):
            if values[i] is None:
                parts.append("")
            else:
                parts.append(_quote_array_element(
                    (<TypeCodec>self.attr_codecs[i]).encode_text(values[i])))
        return "(" + ",".join(parts) + ")"

    cdef str _array_text(self, object value, int depth):
        cdef list parts = []
        cdef int geo = _codec_geo(self.element)
        if depth > ARRAY_MAXDIM:
            raise PyToRustValueMappingError(f"cannot encode {self.name}: too deeply nested")
        for item in value:
            if item is None:
                parts.append("NULL")
            elif isinstance(item, (list, tuple)) and not (
                    geo != GEO_NONE and _is_geo_elem(item, geo)):
                parts.append(self._array_text(item, depth + 1))
            else:
                parts.append(_quote_array_element(self.element.encode_text(item)))
        return "{" + ",".join(parts) + "}"

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


def _encode_with(TypeCodec codec not None, value):
    """``value`` encoded by ``codec`` in binary (for tests)."""
    cdef WriteBuffer buf = WriteBuffer()
    codec.encode_binary(buf, value)
    return buf.to_bytes()


def _encode_text_with(TypeCodec codec not None, value):
    """``value``'s text form as ``codec`` writes it (for tests)."""
    return codec.encode_text(value)


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
