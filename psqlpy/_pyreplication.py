"""A pure-Python reference for the logical replication decoding of ``psqlpy.protocol``.

Like ``psqlpy._pyprotocol`` for backend messages, it exists for differential
testing (``tests/test_replication_differential.py`` feeds the same streams,
split at random chunk boundaries, to both and requires identical results)
and as the readable statement of the formats and checks.  It is not used on
any path of the driver.

* ``parse_copy_both_message(body)`` / ``parse_pgoutput_message(data, in_stream)``:
  one message -> its typed object (``psqlpy._replmessages``), as the Cython
  functions of the same names.
* ``PyLogicalDecoder``: the semantics of ``psqlpy.protocol.LogicalDecoder``
  (transactions assembled, streamed ones included; backpressure accounting;
  ``skip_through``; a value the codecs reject is recorded on its transaction,
  a malformed message raises ProtocolError).  Values are decoded by the
  binary codecs themselves (``psqlpy.protocol._decode_binary``): the codecs
  have tests of their own; what is compared here is the framing and the
  assembly.
"""
from __future__ import annotations

import collections
import struct

from . import _replmessages as rm
from .exceptions import ProtocolError
from .protocol import (
    UNCHANGED_TOAST,
    Change,
    ReplicationTransaction,
    _binary_decoder_oids,
    _decode_binary,
    pg_time_to_datetime,
)

__all__ = ["PyLogicalDecoder", "parse_copy_both_message", "parse_pgoutput_message"]

_DECODABLE = frozenset(_binary_decoder_oids())


class _Body:
    """A bounded cursor over one message; every read checks the bound."""

    __slots__ = ("data", "pos")

    def __init__(self, data) -> None:
        self.data = bytes(data)
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, k: int) -> bytes:
        if k < 0 or self.left < k:
            raise ProtocolError(f"truncated message: needed {k} more bytes, {self.left} left")
        b = self.data[self.pos:self.pos + k]
        self.pos += k
        return b

    def _unpack(self, fmt: str, k: int):
        return struct.unpack(fmt, self.take(k))[0]

    def byte(self) -> int:
        return self.take(1)[0]

    def i16(self) -> int:
        return self._unpack("!h", 2)

    def i32(self) -> int:
        return self._unpack("!i", 4)

    def u32(self) -> int:
        return self._unpack("!I", 4)

    def i64(self) -> int:
        return self._unpack("!q", 8)

    def u64(self) -> int:
        return self._unpack("!Q", 8)

    def cstr(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ProtocolError("missing NUL terminator")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        return _utf8(raw)

    def done(self, what: str) -> None:
        if self.left:
            raise ProtocolError(f"{self.left} unexpected trailing bytes in {what}")


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"invalid UTF-8 from the server: {e}") from None


def parse_copy_both_message(data):
    b = _Body(data)
    kind = b.byte()
    if kind == ord("w"):
        wal_start, wal_end, send_time = b.u64(), b.u64(), b.i64()
        return rm.XLogData(wal_start, wal_end, send_time, b.take(b.left))
    if kind == ord("k"):
        wal_end, send_time, reply = b.u64(), b.i64(), b.byte()
        b.done("PrimaryKeepalive")
        return rm.PrimaryKeepalive(wal_end, send_time, reply != 0)
    raise ProtocolError(f"unknown message {bytes([kind])!r} in the CopyBoth stream")


def _raw_tuple(b: _Body, raw: bool = False) -> tuple:
    """Tuple data: None, UNCHANGED_TOAST, str (text) or bytes (binary); with
    ``raw``, a text value stays ``("t", bytes)`` (its UTF-8 is checked when
    it is decoded, a value's error rather than the message's)."""
    n = b.i16()
    if n < 0:
        raise ProtocolError(f"negative column count {n} in tuple data")
    out = []
    for _ in range(n):
        k = b.byte()
        if k == ord("n"):
            out.append(None)
        elif k == ord("u"):
            out.append(UNCHANGED_TOAST)
        elif k in (ord("t"), ord("b")):
            size = b.i32()
            if size < 0:
                raise ProtocolError(f"invalid value length {size} in tuple data")
            data = b.take(size)
            if k == ord("b"):
                out.append(data)
            else:
                out.append(("t", data) if raw else _utf8(data))
        else:
            raise ProtocolError(f"unknown tuple value kind {bytes([k])!r}")
    return tuple(out)


