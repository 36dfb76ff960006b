"""A pure-Python reference parser for backend messages of protocol 3.0.

It exists for two reasons:

* differential testing: ``tests/test_parser_differential.py`` feeds the same
  random byte streams, split at random chunk boundaries, to this parser and to
  the Cython ``psqlpy.protocol.MessageReader`` and requires identical results;
* documentation: it is the readable statement of the wire format and of the
  checks the Cython parser makes.  It is not used on any hot path.

Semantics (identical to ``MessageReader``):

* A message is ``type byte | int32 length (counting itself) | body``.
* An unknown type byte raises :class:`ProtocolError` as soon as that byte is
  seen, before its length arrives.
* A length below 4, or a body over ``max_message_size`` (1 GiB by default),
  raises as soon as the 5-byte header is complete: no waiting, no allocation.
* Inside a complete message every read is bounded by the body: truncated
  fields, a missing NUL, trailing bytes, invalid UTF-8, a bad ReadyForQuery
  status or a negative count raise :class:`ProtocolError`.
* Authentication codes 2, 6, 7, 8, 9 (Kerberos, SCM, GSS, SSPI) raise
  ``UnsupportedAuthenticationError``; any other unknown code ProtocolError.
* ``feed`` either returns every message completed by the new bytes or raises;
  messages completed in a call that raises are not returned.  After an error
  the reader is poisoned: every later call re-raises it.
"""
from __future__ import annotations

import struct

from psqlpy import _messages as m
from psqlpy.exceptions import InterfaceError, ProtocolError

try:  # the same class as the Cython parser's, when the extension is built
    from psqlpy.protocol import UnsupportedAuthenticationError
except ImportError:  # pragma: no cover - pure-Python use without the extension
    class UnsupportedAuthenticationError(InterfaceError):  # type: ignore[no-redef]
        """The server asked for an authentication method psqlpy does not implement."""

__all__ = ["PyMessageReader", "parse_message", "DEFAULT_MAX_MESSAGE"]

DEFAULT_MAX_MESSAGE = 0x40000000

_HEADER = struct.Struct("!cI")      # type byte, length (unsigned on the wire)
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_FIELD = struct.Struct("!IhIhih")   # RowDescription field after its name: 18 bytes

_UNSUPPORTED_AUTH = {2: "KerberosV5", 6: "SCMCredential", 7: "GSS", 8: "GSSContinue", 9: "SSPI"}

_EMPTY_BODY = {
    b"I": m.EmptyQueryResponse, b"1": m.ParseComplete, b"2": m.BindComplete,
    b"3": m.CloseComplete, b"n": m.NoData, b"s": m.PortalSuspended, b"c": m.CopyDone,
}
_COPY_RESPONSE = {b"G": m.CopyInResponse, b"H": m.CopyOutResponse, b"W": m.CopyBothResponse}


