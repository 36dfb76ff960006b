"""Differential tests: the Cython logical replication decoding against the
pure-Python reference (``psqlpy._pyreplication``).

Random valid replication sessions (relations, regular and streamed
transactions with subtransaction aborts, logical messages, keepalives) are
encoded by an encoder written here, independent of both decoders.  As a byte
stream split at random chunk boundaries, they go through the connection's
core (CopyBothResponse, then CopyData routed to a LogicalDecoder in C) and
through the reference (PyMessageReader, then PyLogicalDecoder); both must
return exactly the transactions the encoder meant.  Hostile bodies (bit flips,
truncations, garbage) must give the same outcome in both: the same
transactions, then the same exception class at the same message.
"""
from __future__ import annotations

import datetime
import decimal
import os
import struct
import uuid
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psqlpy import _replmessages as rm
from psqlpy._pyprotocol import PyMessageReader
from psqlpy._pyreplication import PyLogicalDecoder
from psqlpy._pyreplication import parse_copy_both_message as py_parse_copy_both
from psqlpy._pyreplication import parse_pgoutput_message as py_parse_pgoutput
from psqlpy.exceptions import ProtocolError

protocol = pytest.importorskip("psqlpy.protocol")
UNCHANGED = protocol.UNCHANGED_TOAST

# Sessions are large examples: fewer of them than the parser's tests take
# (PSQLPY_HYPOTHESIS_EXAMPLES raises it for a longer hunt).
SETTINGS = settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "40")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- encoder -----------------------------------------------------------------------------


def _cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def frame(code: bytes, body: bytes) -> bytes:
    return code + struct.pack("!I", len(body) + 4) + body


def xlog(wal_start: int, data: bytes) -> bytes:
    return b"w" + struct.pack("!QQq", wal_start, wal_start, 0) + data


def keepalive(wal_end: int, reply: bool) -> bytes:
    return b"k" + struct.pack("!Qqb", wal_end, 0, reply)


def _xid(xid) -> bytes:
    return b"" if xid is None else struct.pack("!I", xid)


def tuple_data(values) -> bytes:
    out = struct.pack("!h", len(values))
    for kind, raw in values:
        out += kind + (b"" if raw is None else struct.pack("!i", len(raw)) + raw)
    return out


def relation(oid, schema, table, cols, xid=None) -> bytes:
    body = b"R" + _xid(xid) + struct.pack("!I", oid) + _cstr(schema) + _cstr(table) + b"d"
    body += struct.pack("!h", len(cols))
    for flags, name, type_oid in cols:
        body += struct.pack("!b", flags) + _cstr(name) + struct.pack("!Ii", type_oid, -1)
    return body


# ---- random sessions -------------------------------------------------------------------------

PG_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=_SURROGATES), max_size=12)

# (type OID, strategy of values that round-trip through the binary codecs)
TYPES = [
    (23, st.integers(-2**31, 2**31 - 1)),
    (20, st.integers(-2**63, 2**63 - 1)),
    (25, TEXT),
    (16, st.booleans()),
    (701, st.floats(allow_nan=False)),
    (17, st.binary(max_size=20)),
    (1700, st.decimals(allow_nan=False, allow_infinity=False, places=3,
                       min_value=-10**9, max_value=10**9)),
    (2950, st.uuids()),
    (1184, st.datetimes(min_value=datetime.datetime(1990, 1, 1), max_value=datetime.datetime(2100, 1, 1),
                        timezones=st.just(datetime.timezone.utc))),
    (3802, st.dictionaries(TEXT, st.integers(-100, 100), max_size=3)),
    (1007, st.lists(st.integers(-2**31, 2**31 - 1), max_size=4)),
    (99999, st.binary(max_size=10)),          # no codec: bytes as sent
]


def encode_value(oid, value) -> bytes:
    if oid == 99999:
        return value
    fmt, raw = protocol._encode_param(oid, value)
    assert fmt == 1
    return raw


