"""Differential tests: the Cython MessageReader against the pure-Python reference.

Random valid backend messages are encoded by an encoder written here (independent of
both parsers), concatenated, split at random chunk boundaries and fed to both readers;
both must return exactly the messages the encoder meant.  Hostile streams (garbage,
bit flips, truncations, forged length words) must produce the same outcome in both:
the same messages, then the same exception class at the same feed call.
"""
from __future__ import annotations

import os
import struct
import tracemalloc
from typing import Any, Literal, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psqlpy import _messages as m
from psqlpy._pyprotocol import PyMessageReader
from psqlpy.exceptions import ProtocolError

protocol = pytest.importorskip("psqlpy.protocol")
MessageReader = protocol.MessageReader

# PSQLPY_HYPOTHESIS_EXAMPLES=5000 for a longer hunt.
SETTINGS = settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "300")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --------------------------------------------------------------------------------------
# Encoder: message object -> wire bytes
# --------------------------------------------------------------------------------------


def _frame(code: bytes, body: bytes) -> bytes:
    return code + struct.pack("!I", len(body) + 4) + body


def _cstr(s: str) -> bytes:
    return s.encode("utf-8") + b"\0"


def _i16(v):
    return struct.pack("!h", v)


def _i32(v):
    return struct.pack("!i", v)


def _u32(v):
    return struct.pack("!I", v)


def _error_body(fields: dict) -> bytes:
    return b"".join(k.encode("latin-1") + _cstr(v) for k, v in fields.items()) + b"\0"


def encode(message: m.BackendMessage) -> bytes:
    t = type(message)
    msg: Any = message  # the dispatch is on ``t``, which does not narrow ``message``
    if t is m.AuthenticationOk:
        return _frame(b"R", _i32(0))
    if t is m.AuthenticationCleartextPassword:
        return _frame(b"R", _i32(3))
    if t is m.AuthenticationMD5Password:
        return _frame(b"R", _i32(5) + msg.salt)
    if t is m.AuthenticationSASL:
        return _frame(b"R", _i32(10) + b"".join(_cstr(x) for x in msg.mechanisms) + b"\0")
    if t is m.AuthenticationSASLContinue:
        return _frame(b"R", _i32(11) + msg.data)
    if t is m.AuthenticationSASLFinal:
        return _frame(b"R", _i32(12) + msg.data)
    if t is m.BackendKeyData:
        return _frame(b"K", _i32(msg.process_id) + _i32(msg.secret_key))
    if t is m.ParameterStatus:
        return _frame(b"S", _cstr(msg.name) + _cstr(msg.value))
    if t is m.ReadyForQuery:
        return _frame(b"Z", msg.status.encode())
    if t is m.RowDescription:
        body = _i16(len(msg.fields))
        for f in msg.fields:
            body += _cstr(f.name) + struct.pack("!IhIhih", f.table_oid, f.column_attr, f.type_oid,
                                                f.type_size, f.type_modifier, f.format)
        return _frame(b"T", body)
    if t is m.DataRow:
        body = _i16(len(msg.values))
        for v in msg.values:
            body += _i32(-1) if v is None else _i32(len(v)) + v
        return _frame(b"D", body)
    if t is m.CommandComplete:
        return _frame(b"C", _cstr(msg.tag))
    if t is m.ErrorResponse:
        return _frame(b"E", _error_body(msg.fields))
    if t is m.NoticeResponse:
        return _frame(b"N", _error_body(msg.fields))
    if t is m.NotificationResponse:
        return _frame(b"A", _i32(msg.process_id) + _cstr(msg.channel) + _cstr(msg.payload))
    if t is m.ParameterDescription:
        return _frame(b"t", _i16(len(msg.type_oids)) + b"".join(_u32(o) for o in msg.type_oids))
    if t in (m.CopyInResponse, m.CopyOutResponse, m.CopyBothResponse):
        return _frame(t.type_code, struct.pack("!b", msg.format) + _i16(len(msg.column_formats))
                      + b"".join(_i16(x) for x in msg.column_formats))
    if t is m.CopyData:
        return _frame(b"d", msg.data)
    if t is m.NegotiateProtocolVersion:
        return _frame(b"v", _i32(msg.minor_version) + _i32(len(msg.options))
                      + b"".join(_cstr(o) for o in msg.options))
    # EmptyQueryResponse, ParseComplete, BindComplete, CloseComplete, NoData,
    # PortalSuspended, CopyDone
    return _frame(t.type_code, b"")


