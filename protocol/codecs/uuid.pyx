# uuid: 16 bytes on the wire, decoded to psqlpy.protocol.UUID.
#
# Building a uuid.UUID through its constructor costs about 0.8 us (a Python
# __init__ that validates its arguments); asyncpg answers with a Cython type
# of its own made to pass isinstance(uuid.UUID) by rewriting its __bases__
# and __mro__ after creation.  Ours is an ordinary Python subclass of
# uuid.UUID with no slots of its own, created the way uuid.UUID.__setstate__
# does it: allocate, then set the two slots of the base class ('int',
# 'is_safe') with the generic attribute setter (uuid.UUID's own __setattr__
# refuses).  Only public C API; the same layout and behaviour as uuid.UUID
# (hash, ordering, every property), and:
#
# * it also compares equal to its canonical text, the lowercase hyphenated
#   form str() gives (the reference driver decodes uuid to that str, and
#   code written for it compares with str(u)); its hash stays uuid.UUID's,
#   so a dict keyed by those strings does not find it;
# * str() is formatted here (uuid.UUID's Python __str__ costs ~0.5 us);
# * it pickles as itself (psqlpy.protocol.UUID); the objects are untracked
#   by the cyclic GC, as they hold only an int and an enum member.

from cpython.unicode cimport PyUnicode_New

cdef extern from "Python.h":
    object PyType_GenericAlloc(type t, Py_ssize_t nitems)
    int PyObject_GenericSetAttr(object o, object name, object value) except -1
    void* PyUnicode_DATA(object u)

cdef extern from "pylong.h":
    object psqlpy_long_from_be128(const char* p)
    int psqlpy_long_to_be128(object v, char* out) except -1

cdef object _StdUUID = _uuid_mod.UUID
cdef object _SAFE_UNKNOWN = _uuid_mod.SafeUUID.unknown
cdef str _ATTR_INT = "int"
cdef str _ATTR_IS_SAFE = "is_safe"
cdef const char* _HEX_LOWER = "0123456789abcdef"


cdef str _uuid_text(const char* b):
    """The canonical form of 16 bytes: 8-4-4-4-12 lowercase hex digits."""
    cdef str s = PyUnicode_New(36, 127)
    cdef char* out = <char*>PyUnicode_DATA(s)
    cdef int i, j = 0
    cdef uint8_t c
    for i in range(16):
        if i == 4 or i == 6 or i == 8 or i == 10:
            out[j] = b'-'
            j += 1
        c = <uint8_t>b[i]
        out[j] = _HEX_LOWER[c >> 4]
        out[j + 1] = _HEX_LOWER[c & 15]
        j += 2
    return s


class UUID(_StdUUID):
    """A ``uuid.UUID`` decoded from the server (``isinstance(u, uuid.UUID)``).

    Behaves as ``uuid.UUID`` in every way (hash, ordering, ``bytes``, ``hex``,
    ``version``, ...) and also equals its canonical text: ``u == str(u)`` (the
    lowercase hyphenated form), for code written for the reference driver, which
    returns uuids as that str.  The hash is ``uuid.UUID``'s, so a dict keyed by
    those strings does not find it."""

    __slots__ = ()

    def __eq__(self, other):
        if isinstance(other, str):
            return other == self.__str__()
        return _StdUUID.__eq__(self, other)

    def __ne__(self, other):
        r = self.__eq__(other)
        if r is NotImplemented:
            return r
        return not r

    __hash__ = _StdUUID.__hash__

    def __str__(self):
        cdef char b[16]
        psqlpy_long_to_be128(self.int, b)
        return _uuid_text(b)

    def __reduce__(self):
        return (UUID, (self.__str__(),))


UUID.__module__ = "psqlpy.protocol"
cdef type _UUID_TYPE = UUID


cdef object make_uuid(const char* data):
    """A UUID from 16 bytes (big-endian, as on the wire)."""
    cdef object u = PyType_GenericAlloc(_UUID_TYPE, 0)
    PyObject_GenericSetAttr(u, _ATTR_INT, psqlpy_long_from_be128(data))
    PyObject_GenericSetAttr(u, _ATTR_IS_SAFE, _SAFE_UNKNOWN)
    PyObject_GC_UnTrack(<void*>u)
    return u


cdef object _dec_uuid(const char* data, Py_ssize_t n):
    if n != 16:
        _raise_bad_len("uuid", 16, n)
    return make_uuid(data)


cdef int _enc_uuid(WriteBuffer buf, object value) except -1:
    cdef char b[16]
    if isinstance(value, _StdUUID):
        try:
            psqlpy_long_to_be128(value.int, b)
        except (OverflowError, TypeError) as e:
            return _raise_encode("uuid", "uuid", value, str(e))
        return buf.write_raw(b, 16)
    return _raise_encode("uuid", "uuid", value, "expected uuid.UUID (or str)")
