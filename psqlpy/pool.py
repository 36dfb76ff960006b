"""ConnectionPool: bounded, fair, and it never hands out a broken connection."""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass

from ._config import parse_settings
from ._connect import open_connection
from ._enums import ConnRecyclingMethod
from .connection import Connection
from .exceptions import ConnectionPoolConfigurationError, ConnectionPoolExecuteError

log = logging.getLogger("psqlpy.pool")

_SETTING_NAMES = (
    "dsn", "username", "password", "host", "hosts", "port", "ports", "db_name",
    "target_session_attrs", "options", "application_name", "connect_timeout_sec",
    "connect_timeout_nanosec", "tcp_user_timeout_sec", "tcp_user_timeout_nanosec",
    "keepalives", "keepalives_idle_sec", "keepalives_idle_nanosec",
    "keepalives_interval_sec", "keepalives_interval_nanosec", "keepalives_retries",
    "load_balance_hosts", "ssl_mode", "ca_file",
)


@dataclass(frozen=True)
class ConnectionPoolStatus:
    max_size: int
    size: int
    available: int
    waiting: int


class ConnectionPool:
    def __init__(self, dsn=None, username=None, password=None, host=None, hosts=None,
                 port=None, ports=None, db_name=None, target_session_attrs=None,
                 options=None, application_name=None, connect_timeout_sec=None,
                 connect_timeout_nanosec=None, tcp_user_timeout_sec=None,
                 tcp_user_timeout_nanosec=None, keepalives=None, keepalives_idle_sec=None,
                 keepalives_idle_nanosec=None, keepalives_interval_sec=None,
                 keepalives_interval_nanosec=None, keepalives_retries=None,
                 load_balance_hosts=None, max_db_pool_size=None, conn_recycling_method=None,
                 ssl_mode=None, ca_file=None):
        settings = dict(locals())
        settings = {k: settings[k] for k in _SETTING_NAMES}
        self._settings = settings
        self._config = parse_settings(**settings)
        size = 10 if max_db_pool_size is None else max_db_pool_size
        if not isinstance(size, int) or size < 2:
            raise ConnectionPoolConfigurationError(
                f"max_db_pool_size must be at least 2, got {max_db_pool_size!r}")
        self._max_size = size
        self._recycling = conn_recycling_method or ConnRecyclingMethod.Fast
        self._idle: collections.deque = collections.deque()
        self._size = 0               # open connections, idle or handed out
        self._waiters: collections.deque = collections.deque()
        self._closed = False
        self._tasks: set = set()
        self._closing: set = set()   # PgConnections whose sockets are closing

    @property
    def config(self):
        return self._config

    # ---- acquiring -------------------------------------------------------------

    async def connection(self) -> Connection:
        return Connection(await self._get(), self)

    @contextlib.asynccontextmanager
    async def acquire(self):
        conn = await self.connection()
        try:
            yield conn
        finally:
            conn.close()

    async def _get(self):
        if self._closed:
            raise ConnectionPoolExecuteError("the pool is closed")
        while True:
            while self._idle:
                pg = self._idle.popleft()
                if pg.is_closed:
                    self._size -= 1
                    continue
                if self._recycling == ConnRecyclingMethod.Verified:
                    try:
                        await pg.simple_query("SELECT 1")
                    except Exception:
                        self._discard(pg)
                        continue
                return pg
            if self._size < self._max_size:
                self._size += 1
                try:
                    return await open_connection(self._config)
                except BaseException:
                    self._size -= 1
                    self._wake_one()
                    raise
            # Fair: waiters are served in arrival order.
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                pg = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._put_back(fut.result())   # handed to us as we were cancelled
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(fut)
                raise
            if pg is not None:
                return pg
            # None: capacity freed; loop to take it

    def _wake_one(self) -> bool:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return True
        return False

    def _put_back(self, pg) -> None:
        if self._closed or pg.is_closed:
            self._discard(pg)
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(pg)
                return
        self._idle.append(pg)

    def _discard(self, pg) -> None:
        self._size -= 1
        self._terminate(pg)
        self._wake_one()

    def _terminate(self, pg) -> None:
        pg.terminate_soon()
        if not pg.protocol.closed.done():
            self._closing.add(pg)
            pg.protocol.closed.add_done_callback(lambda _f, pg=pg: self._closing.discard(pg))

    # ---- releasing ---------------------------------------------------------------

    def _release(self, pg) -> None:
        if pg.is_closed or self._closed:
            self._discard(pg)
            return
        if pg.transaction_status != "I" or pg.core.pending_requests or pg._drain is not None:
            # Left mid-transaction or mid-query: reset it before reuse.
            self._spawn(self._reset_then_put_back(pg))
            return
        if self._recycling == ConnRecyclingMethod.Clean:
            self._spawn(self._clean_then_put_back(pg))
            return
        self._put_back(pg)

    def _release_from_gc(self, pg) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or loop is not pg.loop:
            pg.loop.call_soon_threadsafe(self._release, pg)
        else:
            self._release(pg)

    def _spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reset_then_put_back(self, pg) -> None:
        try:
            await asyncio.wait_for(pg._wait_drain(), 30)
            while pg.core.pending_requests:
                await asyncio.sleep(0.001)
            if pg.transaction_status != "I":
                await asyncio.wait_for(pg.simple_query("ROLLBACK"), 30)
        except Exception as e:
            log.warning("discarding a connection that could not be reset: %s", e)
            self._discard(pg)
            return
        self._put_back(pg)

    async def _clean_then_put_back(self, pg) -> None:
        try:
            await asyncio.wait_for(pg.simple_query("DISCARD ALL"), 30)
            pg.clear_statement_cache()
        except Exception:
            self._discard(pg)
            return
        self._put_back(pg)

    # ---- management ----------------------------------------------------------------

    def status(self) -> ConnectionPoolStatus:
        return ConnectionPoolStatus(self._max_size, self._size, len(self._idle),
                                    sum(1 for w in self._waiters if not w.done()))

    def resize(self, new_max_size: int) -> None:
        if not isinstance(new_max_size, int) or new_max_size < 2:
            raise ConnectionPoolConfigurationError("pool size must be at least 2")
        grow = new_max_size - self._max_size
        self._max_size = new_max_size
        while grow > 0 and self._wake_one():
            grow -= 1
        while self._size > self._max_size and self._idle:
            self._discard(self._idle.popleft())

    def listener(self, **kwargs):
        from .listener import Listener
        return Listener(self._config, **kwargs)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._terminate(self._idle.popleft())
            self._size -= 1
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(ConnectionPoolExecuteError("the pool was closed"))

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Ours: after close(), wait until every socket the pool closed is
        gone (the sync close() cannot wait for TLS shutdown)."""
        closing = [pg.protocol.closed for pg in self._closing]
        if closing:
            await asyncio.wait(closing, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_pool(**kwargs) -> ConnectionPool:
    return ConnectionPool(**kwargs)


async def connect(**kwargs) -> Connection:
    """A single connection outside any pool."""
    config = parse_settings(**kwargs)
    return Connection(await open_connection(config))