class _Body:
    """A bounded cursor over one message body; every read checks the bound."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def need(self, k: int) -> None:
        if k < 0 or self.left < k:
            raise ProtocolError(
                f"truncated message: needed {k} more bytes, {self.left} left in the message")

    def take(self, k: int) -> bytes:
        self.need(k)
        b = self.data[self.pos:self.pos + k]
        self.pos += k
        return b

    def unpack(self, st: struct.Struct):
        return st.unpack(self.take(st.size))

    def int16(self) -> int:
        return self.unpack(_I16)[0]

    def int32(self) -> int:
        return self.unpack(_I32)[0]

    def uint32(self) -> int:
        return self.unpack(_U32)[0]

    def byte(self) -> int:
        return self.take(1)[0]

    def rest(self) -> bytes:
        return self.take(self.left)

    def cstr(self) -> str:
        nul = self.data.find(b"\0", self.pos)
        if nul < 0:
            raise ProtocolError("missing NUL terminator: string runs past the end of the message")
        raw = self.data[self.pos:nul]
        self.pos = nul + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"invalid UTF-8 from the server: {e}") from None

    def done(self, mtype: bytes) -> None:
        if self.left:
            raise ProtocolError(f"{self.left} unexpected trailing bytes in message {mtype!r}")


def _error_fields(b: _Body) -> dict:
    """ErrorResponse / NoticeResponse: (code byte, cstring)* then a NUL."""
    fields = {}
    while True:
        code = b.byte()
        if code == 0:
            return fields
        fields[chr(code)] = b.cstr()


def _authentication(b: _Body) -> m.BackendMessage:
    code = b.int32()
    if code == 0:
        b.done(b"R")
        return m.AuthenticationOk()
    if code == 3:
        b.done(b"R")
        return m.AuthenticationCleartextPassword()
    if code == 5:
        salt = b.take(4)
        b.done(b"R")
        return m.AuthenticationMD5Password(salt)
    if code == 10:
        mechanisms = []
        while mech := b.cstr():      # the list ends with an empty string
            mechanisms.append(mech)
        b.done(b"R")
        return m.AuthenticationSASL(tuple(mechanisms))
    if code == 11:
        return m.AuthenticationSASLContinue(b.rest())
    if code == 12:
        return m.AuthenticationSASLFinal(b.rest())
    if code in _UNSUPPORTED_AUTH:
        raise UnsupportedAuthenticationError(
            f"the server asks for {_UNSUPPORTED_AUTH[code]} authentication, which psqlpy "
            f"does not support; use trust, password, md5 or scram-sha-256 in pg_hba.conf")
    raise ProtocolError(f"unknown authentication request code {code}", msg_type=b"R")


def _count(b: _Body, what: str, min_bytes_each: int, reader=None) -> int:
    """A count word that must not be negative, checked against the bytes left."""
    n = (reader or b.int16)()
    if n < 0:
        raise ProtocolError(f"negative {what} count {n}")
    b.need(n * min_bytes_each)
    return n


def parse_message(mtype: bytes, body: bytes) -> m.BackendMessage:
    """Parse one framed message body (``mtype`` is the 1-byte type)."""
    b = _Body(body)
    if mtype == b"R":
        return _authentication(b)
    if mtype == b"D":
        values = []
        for _ in range(_count(b, "column", 4)):
            n = b.int32()
            if n < -1:
                raise ProtocolError(f"invalid value length {n} in DataRow", msg_type=b"D")
            values.append(None if n == -1 else b.take(n))
        msg = m.DataRow(tuple(values))
    elif mtype == b"T":
        fields = []
        for _ in range(_count(b, "field", 19)):
            name = b.cstr()
            fields.append(m.FieldDescription(name, *b.unpack(_FIELD)))
        msg = m.RowDescription(tuple(fields))
    elif mtype == b"A":
        msg = m.NotificationResponse(b.int32(), b.cstr(), b.cstr())
    elif mtype == b"C":
        msg = m.CommandComplete(b.cstr())
    elif mtype == b"Z":
        status = b.byte()
        b.done(mtype)
        if status not in b"ITE":
            raise ProtocolError(f"invalid transaction status {status!r} in ReadyForQuery",
                                msg_type=b"Z")
        msg = m.ReadyForQuery(chr(status))
    elif mtype == b"E":
        msg = m.ErrorResponse(_error_fields(b))
    elif mtype == b"N":
        msg = m.NoticeResponse(_error_fields(b))
    elif mtype == b"S":
        msg = m.ParameterStatus(b.cstr(), b.cstr())
    elif mtype == b"K":
        msg = m.BackendKeyData(b.int32(), b.int32())
    elif mtype == b"d":
        return m.CopyData(b.rest())
    elif mtype == b"t":
        msg = m.ParameterDescription(
            tuple(b.uint32() for _ in range(_count(b, "parameter", 4))))
    elif mtype in _COPY_RESPONSE:
        fmt = struct.unpack("!b", b.take(1))[0]
        formats = tuple(b.int16() for _ in range(_count(b, "column", 2)))
        msg = _COPY_RESPONSE[mtype](fmt, formats)
    elif mtype == b"v":
        minor = b.int32()
        options = tuple(b.cstr() for _ in range(_count(b, "option", 1, b.int32)))
        msg = m.NegotiateProtocolVersion(minor, options)
    elif mtype in _EMPTY_BODY:
        msg = _EMPTY_BODY[mtype]()
    else:
        raise ProtocolError(f"unknown message type {mtype!r}", msg_type=mtype)
    b.done(mtype)
    return msg


class PyMessageReader:
    """Feed it bytes, get typed backend messages (see the module docstring)."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE) -> None:
        if max_message_size < 5:
            raise ValueError("max_message_size must be at least 5")
        self.max_message_size = max_message_size
        self._buf = bytearray()
        self._error: Exception | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data) -> list:
        """Parse every complete message in the stream so far."""
        if self._error is not None:
            raise self._error
        self._buf += data
        out, off = [], 0
        try:
            while (msg := self._next_message(off)) is not None:
                mtype, body, off = msg
                out.append(parse_message(mtype, body))
        except Exception as e:
            self._error = e
            raise
        del self._buf[:off]
        return out

    def _next_message(self, off: int):
        """``(type, body, next offset)`` of the message at ``off``, or None if
        it is incomplete.  Checks the type byte and the length word as soon
        as they are there."""
        buf = self._buf
        if len(buf) - off < 1:
            return None
        mtype = bytes(buf[off:off + 1])
        if mtype[0] not in m.BACKEND_TYPES:
            raise ProtocolError(
                f"unknown message type byte {mtype!r}; the stream is corrupt or this is "
                f"not a PostgreSQL server", msg_type=mtype)
        if len(buf) - off < 5:
            return None
        _, length = _HEADER.unpack_from(buf, off)
        if length < 4:
            raise ProtocolError(f"invalid message length {length} for {mtype!r}", msg_type=mtype)
        if length - 4 > self.max_message_size:
            raise ProtocolError(
                f"message {mtype!r} claims {length} bytes, over the limit of "
                f"{self.max_message_size}", msg_type=mtype)
        end = off + 1 + length
        if len(buf) < end:
            return None
        return mtype, bytes(buf[off + 5:end]), end
