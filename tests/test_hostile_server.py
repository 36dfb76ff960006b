"""A fake server that answers the client's StartupMessage with hostile bytes.

Every case must end quickly with a typed exception from ``psqlpy.exceptions``, never a
hang, a crash or a bare ``struct.error``/``IndexError``.  Errors during connect are
reported by ``open_connection`` as ``psqlpy.exceptions.ConnectError`` whose
message names the host and the underlying cause; errors after startup close the connection.
"""
from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any, cast

import pytest

psqlpy = pytest.importorskip("psqlpy")
from psqlpy import exceptions as exc  # noqa: E402

ConnectError = exc.ConnectError

pytestmark = pytest.mark.asyncio

TIMEOUT = 10


def frame(code: bytes, body: bytes = b"") -> bytes:
    return code + struct.pack("!I", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


AUTH_OK = frame(b"R", struct.pack("!i", 0))
READY = frame(b"Z", b"I")
STARTUP_OK = (AUTH_OK + frame(b"K", struct.pack("!ii", 4242, 99))
              + frame(b"S", cstr("server_version") + cstr("15.0"))
              + frame(b"S", cstr("client_encoding") + cstr("UTF8"))
              + READY)


async def read_startup(reader: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack("!I", await reader.readexactly(4))
    return await reader.readexactly(n - 4)


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    code = await reader.readexactly(1)
    (n,) = struct.unpack("!I", await reader.readexactly(4))
    return code, await reader.readexactly(n - 4)


class FakeServer:
    """Runs ``script(reader, writer)`` for every client; keeps the sockets tidy."""

    def __init__(self, script):
        self.script = script
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.errors: list[BaseException] = []
        self.tasks: set[asyncio.Task] = set()

    async def _handle(self, reader, writer):
        self.tasks.add(cast("asyncio.Task[Any]", asyncio.current_task()))
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)
        finally:
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *a):
        assert self.server is not None
        self.server.close()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    @property
    def dsn(self):
        return f"postgresql://u:pw@127.0.0.1:{self.port}/db?sslmode=disable"


async def hang_until_closed(reader):
    """Keep the socket open without sending anything (until the client closes it)."""
    while await reader.read(4096):
        pass


def send_then(data: bytes, *, close: bool):
    async def script(reader, writer):
        await read_startup(reader)
        writer.write(data)
        await writer.drain()
        if not close:
            await hang_until_closed(reader)
    return script


async def connect_expecting(script, expected, match=None):
    loop = asyncio.get_running_loop()
    async with FakeServer(script) as srv:
        t0 = loop.time()
        with pytest.raises(expected) as info:
            await asyncio.wait_for(psqlpy.connect(dsn=srv.dsn, connect_timeout_sec=5), TIMEOUT)
        elapsed = loop.time() - t0
    assert not srv.errors, srv.errors
    if match is not None:
        assert match in str(info.value), str(info.value)
    return info.value, elapsed


# ---------------------------------------------------------------------------------------
# Hostile answers to the StartupMessage
# ---------------------------------------------------------------------------------------


async def test_garbage_type_byte():
    err, elapsed = await connect_expecting(
        send_then(b"X\0\0\0\4", close=False), ConnectError, "unknown message type byte")
    assert elapsed < 3


async def test_http_server():
    err, elapsed = await connect_expecting(
        send_then(b"HTTP/1.1 400 Bad Request\r\n\r\n", close=False), ConnectError,
        "over the limit")  # 'H' is CopyOutResponse; "TTP/" is a length of 1.4 GB
    assert elapsed < 3


async def test_huge_length_rejected_without_waiting():
    # The server keeps the socket open: only the header check can end this quickly.
    err, elapsed = await connect_expecting(
        send_then(b"R\x7f\xff\xff\xff", close=False), ConnectError, "over the limit")
    assert elapsed < 3


