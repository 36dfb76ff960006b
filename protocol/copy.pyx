# Binary COPY: Python records -> PostgreSQL's binary COPY format.
#
# The format (COPY ... FROM STDIN (FORMAT binary), "Binary Format" in the
# COPY reference page):
#
#   header   11-byte signature "PGCOPY\n\377\r\n\0", int32 flags (0),
#            int32 header-extension length (0)
#   tuple    int16 field count, then per field an int32 length (-1: NULL)
#            and that many bytes of the type's binary (send) form
#   trailer  int16 -1
#
# Every value goes through the same binary encoders as Bind parameters
# (codecs/), so a value is accepted by copy_records_to_table() exactly when
# it would be accepted as a parameter of that type -- except that binary COPY
# cannot fall back to the text format per value, so a str for a non-text
# column (e.g. '2024-01-01' for a date) is an error here, not a server-side
# parse.  The one convenience: a str for a uuid column is parsed.
#
# The encoder writes straight into the CopyData message it is building
# ('d' + length + payload), so the wire bytes are produced with one copy
# (WriteBuffer -> bytes) and no per-row Python objects.

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF

cdef extern from "Python.h":
    object PySequence_Fast(object o, const char* m)
    Py_ssize_t PySequence_Fast_GET_SIZE(object o)
    PyObject* PySequence_Fast_GET_ITEM(object o, Py_ssize_t i)


from collections.abc import Mapping as _Mapping

cdef bytes COPY_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"

# A CopyData message is flushed once it holds at least this many bytes.
DEFAULT_COPY_BATCH_BYTES = 256 * 1024


def has_binary_encoder(oid):
    """Whether values of type ``oid`` can be sent in binary (COPY needs it)."""
    return binary_encoder(<uint32_t>oid) != NULL


cdef str _type_label(uint32_t oid, object names, Py_ssize_t i):
    if names is not None and i < len(names) and names[i]:
        return f"{names[i]} (OID {oid})"
    name = _TYPE_NAMES.get(oid)
    return f"{name} (OID {oid})" if name else f"OID {oid}"