@st.composite
def cell(draw, oid, strat, key):
    """(wire kind + bytes, expected value)."""
    choice = draw(st.integers(0, 9))
    if choice == 0 and not key:
        return (b"n", None), None
    if choice == 1 and not key:
        return (b"u", None), UNCHANGED
    if choice == 2:
        text = draw(TEXT)
        return (b"t", text.encode()), text
    v = draw(strat)
    if oid == 1700:
        v = decimal.Decimal(v)
    return (b"b", encode_value(oid, v)), v


class Session:
    """Builds the bodies of a session and the transactions they mean."""

    def __init__(self):
        self.lsn = 0x1000000
        self.bodies: list[bytes] = []
        self.expected: list = []

    def next_lsn(self) -> int:
        self.lsn += 0x40
        return self.lsn

    def add(self, data) -> int:
        """Append an XLogData at the next LSN; ``data`` may be a function of that LSN."""
        at = self.next_lsn()
        self.bodies.append(xlog(at, data(at) if callable(data) else data))
        return at


@st.composite
def relations(draw):
    rels = []
    for i in range(draw(st.integers(1, 3))):
        ncols = draw(st.integers(1, 4))
        types = [draw(st.sampled_from(TYPES)) for _ in range(ncols)]
        cols = [(1 if j == 0 else 0, f"c{j}", types[j][0]) for j in range(ncols)]
        rels.append((16384 + i, "public" if i else "", f"t{i}", cols, [t[1] for t in types]))
    return rels


@st.composite
def change(draw, rels, xid):
    """(pgoutput body builder given the xid prefix, expected Change fields)."""
    oid, schema, table, cols, strats = draw(st.sampled_from(rels))
    schema = schema or "pg_catalog"
    kind = draw(st.sampled_from(["insert", "update", "delete", "truncate"]))

    def row(key_only=False):
        cells = [draw(cell(c[2], s, c[0] & 1)) for c, s in zip(cols, strats)]
        wire = [w for w, _ in cells]
        exp = {c[1]: v for c, (_, v) in zip(cols, cells) if not key_only or c[0] & 1}
        return wire, exp

    if kind == "insert":
        new_w, new = row()
        return (lambda x: b"I" + _xid(x) + struct.pack("!I", oid) + b"N" + tuple_data(new_w)), \
            ("insert", schema, table, new, None)
    if kind == "update":
        old_kind = draw(st.sampled_from([None, b"K", b"O"]))
        old_w, old = row(old_kind == b"K") if old_kind else (None, None)
        new_w, new = row()
        return (lambda x: b"U" + _xid(x) + struct.pack("!I", oid)
                + (old_kind + tuple_data(old_w) if old_kind else b"") + b"N" + tuple_data(new_w)), \
            ("update", schema, table, new, old)
    if kind == "delete":
        old_kind = draw(st.sampled_from([b"K", b"O"]))
        old_w, old = row(old_kind == b"K")
        return (lambda x: b"D" + _xid(x) + struct.pack("!I", oid) + old_kind + tuple_data(old_w)), \
            ("delete", schema, table, None, old)
    return (lambda x: b"T" + _xid(x) + struct.pack("!ib", 1, 0) + struct.pack("!I", oid)), \
        ("truncate", schema, table, None, None)


def _ts(draw) -> tuple[int, datetime.datetime]:
    us = draw(st.integers(0, 3 * 10**15))
    return us, PG_EPOCH + datetime.timedelta(microseconds=us)