async def test_truncated_message_then_close():
    err, elapsed = await connect_expecting(
        send_then(b"R\0\0\0\x08\0\0", close=True), ConnectError, "closed")
    assert elapsed < 3


async def test_truncated_message_then_silence():
    # No close, no more bytes: connect_timeout_sec must end it (typed, not a bare TimeoutError).
    err, elapsed = await connect_expecting(
        send_then(b"R\0\0\0\x08\0\0", close=False), ConnectError, "timed out")
    assert elapsed < 8


async def test_error_response_missing_nul():
    err, _ = await connect_expecting(
        send_then(frame(b"E", b"SFATAL\0C28P01\0Mbad"), close=False), ConnectError,
        "missing NUL")


async def test_error_response_invalid_utf8():
    err, _ = await connect_expecting(
        send_then(frame(b"E", b"SFATAL\0M\xff\xfe\0\0"), close=False), ConnectError,
        "invalid UTF-8")


async def test_unknown_auth_code():
    await connect_expecting(
        send_then(frame(b"R", struct.pack("!i", 99)), close=False), ConnectError,
        "unknown authentication request code 99")


async def test_unsupported_auth_code():
    await connect_expecting(
        send_then(frame(b"R", struct.pack("!i", 7)), close=False), ConnectError,
        "GSS authentication")


async def test_close_immediately():
    async def script(reader, writer):
        writer.close()
    err, _ = await connect_expecting(script, ConnectError)
    # EOF or RST, depending on whether the StartupMessage was already in flight
    assert "closed" in str(err) or "connection lost" in str(err), str(err)


async def test_close_after_startup():
    await connect_expecting(send_then(b"", close=True), ConnectError, "closed")


async def test_sasl_bogus_server_nonce():
    async def script(reader, writer):
        await read_startup(reader)
        writer.write(frame(b"R", struct.pack("!i", 10) + cstr("SCRAM-SHA-256") + b"\0"))
        code, body = await read_message(reader)
        assert code == b"p"
        mech_end = body.index(b"\0")
        assert body[:mech_end] == b"SCRAM-SHA-256"
        client_first = body[mech_end + 5:].decode()
        assert ",r=" in client_first
        salt = base64.b64encode(b"0123456789abcdef").decode()
        server_first = f"r=NOT-THE-CLIENT-NONCE,s={salt},i=4096".encode()
        writer.write(frame(b"R", struct.pack("!i", 11) + server_first))
        await writer.drain()
        await hang_until_closed(reader)
    await connect_expecting(script, ConnectError, "nonce")


async def test_sasl_continue_without_sasl():
    await connect_expecting(
        send_then(frame(b"R", struct.pack("!i", 11) + b"r=x,s=eA==,i=1"), close=False),
        ConnectError, "SASLContinue without SASL")


async def test_data_row_during_startup():
    await connect_expecting(
        send_then(AUTH_OK + frame(b"D", b"\0\0"), close=False), ConnectError, "DataRow")


# ---------------------------------------------------------------------------------------
# Hostile bytes after a proper startup
# ---------------------------------------------------------------------------------------