def _columns(b: _Body, ncols: int) -> tuple:
    if ncols < 0:
        raise ProtocolError(f"negative column count {ncols} in Relation")
    if b.left < ncols * 10:
        raise ProtocolError("truncated Relation")
    cols = []
    for _ in range(ncols):
        flags = b.byte()
        name = b.cstr()
        cols.append((flags, name, b.u32(), b.i32()))
    return tuple(cols)


def parse_pgoutput_message(data, in_stream: bool = False, _raw: bool = False):
    b = _Body(data)
    t = chr(b.byte())
    if t == "B":
        msg = rm.Begin(b.u64(), b.i64(), b.u32())
    elif t == "C":
        msg = rm.Commit(b.byte(), b.u64(), b.u64(), b.i64())
    elif t == "O":
        msg = rm.Origin(b.u64(), b.cstr())
    elif t == "S":
        msg = rm.StreamStart(b.u32(), b.byte())
    elif t == "E":
        msg = rm.StreamStop()
    elif t == "c":
        msg = rm.StreamCommit(b.u32(), b.byte(), b.u64(), b.u64(), b.i64())
    elif t == "A":
        xid, subxid = b.u32(), b.u32()
        if b.left == 16:
            msg = rm.StreamAbort(xid, subxid, b.u64(), b.i64())
        else:
            msg = rm.StreamAbort(xid, subxid, None, None)
    else:
        xid = b.u32() if in_stream else None
        if t == "R":
            oid, ns, name, ident = b.u32(), b.cstr(), b.cstr(), b.byte()
            msg = rm.Relation(xid, oid, ns or "pg_catalog", name, chr(ident), _columns(b, b.i16()))
        elif t == "Y":
            oid, ns = b.u32(), b.cstr()
            msg = rm.Type(xid, oid, ns or "pg_catalog", b.cstr())
        elif t == "I":
            oid = b.u32()
            if b.byte() != ord("N"):
                raise ProtocolError("Insert without a new tuple")
            msg = rm.Insert(xid, oid, _raw_tuple(b, _raw))
        elif t == "U":
            oid = b.u32()
            k = b.byte()
            old_kind = old = None
            if k in (ord("K"), ord("O")):
                old_kind, old = chr(k), _raw_tuple(b, _raw)
                k = b.byte()
            if k != ord("N"):
                raise ProtocolError("Update without a new tuple")
            msg = rm.Update(xid, oid, old_kind, old, _raw_tuple(b, _raw))
        elif t == "D":
            oid = b.u32()
            k = b.byte()
            if k not in (ord("K"), ord("O")):
                raise ProtocolError("Delete without an old key or row")
            msg = rm.Delete(xid, oid, chr(k), _raw_tuple(b, _raw))
        elif t == "T":
            n, options = b.i32(), b.byte()
            if n < 0:
                raise ProtocolError(f"negative relation count {n} in Truncate")
            msg = rm.Truncate(xid, options, tuple(b.u32() for _ in range(n)))
        elif t == "M":
            flags, lsn, prefix, size = b.byte(), b.u64(), b.cstr(), b.i32()
            if size < 0:
                raise ProtocolError(f"negative content length {size} in Message")
            msg = rm.Message(xid, flags, lsn, prefix, b.take(size))
        else:
            raise ProtocolError(f"unknown pgoutput message {t.encode('latin-1')!r}")
    b.done(t)
    return msg