@cython.final
cdef class BinaryCopyEncoder:
    """Encodes records (sequences of column values) into binary COPY data.

    ``BinaryCopyEncoder(type_oids, column_names, framed=True,
    batch_bytes=262144, type_names=None)``

    * ``feed(iterator)`` encodes records from ``iterator`` until the pending
      data reaches ``batch_bytes`` (returns True: call ``take()`` and feed
      again) or the iterator is exhausted (returns False).
    * ``take()`` returns the pending data and starts a new batch.
    * ``finish()`` appends the trailer and returns the last batch.

    With ``framed=True`` each batch is a complete CopyData message, ready for
    the socket; with ``framed=False`` it is raw COPY payload (concatenate the
    batches to get a file ``COPY ... FROM ... (FORMAT binary)`` reads).

    A record is a tuple, a list, any other sequence, or a mapping (values
    taken by column name).  ``None`` is SQL NULL.  Errors are
    PyToRustValueMappingError naming the record index and the column.
    """
    cdef:
        encode_func* _encoders
        uint32_t* _oids
        Py_ssize_t _ncols
        WriteBuffer _buf
        bint _framed
        bint _finished
        Py_ssize_t _batch_bytes
        readonly tuple type_oids
        readonly tuple column_names
        readonly tuple type_names
        readonly Py_ssize_t count        # records encoded so far

    def __cinit__(self):
        self._encoders = NULL
        self._oids = NULL

    def __init__(self, type_oids, column_names=None, bint framed=True,
                 Py_ssize_t batch_bytes=DEFAULT_COPY_BATCH_BYTES, type_names=None):
        cdef Py_ssize_t i
        cdef uint32_t oid
        cdef encode_func enc
        self.type_oids = tuple([int(o) for o in type_oids])
        self._ncols = len(self.type_oids)
        if column_names is None:
            column_names = [f"column{i + 1}" for i in range(self._ncols)]
        self.column_names = tuple(column_names)
        if len(self.column_names) != self._ncols:
            raise ValueError(f"{len(self.column_names)} column names for {self._ncols} types")
        if self._ncols > 32767:
            raise ValueError("too many columns for binary COPY (at most 32767)")
        self.type_names = tuple(type_names) if type_names is not None else None
        self._framed = framed
        self._batch_bytes = batch_bytes if batch_bytes > 0 else 1
        self._finished = False
        self.count = 0
        if self._ncols:
            self._encoders = <encode_func*>PyMem_Malloc(sizeof(encode_func) * self._ncols)
            self._oids = <uint32_t*>PyMem_Malloc(sizeof(uint32_t) * self._ncols)
            if self._encoders == NULL or self._oids == NULL:
                raise MemoryError
        for i in range(self._ncols):
            oid = <uint32_t>self.type_oids[i]
            enc = binary_encoder(oid)
            if enc == NULL:
                raise PyToRustValueMappingError(
                    f"column {self.column_names[i]!r} has type "
                    f"{_type_label(oid, self.type_names, i)}, which psqlpy "
                    "cannot encode in binary; binary COPY cannot mix binary and text "
                    "values (cast the column, or insert these rows with execute_many())")
            self._encoders[i] = enc
            self._oids[i] = oid
        self._buf = WriteBuffer(self._batch_bytes + 1024 if self._batch_bytes < (1 << 24) else 65536)
        self._start_batch()
        self._buf.write_raw(PyBytes_AS_STRING(COPY_BINARY_SIGNATURE), 11)
        self._buf.write_int32(0)        # flags
        self._buf.write_int32(0)        # header extension length

    def __dealloc__(self):
        if self._encoders != NULL:
            PyMem_Free(self._encoders)
            self._encoders = NULL
        if self._oids != NULL:
            PyMem_Free(self._oids)
            self._oids = NULL

    cdef inline int _start_batch(self) except -1:
        if self._framed:
            self._buf.start_message(b'd')
        return 0

    cdef int _encode_record(self, object rec) except -1:
        cdef Py_ssize_t i, n, at
        cdef Py_ssize_t rec_start = self._buf._len
        cdef object fast
        cdef object value
        cdef WriteBuffer buf = self._buf
        cdef Py_ssize_t vlen
        if type(rec) is tuple or type(rec) is list:
            fast = rec
        elif isinstance(rec, (str, bytes, bytearray, memoryview)):
            raise PyToRustValueMappingError(
                f"record {self.count}: expected a sequence of {self._ncols} column values, "
                f"got {type(rec).__name__}")
        elif isinstance(rec, _Mapping):
            try:
                fast = [rec[name] for name in self.column_names]
            except KeyError as e:
                raise PyToRustValueMappingError(
                    f"record {self.count}: mapping has no value for column {e.args[0]!r}") from None
        else:
            try:
                fast = PySequence_Fast(rec, b"not a sequence")
            except TypeError:
                raise PyToRustValueMappingError(
                    f"record {self.count}: expected a sequence of {self._ncols} column values, "
                    f"got {type(rec).__name__}") from None
        n = PySequence_Fast_GET_SIZE(fast)
        if n != self._ncols:
            raise PyToRustValueMappingError(
                f"record {self.count} has {n} value(s), expected {self._ncols} "
                f"({', '.join(self.column_names)})")
        buf.write_int16(<int16_t>n)
        for i in range(n):
            value = <object>PySequence_Fast_GET_ITEM(fast, i)
            if value is None:
                buf.write_int32(-1)
                continue
            at = buf.reserve_int32()
            try:
                if self._oids[i] == UUIDOID and isinstance(value, str):
                    try:
                        value = _StdUUID(value)
                    except ValueError:
                        _raise_encode("uuid", "uuid", value, "not a valid UUID string")
                self._encoders[i](buf, value)
            except PyToRustValueMappingError as e:
                buf._len = rec_start
                raise PyToRustValueMappingError(
                    f"record {self.count}, column {self.column_names[i]!r}: {e}") from None
            except (TypeError, ValueError, OverflowError) as e:
                buf._len = rec_start
                raise PyToRustValueMappingError(
                    f"record {self.count}, column {self.column_names[i]!r}: "
                    f"cannot encode {type(value).__name__}: {e}") from None
            except BaseException:
                buf._len = rec_start
                raise
            vlen = buf._len - at - 4
            if vlen > 0x3FFFFFFF:
                buf._len = rec_start
                raise PyToRustValueMappingError(
                    f"record {self.count}, column {self.column_names[i]!r}: "
                    "value too large (over 1 GiB)")
            buf.patch_int32(at, <int32_t>vlen)
        self.count += 1
        return 0

    def feed(self, iterator):
        """Encode records from ``iterator`` (an iterator, not just an
        iterable: it is resumed where it stopped) until a batch is full
        (returns True) or the iterator is exhausted (returns False)."""
        cdef Py_ssize_t limit = self._batch_bytes
        if self._finished:
            raise RuntimeError("the encoder is finished")
        for rec in iterator:
            self._encode_record(rec)
            if self._buf._len >= limit:
                return True
        return False

    def feed_records(self, records):
        """Encode every record of ``records`` into the pending batch (no
        batch limit; for building a payload in memory)."""
        if self._finished:
            raise RuntimeError("the encoder is finished")
        for rec in records:
            self._encode_record(rec)

    def pending(self):
        """Bytes buffered for the current batch (framing included)."""
        return self._buf._len

    def take(self):
        """The pending batch (a CopyData message when framed); starts a new one."""
        cdef bytes out
        if self._finished:
            raise RuntimeError("the encoder is finished")
        if self._framed:
            self._buf.end_message()
        out = self._buf.to_bytes()
        self._buf.reset()
        self._start_batch()
        return out

    def finish(self):
        """Append the trailer and return the last batch."""
        cdef bytes out
        if self._finished:
            raise RuntimeError("the encoder is finished")
        self._buf.write_int16(-1)
        if self._framed:
            self._buf.end_message()
        out = self._buf.to_bytes()
        self._buf.reset()
        self._finished = True
        return out




def encode_binary_copy(type_oids, records, column_names=None):
    """The complete binary COPY payload (header, rows, trailer) for
    ``records`` as bytes: what ``COPY ... FROM STDIN (FORMAT binary)`` reads,
    e.g. for ``binary_copy_to_table()``."""
    cdef BinaryCopyEncoder enc = BinaryCopyEncoder(type_oids, column_names, framed=False)
    enc.feed_records(records)
    return enc.finish()
