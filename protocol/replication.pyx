# Logical replication: the CopyBoth phase of a replication connection and
# pgoutput decoded into transactions.
#
# After START_REPLICATION ... LOGICAL the server answers CopyBothResponse and
# then sends CopyData messages, each carrying one of
#   XLogData          'w' int64 wal_start, int64 wal_end, int64 send_time, data
#   PrimaryKeepalive  'k' int64 wal_end, int64 send_time, byte reply_requested
# and the client sends CopyData carrying Standby Status Updates
#   'r' int64 written, int64 flushed, int64 applied, int64 clock, byte reply.
# Times are microseconds since 2000-01-01 UTC.  The data of an XLogData is one
# pgoutput message ("Logical Replication Message Formats").
#
# LogicalDecoder assembles those messages into ReplicationTransactions.  The
# connection's core hands it each CopyData body straight from its read buffer
# (a C call, no bytes object); values are decoded by the binary codecs chosen
# once per Relation message, as a Statement chooses them per column.  Python
# is called only to wake the consumer (once per wait), to say the buffer is
# full (reading stops) and to answer a keepalive that asks for a reply.
#
# Every read is bounded by the message (Frame), and every message must be
# consumed exactly: a short or long message is a ProtocolError, which breaks
# the stream.  A value the codecs reject is not: the framing is intact, so
# the transaction is still delivered, with the first such error attached.

from cpython.dict cimport PyDict_Copy, PyDict_SetItem
from cpython.list cimport PyList_Append
from collections import deque

import time as _time_mod

from psqlpy._replmessages import (
    XLogData, PrimaryKeepalive, Begin, Commit, Origin, Relation, Type, Insert, Update, Delete,
    Truncate, Message, StreamStart, StreamStop, StreamCommit, StreamAbort,
)

# 2000-01-01 00:00:00 UTC in Unix seconds: the server's epoch.
cdef int64_t PG_EPOCH_UNIX = 946684800


@cython.final
cdef class UnchangedToastType:
    """The type of ``UNCHANGED_TOAST``: a TOASTed column the update did not
    change, whose value the server did not send."""

    def __repr__(self):
        return "UNCHANGED_TOAST"

    def __reduce__(self):
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST = UnchangedToastType()
cdef object _UNCHANGED_TOAST = UNCHANGED_TOAST


def pg_time_to_datetime(int64_t us):
    """Microseconds since 2000-01-01 UTC (the protocol's clock) -> aware datetime."""
    return _make_timestamp(us, _UTC, "timestamptz")


def pg_now():
    """Now, as microseconds since 2000-01-01 UTC (a Standby Status Update's clock)."""
    return int((_time_mod.time() - PG_EPOCH_UNIX) * 1_000_000)


def format_lsn(lsn):
    """``0x16B3748`` -> ``'0/16B3748'``, PostgreSQL's notation."""
    lsn = int(lsn)
    if lsn < 0 or lsn > 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"LSN out of range: {lsn}")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text):
    """``'0/16B3748'`` -> ``0x16B3748``."""
    hi, sep, lo = str(text).partition("/")
    try:
        if not sep or not hi or not lo or len(hi) > 8 or len(lo) > 8:
            raise ValueError
        return (int(hi, 16) << 32) | int(lo, 16)
    except ValueError:
        raise ValueError(f"not an LSN: {text!r}") from None


@cython.final
@cython.freelist(256)
cdef class Change:
    """One change of a replicated transaction.

    ``kind``: ``"insert"``, ``"update"``, ``"delete"``, ``"truncate"`` or
    ``"message"``.  ``schema``/``table``: the relation (None for a message).
    ``new``/``old``: dicts of column name to value, or None: an insert has
    ``new``; an update ``new`` and, when the key changed or the table has
    REPLICA IDENTITY FULL, ``old`` (the key columns, or the whole old row); a
    delete ``old`` (the key columns, or the whole row with FULL).  An
    unchanged TOASTed column in ``new`` is ``UNCHANGED_TOAST``.  A message
    (``pg_logical_emit_message``) has ``prefix`` (str) and ``content``
    (bytes).  ``lsn``: where the change is in the WAL."""
    cdef readonly str kind
    cdef readonly str schema
    cdef readonly str table
    cdef readonly object new
    cdef readonly object old
    cdef readonly str prefix
    cdef readonly object content
    cdef readonly uint64_t lsn

    def __init__(self, str kind, str schema=None, str table=None, new=None, old=None,
                 str prefix=None, content=None, uint64_t lsn=0):
        self.kind = kind
        self.schema = schema
        self.table = table
        self.new = new
        self.old = old
        self.prefix = prefix
        self.content = content
        self.lsn = lsn

    def _values(self):
        return (self.kind, self.schema, self.table, self.new, self.old, self.prefix,
                self.content, self.lsn)

    def __eq__(self, other):
        if not isinstance(other, Change):
            return NotImplemented
        return self._values() == (<Change>other)._values()

    __hash__ = None

    def __repr__(self):
        if self.kind == "message":
            return f"Change(kind='message', prefix={self.prefix!r}, content={self.content!r})"
        return (f"Change(kind={self.kind!r}, schema={self.schema!r}, table={self.table!r}, "
                f"new={self.new!r}, old={self.old!r})")


