# Codecs for types the static table cannot know: user-defined types (enums,
# composites, domains, arrays of them), found by the connection's type
# introspection (psqlpy/types/_introspect.py) and built from what the
# catalogue says, and codecs registered by the application.
#
# A TypeCodec decodes one value of its type from the format it asks for
# (``binary``).  Element and attribute types of the static table are
# wrapped in a TypeCodec of kind TC_BUILTIN, so a composite's attributes and
# an array's elements all dispatch the same way.  A Statement holds one
# TypeCodec (or None) per result column; core.pyx calls ``decode`` for a
# column without a static decoder.
#
# Binary forms (rowtypes.c record_send, arrayfuncs.c array_send):
#   composite  int32 natts, then per attribute: uint32 type OID, int32 length
#              (-1 = NULL), the value's bytes; dropped attributes are left out
#   enum       the label's text (enum_send)
#
# A composite decodes to a dict of attribute name -> value, in attribute
# order (the reference driver's shape).  When the data no longer matches what
# was introspected (ALTER TYPE added, dropped or retyped an attribute since),
# decoding raises StaleTypeError: the connection then forgets its cached
# statement and the pool its type cache, so the next query introspects again.

from cpython.dict cimport PyDict_Copy, PyDict_SetItem

cdef enum:
    TC_BUILTIN = 0       # a type of the static table
    TC_TEXT = 1          # the value's text as str (enum labels)
    TC_COMPOSITE = 2     # dict of attribute name -> value
    TC_ARRAY = 3         # nested lists of the element type's values


cdef dict _builtin_codecs = {}


@cython.final
cdef class TypeCodec:
    """How to decode values of one type (see the factory methods)."""
    cdef:
        readonly uint32_t oid
        readonly str name             # schema-qualified, for messages
        readonly bint binary          # values are requested in binary format
        int kind
        decode_func c_dec
        readonly TypeCodec element    # TC_ARRAY
        uint32_t elem_oid             # TC_ARRAY: the element type the catalogue names
        tuple attr_names              # TC_COMPOSITE
        tuple attr_oids
        tuple attr_codecs
        dict template

    def __cinit__(self):
        self.kind = TC_TEXT
        self.c_dec = NULL

    def __repr__(self):
        return f"<TypeCodec {self.name} ({self.oid}) {self.kind_name}>"

    @property
    def kind_name(self):
        return ("builtin", "text", "composite", "array")[self.kind]

    @property
    def attributes(self):
        """Composite: ``((name, type OID), ...)``; otherwise ``()``."""
        if self.kind != TC_COMPOSITE:
            return ()
        return tuple(zip(self.attr_names, self.attr_oids))

    @staticmethod
    def builtin(uint32_t oid):
        """The static table's codec for ``oid``, or None if it has none."""
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
        is that text too (enums), else values are requested in text format."""
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
    def array(uint32_t oid, str name, uint32_t elem_oid, TypeCodec element not None):
        """An array type whose element type (``elem_oid``) decodes with
        ``element`` (binary)."""
        cdef TypeCodec c = TypeCodec.__new__(TypeCodec)
        if not element.binary:
            raise ValueError("the element needs a binary TypeCodec")
        c.oid = oid
        c.name = name
        c.kind = TC_ARRAY
        c.elem_oid = elem_oid
        c.element = element
        c.binary = True
        return c

    cdef object decode(self, const char* data, Py_ssize_t n):
        if self.kind == TC_BUILTIN:
            return self.c_dec(data, n)
        if self.kind == TC_TEXT:
            return decode_text_value(data, n)
        if self.kind == TC_COMPOSITE:
            return self._decode_composite(data, n)
        return _dec_array_with(data, n, self)

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
            raise StaleTypeError(
                f"composite type {self.name} has {natts} attributes now, {expected} when "
                "it was introspected (the type changed): run the query again")
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


def _decode_with(TypeCodec codec not None, data):
    """Decode ``data`` (bytes) with ``codec`` (for tests)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return codec.decode(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