class _Rel:
    def __init__(self, msg) -> None:
        self.oid = msg.oid
        self.schema = msg.namespace
        self.table = msg.name
        self.columns = msg.columns
        self.names = [c[1] for c in msg.columns]
        self.is_key = [bool(c[0] & 1) for c in msg.columns]
        self.oids = [c[2] for c in msg.columns]


class _Tx:
    """A transaction being received."""

    def __init__(self, xid: int, streamed: bool) -> None:
        self.xid = xid
        self.changes: list = []
        self.subxids: list | None = [] if streamed else None
        self.origin = None
        self.error: BaseException | None = None


class PyLogicalDecoder:
    """The reference for ``psqlpy.protocol.LogicalDecoder`` (same attributes)."""

    def __init__(self, max_buffered: int = 10_000) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.max_buffered = max_buffered
        self.ready: collections.deque = collections.deque()
        self.types: dict = {}
        self.relations: dict = {}
        self.received_lsn = 0
        self.keepalive_lsn = 0
        self.skip_through = 0
        self.waiting = False
        self.on_ready = self.on_full = self.on_reply_requested = None
        self.reset()

    def reset(self) -> None:
        self.relations.clear()
        self.types.clear()
        self._current: _Tx | None = None
        self._streamed: dict[int, _Tx] = {}
        self._stream_tx: _Tx | None = None
        self.ready.clear()
        self.buffered = 0
        self.full = False

    @property
    def in_transaction(self) -> bool:
        return self._current is not None or self._stream_tx is not None or bool(self._streamed)

    def pop(self):
        if not self.ready:
            return None
        tx = self.ready.popleft()
        self.buffered -= len(tx.changes) or 1
        if self.full and self.buffered <= self.max_buffered // 2:
            self.full = False
        return tx

    # ---- messages ------------------------------------------------------------------

    def feed_copy_data(self, data) -> bool:
        msg = parse_copy_both_message(data)
        if isinstance(msg, rm.PrimaryKeepalive):
            self.received_lsn = max(self.received_lsn, msg.wal_end)
            self.keepalive_lsn = msg.wal_end
            if msg.reply_requested and self.on_reply_requested is not None:
                self.on_reply_requested()
            return False
        self.received_lsn = max(self.received_lsn, msg.wal_end)
        return self._pgoutput(msg.wal_start, msg.data) == 1

    def _pgoutput(self, wal_start: int, data: bytes) -> int:
        in_stream = self._stream_tx is not None
        msg = parse_pgoutput_message(data, in_stream, True)
        t = type(msg)
        if t is rm.Begin:
            self._outside_tx("Begin")
            self._current = _Tx(msg.xid, False)
            return 0
        if t is rm.Commit:
            tx = self._current
            if tx is None or in_stream:
                raise ProtocolError("Commit outside a transaction")
            self._current = None
            return self._deliver(tx, msg.commit_lsn, msg.end_lsn, pg_time_to_datetime(msg.commit_time))
        if t is rm.Origin:
            tx = self._current or self._stream_tx
            if tx is None:
                raise ProtocolError("Origin outside a transaction")
            tx.origin = msg.name
            return 0
        if t is rm.StreamStart:
            self._outside_tx("Stream Start")
            tx = self._streamed.get(msg.xid)
            if tx is None:
                tx = self._streamed[msg.xid] = _Tx(msg.xid, True)
            self._stream_tx = tx
            return 0
        if t is rm.StreamStop:
            if not in_stream:
                raise ProtocolError("Stream Stop outside a stream block")
            self._stream_tx = None
            return 0
        if t is rm.StreamCommit:
            self._outside_tx("Stream Commit")
            tx = self._streamed.pop(msg.xid, None)
            if tx is None:
                raise ProtocolError(f"Stream Commit of transaction {msg.xid}, which was never streamed")
            return self._deliver(tx, msg.commit_lsn, msg.end_lsn, pg_time_to_datetime(msg.commit_time))
        if t is rm.StreamAbort:
            self._outside_tx("Stream Abort")
            tx = self._streamed.get(msg.xid)
            if tx is not None:
                if msg.subxid == msg.xid:
                    del self._streamed[msg.xid]
                else:
                    kept = [(c, x) for c, x in zip(tx.changes, tx.subxids) if x != msg.subxid]
                    tx.changes = [c for c, _ in kept]
                    tx.subxids = [x for _, x in kept]
            return 0
        if t is rm.Relation:
            self.relations[msg.oid] = _Rel(msg)
            return 0
        if t is rm.Type:
            self.types[msg.oid] = (msg.namespace, msg.name)
            return 0
        if t is rm.Message:
            change = Change("message", prefix=msg.prefix, content=msg.content, lsn=msg.lsn)
            if msg.flags & 1:
                tx = self._stream_tx if in_stream else self._current
                if tx is None:
                    raise ProtocolError("transactional Message outside a transaction")
                self._add(tx, change, msg.xid)
                return 0
            alone = _Tx(msg.xid or 0, False)
            alone.changes.append(change)
            self.received_lsn = max(self.received_lsn, msg.lsn + 1)
            return self._deliver(alone, msg.lsn, msg.lsn + 1, None)
        # Insert, Update, Delete, Truncate
        tx = self._stream_tx if in_stream else self._current
        if tx is None:
            raise ProtocolError(f"{t.__name__} outside a transaction")
        if t is rm.Truncate:
            rels = [self._relation(oid) for oid in msg.relation_oids]
            for rel in rels:
                self._add(tx, Change("truncate", rel.schema, rel.table, lsn=wal_start), msg.xid)
            return 0
        rel = self._relation(msg.relation_oid)
        if t is rm.Insert:
            change = Change("insert", rel.schema, rel.table, self._row(tx, rel, msg.new, False),
                            None, lsn=wal_start)
        elif t is rm.Update:
            old = None if msg.old is None else self._row(tx, rel, msg.old, msg.old_kind == "K")
            change = Change("update", rel.schema, rel.table, self._row(tx, rel, msg.new, False),
                            old, lsn=wal_start)
        else:
            change = Change("delete", rel.schema, rel.table, None,
                            self._row(tx, rel, msg.old, msg.old_kind == "K"), lsn=wal_start)
        self._add(tx, change, msg.xid)
        return 0

    def _outside_tx(self, what: str) -> None:
        if self._current is not None or self._stream_tx is not None:
            raise ProtocolError(f"{what} inside a transaction")

    def _relation(self, oid: int) -> _Rel:
        rel = self.relations.get(oid)
        if rel is None:
            raise ProtocolError(f"change for relation {oid}, which no Relation message described")
        return rel

    @staticmethod
    def _add(tx: _Tx, change, subxid) -> None:
        tx.changes.append(change)
        if tx.subxids is not None:
            tx.subxids.append(subxid)

    @staticmethod
    def _row(tx: _Tx, rel: _Rel, values: tuple, key_only: bool) -> dict:
        if len(values) != len(rel.names):
            raise ProtocolError(f"tuple of {len(values)} columns for {rel.schema}.{rel.table}, "
                                f"which has {len(rel.names)}")
        row = {}
        for name, is_key, oid, v in zip(rel.names, rel.is_key, rel.oids, values):
            if key_only and not is_key:
                continue
            try:
                if isinstance(v, tuple):
                    v = _utf8(v[1])
                elif isinstance(v, bytes) and oid in _DECODABLE:
                    v = _decode_binary(oid, v)
            except Exception as e:
                if tx.error is None:
                    tx.error = e
                v = None
            row[name] = v
        return row

    def _deliver(self, tx: _Tx, commit_lsn: int, end_lsn: int, commit_time) -> int:
        if end_lsn <= self.skip_through:
            return 0
        self.ready.append(ReplicationTransaction(tx.xid, commit_lsn, end_lsn, commit_time,
                                                 tx.changes, tx.origin, tx.error))
        self.buffered += len(tx.changes) or 1
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