# --------------------------------------------------------------------------------------
# Strategies: random valid messages of every type
# --------------------------------------------------------------------------------------

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
text = st.text(st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00"),
               max_size=30)
non_ascii = st.text(st.characters(min_codepoint=0x80, blacklist_categories=_SURROGATES),
                    min_size=1, max_size=30)
int16 = st.integers(-2**15, 2**15 - 1)
int32 = st.integers(-2**31, 2**31 - 1)
uint32 = st.integers(0, 2**32 - 1)
blob = st.binary(max_size=64)

field_description = st.builds(m.FieldDescription, text, uint32, int16, uint32, int16, int32,
                              st.sampled_from([0, 1]) | int16)
error_fields = st.dictionaries(st.integers(1, 255).map(chr), text, max_size=8)

messages = st.one_of(
    st.just(m.AuthenticationOk()),
    st.just(m.AuthenticationCleartextPassword()),
    st.builds(m.AuthenticationMD5Password, st.binary(min_size=4, max_size=4)),
    st.builds(m.AuthenticationSASL,
              st.lists(text.filter(bool), max_size=3).map(tuple)
              | st.just(("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))),
    st.builds(m.AuthenticationSASLContinue, blob),
    st.builds(m.AuthenticationSASLFinal, blob),
    st.builds(m.BackendKeyData, int32, int32),
    st.builds(m.ParameterStatus, text, text),
    st.builds(m.ReadyForQuery, st.sampled_from("ITE")),
    st.builds(m.RowDescription, st.lists(field_description, max_size=5).map(tuple)),
    st.builds(m.DataRow, st.lists(st.none() | blob, max_size=10).map(tuple)),
    st.builds(m.CommandComplete, text),
    st.just(m.EmptyQueryResponse()),
    st.builds(m.ErrorResponse, error_fields),
    st.builds(m.NoticeResponse, error_fields),
    st.builds(m.NotificationResponse, int32, text, non_ascii | text),
    st.just(m.ParseComplete()),
    st.just(m.BindComplete()),
    st.just(m.CloseComplete()),
    st.builds(m.ParameterDescription, st.lists(uint32, max_size=6).map(tuple)),
    st.just(m.NoData()),
    st.just(m.PortalSuspended()),
    st.builds(m.CopyInResponse, st.integers(-128, 127), st.lists(int16, max_size=5).map(tuple)),
    st.builds(m.CopyOutResponse, st.integers(-128, 127), st.lists(int16, max_size=5).map(tuple)),
    st.builds(m.CopyBothResponse, st.integers(-128, 127), st.lists(int16, max_size=5).map(tuple)),
    st.builds(m.CopyData, blob),
    st.just(m.CopyDone()),
    st.builds(m.NegotiateProtocolVersion, int32, st.lists(text, max_size=4).map(tuple)),
)


@st.composite
def chunkings(draw, stream: bytes) -> list[bytes]:
    """Split ``stream`` at random boundaries; sometimes byte by byte."""
    mode = draw(st.sampled_from(["random", "ones", "whole"]))
    if mode == "whole" or not stream:
        return [stream]
    if mode == "ones":
        return [stream[i:i + 1] for i in range(len(stream))]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(stream)), max_size=20))))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:])]


# --------------------------------------------------------------------------------------
# Running a reader over chunks and recording the outcome
# --------------------------------------------------------------------------------------


def run_feed(reader, chunks):
    """[(messages, pending) per call ...], then ('error', class) if a call raised."""
    out = []
    for c in chunks:
        try:
            msgs = reader.feed(c)
        except Exception as e:  # noqa: BLE001 - the class is what we compare
            out.append(("error", type(e)))
            # poisoned: it must raise the same error again
            with pytest.raises(type(e)):
                reader.feed(b"Z\0\0\0\5I")
            return out
        out.append((msgs, reader.pending))
    return out