cdef extern from "Python.h":
    bint PyObject_GC_IsTracked(object o)


cdef inline Change _new_change(str kind, RelationInfo rel, object new, object old, uint64_t lsn):
    cdef Change c = Change.__new__(Change)
    c.kind = kind
    if rel is not None:
        c.schema = rel.schema
        c.table = rel.table
    c.new = new
    c.old = old
    c.lsn = lsn
    # Rows of scalars are dicts the cyclic GC does not track; a change that
    # holds only such rows (and strings) cannot be part of a cycle we made:
    # untracked, the GC does not walk every change of a 100k-row transaction
    # at each collection (a fifth of the decoding time otherwise).
    if (new is None or not PyObject_GC_IsTracked(new)) and \
            (old is None or not PyObject_GC_IsTracked(old)):
        PyObject_GC_UnTrack(<void*>c)
    return c


@cython.final
cdef class ReplicationTransaction:
    """One committed transaction: ``xid``, ``commit_lsn`` (its commit record),
    ``end_lsn`` (the position after it: what ``ack`` confirms),
    ``commit_time`` (aware datetime), ``changes`` (list of Change, in WAL
    order), ``origin`` (replication origin name, or None).

    A logical message emitted outside any transaction
    (``pg_logical_emit_message(false, ...)``) arrives as a transaction of its
    own: ``xid`` 0, ``commit_lsn`` the message's LSN, ``end_lsn`` one past
    it, ``commit_time`` None and the message as its one change.

    ``decode_error``: the first value of the transaction that could not be
    decoded (it is None in the row), or None."""
    cdef readonly uint32_t xid
    cdef readonly uint64_t commit_lsn
    cdef readonly uint64_t end_lsn
    cdef readonly object commit_time
    cdef readonly list changes
    cdef readonly str origin
    cdef readonly object decode_error
    cdef uint64_t _final_lsn
    cdef list _subxids          # streamed: the subtransaction of each change

    def __init__(self, uint32_t xid=0, uint64_t commit_lsn=0, uint64_t end_lsn=0,
                 commit_time=None, changes=None, str origin=None, decode_error=None):
        self.xid = xid
        self.commit_lsn = commit_lsn
        self.end_lsn = end_lsn
        self.commit_time = commit_time
        self.changes = list(changes) if changes is not None else []
        self.origin = origin
        self.decode_error = decode_error

    def _values(self):
        return (self.xid, self.commit_lsn, self.end_lsn, self.commit_time, self.changes,
                self.origin)

    def __eq__(self, other):
        if not isinstance(other, ReplicationTransaction):
            return NotImplemented
        return self._values() == (<ReplicationTransaction>other)._values()

    __hash__ = None

    def __len__(self):
        return len(self.changes)

    def __repr__(self):
        return (f"ReplicationTransaction(xid={self.xid}, commit_lsn={format_lsn(self.commit_lsn)!r}, "
                f"end_lsn={format_lsn(self.end_lsn)!r}, commit_time={self.commit_time!r}, "
                f"changes=<{len(self.changes)}>)")


cdef ReplicationTransaction _new_tx(uint32_t xid, bint streamed):
    cdef ReplicationTransaction tx = ReplicationTransaction.__new__(ReplicationTransaction)
    tx.xid = xid
    tx.changes = []
    if streamed:
        tx._subxids = []
    return tx


