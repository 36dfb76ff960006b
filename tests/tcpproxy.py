"""A TCP proxy between client and server for fault tests.

It runs in the test's own event loop.  Per live connection pair it can
``cut()`` (reset both sides at once), ``stall()`` (stop forwarding in both
directions without closing anything: to the client this looks like a network
cut with no FIN), ``resume()``, and ``corrupt_next(n)`` (flip the next n bytes
sent to the client).  New connections are forwarded normally unless
``refuse_new`` is set.
"""
from __future__ import annotations

import asyncio
import socket


class _Pair:
    def __init__(self, proxy, client_r, client_w, server_r, server_w):
        self.proxy = proxy
        self.client_w = client_w
        self.server_w = server_w
        self.stalled = asyncio.Event()
        self.running = asyncio.Event()
        self.running.set()
        self.tasks = [
            asyncio.ensure_future(self._pump(client_r, server_w, to_client=False)),
            asyncio.ensure_future(self._pump(server_r, client_w, to_client=True)),
        ]

    async def _pump(self, reader, writer, to_client):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self.running.wait()
                if to_client and self.proxy._corrupt > 0:
                    n = min(self.proxy._corrupt, len(data))
                    data = bytes(b ^ 0xFF for b in data[:n]) + data[n:]
                    self.proxy._corrupt -= n
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError, OSError):
            pass
        finally:
            if self.running.is_set():
                self.close(reset=False)

    def close(self, reset: bool) -> None:
        for w in (self.client_w, self.server_w):
            sock = w.get_extra_info("socket")
            if reset and sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            w.close()
        for t in self.tasks:
            if t is not asyncio.current_task():
                t.cancel()
        if self in self.proxy.pairs:
            self.proxy.pairs.remove(self)


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.pairs: list[_Pair] = []
        self.refuse_new = False
        self._corrupt = 0
        self._server: asyncio.Server | None = None
        self.port: int | None = None

    async def start(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, client_r, client_w):
        if self.refuse_new:
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self.pairs.append(_Pair(self, client_r, client_w, server_r, server_w))

    def cut(self) -> None:
        """Reset every live connection now."""
        for p in list(self.pairs):
            p.close(reset=True)

    def stall(self) -> None:
        """Stop forwarding on every live connection, leaving sockets open."""
        for p in self.pairs:
            p.running.clear()
        self._stalled = list(self.pairs)
        self.pairs = []   # new connections are not stalled

    def corrupt_next(self, n: int) -> None:
        self._corrupt = n

    async def close(self) -> None:
        for p in list(self.pairs) + list(getattr(self, "_stalled", [])):
            p.close(reset=False)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def dsn(self, base_dsn_builder) -> str:
        return base_dsn_builder(self.port)
