"""ConnectionPool: bounded, fair, and it never hands out a broken connection."""
from __future__ import annotations

import asyncio
import dataclasses
import collections
import contextlib
import logging
from dataclasses import dataclass

from ._connect import parse_settings
from ._connect import open_connection
from ._enums import ConnRecyclingMethod
from .connection import Connection
from .exceptions import ConnectionPoolConfigurationError, ConnectionPoolExecuteError
from .types import ConnectionTypes, TypeRegistry

log = logging.getLogger("psqlpy.pool")

#: Handed to a waiter instead of a connection: "a slot is reserved for you, open one".
_SLOT = object()

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
                 ssl_mode=None, ca_file=None, statement_cache_size=None,
                 introspect_types=True):
        settings = dict(locals())
        settings = {k: settings[k] for k in _SETTING_NAMES}
        self._settings = settings
        self._config = _with_cache_size(parse_settings(**settings), statement_cache_size)
        size = 10 if max_db_pool_size is None else max_db_pool_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
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
        # Ours: user-defined types (enums, composites, ...) learned once for all
        # the pool's connections; introspect_types=False leaves them as text.
        self._types = TypeRegistry(introspect=bool(introspect_types))

    @property
    def config(self):
        return self._config

    async def set_type_codec(self, typename: str, *, schema: str = "public", encoder=None,
                             decoder=None, format: str = "text") -> None:
        """Ours: ``Connection.set_type_codec`` for every connection of the pool, open
        or opened later (each resolves it to an OID when it first needs it).  The
        type's existence is checked through one of the pool's connections."""
        from .types._registry import make_spec
        spec = make_spec(typename, schema, encoder, decoder, format)
        pg = await self._get()
        try:
            await pg.types.check(pg, spec)
        finally:
            self._release(pg)
        self._types.register(spec)

    @property
    def types(self):
        """Ours: the user-defined types (``psqlpy.types.TypeRegistry``) this pool's
        connections have learned."""
        return self._types

    # ---- acquiring -------------------------------------------------------------

    async def connection(self) -> Connection:
        return Connection(await self._get(), self._release, self._release_from_gc)

    @contextlib.asynccontextmanager
    async def acquire(self):
        conn = await self.connection()
        try:
            yield conn
        finally:
            conn.close()

    async def _get(self):
        """Take a connection: an idle one, else a new one within ``max_size``, else
        wait in line.

        Waiting is fair (FIFO): a returned connection, or a slot freed by a discarded
        one, goes straight to the oldest waiter, so a newcomer can never overtake it.
        A cancelled waiter leaves the line; if it was handed something as it was
        cancelled, that goes back to the pool (no leaked slot).  With
        ``ConnRecyclingMethod.Verified`` every connection is checked with a round trip
        before it is handed out, whichever way it came."""
        if self._closed:
            raise ConnectionPoolExecuteError("the pool is closed")
        while True:
            pg = None
            while self._idle and not self._waiters:
                cand = self._idle.popleft()
                if cand.is_closed:
                    self._discard(cand)
                    continue
                pg = cand
                break
            if pg is None:
                if self._size < self._max_size and not self._waiters:
                    self._size += 1
                    pg = _SLOT
                else:
                    pg = await self._wait()
            if pg is _SLOT:
                return await self._open_in_slot()
            pg = await self._checked(pg)
            if pg is not None:
                return pg
            # it failed the check: its slot was freed (and given to the line); go again

    async def _wait(self):
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            # Handed something (not failed by close()) as we were cancelled.
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                got = fut.result()
                if got is _SLOT:
                    self._size -= 1
                    self._wake_one()
                else:
                    self._put_back(got)   # handed to us as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    async def _open_in_slot(self):
        """Open a connection in a slot already counted in ``_size``."""
        try:
            pg = await open_connection(self._config)
        except BaseException:
            self._size -= 1
            self._wake_one()
            raise
        if self._closed:
            self._discard(pg)
            raise ConnectionPoolExecuteError("the pool was closed")
        pg.types = ConnectionTypes(self._types)
        return pg

    async def _checked(self, pg):
        """``pg`` if it may be handed out, else None (discarded)."""
        if pg.is_closed:
            self._discard(pg)
            return None
        if self._recycling == ConnRecyclingMethod.Verified:
            try:
                await asyncio.wait_for(pg.simple_query("SELECT 1"), 30)
            except asyncio.CancelledError:
                self._discard(pg)
                raise
            except Exception:
                self._discard(pg)
                return None
            if pg.transaction_status != "I":
                self._discard(pg)
                return None
        return pg

    def _wake_one(self) -> bool:
        """Give a free slot (``_size < _max_size``) to the oldest waiter."""
        if self._size >= self._max_size:
            return False
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self._size += 1
                fut.set_result(_SLOT)
                return True
        return False

    def _put_back(self, pg) -> None:
        if self._closed or pg.is_closed or self._size > self._max_size:
            self._discard(pg)   # closed, broken, or over a reduced max size
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
        if pg.transaction_status != "I" or not pg.is_idle:
            # Left mid-transaction, mid-query or with a clean-up still running:
            # reset it before reuse.
            self._spawn(self._reset_then_put_back(pg))
            return
        if self._recycling == ConnRecyclingMethod.Clean:
            self._spawn(self._clean_then_put_back(pg))
            return
        self._put_back(pg)

    def _release_from_gc(self, pg) -> None:
        """A Connection never closed was garbage-collected: return its socket (from the
        finalizer, possibly outside the loop or in another thread)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is pg.loop:
            self._release(pg)
            return
        try:
            pg.loop.call_soon_threadsafe(self._release, pg)
        except RuntimeError:   # the loop is closed: nothing can run there any more
            pg.mark_closed()

    def _spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reset_then_put_back(self, pg) -> None:
        """A connection returned mid-query or mid-transaction: wait until it is
        idle (what was sent has completed, a cancelled query's clean-up has run),
        ROLLBACK, and for ``Clean`` also DISCARD ALL.  It is never handed out
        before this is done; one that cannot be reset is closed."""
        try:
            await asyncio.wait_for(pg.wait_idle(), 30)
            if pg.is_closed:
                self._put_back(pg)   # discards it
                return
            if pg.transaction_status != "I":
                await asyncio.wait_for(pg.simple_query("ROLLBACK"), 30)
            if self._recycling == ConnRecyclingMethod.Clean:
                await asyncio.wait_for(pg.simple_query("DISCARD ALL"), 30)
                pg.clear_statement_cache()
        except BaseException as e:
            log.warning("discarding a connection that could not be reset: %r", e)
            self._discard(pg)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        self._put_back(pg)

    async def _clean_then_put_back(self, pg) -> None:
        """``ConnRecyclingMethod.Clean``: DISCARD ALL (session settings, temporary
        tables, prepared statements, LISTENs, advisory locks) before reuse."""
        try:
            await asyncio.wait_for(pg.simple_query("DISCARD ALL"), 30)
            pg.clear_statement_cache()
        except BaseException as e:
            self._discard(pg)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        self._put_back(pg)

    # ---- management ----------------------------------------------------------------

    def status(self) -> ConnectionPoolStatus:
        return ConnectionPoolStatus(self._max_size, self._size, len(self._idle),
                                    sum(1 for w in self._waiters if not w.done()))

    def resize(self, new_max_size: int) -> None:
        """Change the maximum size.  Growing serves waiters at once; shrinking closes
        idle connections now and surplus handed-out ones when they come back."""
        # The reference refuses a size below 2 only when the pool is made; it
        # resizes to 1 (and to 0, which would leave every acquire() waiting for
        # good: refused here).
        if isinstance(new_max_size, bool) or not isinstance(new_max_size, int) or new_max_size < 1:
            raise ConnectionPoolConfigurationError(
                f"pool size must be at least 1, got {new_max_size!r}")
        self._max_size = new_max_size
        while self._wake_one():
            pass
        while self._size > self._max_size and self._idle:
            self._discard(self._idle.popleft())

    def listener(self, **kwargs):
        from .listener import Listener
        return Listener(self._config, **kwargs)

    def replication(self, slot_name, publications, **kwargs):
        """Ours: a LogicalReplication stream on its own replication connection
        (never a pooled one); see psqlpy.replication."""
        from .replication import LogicalReplication
        return LogicalReplication(self._config, slot_name, publications, **kwargs)

    def close(self) -> None:
        """Close idle connections now, fail every waiter, refuse new requests; handed-out
        connections stay usable and are closed when they come back."""
        self._closed = True
        while self._idle:
            self._size -= 1
            self._terminate(self._idle.popleft())
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(ConnectionPoolExecuteError("the pool was closed"))

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Ours: after close(), wait until the pool's background resets have ended and
        every socket the pool closed is gone (the sync close() cannot wait)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        closing = [pg.protocol.closed for pg in self._closing]
        if closing:
            await asyncio.wait(closing, timeout=max(0.0, deadline - loop.time()))

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self):
        # The reference driver's method (its stub lists it); it returns the pool
        # itself, so iter(pool) raises TypeError there as here.
        return self

    def __repr__(self) -> str:
        st = self.status()
        state = "closed" if self._closed else "open"
        return (f"<psqlpy.ConnectionPool {state} {self._config.describe()} "
                f"size={st.size}/{st.max_size} available={st.available} waiting={st.waiting}>")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_pool(**kwargs) -> ConnectionPool:
    return ConnectionPool(**kwargs)


async def connect(statement_cache_size=None, introspect_types=True, **kwargs) -> Connection:
    """A single connection outside any pool."""
    config = _with_cache_size(parse_settings(**kwargs), statement_cache_size)
    pg = await open_connection(config)
    pg.types = ConnectionTypes(TypeRegistry(introspect=bool(introspect_types)))
    return Connection(pg)


def _with_cache_size(config, size):
    """Ours: ``statement_cache_size=0`` turns named prepared statements off
    (for PgBouncer in transaction pooling mode); None keeps the default."""
    if size is None:
        return config
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ConnectionPoolConfigurationError(
            f"statement_cache_size must be a non-negative int, got {size!r}")
    return dataclasses.replace(config, statement_cache_size=size)