@cython.final
cdef class RelationInfo:
    """What a Relation message said about a table, with the decoder chosen
    for each column (binary values of a type with no codec stay bytes)."""
    cdef readonly uint32_t oid
    cdef readonly str schema
    cdef readonly str table
    cdef readonly int replica_identity
    cdef readonly tuple columns       # (flags, name, type_oid, type_modifier) per column
    cdef readonly tuple column_names
    cdef Py_ssize_t ncols
    cdef decode_func* decoders
    cdef char* is_key
    cdef dict template                # every column name -> None
    cdef dict key_template            # key column names -> None

    def __cinit__(self):
        self.decoders = NULL
        self.is_key = NULL

    def __dealloc__(self):
        if self.decoders != NULL:
            PyMem_Free(self.decoders)
            self.decoders = NULL
        if self.is_key != NULL:
            PyMem_Free(self.is_key)
            self.is_key = NULL

    cdef int _setup(self, list cols) except -1:
        cdef Py_ssize_t i
        self.columns = tuple(cols)
        self.ncols = len(cols)
        self.column_names = tuple([c[1] for c in cols])
        self.template = dict.fromkeys(self.column_names)
        self.key_template = dict.fromkeys([c[1] for c in cols if c[0] & 1])
        if self.ncols:
            self.decoders = <decode_func*>PyMem_Malloc(sizeof(decode_func) * self.ncols)
            self.is_key = <char*>PyMem_Malloc(self.ncols)
            if self.decoders == NULL or self.is_key == NULL:
                raise MemoryError
        for i in range(self.ncols):
            self.decoders[i] = binary_decoder(<uint32_t>cols[i][2])
            self.is_key[i] = 1 if (cols[i][0] & 1) else 0
        return 0

    def __repr__(self):
        return f"<RelationInfo {self.schema}.{self.table} oid={self.oid} columns={self.ncols}>"


cdef inline uint64_t _lsn(Frame* f) except? 0xFFFFFFFFFFFFFFFF:
    return <uint64_t>frame_int64(f)


cdef int _bad(str what) except -1:
    raise ProtocolError(what)