@st.composite
def sessions(draw):
    s = Session()
    rels = draw(relations())
    for oid, schema, table, cols, _ in rels:
        s.add(relation(oid, schema, table, cols))
    xid = 700
    for _ in range(draw(st.integers(1, 6))):
        what = draw(st.sampled_from(["tx", "tx", "streamed", "message", "keepalive"]))
        xid += 1
        if what == "keepalive":
            s.bodies.append(keepalive(s.lsn, draw(st.booleans())))
        elif what == "message":
            content = draw(st.binary(max_size=20))
            lsn = s.add(lambda at: b"M" + struct.pack("!bQ", 0, at) + _cstr("pfx")
                        + struct.pack("!i", len(content)) + content)
            s.expected.append((0, lsn, lsn + 1, None,
                               [protocol.Change("message", prefix="pfx", content=content, lsn=lsn)]))
        elif what == "tx":
            us, when = _ts(draw)
            final = s.lsn + 0x1000
            s.add(b"B" + struct.pack("!QqI", final, us, xid))
            changes = []
            for _ in range(draw(st.integers(0, 4))):
                build, exp = draw(change(rels, xid))
                at = s.add(build(None))
                changes.append(protocol.Change(*exp, lsn=at))
            if draw(st.booleans()):
                at = s.add(lambda at: b"M" + struct.pack("!bQ", 1, at) + _cstr("in")
                           + struct.pack("!i", 1) + b"x")
                changes.append(protocol.Change("message", prefix="in", content=b"x", lsn=at))
            commit_lsn = s.next_lsn()
            end = commit_lsn + 0x30
            s.add(b"C" + struct.pack("!bQQq", 0, commit_lsn, end, us))
            s.expected.append((xid, commit_lsn, end, when, changes))
        else:
            us, when = _ts(draw)
            subs = [xid, xid + 1000, xid + 2000]
            kept: list = []
            for block in range(draw(st.integers(1, 3))):
                s.add(b"S" + struct.pack("!Ib", xid, block == 0))
                for _ in range(draw(st.integers(0, 3))):
                    sub = draw(st.sampled_from(subs))
                    build, exp = draw(change(rels, xid))
                    at = s.add(build(sub))
                    kept.append((sub, protocol.Change(*exp, lsn=at)))
                s.add(b"E")
                if draw(st.integers(0, 3)) == 0:
                    sub = draw(st.sampled_from(subs[1:]))
                    s.add(b"A" + struct.pack("!II", xid, sub))
                    kept = [(x, c) for x, c in kept if x != sub]
            if draw(st.integers(0, 4)) == 0:
                s.add(b"A" + struct.pack("!II", xid, xid))        # the whole transaction
                continue
            commit_lsn = s.next_lsn()
            end = commit_lsn + 0x30
            s.add(b"c" + struct.pack("!IbQQq", xid, 0, commit_lsn, end, us))
            s.expected.append((xid, commit_lsn, end, when, [c for _, c in kept]))
    return s


def expected_txs(s: Session):
    return [protocol.ReplicationTransaction(xid, lsn, end, when, changes)
            for xid, lsn, end, when, changes in s.expected]


