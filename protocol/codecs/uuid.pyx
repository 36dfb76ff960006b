# uuid: 16 bytes on the wire, decoded to psqlpy.protocol.UUID.
#
# Building a uuid.UUID through its constructor costs about 0.8 us (a Python
# __init__ that validates its arguments), and a uuid.UUID keeps its value as
# a Python int (48 bytes more per value).  asyncpg answers with a Cython type
# of its own made to pass isinstance(uuid.UUID) by rewriting its __bases__
# and __mro__ after creation.  Ours (protocol/pguuid.h) is a real subclass of
# uuid.UUID made with PyType_FromSpecWithBases, public C API, with the 16
# bytes inline: decoding is an allocation and a copy, and an instance takes
# as much memory as asyncpg's.  It behaves as uuid.UUID in every way (hash,
# ordering, every property, pickling) and:
#
# * it also compares equal to its canonical text, the lowercase hyphenated
#   form str() gives (the reference driver decodes uuid to that str, and
#   code written for it compares with str(u)); its hash stays uuid.UUID's,
#   so a dict keyed by those strings does not find it;
# * str(), hash() and == are computed from the bytes in C;
# * it pickles as itself (psqlpy.protocol.UUID); instances are untracked by
#   the cyclic GC: they hold at most an int.

cdef extern from "pguuid.h":
    object psqlpy_uuid_make_type(object std_type, object int_slot, object safe_unknown)
    object psqlpy_uuid_new(const char* data)
    bint psqlpy_uuid_check(object o)
    unsigned char* PSQLPY_UUID_DATA(object o)
    ctypedef struct psqlpy_uuid_state:
        int fast_hash
    psqlpy_uuid_state psqlpy_uuid

cdef extern from "pylong.h":
    object psqlpy_long_from_be128(const char* p)
    int psqlpy_long_to_be128(object v, char* out) except -1

cdef object _StdUUID = _uuid_mod.UUID

UUID = psqlpy_uuid_make_type(_StdUUID, _StdUUID.__dict__["int"], _uuid_mod.SafeUUID.unknown)


def _uuid_reduce(self):
    return (UUID, (str(self),))


UUID.__reduce__ = _uuid_reduce
UUID.__module__ = "psqlpy.protocol"


def _check_fast_hash():
    # hash(int) is the value mod 2**61 - 1 on 64-bit builds: checked, not assumed
    cdef object probe = _StdUUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    psqlpy_uuid.fast_hash = 1
    if hash(psqlpy_uuid_new(probe.bytes)) != hash(probe):
        psqlpy_uuid.fast_hash = 0


_check_fast_hash()


cdef inline object make_uuid(const char* data):
    """A UUID from 16 bytes (big-endian, as on the wire)."""
    return psqlpy_uuid_new(data)


cdef object _dec_uuid(const char* data, Py_ssize_t n):
    if n != 16:
        _raise_bad_len("uuid", 16, n)
    return psqlpy_uuid_new(data)


cdef int _enc_uuid(WriteBuffer buf, object value) except -1:
    cdef char b[16]
    if psqlpy_uuid_check(value):
        return buf.write_raw(<const char*>PSQLPY_UUID_DATA(value), 16)
    if isinstance(value, _StdUUID):
        try:
            psqlpy_long_to_be128(value.int, b)
        except (OverflowError, TypeError, ValueError) as e:
            return _raise_encode("uuid", "uuid", value, str(e))
        return buf.write_raw(b, 16)
    return _raise_encode("uuid", "uuid", value, "expected uuid.UUID (or str)")
