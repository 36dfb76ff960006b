"""The low-level connection: one socket, the Cython core, request/response.

Everything public (Connection, Transaction, Listener, pool) is built on
``PgConnection``; it knows the protocol flows (simple query, prepare,
bind/execute, cancel) but nothing about the psqlpy API's result shapes.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import socket

from . import protocol as _proto
from .types import ConnectionTypes
from .types import _unprepared
from .exceptions import (
    BaseConnectionError,
    ConnectionClosedError,
    ConnectionExecuteError,
    make_server_error,
)

log = logging.getLogger("psqlpy.connection")

# SQLSTATEs that mean a cached statement is gone or stale: re-prepare once.
_STALE_STATEMENT = {"26000", "0A000"}


class PgConnection:
    __slots__ = (
        "loop", "core", "protocol", "transport", "config", "host", "port",
        "_stmt_cache", "_stmt_cache_size", "_stmt_counter", "_drain", "_closed",
        "_tasks", "notice_log", "server_version", "_lost_callbacks", "__weakref__",
        "tls", "before_request", "_types",
    )

    def __init__(self, loop, core, protocol, transport, config, host, port, tls=False):
        self.loop = loop
        self.core = core
        self.protocol = protocol
        self.transport = transport
        self.config = config
        self.host = host
        self.port = port
        self.tls = tls
        self._stmt_cache: collections.OrderedDict = collections.OrderedDict()
        # ``statement_cache_size`` on the settings: 0 turns the cache off and
        # every query goes through the one-shot unprepared flow (PgBouncer in
        # transaction pooling mode); None keeps the default.
        size = getattr(config, "statement_cache_size", None)
        self._stmt_cache_size = 256 if size is None else max(0, int(size))
        self._stmt_counter = 0
        self._drain: asyncio.Future | None = None
        self._closed = False
        self._tasks: set[asyncio.Task] = set()
        self._lost_callbacks: list = []
        self.before_request = None
        # What is known of types and the codecs for them; a pool hands its
        # connections views of one shared registry (ConnectionPool._open_in_slot).
        self._types = None
        self.types = ConnectionTypes()
        self.server_version = _parse_server_version(core.parameters.get("server_version", ""))
        core.writer = transport.write
        core.fatal_handler = self._on_fatal
        core.async_error_handler = self._on_async_error
        core.notice_handler = self._on_notice

    # ---- state -------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed or self.core.is_closed

    @property
    def transaction_status(self) -> str:
        return self.core.transaction_status

    @property
    def backend_pid(self) -> int:
        return self.core.backend_pid

    def add_lost_callback(self, cb) -> None:
        self._lost_callbacks.append(cb)

    def _on_fatal(self, exc) -> None:
        log.error("protocol failure, closing the connection: %s", exc)
        self._closed = True
        self.transport.abort()

    def _on_async_error(self, fields) -> None:
        err = make_server_error(fields, ConnectionClosedError)
        log.warning("server error outside a query: %s", err)
        if fields.get("S") in ("FATAL", "PANIC"):
            self._closed = True

    def _on_notice(self, fields) -> None:
        log.info("NOTICE from server: %s", fields.get("M"))

    def _connection_lost(self, err) -> None:
        self._closed = True
        for cb in list(self._lost_callbacks):
            try:
                cb(err)
            except Exception:  # a broken callback must not hide the loss
                log.exception("connection-lost callback failed")

    def spawn(self, coro) -> asyncio.Task:
        """A task we keep a strong reference to until it ends."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- the request cycle ---------------------------------------------------

    def _check_open(self) -> None:
        if self._closed or self.core.is_closed:
            err = self.core.error
            if isinstance(err, BaseConnectionError):
                raise err
            raise ConnectionClosedError("the connection is closed")

    async def request(self, kind: int, data: bytes, statement=None, copy_in_handler=None):
        """Send ``data`` (ending in Sync or a simple Query) and wait for its
        ReadyForQuery.  Returns the Request; server errors stay on it."""
        if self._drain is not None:
            await self._wait_drain()
        self._check_open()
        req, fut = self._push(kind, data, statement, copy_in_handler)
        try:
            return await fut
        except asyncio.CancelledError:
            self._cancelled(req)
            raise

    def _push(self, kind: int, data: bytes, statement=None, copy_in_handler=None):
        """Queue a Request and write ``data``: ``(request, its future)``."""
        fut = self.loop.create_future()
        req = _proto.Request(kind, fut, statement)
        if copy_in_handler is not None:
            req.copy_in_handler = copy_in_handler
        self.core.push_request(req)
        self.transport.write(data)
        if self.before_request is not None:
            # After the push: what it parses must see a request in flight (a
            # listener's core then keeps reading past a full router); after
            # the write: what it wakes may send queries of its own.
            self.before_request()
        return req, fut

    def _cancelled(self, req) -> None:
        # The awaiting task was cancelled: unless the reply is complete or the
        # connection gone, the request is still in flight.
        if req.transaction_status is None and not self.core.is_closed:
            self._cancel_in_flight(req)

    def _cancel_in_flight(self, req) -> None:
        # The task was cancelled (or timed out) mid-query.  Keep the request in
        # the core's queue so its messages are consumed, ask the server to stop
        # it, and make the next request wait until both are done, so no stale
        # result and no late CancelRequest can hit the next query.
        drain = self.loop.create_future()
        drain.add_done_callback(_retrieve)
        req.waiter = drain
        self._add_barrier(self._cancel_and_drain, drain)

    def _add_barrier(self, fn, *args, after: bool = False) -> asyncio.Future:
        """Run ``fn(*args)`` in the background (``after``: once the barriers
        before it have ended); no request starts until it and every barrier
        added before it have ended.  Chained: several requests cancelled at
        once (a pipeline) each send a CancelRequest, and the last one's may
        reach the server first.  Returns a future done when it has ended."""
        prev = self._drain
        done = self.loop.create_future()
        self._drain = done

        async def run():
            if after and prev is not None:
                await asyncio.shield(prev)
            try:
                await fn(*args)
            finally:
                if prev is not None:
                    await asyncio.shield(prev)

        def ended(task):
            # A done callback, not a finally: it also runs for a task
            # cancelled (by close()) before its first step.
            if not task.cancelled() and task.exception() is not None:
                log.warning("background step failed: %r", task.exception())
            if not done.done():
                done.set_result(None)
            if self._drain is done:
                self._drain = None

        self.spawn(run()).add_done_callback(ended)
        return done

    async def _cancel_and_drain(self, req_done: asyncio.Future) -> None:
        try:
            await asyncio.wait_for(self.send_cancel(), timeout=10)
        except Exception as e:  # the request still drains normally
            log.warning("could not send CancelRequest: %s", e)
        try:
            await asyncio.wait_for(asyncio.shield(req_done), timeout=30)
        except asyncio.TimeoutError:
            log.error("cancelled query did not finish in 30 s; closing the connection")
            self.terminate()
        except Exception:
            pass

    def run_first(self, fn, *args) -> asyncio.Future:
        """Run ``fn(*args)`` once every request sent so far has ended and
        before any later request starts, whoever sends it (the pool's reset
        after the connection is handed back included).  ``fn`` sends with
        :meth:`send_now`.  Returns a future done when it has run."""
        return self._add_barrier(fn, *args, after=True)

    async def send_now(self, kind: int, data: bytes, statement=None):
        """A request sent at once, past the barriers: only for the body of
        :meth:`run_first` (a plain request() there would wait for itself)."""
        self._check_open()
        _, fut = self._push(kind, data, statement)
        return await fut

    def rollback_soon(self) -> None:
        """Roll back whatever transaction is open once every request sent so
        far has ended, before any later request runs.  For a BEGIN, COMMIT or
        ROLLBACK whose task was cancelled: it may still run (it is drained) or
        never have been sent, and nothing else would end that transaction."""
        if not self.is_closed:
            self.run_first(self._rollback_open)

    async def _rollback_open(self) -> None:
        if self.is_closed or (self.transaction_status == "I" and not self.core.pending_requests):
            return
        try:
            await asyncio.wait_for(
                self.send_now(_proto.REQUEST_SIMPLE, _proto.build_query("ROLLBACK")), 30)
        except asyncio.TimeoutError:
            log.error("ROLLBACK did not finish in 30 s; closing the connection")
            self.terminate()
        except Exception as e:
            log.warning("could not roll back after a cancelled transaction command: %s", e)

    async def _wait_drain(self) -> None:
        # A barrier may be chained onto while we wait: wait for the last one.
        while self._drain is not None and not self._drain.done():
            await asyncio.shield(self._drain)

    async def send_cancel(self) -> None:
        """CancelRequest over a new connection; returns when the server has
        processed it (it closes that connection)."""
        data = _proto.build_cancel_request(self.core.backend_pid, self.core.backend_secret)
        reader, writer = await self._open_cancel_connection()
        try:
            writer.write(data)
            await writer.drain()
            await reader.read()  # EOF once the postmaster has signalled the backend
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:
                pass

    async def _open_cancel_connection(self):
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.port}")
        # The address we are connected to, not the host name again: a name may
        # resolve to several servers (DNS round robin, a headless service), and
        # a server ignores a CancelRequest for a backend it does not have.
        peer = self.transport.get_extra_info("peername")
        sock = self.transport.get_extra_info("socket")
        if peer is None or sock is None:
            return await asyncio.open_connection(self.host, self.port)
        s = socket.socket(sock.family, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            await self.loop.sock_connect(s, peer)
            return await asyncio.open_connection(sock=s)
        except BaseException:
            s.close()
            raise

    def raise_for(self, req, context=ConnectionExecuteError):
        if req.error_fields is not None:
            raise make_server_error(req.error_fields, context)
        if req.decode_error is not None:
            err = req.decode_error
            if isinstance(err, _proto.StaleTypeError):
                # A user-defined type changed since it was introspected: the
                # next query describes and introspects afresh.
                self.types.forget()
                if req.statement is not None:
                    self.forget_statement(req.statement.query)
            raise err

    # ---- flows ---------------------------------------------------------------

    async def simple_query(self, sql: str, context=ConnectionExecuteError):
        req = await self.request(_proto.REQUEST_SIMPLE, _proto.build_query(sql))
        self.raise_for(req, context)
        return req

    @property
    def types(self) -> ConnectionTypes:
        return self._types

    @types.setter
    def types(self, types: ConnectionTypes) -> None:
        self._types = types
        types.on_change(self._types_changed)

    def _types_changed(self) -> None:
        # Codecs changed (a codec registered, a type learned or forgotten): the
        # cached statements hold the old ones; close them, prepare afresh.
        old = list(self._stmt_cache.values())
        self._stmt_cache.clear()
        if old and not self.is_closed:
            self.spawn(self._close_statements(old))

    async def prepare(self, sql: str, name: str = "", context=ConnectionExecuteError):
        req = await self.request(_proto.REQUEST_PREPARE, _proto.build_prepare(name, sql))
        self.raise_for(req, context)
        param_oids = req.param_oids or ()
        described = await self.types.describe(self, param_oids, req.columns or ())
        if described[4] and not name:
            # The introspection query (a simple Query) destroyed the unnamed
            # statement: parse it again; its types are known now.
            req = await self.request(_proto.REQUEST_PREPARE, _proto.build_prepare(name, sql))
            self.raise_for(req, context)
            param_oids = req.param_oids or ()
            described = await self.types.describe(self, param_oids, req.columns or ())
        col_codecs, par_codecs, col_types, par_types, _ = described
        st = _proto.Statement(name, sql, param_oids, req.columns or (), col_codecs, par_codecs)
        st.set_types(col_types, par_types)
        return st

    @property
    def statement_cache_size(self) -> int:
        return self._stmt_cache_size

    async def statement_for(self, sql: str, prepared: bool, context=ConnectionExecuteError):
        """A described statement: named and cached, or the unnamed one (when not
        ``prepared`` or the cache is off).  The unnamed statement lives only
        until the next Parse on this connection: bind it right away."""
        if not prepared or self._stmt_cache_size <= 0:
            return await self.prepare(sql, "", context)
        st = self._stmt_cache.get(sql)
        if st is not None:
            self._stmt_cache.move_to_end(sql)
            return st
        self._stmt_counter += 1
        st = await self.prepare(sql, f"__psqlpy_s{self._stmt_counter}", context)
        self._stmt_cache[sql] = st
        if len(self._stmt_cache) > self._stmt_cache_size:
            _, old = self._stmt_cache.popitem(last=False)
            self.spawn(self._close_statement(old))
        return st

    async def _close_statement(self, st) -> None:
        try:
            if not self.is_closed:
                await self.request(_proto.REQUEST_SYNC, _proto.build_close_statement(st.name))
        except Exception:
            pass

    async def _close_statements(self, statements) -> None:
        data = b"".join(_proto.build_close_statement(st.name, False) for st in statements)
        try:
            if not self.is_closed:
                await self.request(_proto.REQUEST_SYNC, data + _proto.build_sync())
        except Exception:
            pass

    def forget_statement(self, sql: str) -> None:
        self._stmt_cache.pop(sql, None)

    def clear_statement_cache(self) -> None:
        self._stmt_cache.clear()

    async def execute(self, sql: str, params=None, prepared: bool = True,
                      context=ConnectionExecuteError):
        """Prepare (or reuse) and execute; returns the finished Request.

        Not ``prepared`` (or the statement cache off): one round trip ending in
        one Sync, see :meth:`execute_unprepared`."""
        if not prepared or self._stmt_cache_size <= 0:
            return await self.execute_unprepared(sql, params, context)
        st = self._stmt_cache.get(sql)
        if st is not None:   # the hot path: no coroutine for the lookup
            self._stmt_cache.move_to_end(sql)
        else:
            st = await self.statement_for(sql, prepared, context)
        req = await self.request(_proto.REQUEST_EXTENDED,
                                 _proto.build_execute_statement(st, params), st)
        if (req.error_fields is not None and prepared
                and req.error_fields.get("C") in _STALE_STATEMENT
                and _is_stale_plan(req.error_fields)
                and self.core.transaction_status == "I"):
            # A schema change invalidated the cached plan: prepare afresh once.
            self.forget_statement(sql)
            st = await self.statement_for(sql, prepared, context)
            req = await self.request(_proto.REQUEST_EXTENDED,
                                     _proto.build_execute_statement(st, params), st)
        elif req.error_fields is not None and prepared and _is_stale_plan(req.error_fields):
            self.forget_statement(sql)
        self.raise_for(req, context)
        return req

    async def execute_unprepared(self, sql: str, params=None, context=ConnectionExecuteError):
        """Parse(unnamed) + Bind + Describe(portal) + Execute + Sync in one write.

        A single Sync, so it is safe behind PgBouncer in transaction pooling
        mode (two Syncs may reach two server connections there).  Parameter
        types come from the Python values (mostly "unspecified": the server
        infers them as for a prepared statement) and results are requested in
        text and decoded by the core by column type (psqlpy/types/_unprepared.py).
        Returns the finished Request."""
        oids, values = _unprepared.prepare_params(params)
        # no columns yet: every result comes in text, decoded as the Describe says
        st = _proto.Statement.text_results_for("", sql, oids, self.types.lookup)
        data = _proto.build_parse("", sql, oids) + _proto.build_execute_statement(
            st, values, "", 0, True, True)
        req = await self.request(_proto.REQUEST_EXTENDED, data, st)
        self.raise_for(req, context)
        if st.unknown_columns:
            # user-defined types met for the first time: learn them, then decode
            # what was left as text
            await self.types.learn_columns(self, req.columns)
            cols = st.unknown_columns
            codecs = [st.codec_for_text(i) for i in cols]
            err = _proto.decode_text_columns(req.rows, cols, codecs)
            if err is not None:
                raise err
        if req.columns:
            info = self.types.info
            st.set_types([info(c.type_oid) for c in req.columns], [info(o) for o in oids])
        return req

    async def execute_many(self, sql: str, seq_params, prepared: bool = True,
                           context=ConnectionExecuteError, batch_size: int = 1000):
        if not prepared or self._stmt_cache_size <= 0:
            # The unnamed statement, parsed again for each batch (its parameter
            # types come from that batch's values), every batch behind the one
            # Sync: atomic as the prepared way, and one transaction behind
            # PgBouncer.
            seq = list(seq_params)
            if not seq:
                return
            req = await self._request_batches(None, (
                _unprepared_batch(sql, seq[i:i + batch_size])
                for i in range(0, len(seq), batch_size)))
            self.raise_for(req, context)
            return
        st = await self.statement_for(sql, prepared, context)
        seq = seq_params if isinstance(seq_params, (list, tuple)) else list(seq_params)
        if len(seq) <= batch_size:
            req = await self.request(_proto.REQUEST_EXTENDED, _proto.build_execute_many(st, seq), st)
        else:
            req = await self._request_batches(st, (
                _proto.build_execute_many(st, seq[i:i + batch_size], False)
                for i in range(0, len(seq), batch_size)))
        self.raise_for(req, context)

    async def _request_batches(self, st, batches):
        """One request for every chunk of ``batches`` (Bind/Execute messages,
        encoded as they are needed), written a chunk at a time (waiting on
        transport backpressure, never on the server), one Sync at the end, so
        the whole set is pipelined and atomic like one statement."""
        if self._drain is not None:
            await self._wait_drain()
        self._check_open()
        first = next(batches)   # encode errors cost nothing yet
        req, fut = self._push(_proto.REQUEST_EXTENDED, first, st)
        try:
            # Each chunk is encoded while the kernel still sends the last.
            for chunk in batches:
                await self.protocol.drain()
                self.transport.write(chunk)
        except BaseException:
            # A bad row or a cancellation mid-way: make the server discard the
            # whole set; the request then completes (unawaited) in order.
            if not self.is_closed and not self.transport.is_closing():
                self.transport.write(_proto.build_pipeline_abort())
            fut.add_done_callback(_retrieve)   # nobody awaits it now
            raise
        self.transport.write(_proto.build_sync())
        try:
            return await fut
        except asyncio.CancelledError:
            self._cancelled(req)
            raise

    # ---- closing -------------------------------------------------------------

    def terminate(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        self._closed = True

    def terminate_soon(self) -> None:
        """Send Terminate and close without waiting (for sync close paths)."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.transport.is_closing():
                self.transport.write(_proto.build_terminate())
                self.transport.close()
        except Exception:
            self.transport.abort()

    async def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if not self.transport.is_closing():
                self.transport.write(_proto.build_terminate())
                self.transport.close()
            await asyncio.wait_for(asyncio.shield(self.protocol.closed), timeout)
        except Exception:
            self.transport.abort()
        for t in list(self._tasks):
            t.cancel()


def _retrieve(fut) -> None:
    # For a future nobody may await any more (a drained request whose barrier
    # close() cancelled): mark its exception seen, or asyncio logs "Future
    # exception was never retrieved" at ERROR when it is collected.
    if not fut.cancelled():
        fut.exception()


def _unprepared_batch(sql: str, seq) -> bytes:
    """Parse(unnamed) + Bind/Execute for each row of ``seq``, no Sync."""
    oids, rows = _unprepared.prepare_many(seq)
    st = _proto.Statement("", sql, oids, ())
    return _proto.build_parse("", sql, oids) + _proto.build_execute_many(st, rows, False)


def _is_stale_plan(fields) -> bool:
    code = fields.get("C")
    if code == "26000":
        return True
    return code == "0A000" and "cached plan must not change result type" in fields.get("M", "")


def _parse_server_version(s: str) -> int:
    try:
        parts = s.split()[0].split(".")
        major = int(parts[0])
        minor = int("".join(ch for ch in parts[1] if ch.isdigit()) or 0) if len(parts) > 1 else 0
        return major * 10000 + minor
    except (ValueError, IndexError):
        return 0