def wire(s: Session) -> bytes:
    return frame(b"W", struct.pack("!bh", 0, 0)) + b"".join(frame(b"d", b) for b in s.bodies)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points + [len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


class _Waiter:
    def __init__(self):
        self.value = self.error = None
        self._done = False

    def done(self):
        return self._done

    def set_result(self, v):
        self._done, self.value = True, v

    def set_exception(self, e):
        self._done, self.error = True, e


def run_cython(chunks, max_buffered=10_000):
    core = protocol.CoreProtocol()
    dec = protocol.LogicalDecoder(max_buffered)
    core.copy_both_sink = dec
    core.start_startup(lambda m: None)
    core.end_startup()
    waiter = _Waiter()
    core.push_request(protocol.Request(protocol.REQUEST_SIMPLE, waiter))
    out = []
    for chunk in chunks:
        core.feed(chunk)
        while True:
            while (tx := dec.pop()) is not None:
                out.append(tx)
            if not core.paused:
                break
            core.resume()
    return out, core.error or waiter.error


def run_python(chunks, max_buffered=10_000):
    reader = PyMessageReader()
    dec = PyLogicalDecoder(max_buffered)
    out = []
    try:
        for chunk in chunks:
            for msg in reader.feed(chunk):
                if type(msg).__name__ == "CopyData":
                    dec.feed_copy_data(msg.data)
                    while (tx := dec.pop()) is not None:
                        out.append(tx)
    except Exception as e:   # noqa: BLE001 - compared below
        return out, e
    return out, None


# ---- tests -------------------------------------------------------------------------------------


@SETTINGS
@given(sessions(), st.lists(st.integers(0, 10**6), max_size=8), st.integers(1, 6))
def test_random_sessions_split_anywhere(session, cuts, max_buffered):
    data = wire(session)
    chunks = split(data, cuts)
    want = expected_txs(session)
    got_c, err_c = run_cython(chunks, max_buffered)
    got_p, err_p = run_python(chunks, max_buffered)
    assert err_c is None and err_p is None, (err_c, err_p)
    assert got_c == want
    assert got_p == want
    for a, b in zip(got_c, got_p):
        assert a.decode_error is None and b.decode_error is None


@SETTINGS
@given(sessions())
def test_message_level_parsers_agree(session):
    in_stream = False
    for body in session.bodies:
        c = protocol.parse_copy_both_message(body)
        p = py_parse_copy_both(body)
        assert c == p
        if isinstance(c, rm.XLogData):
            mc = protocol.parse_pgoutput_message(c.data, in_stream)
            mp = py_parse_pgoutput(c.data, in_stream)
            assert mc == mp
            if isinstance(mc, rm.StreamStart):
                in_stream = True
            elif isinstance(mc, rm.StreamStop):
                in_stream = False


def _outcome(decoder, bodies, pops) -> list:
    """Feed body by body; record what each call returns and the state after it."""
    trace: list[tuple] = []
    for i, body in enumerate(bodies):
        try:
            full = decoder.feed_copy_data(body)
        except Exception as e:   # noqa: BLE001
            trace.append(("error", i, type(e)))
            break
        popped = []
        for _ in range(pops[i % len(pops)] if pops else 0):
            tx = decoder.pop()
            if tx is None:
                break
            popped.append((tx, type(tx.decode_error)))
        trace.append((full, decoder.buffered, decoder.full, decoder.received_lsn,
                      decoder.keepalive_lsn, decoder.in_transaction, popped))
    return trace


@st.composite
def mutated(draw):
    s = draw(sessions())
    bodies = list(s.bodies)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(bodies) - 1))
        b = bytearray(bodies[i])
        how = draw(st.integers(0, 3))
        if how == 0 and b:
            j = draw(st.integers(0, len(b) - 1))
            b[j] ^= 1 << draw(st.integers(0, 7))
        elif how == 1:
            del b[draw(st.integers(0, len(b))):]
        elif how == 2:
            b += draw(st.binary(min_size=1, max_size=8))
        else:
            b[draw(st.integers(0, len(b))):draw(st.integers(0, len(b)))] = draw(st.binary(max_size=6))
        bodies[i] = bytes(b)
    return bodies


@SETTINGS
@given(mutated(), st.lists(st.integers(0, 3), max_size=5), st.integers(1, 5),
       st.integers(0, 0x2000000))
def test_hostile_bodies_same_outcome(bodies, pops, max_buffered, skip_through):
    c = protocol.LogicalDecoder(max_buffered)
    p = PyLogicalDecoder(max_buffered)
    c.skip_through = p.skip_through = skip_through
    assert _outcome(c, bodies, pops) == _outcome(p, bodies, pops)
    for body in bodies:
        for parse in ((protocol.parse_copy_both_message, py_parse_copy_both),):
            try:
                a = parse[0](body)
            except ProtocolError:
                with pytest.raises(ProtocolError):
                    parse[1](body)
                continue
            assert a == parse[1](body)


def test_skip_through_drops_acknowledged_transactions():
    s = Session()
    s.add(relation(1, "public", "t", [(1, "id", 23)]))
    ends = []
    for xid in (10, 11, 12):
        s.add(b"B" + struct.pack("!QqI", 0, 0, xid))
        s.add(b"I" + struct.pack("!I", 1) + b"N" + tuple_data([(b"b", struct.pack("!i", xid))]))
        lsn = s.next_lsn()
        s.add(b"C" + struct.pack("!bQQq", 0, lsn, lsn + 8, 0))
        ends.append(lsn + 8)
    for dec in (protocol.LogicalDecoder(), PyLogicalDecoder()):
        dec.skip_through = ends[1]        # acknowledged through the second
        for body in s.bodies:
            dec.feed_copy_data(body)
        got = [dec.pop() for _ in range(2)]
        assert got[1] is None and got[0].xid == 12 and got[0].changes[0].new == {"id": 12}