def run_buffered(reader, chunks, sizehint=-1):
    """Like run_feed, through get_buffer / buffer_updated (the BufferedProtocol path)."""
    out: list[tuple[Any, Any]] = []
    for c in chunks:
        msgs = []
        pos = 0
        try:
            while pos < len(c) or not c:
                view = reader.get_buffer(sizehint)
                assert len(view) > 0
                n = min(len(view), len(c) - pos)
                view[:n] = c[pos:pos + n]
                del view
                msgs += reader.buffer_updated(n)
                pos += n
                if not c:
                    break
        except Exception as e:  # noqa: BLE001
            out.append(("error", type(e)))
            with pytest.raises(type(e)):
                reader.buffer_updated(0)
            return out
        out.append((msgs, reader.pending))
    return out


def flatten(outcome):
    msgs, err = [], None
    for item in outcome:
        if item[0] == "error":
            err = item[1]
        else:
            msgs += item[0]
    return msgs, err


# --------------------------------------------------------------------------------------
# Valid streams
# --------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(messages, max_size=30), st.data())
def test_valid_stream_feed(msgs, data):
    stream = b"".join(encode(x) for x in msgs)
    chunks = data.draw(chunkings(stream))
    c = run_feed(MessageReader(), chunks)
    p = run_feed(PyMessageReader(), chunks)
    assert c == p
    got, err = flatten(c)
    assert err is None
    assert got == msgs
    assert c[-1][1] == 0  # nothing pending


@SETTINGS
@given(st.lists(messages, max_size=30), st.data(),
       st.sampled_from([-1, 0, 1, 100, 5000, 70000]))
def test_valid_stream_buffered_protocol(msgs, data, sizehint):
    stream = b"".join(encode(x) for x in msgs)
    chunks = data.draw(chunkings(stream))
    c = run_buffered(MessageReader(), chunks, sizehint)
    got, err = flatten(c)
    assert err is None
    assert got == msgs
    assert run_feed(PyMessageReader(), chunks) == c


@pytest.mark.parametrize("msg", [
    m.AuthenticationOk(), m.AuthenticationSASL(("SCRAM-SHA-256",)),
    m.NotificationResponse(-1, "канал", "ペイロード 🐘"),
    m.DataRow((None, b"", b"x" * 100, None)),
    m.ErrorResponse({"S": "ERROR", "C": "42P01", "M": "relation \"ü\" does not exist"}),
    m.NegotiateProtocolVersion(0, ("_pq_.x", "")),
    m.CopyBothResponse(-1, (0, 1, -1)),
])
def test_examples_roundtrip(msg):
    wire = encode(msg)
    for reader in (MessageReader(), PyMessageReader()):
        assert reader.feed(wire) == [msg]


# --------------------------------------------------------------------------------------
# Hostile streams
# --------------------------------------------------------------------------------------

FORGED_LENGTHS = [0, 3, 4, 5, 0x7FFFFFFF, 0x40000001, 0x40000004, 0x40000005, 0xFFFFFFFF]


def assert_same_outcome(stream, chunks, max_size=0x40000000):
    c = run_feed(MessageReader(max_size), chunks)
    p = run_feed(PyMessageReader(max_size), chunks)
    assert c == p, f"stream={stream!r}"
    if c and c[-1][0] == "error":
        assert issubclass(c[-1][1], (ProtocolError, protocol.UnsupportedAuthenticationError))


@SETTINGS
@given(st.binary(max_size=300), st.data())
def test_garbage(stream, data):
    assert_same_outcome(stream, data.draw(chunkings(stream)))


@SETTINGS
@given(st.binary(max_size=200), st.data())
def test_garbage_after_known_type_byte(tail, data):
    # Garbage that at least passes the type-byte check, so lengths and bodies get exercised.
    code = data.draw(st.sampled_from(sorted(m.BACKEND_TYPES)))
    stream = bytes([code]) + tail
    assert_same_outcome(stream, data.draw(chunkings(stream)), data.draw(
        st.sampled_from([0x40000000, 5, 64, 1000])))


