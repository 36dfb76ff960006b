"""The asyncio side of a connection: a BufferedProtocol that lets the kernel
write straight into the Cython core's read buffer, plus socket options."""
from __future__ import annotations

import asyncio
import socket
import sys

from .exceptions import ConnectionLostError


class PgTransportProtocol(asyncio.BufferedProtocol):
    """Hands received bytes to ``CoreProtocol`` without copying them.

    ``get_buffer``/``buffer_updated`` are the core's own (Cython) methods,
    bound on the instance, so a read costs no Python frame of ours."""

    def __init__(self, core, on_lost=None):
        self.core = core
        self.get_buffer = core.get_buffer
        self.buffer_updated = core.buffer_updated
        self.transport: asyncio.Transport | None = None
        #: called with the error once the socket is lost (the connection's
        #: ``connection_lost``); set after the connection object exists
        self.on_lost = on_lost
        self._write_ready: asyncio.Future | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def eof_received(self):
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc):
        err = ConnectionLostError(
            "the server closed the connection" if exc is None else f"connection lost: {exc}")
        if exc is not None:
            err.__cause__ = exc
        self.core.connection_lost(err)
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_exception(err)
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_lost is not None:
            self.on_lost(err)
        # Python 3.10's TLS transport still reports itself open after a loss and
        # warns (ResourceWarning) when collected; closing a lost one is a no-op.
        tr = self.transport
        if tr is not None and not tr.is_closing():
            tr.close()

    def pause_writing(self):
        if self._write_ready is None or self._write_ready.done():
            self._write_ready = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)

    async def drain(self):
        if self._write_ready is not None and not self._write_ready.done():
            await self._write_ready


def set_socket_options(sock: socket.socket, config) -> None:
    """TCP_NODELAY always; keepalives and TCP_USER_TIMEOUT from the settings."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if config.keepalives:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if sys.platform.startswith("linux"):
            if config.keepalives_idle is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(config.keepalives_idle)))
            if config.keepalives_interval is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, int(config.keepalives_interval)))
            if config.keepalives_retries is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(1, int(config.keepalives_retries)))
    if config.tcp_user_timeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(config.tcp_user_timeout * 1000))