def test_backpressure_accounting():
    s = Session()
    s.add(relation(1, "public", "t", [(1, "id", 23)]))
    for xid in range(20):
        s.add(b"B" + struct.pack("!QqI", 0, 0, xid + 1))
        for _ in range(3):
            s.add(b"I" + struct.pack("!I", 1) + b"N" + tuple_data([(b"b", struct.pack("!i", xid))]))
        lsn = s.next_lsn()
        s.add(b"C" + struct.pack("!bQQq", 0, lsn, lsn + 8, 0))
    for dec in (protocol.LogicalDecoder(7), PyLogicalDecoder(7)):
        fulls = []
        dec.on_full = lambda: fulls.append(dec.buffered)
        results = [dec.feed_copy_data(b) for b in s.bodies[:1 + 5 * 3]]
        assert results.count(True) == 1 and results[-1] is True and dec.full
        assert dec.buffered == 9 and fulls == [9]
        dec.pop()
        assert dec.full                      # 6 > 7 // 2
        dec.pop()
        assert not dec.full and dec.buffered == 3


def test_decode_error_stays_with_its_transaction():
    s = Session()
    s.add(relation(1, "public", "t", [(1, "id", 23), (0, "d", 1082)]))
    s.add(b"B" + struct.pack("!QqI", 0, 0, 5))
    s.add(b"I" + struct.pack("!I", 1) + b"N" + tuple_data([(b"b", struct.pack("!i", 1)),
                                                            (b"b", b"\x00\x01")]))  # 2-byte date
    s.add(b"I" + struct.pack("!I", 1) + b"N" + tuple_data([(b"b", struct.pack("!i", 2)),
                                                            (b"t", b"\xff")]))      # bad UTF-8
    s.add(b"C" + struct.pack("!bQQq", 0, 0x100, 0x108, 0))
    for dec in (protocol.LogicalDecoder(), PyLogicalDecoder()):
        for body in s.bodies:
            dec.feed_copy_data(body)
        tx = dec.pop()
        assert [c.new for c in tx.changes] == [{"id": 1, "d": None}, {"id": 2, "d": None}]
        assert isinstance(tx.decode_error, ProtocolError)


@pytest.mark.parametrize("body", [
    b"", b"x", b"w" + b"\0" * 23, b"k" + b"\0" * 16, b"k" + b"\0" * 18,
    xlog(1, b""), xlog(1, b"Z"), xlog(1, b"I\0\0\0\1N\0\0"),        # unknown relation
    xlog(1, b"C" + b"\0" * 25), xlog(1, b"E"), xlog(1, b"c" + b"\0" * 29),
    xlog(1, b"B" + b"\0" * 19), xlog(1, b"R\0\0\0\1\0\0d\xff\xff"),   # negative column count
    xlog(1, b"M\1" + b"\0" * 8 + b"p\0" + struct.pack("!i", -1)),
    xlog(1, b"M\1" + b"\0" * 8 + b"p\0" + struct.pack("!i", 100) + b"short"),
])
def test_malformed_bodies_raise_protocol_error(body):
    for dec in (protocol.LogicalDecoder(), PyLogicalDecoder()):
        with pytest.raises(ProtocolError):
            dec.feed_copy_data(body)


def test_status_update_bytes():
    msg = protocol.build_standby_status_update(0x10, 0x8, 0x8, clock=42, reply=True)
    assert msg == frame(b"d", b"r" + struct.pack("!QQQqb", 0x10, 0x8, 0x8, 42, 1))
    assert protocol.format_lsn(0x1_0000_00A0) == "1/A0"
    assert protocol.parse_lsn("1/A0") == 0x1_0000_00A0
    for bad in ("", "1", "1/", "/1", "x/1", "123456789/0"):
        with pytest.raises(ValueError):
            protocol.parse_lsn(bad)
    assert protocol.pg_time_to_datetime(0) == PG_EPOCH
    _ = uuid  # (uuids come from the strategies)