@st.composite
def mutated_streams(draw):
    msgs = draw(st.lists(messages, min_size=1, max_size=12))
    parts = [encode(x) for x in msgs]
    stream = bytearray(b"".join(parts))
    starts = [sum(map(len, parts[:i])) for i in range(len(parts))]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bitflip", "truncate", "length", "body_length", "byte"]))
        if not stream:
            break
        if kind == "bitflip":
            i = draw(st.integers(0, len(stream) - 1))
            stream[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            i = draw(st.integers(0, len(stream) - 1))
            stream[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del stream[draw(st.integers(0, len(stream) - 1)):]
        elif kind == "length":
            s = draw(st.sampled_from([x for x in starts if x + 5 <= len(stream)]
                                     or cast("list[int | None]", [None])))
            if s is not None:
                stream[s + 1:s + 5] = struct.pack("!I", draw(st.sampled_from(FORGED_LENGTHS)))
        else:  # shrink or grow a length word by a little: bodies misparse
            s = draw(st.sampled_from([x for x in starts if x + 5 <= len(stream)]
                                     or cast("list[int | None]", [None])))
            if s is not None:
                (n,) = struct.unpack("!I", stream[s + 1:s + 5])
                n = min(max(0, n + draw(st.integers(-6, 6))), 0xFFFFFFFF)
                stream[s + 1:s + 5] = struct.pack("!I", n)
    return bytes(stream)


@SETTINGS
@given(mutated_streams(), st.data())
def test_mutated_streams(stream, data):
    assert_same_outcome(stream, data.draw(chunkings(stream)))


@SETTINGS
@given(mutated_streams(), st.data())
def test_mutated_streams_buffered(stream, data):
    chunks = data.draw(chunkings(stream))
    assert run_buffered(MessageReader(), chunks) == run_feed(PyMessageReader(), chunks)


@pytest.mark.parametrize("reader_cls", [MessageReader, PyMessageReader])
@pytest.mark.parametrize("length", [0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x40000005, 0, 3])
def test_bad_length_rejected_at_header(reader_cls, length):
    r = reader_cls()
    header = b"D" + struct.pack("!I", length)
    assert r.feed(header[:4]) == []          # not complete yet: nothing to judge
    with pytest.raises(ProtocolError):
        r.feed(header[4:])                   # the 5th byte completes the header
    with pytest.raises(ProtocolError):       # poisoned
        r.feed(b"Z\0\0\0\5I")


@pytest.mark.parametrize("reader_cls", [MessageReader, PyMessageReader])
def test_unknown_type_byte_rejected_immediately(reader_cls):
    r = reader_cls()
    assert r.feed(b"Z\0\0\0\5I") == [m.ReadyForQuery("I")]
    with pytest.raises(ProtocolError):
        r.feed(b"X")


@pytest.mark.parametrize("reader_cls", [MessageReader, PyMessageReader])
@pytest.mark.parametrize("code,exc", [(2, "unsupported"), (6, "unsupported"), (7, "unsupported"),
                                      (8, "unsupported"), (9, "unsupported"), (1, "protocol"),
                                      (4, "protocol"), (13, "protocol"), (99, "protocol"),
                                      (-1, "protocol")])
def test_auth_codes(reader_cls, code, exc):
    cls = protocol.UnsupportedAuthenticationError if exc == "unsupported" else ProtocolError
    with pytest.raises(cls):
        reader_cls().feed(_frame(b"R", _i32(code)))


BAD_MESSAGES = {
    "ReadyForQuery bad status": _frame(b"Z", b"X"),
    "ReadyForQuery empty": _frame(b"Z", b""),
    "ReadyForQuery trailing": _frame(b"Z", b"II"),
    "DataRow negative count": _frame(b"D", _i16(-1)),
    "DataRow value length -2": _frame(b"D", _i16(1) + _i32(-2)),
    "DataRow value runs past": _frame(b"D", _i16(1) + _i32(10) + b"abc"),
    "DataRow count too big": _frame(b"D", _i16(3) + _i32(-1)),
    "DataRow trailing": _frame(b"D", _i16(0) + b"\0"),
    "RowDescription negative": _frame(b"T", _i16(-5)),
    "RowDescription short": _frame(b"T", _i16(1) + b"a\0" + b"\0" * 17),
    "CommandComplete missing NUL": _frame(b"C", b"SELECT 1"),
    "CommandComplete bad UTF-8": _frame(b"C", b"\xff\xfe\0"),
    "CommandComplete surrogate": _frame(b"C", b"\xed\xa0\x80\0"),
    "ParameterStatus one string": _frame(b"S", b"a\0"),
    "BackendKeyData short": _frame(b"K", b"\0" * 7),
    "BackendKeyData long": _frame(b"K", b"\0" * 9),
    "MD5 short salt": _frame(b"R", _i32(5) + b"abc"),
    "AuthOk trailing": _frame(b"R", _i32(0) + b"\0"),
    "SASL unterminated list": _frame(b"R", _i32(10) + b"SCRAM-SHA-256\0"),
    "Notification missing payload NUL": _frame(b"A", _i32(1) + b"ch\0payload"),
    "ParameterDescription negative": _frame(b"t", _i16(-1)),
    "ParameterDescription short": _frame(b"t", _i16(2) + _u32(23)),
    "CopyIn negative": _frame(b"G", b"\0" + _i16(-1)),
    "CopyOut short": _frame(b"H", b"\0" + _i16(2) + _i16(0)),
    "Negotiate negative": _frame(b"v", _i32(0) + _i32(-1)),
    "Negotiate count too big": _frame(b"v", _i32(0) + _i32(0x7FFFFFFF) + b"a\0"),
    "ErrorResponse missing NUL": _frame(b"E", b"SERROR"),
    "ErrorResponse no terminator": _frame(b"E", b"SERROR\0"),
    "ErrorResponse bad UTF-8": _frame(b"E", b"M\xc3\0\0"),
    "ErrorResponse trailing": _frame(b"E", b"SERROR\0\0X"),
    "NoticeResponse trailing": _frame(b"N", b"SNOTICE\0\0X"),
    "NoData trailing": _frame(b"n", b"\0"),
    "CopyDone trailing": _frame(b"c", b"x"),
}


@pytest.mark.parametrize("reader_cls", [MessageReader, PyMessageReader])
@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_malformed_message(reader_cls, name):
    r = reader_cls()
    prefix = encode(m.ParseComplete())
    assert r.feed(prefix) == [m.ParseComplete()]
    with pytest.raises(ProtocolError):
        r.feed(BAD_MESSAGES[name])


# --------------------------------------------------------------------------------------
# Big messages and memory
# --------------------------------------------------------------------------------------


def test_huge_data_row_in_small_chunks():
    values = (b"a" * (3 * 1024 * 1024), None, bytes(range(256)) * 8192)  # ~5 MB
    msg = m.DataRow(values)
    wire = encode(msg) + encode(m.CommandComplete("SELECT 1"))
    for reader in (MessageReader(), PyMessageReader()):
        got: list[Any] = []
        for i in range(0, len(wire), 4093):
            got += reader.feed(wire[i:i + 4093])
        assert got == [msg, m.CommandComplete("SELECT 1")]
        assert reader.pending == 0
    # and through get_buffer / buffer_updated
    got = run_buffered(MessageReader(), [wire[i:i + 65536] for i in range(0, len(wire), 65536)])
    assert flatten(got) == ([msg, m.CommandComplete("SELECT 1")], None)


@pytest.mark.parametrize("reader_cls", [MessageReader, PyMessageReader])
def test_header_alone_allocates_nothing(reader_cls):
    """A header claiming ~1 GiB (within the limit) must not make the reader allocate it."""
    r = reader_cls()
    r.feed(b"Z\0\0\0\5I")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert r.feed(b"D" + struct.pack("!I", 0x40000000) + b"\0\1") == []
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.pending == 7
    assert peak - before < 1 << 20
    assert after - before < 1 << 20
    if reader_cls is MessageReader:
        assert len(r.get_buffer()) < 1 << 20


def test_forged_length_not_waited_for():
    """0x7fffffff is over the limit: rejected with 5 bytes in hand, not after 2 GiB."""
    for reader in (MessageReader(), PyMessageReader()):
        with pytest.raises(ProtocolError):
            reader.feed(b"A\x7f\xff\xff\xff")


def test_max_message_size_parameter():
    wire = encode(m.DataRow((b"x" * 100,)))
    for cls in (MessageReader, PyMessageReader):
        assert cls(200).feed(wire) == [m.DataRow((b"x" * 100,))]
        with pytest.raises(ProtocolError):
            cls(50).feed(wire[:5])


@pytest.mark.parametrize("reader_cls", [MessageReader, PyMessageReader])
@pytest.mark.parametrize("split", [0, 3])
def test_poisoned_after_unsupported_authentication(reader_cls, split):
    """Any parse error poisons the reader, whichever path (whole chunk or pending bytes)
    the offending message took: it must not be dropped silently nor re-parsed forever."""
    wire = _frame(b"R", _i32(2))
    r = reader_cls()
    if split:
        assert r.feed(wire[:split]) == []
    with pytest.raises(protocol.UnsupportedAuthenticationError):
        r.feed(wire[split:])
    with pytest.raises(protocol.UnsupportedAuthenticationError):
        r.feed(b"Z\0\0\0\5I")


def _read_through_offers(r, wire, stop):
    """Feed ``wire`` as a transport would, filling each get_buffer offer, until
    ``stop`` bytes are in; returns (the offers' sizes, the messages, bytes fed)."""
    offers, got, pos = [], [], 0
    while pos < stop:
        view = r.get_buffer()
        offers.append(len(view))
        n = min(len(view), len(wire) - pos)
        view[:n] = wire[pos:pos + n]
        pos += n
        got += r.buffer_updated(n)
    return offers, got, pos


def test_read_offer_grows_for_bursts_and_shrinks_when_quiet():
    """get_buffer offers more after reads that fill it (a burst: fewer syscalls and
    loop passes), at most 1 MiB, and an emptied buffer far above need shrinks."""
    wire = encode(m.DataRow((b"x" * 1000,))) * 5000          # ~5 MB of 1 KB messages
    r = MessageReader()
    offers, got, _ = _read_through_offers(r, wire, len(wire))
    assert len(got) == 5000
    assert offers[0] == 65536
    assert max(offers) >= 1 << 20 and max(offers) < 3 << 20
    assert len(offers) < 30                      # 5 MB in big reads, not 4 KB ones
    # Quiet again: small reads bring the target down and the buffer shrinks.
    small = encode(m.CommandComplete("SELECT 1"))
    for _ in range(20):
        view = r.get_buffer()
        view[:len(small)] = small
        assert r.buffer_updated(len(small)) == [m.CommandComplete("SELECT 1")]
    assert len(r.get_buffer()) <= 256 * 1024


def test_the_rest_of_a_large_message_is_read_on_its_own():
    """A large message partly received: get_buffer offers exactly what is missing
    (at most one read target), so the read ends on the message boundary and the
    next message starts at the front of an empty buffer, never moved."""
    big = encode(m.DataRow((b"x" * (3 << 20),)))          # 3 MiB + header
    after = encode(m.CommandComplete("SELECT 1"))
    r = MessageReader()
    offers, got, pos = _read_through_offers(r, big + after, len(big))
    assert pos == len(big)                          # no read crossed the boundary
    assert got == [m.DataRow((b"x" * (3 << 20),))]
    assert max(offers) <= 1 << 20                    # never more than one read target
    assert offers[-1] < 1 << 20                      # the last one was just the rest
    view = r.get_buffer()
    view[:len(after)] = after
    assert r.buffer_updated(len(after)) == [m.CommandComplete("SELECT 1")]