@cython.final
cdef class LogicalDecoder:
    """Sans-IO: CopyData bodies of a logical replication stream in,
    committed ``ReplicationTransaction``s out, in commit order.

    ``feed_copy_data(body)`` (or, from the core, the C call) takes one
    CopyData body; ``pop()`` returns the next committed transaction, or None.

    * Large transactions the server streams before they commit (Stream
      Start/Stop blocks, then Stream Commit or Stream Abort) are assembled
      per transaction id and delivered at their commit; an aborted
      subtransaction's changes are dropped.
    * Backpressure: when ``buffered`` (changes committed and not yet
      popped; an empty transaction counts one) reaches ``max_buffered``,
      ``on_full()`` is called and the call returns True (the core stops
      parsing); ``full`` turns False again once ``pop()`` has brought it down
      to ``max_buffered // 2``.  The transaction being received is never
      held back: it is delivered whole at its commit.
    * ``skip_through``: a transaction whose ``end_lsn`` is at or before it is
      dropped (it was acknowledged; after a reconnect the server may send it
      again).
    * ``on_ready()`` is called when a transaction is delivered while
      ``waiting`` is set (and clears it); ``on_reply_requested()`` when a
      keepalive asks for a status update now; ``on_started()`` when the core
      sees CopyBothResponse (the server accepted START_REPLICATION).
    * ``received_lsn``: the highest WAL position the server said it sent;
      ``keepalive_lsn``: the position of the last keepalive.

    A malformed message raises ProtocolError (the stream is broken).
    """
    cdef dict _relations
    cdef readonly dict types                  # oid -> (namespace, name), from Type messages
    cdef uint32_t _last_oid
    cdef RelationInfo _last_rel
    cdef ReplicationTransaction _current      # between Begin and Commit
    cdef dict _streamed                       # top-level xid -> its transaction so far
    cdef bint _in_stream
    cdef ReplicationTransaction _stream_tx
    cdef uint32_t _subxid                     # of the change being decoded, in a stream
    cdef uint64_t _wal_start                  # of the XLogData being decoded
    cdef readonly object ready                # deque of ReplicationTransaction
    cdef readonly Py_ssize_t buffered
    cdef readonly Py_ssize_t max_buffered
    cdef readonly bint full
    cdef readonly uint64_t received_lsn
    cdef readonly uint64_t keepalive_lsn      # wal_end of the last keepalive
    cdef public uint64_t skip_through
    cdef public bint waiting
    cdef public object on_ready
    cdef public object on_full
    cdef public object on_reply_requested
    cdef public object on_started
    cdef readonly unsigned long long messages_received

    def __cinit__(self, Py_ssize_t max_buffered=10_000):
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.max_buffered = max_buffered
        self.ready = deque()
        self.types = {}
        self._relations = {}
        self._streamed = {}
        self.reset()

    def reset(self):
        """Forget everything of the current server session (relations,
        transactions in progress, what is buffered): a new session (after a
        reconnect) sends the Relation messages again and resends every
        transaction that was not acknowledged.  ``skip_through``,
        ``received_lsn`` and ``waiting`` (the consumer's) are kept."""
        self._relations.clear()
        self.types.clear()
        self._last_oid = 0
        self._last_rel = None
        self._current = None
        self._streamed.clear()
        self._in_stream = False
        self._stream_tx = None
        self.ready.clear()
        self.buffered = 0
        self.full = False

    @property
    def relations(self):
        """oid -> RelationInfo, for the relations of this session."""
        return dict(self._relations)

    @property
    def in_transaction(self):
        """True between Begin and Commit, or while a streamed transaction is open."""
        return self._current is not None or self._in_stream or bool(self._streamed)

    def feed_copy_data(self, data):
        """One CopyData body (XLogData or PrimaryKeepalive).  Returns True
        when the buffer is full (stop reading until ``pop()`` frees it)."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self.copy_data(<const char*>view.buf, view.len) == 1
        finally:
            PyBuffer_Release(&view)

    def pop(self):
        """The next committed transaction, or None."""
        cdef ReplicationTransaction tx
        cdef Py_ssize_t n
        if not self.ready:
            return None
        tx = self.ready.popleft()
        n = len(tx.changes)
        self.buffered -= n if n > 0 else 1
        if self.full and self.buffered <= self.max_buffered // 2:
            self.full = False
        return tx

    # ---- the C entry points ----------------------------------------------------

    cdef int copy_both_started(self) except -1:
        # CopyBothResponse: START_REPLICATION was accepted.
        if self.on_started is not None:
            self.on_started()
        return 0

    cdef int copy_data(self, const char* p, Py_ssize_t n) except -1:
        cdef Frame f
        cdef uint8_t kind
        cdef uint64_t wal_end
        cdef uint8_t reply
        f.p = p
        f.n = n
        kind = frame_byte(&f)
        self.messages_received += 1
        if kind == b'w':
            frame_need(&f, 24)
            self._wal_start = _lsn(&f)
            wal_end = _lsn(&f)
            frame_int64(&f)                 # send time
            if wal_end > self.received_lsn:
                self.received_lsn = wal_end
            return self._pgoutput(&f)
        if kind == b'k':
            frame_need(&f, 17)
            wal_end = _lsn(&f)
            frame_int64(&f)
            reply = frame_byte(&f)
            frame_done(&f, b'k')
            if wal_end > self.received_lsn:
                self.received_lsn = wal_end
            self.keepalive_lsn = wal_end
            if reply and self.on_reply_requested is not None:
                self.on_reply_requested()
            return 0
        raise ProtocolError(f"unknown message {bytes([kind])!r} in the CopyBoth stream")

    cdef int _pgoutput(self, Frame* f) except -1:
        cdef uint8_t t = frame_byte(f)
        if t == b'I':
            return self._on_insert(f)
        if t == b'U':
            return self._on_update(f)
        if t == b'D':
            return self._on_delete(f)
        if t == b'B':
            return self._on_begin(f)
        if t == b'C':
            return self._on_commit(f)
        if t == b'R':
            return self._on_relation(f)
        if t == b'T':
            return self._on_truncate(f)
        if t == b'M':
            return self._on_message(f)
        if t == b'Y':
            return self._on_type(f)
        if t == b'O':
            return self._on_origin(f)
        if t == b'S':
            return self._on_stream_start(f)
        if t == b'E':
            frame_done(f, t)
            if not self._in_stream:
                _bad("Stream Stop outside a stream block")
            self._in_stream = False
            self._stream_tx = None
            return 0
        if t == b'c':
            return self._on_stream_commit(f)
        if t == b'A':
            return self._on_stream_abort(f)
        raise ProtocolError(f"unknown pgoutput message {bytes([t])!r}")

    # ---- transactions ----------------------------------------------------------

    cdef int _outside_tx(self, str what) except -1:
        if self._current is not None or self._in_stream:
            _bad(f"{what} inside a transaction")
        return 0

    cdef int _on_begin(self, Frame* f) except -1:
        cdef ReplicationTransaction tx
        frame_need(f, 20)
        final_lsn = _lsn(f)
        ts = frame_int64(f)
        xid = frame_uint32(f)
        frame_done(f, b'B')
        self._outside_tx("Begin")
        tx = _new_tx(xid, False)
        tx._final_lsn = final_lsn
        self._current = tx
        return 0

    cdef int _on_commit(self, Frame* f) except -1:
        cdef ReplicationTransaction tx = self._current
        frame_need(f, 25)
        frame_byte(f)                       # flags (unused)
        commit_lsn = _lsn(f)
        end_lsn = _lsn(f)
        ts = frame_int64(f)
        frame_done(f, b'C')
        if tx is None or self._in_stream:
            _bad("Commit outside a transaction")
        self._current = None
        tx.commit_lsn = commit_lsn
        tx.end_lsn = end_lsn
        tx.commit_time = _make_timestamp(ts, _UTC, "timestamptz")
        return self._deliver(tx)

    cdef int _on_origin(self, Frame* f) except -1:
        cdef ReplicationTransaction tx = self._current if self._current is not None else self._stream_tx
        frame_need(f, 8)
        _lsn(f)
        name = frame_cstr_str(f)
        frame_done(f, b'O')
        if tx is None:
            _bad("Origin outside a transaction")
        tx.origin = name
        return 0

    cdef int _on_stream_start(self, Frame* f) except -1:
        cdef ReplicationTransaction tx
        frame_need(f, 5)
        xid = frame_uint32(f)
        frame_byte(f)                       # first segment (a resumed stream restarts anyway)
        frame_done(f, b'S')
        self._outside_tx("Stream Start")
        tx = self._streamed.get(xid)
        if tx is None:
            tx = _new_tx(xid, True)
            self._streamed[xid] = tx
        self._in_stream = True
        self._stream_tx = tx
        return 0

    cdef int _on_stream_commit(self, Frame* f) except -1:
        cdef ReplicationTransaction tx
        frame_need(f, 29)
        xid = frame_uint32(f)
        frame_byte(f)
        commit_lsn = _lsn(f)
        end_lsn = _lsn(f)
        ts = frame_int64(f)
        frame_done(f, b'c')
        self._outside_tx("Stream Commit")
        tx = self._streamed.pop(xid, None)
        if tx is None:
            _bad(f"Stream Commit of transaction {xid}, which was never streamed")
        tx.commit_lsn = commit_lsn
        tx.end_lsn = end_lsn
        tx.commit_time = _make_timestamp(ts, _UTC, "timestamptz")
        tx._subxids = None
        return self._deliver(tx)

    cdef int _on_stream_abort(self, Frame* f) except -1:
        cdef ReplicationTransaction tx
        cdef list keep, keep_x
        cdef Py_ssize_t i
        frame_need(f, 8)
        xid = frame_uint32(f)
        subxid = frame_uint32(f)
        if f.n == 16:                       # streaming 'parallel' (protocol 4)
            _lsn(f)
            frame_int64(f)
        frame_done(f, b'A')
        self._outside_tx("Stream Abort")
        tx = self._streamed.get(xid)
        if tx is None:
            return 0
        if subxid == xid:
            del self._streamed[xid]
            return 0
        keep = []
        keep_x = []
        for i in range(len(tx.changes)):
            if tx._subxids[i] != subxid:
                keep.append(tx.changes[i])
                keep_x.append(tx._subxids[i])
        tx.changes = keep
        tx._subxids = keep_x
        return 0

    cdef int _deliver(self, ReplicationTransaction tx) except -1:
        cdef Py_ssize_t n
        if tx.end_lsn <= self.skip_through:
            return 0                        # acknowledged before: sent again after a reconnect
        self.ready.append(tx)
        n = len(tx.changes)
        self.buffered += n if n > 0 else 1
        if self.waiting:
            self.waiting = False
            if self.on_ready is not None:
                self.on_ready()
        if self.buffered >= self.max_buffered:
            if not self.full:
                self.full = True
                if self.on_full is not None:
                    self.on_full()
            return 1
        return 0

    # ---- changes ---------------------------------------------------------------

    cdef ReplicationTransaction _target(self, Frame* f, str what):
        # The transaction a change belongs to; in a stream block the message
        # starts with the (sub)transaction id.
        if self._in_stream:
            self._subxid = frame_uint32(f)
            return self._stream_tx
        if self._current is None:
            _bad(f"{what} outside a transaction")
        return self._current

    cdef inline int _add(self, ReplicationTransaction tx, Change c) except -1:
        PyList_Append(tx.changes, c)
        if tx._subxids is not None:
            PyList_Append(tx._subxids, self._subxid)
        return 0

    cdef RelationInfo _relation(self, Frame* f):
        cdef uint32_t oid = frame_uint32(f)
        cdef object rel
        if oid == self._last_oid and self._last_rel is not None:
            return self._last_rel
        rel = self._relations.get(oid)
        if rel is None:
            raise ProtocolError(f"change for relation {oid}, which no Relation message described")
        self._last_oid = oid
        self._last_rel = <RelationInfo>rel
        return <RelationInfo>rel

    cdef dict _tuple(self, Frame* f, RelationInfo rel, ReplicationTransaction tx, bint key_only):
        cdef int16_t n = frame_int16(f)
        cdef Py_ssize_t i
        cdef uint8_t k
        cdef int32_t vlen
        cdef decode_func dec
        cdef object val
        cdef dict d
        if n != rel.ncols:
            raise ProtocolError(
                f"tuple of {n} columns for {rel.schema}.{rel.table}, which has {rel.ncols}")
        d = PyDict_Copy(rel.key_template if key_only else rel.template)
        for i in range(n):
            k = frame_byte(f)
            if k == b'b' or k == b't':
                vlen = frame_int32(f)
                if vlen < 0:
                    raise ProtocolError(f"invalid value length {vlen} in tuple data")
                frame_need(f, vlen)
                if key_only and not rel.is_key[i]:
                    f.p += vlen
                    f.n -= vlen
                    continue
                try:
                    if k == b't':
                        val = decode_utf8(f.p, vlen)
                    else:
                        dec = rel.decoders[i]
                        if dec != NULL:
                            val = dec(f.p, vlen)
                        else:
                            val = PyBytes_FromStringAndSize(f.p, vlen)
                except Exception as e:
                    # The framing is intact: the row stays, the error goes with its transaction.
                    if tx.decode_error is None:
                        tx.decode_error = e
                    val = None
                f.p += vlen
                f.n -= vlen
            elif k == b'n':
                if key_only and not rel.is_key[i]:
                    continue
                val = None
            elif k == b'u':
                if key_only and not rel.is_key[i]:
                    continue
                val = _UNCHANGED_TOAST
            else:
                raise ProtocolError(f"unknown tuple value kind {bytes([k])!r}")
            PyDict_SetItem(d, rel.column_names[i], val)
        return d

    cdef int _on_insert(self, Frame* f) except -1:
        cdef ReplicationTransaction tx = self._target(f, "Insert")
        cdef RelationInfo rel = self._relation(f)
        if frame_byte(f) != b'N':
            _bad("Insert without a new tuple")
        new = self._tuple(f, rel, tx, False)
        frame_done(f, b'I')
        return self._add(tx, _new_change("insert", rel, new, None, self._wal_start))

    cdef int _on_update(self, Frame* f) except -1:
        cdef ReplicationTransaction tx = self._target(f, "Update")
        cdef RelationInfo rel = self._relation(f)
        cdef uint8_t k = frame_byte(f)
        old = None
        if k == b'K' or k == b'O':
            old = self._tuple(f, rel, tx, k == b'K')
            k = frame_byte(f)
        if k != b'N':
            _bad("Update without a new tuple")
        new = self._tuple(f, rel, tx, False)
        frame_done(f, b'U')
        return self._add(tx, _new_change("update", rel, new, old, self._wal_start))

    cdef int _on_delete(self, Frame* f) except -1:
        cdef ReplicationTransaction tx = self._target(f, "Delete")
        cdef RelationInfo rel = self._relation(f)
        cdef uint8_t k = frame_byte(f)
        if k != b'K' and k != b'O':
            _bad("Delete without an old key or row")
        old = self._tuple(f, rel, tx, k == b'K')
        frame_done(f, b'D')
        return self._add(tx, _new_change("delete", rel, None, old, self._wal_start))

    cdef int _on_truncate(self, Frame* f) except -1:
        cdef ReplicationTransaction tx = self._target(f, "Truncate")
        cdef int32_t nrels = frame_int32(f)
        cdef int32_t i
        cdef list rels = []
        frame_byte(f)                       # options: CASCADE, RESTART IDENTITY
        if nrels < 0:
            _bad(f"negative relation count {nrels} in Truncate")
        frame_need(f, <Py_ssize_t>nrels * 4)
        for i in range(nrels):
            rels.append(self._relation(f))
        frame_done(f, b'T')
        for rel in rels:
            self._add(tx, _new_change("truncate", <RelationInfo>rel, None, None, self._wal_start))
        return 0

    cdef int _on_message(self, Frame* f) except -1:
        cdef ReplicationTransaction tx
        cdef uint32_t xid = 0
        cdef uint8_t flags
        cdef uint64_t lsn
        cdef int32_t size
        cdef Change c
        if self._in_stream:
            xid = frame_uint32(f)
            self._subxid = xid
        flags = frame_byte(f)
        lsn = _lsn(f)
        prefix = frame_cstr_str(f)
        size = frame_int32(f)
        if size < 0:
            _bad(f"negative content length {size} in Message")
        content = frame_bytes(f, size)
        frame_done(f, b'M')
        c = _new_change("message", None, None, None, lsn)
        c.prefix = prefix
        c.content = content
        if flags & 1:
            tx = self._stream_tx if self._in_stream else self._current
            if tx is None:
                _bad("transactional Message outside a transaction")
            return self._add(tx, c)
        tx = _new_tx(xid, False)
        tx.commit_lsn = lsn
        tx.end_lsn = lsn + 1
        if tx.end_lsn > self.received_lsn:     # so that it can be acknowledged
            self.received_lsn = tx.end_lsn
        tx.changes.append(c)
        return self._deliver(tx)

    # ---- catalog ---------------------------------------------------------------

    cdef int _on_relation(self, Frame* f) except -1:
        cdef RelationInfo rel = RelationInfo.__new__(RelationInfo)
        cdef int16_t ncols
        cdef int16_t i
        cdef list cols = []
        if self._in_stream:
            frame_uint32(f)
        rel.oid = frame_uint32(f)
        ns = frame_cstr_str(f)
        rel.schema = ns if ns else "pg_catalog"
        rel.table = frame_cstr_str(f)
        rel.replica_identity = frame_byte(f)
        ncols = frame_int16(f)
        if ncols < 0:
            _bad(f"negative column count {ncols} in Relation")
        frame_need(f, <Py_ssize_t>ncols * 10)   # each column takes at least 10 bytes
        for i in range(ncols):
            flags = frame_byte(f)
            name = frame_cstr_str(f)
            frame_need(f, 8)
            type_oid = frame_uint32(f)
            typmod = frame_int32(f)
            cols.append((flags, name, type_oid, typmod))
        frame_done(f, b'R')
        rel._setup(cols)
        self._relations[rel.oid] = rel
        if rel.oid == self._last_oid:
            self._last_rel = rel
        return 0

    cdef int _on_type(self, Frame* f) except -1:
        if self._in_stream:
            frame_uint32(f)
        oid = frame_uint32(f)
        ns = frame_cstr_str(f)
        name = frame_cstr_str(f)
        frame_done(f, b'Y')
        self.types[oid] = (ns if ns else "pg_catalog", name)
        return 0


# ---- sans-IO message parsing (no decoding of values) ------------------------------

def parse_copy_both_message(data):
    """One CopyData body of the CopyBoth phase -> XLogData or PrimaryKeepalive."""
    cdef Py_buffer view
    cdef Frame f
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        f.p = <const char*>view.buf
        f.n = view.len
        kind = frame_byte(&f)
        if kind == b'w':
            frame_need(&f, 24)
            wal_start = _lsn(&f)
            wal_end = _lsn(&f)
            send_time = frame_int64(&f)
            return XLogData(wal_start, wal_end, send_time, frame_bytes(&f, f.n))
        if kind == b'k':
            frame_need(&f, 17)
            wal_end = _lsn(&f)
            send_time = frame_int64(&f)
            reply = frame_byte(&f)
            frame_done(&f, b'k')
            return PrimaryKeepalive(wal_end, send_time, reply != 0)
        raise ProtocolError(f"unknown message {bytes([kind])!r} in the CopyBoth stream")
    finally:
        PyBuffer_Release(&view)


cdef tuple _raw_tuple(Frame* f):
    cdef int16_t n = frame_int16(f)
    cdef int16_t i
    cdef int32_t vlen
    cdef uint8_t k
    cdef list out = []
    if n < 0:
        _bad(f"negative column count {n} in tuple data")
    for i in range(n):
        k = frame_byte(f)
        if k == b'n':
            out.append(None)
        elif k == b'u':
            out.append(_UNCHANGED_TOAST)
        elif k == b't' or k == b'b':
            vlen = frame_int32(f)
            if vlen < 0:
                raise ProtocolError(f"invalid value length {vlen} in tuple data")
            frame_need(f, vlen)
            if k == b't':
                out.append(decode_utf8(f.p, vlen))
                f.p += vlen
                f.n -= vlen
            else:
                out.append(frame_bytes(f, vlen))
        else:
            raise ProtocolError(f"unknown tuple value kind {bytes([k])!r}")
    return tuple(out)


def parse_pgoutput_message(data, bint in_stream=False):
    """One pgoutput message (an XLogData's ``data``) -> its typed message
    (``psqlpy._replmessages``).  ``in_stream``: the message is inside a
    Stream Start/Stop block, where changes carry their transaction id."""
    cdef Py_buffer view
    cdef Frame f
    cdef uint8_t t
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        f.p = <const char*>view.buf
        f.n = view.len
        t = frame_byte(&f)
        return _parse_pgoutput(t, &f, in_stream)
    finally:
        PyBuffer_Release(&view)


cdef object _parse_pgoutput(uint8_t t, Frame* f, bint in_stream):
    cdef object xid = None
    cdef int16_t ncols
    cdef int32_t n
    if t == b'B':
        frame_need(f, 20)
        lsn = _lsn(f)
        ts = frame_int64(f)
        msg = Begin(lsn, ts, frame_uint32(f))
    elif t == b'C':
        frame_need(f, 25)
        flags = frame_byte(f)
        lsn = _lsn(f)
        end = _lsn(f)
        msg = Commit(flags, lsn, end, frame_int64(f))
    elif t == b'O':
        frame_need(f, 8)
        lsn = _lsn(f)
        msg = Origin(lsn, frame_cstr_str(f))
    elif t == b'S':
        frame_need(f, 5)
        xid = frame_uint32(f)
        msg = StreamStart(xid, frame_byte(f))
    elif t == b'E':
        msg = StreamStop()
    elif t == b'c':
        frame_need(f, 29)
        xid = frame_uint32(f)
        flags = frame_byte(f)
        lsn = _lsn(f)
        end = _lsn(f)
        msg = StreamCommit(xid, flags, lsn, end, frame_int64(f))
    elif t == b'A':
        frame_need(f, 8)
        xid = frame_uint32(f)
        subxid = frame_uint32(f)
        if f.n == 16:
            lsn = _lsn(f)
            msg = StreamAbort(xid, subxid, lsn, frame_int64(f))
        else:
            msg = StreamAbort(xid, subxid, None, None)
    else:
        if in_stream:
            xid = frame_uint32(f)
        if t == b'R':
            oid = frame_uint32(f)
            ns = frame_cstr_str(f)
            name = frame_cstr_str(f)
            ident = frame_byte(f)
            ncols = frame_int16(f)
            if ncols < 0:
                _bad(f"negative column count {ncols} in Relation")
            frame_need(f, <Py_ssize_t>ncols * 10)
            cols = []
            for _ in range(ncols):
                flags = frame_byte(f)
                cname = frame_cstr_str(f)
                frame_need(f, 8)
                toid = frame_uint32(f)
                cols.append((flags, cname, toid, frame_int32(f)))
            msg = Relation(xid, oid, ns if ns else "pg_catalog", name, chr(ident), tuple(cols))
        elif t == b'Y':
            oid = frame_uint32(f)
            ns = frame_cstr_str(f)
            msg = Type(xid, oid, ns if ns else "pg_catalog", frame_cstr_str(f))
        elif t == b'I':
            oid = frame_uint32(f)
            if frame_byte(f) != b'N':
                _bad("Insert without a new tuple")
            msg = Insert(xid, oid, _raw_tuple(f))
        elif t == b'U':
            oid = frame_uint32(f)
            k = frame_byte(f)
            old_kind = old = None
            if k == b'K' or k == b'O':
                old_kind = chr(k)
                old = _raw_tuple(f)
                k = frame_byte(f)
            if k != b'N':
                _bad("Update without a new tuple")
            msg = Update(xid, oid, old_kind, old, _raw_tuple(f))
        elif t == b'D':
            oid = frame_uint32(f)
            k = frame_byte(f)
            if k != b'K' and k != b'O':
                _bad("Delete without an old key or row")
            msg = Delete(xid, oid, chr(k), _raw_tuple(f))
        elif t == b'T':
            n = frame_int32(f)
            options = frame_byte(f)
            if n < 0:
                _bad(f"negative relation count {n} in Truncate")
            frame_need(f, <Py_ssize_t>n * 4)
            msg = Truncate(xid, options, tuple([frame_uint32(f) for _ in range(n)]))
        elif t == b'M':
            flags = frame_byte(f)
            lsn = _lsn(f)
            prefix = frame_cstr_str(f)
            n = frame_int32(f)
            if n < 0:
                _bad(f"negative content length {n} in Message")
            msg = Message(xid, flags, lsn, prefix, frame_bytes(f, n))
        else:
            raise ProtocolError(f"unknown pgoutput message {bytes([t])!r}")
    frame_done(f, t)
    return msg


# ---- frontend ---------------------------------------------------------------------

def build_standby_status_update(uint64_t written, uint64_t flushed, uint64_t applied,
                                clock=None, bint reply=False):
    """A CopyData message carrying a Standby Status Update: WAL received
    (``written``), processed for good (``flushed``: the slot's confirmed
    position follows it) and applied; ``clock`` in microseconds since
    2000-01-01 UTC (default: now); ``reply``: ask the server to answer at once."""
    cdef WriteBuffer b = WriteBuffer(64)
    cdef int64_t now = pg_now() if clock is None else clock
    b.start_message(b'd')
    b.write_byte(b'r')
    b.write_int64(<int64_t>written)
    b.write_int64(<int64_t>flushed)
    b.write_int64(<int64_t>applied)
    b.write_int64(now)
    b.write_byte(1 if reply else 0)
    b.end_message()
    return b.to_bytes()