async def wait_closed(conn, within=3.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not conn.is_closed() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return conn.is_closed()


async def test_unsolicited_data_row_closes_connection():
    async def script(reader, writer):
        await read_startup(reader)
        writer.write(AUTH_OK + READY)
        await writer.drain()
        await asyncio.sleep(0.3)  # the client is connected and idle by now
        writer.write(frame(b"D", b"\0\1\0\0\0\1x"))
        await writer.drain()
        await hang_until_closed(reader)

    async with FakeServer(script) as srv:
        conn = await asyncio.wait_for(psqlpy.connect(dsn=srv.dsn, connect_timeout_sec=5), TIMEOUT)
        assert await wait_closed(conn)
        with pytest.raises(exc.InterfaceError):
            await asyncio.wait_for(conn.execute("SELECT 1"), TIMEOUT)
    assert not srv.errors, srv.errors


async def test_data_row_right_after_ready_for_query():
    """The same, but the DataRow arrives in the same TCP segment as ReadyForQuery:
    it must not be swallowed by the startup exchange."""
    async def script(reader, writer):
        await read_startup(reader)
        writer.write(AUTH_OK + READY + frame(b"D", b"\0\1\0\0\0\1x"))
        await writer.drain()
        await hang_until_closed(reader)

    async with FakeServer(script) as srv:
        try:
            conn = await asyncio.wait_for(
                psqlpy.connect(dsn=srv.dsn, connect_timeout_sec=5), TIMEOUT)
        except ConnectError:
            return  # rejected during connect: fine too
        assert await wait_closed(conn), "unsolicited DataRow after ReadyForQuery was ignored"


def startup_then_answer(answer: bytes):
    """Complete the startup properly, then answer the first query with ``answer``."""
    async def script(reader, writer):
        await read_startup(reader)
        writer.write(STARTUP_OK)
        await writer.drain()
        code, _ = await read_message(reader)
        while code not in (b"Q", b"S"):   # simple Query, or the Sync ending an extended batch
            code, _ = await read_message(reader)
        writer.write(answer)
        await writer.drain()
        await hang_until_closed(reader)
    return script


CORRUPT_ROW_DESCRIPTIONS = {
    # count says 2 fields, only one is there
    "truncated": frame(b"T", b"\0\2" + cstr("a") + struct.pack("!IhIhih", 0, 0, 23, 4, -1, 0)),
    "negative count": frame(b"T", b"\xff\xff"),
    "name without NUL": frame(b"T", b"\0\1" + b"a" * 30),
    "trailing bytes": frame(b"T", b"\0\0" + b"junk"),
    "bad UTF-8 name": frame(b"T", b"\0\1" + b"\xc3\0" + struct.pack("!IhIhih", 0, 0, 23, 4, -1, 0)),
}


@pytest.mark.parametrize("name", sorted(CORRUPT_ROW_DESCRIPTIONS))
@pytest.mark.parametrize("prepared", [False, True])
async def test_corrupt_row_description_after_startup(name, prepared):
    script = startup_then_answer(CORRUPT_ROW_DESCRIPTIONS[name])
    async with FakeServer(script) as srv:
        conn = await asyncio.wait_for(psqlpy.connect(dsn=srv.dsn, connect_timeout_sec=5), TIMEOUT)
        assert not conn.is_closed()
        with pytest.raises(exc.ProtocolError):
            await asyncio.wait_for(conn.execute("SELECT 1", prepared=prepared), TIMEOUT)
        assert conn.is_closed()
        # and the next call fails fast with a typed error instead of hanging
        with pytest.raises(exc.InterfaceError):
            await asyncio.wait_for(conn.execute("SELECT 1"), TIMEOUT)
    assert not srv.errors, srv.errors


async def test_huge_length_after_startup():
    script = startup_then_answer(b"T\x7f\xff\xff\xff")
    async with FakeServer(script) as srv:
        conn = await asyncio.wait_for(psqlpy.connect(dsn=srv.dsn, connect_timeout_sec=5), TIMEOUT)
        with pytest.raises(exc.ProtocolError):
            await asyncio.wait_for(conn.execute("SELECT 1", prepared=False), 3)
        assert conn.is_closed()


async def test_server_closes_mid_query():

    async def closing(reader, writer):
        await read_startup(reader)
        writer.write(STARTUP_OK)
        await writer.drain()
        await read_message(reader)
        writer.write(b"T\0\0")  # half a header, then the socket goes away
        await writer.drain()

    async with FakeServer(closing) as srv:
        conn = await asyncio.wait_for(psqlpy.connect(dsn=srv.dsn, connect_timeout_sec=5), TIMEOUT)
        with pytest.raises(exc.ConnectionLostError):
            await asyncio.wait_for(conn.execute("SELECT 1", prepared=False), TIMEOUT)
        assert await wait_closed(conn)
