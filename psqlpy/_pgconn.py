"""The low-level connection: the request pipeline plus the protocol flows.

Everything public (Connection, Transaction, Listener, pool) is built on
``PgConnection``.  Its wire -- units, cancellation, background clean-up,
waiting for idle -- is :class:`psqlpy._pipeline.RequestPipeline`; this module
adds the flows (simple query, prepare, bind/execute, execute_many) and the
statement cache, and knows nothing about the psqlpy API's result shapes.
"""
from __future__ import annotations

import asyncio
import collections
import logging

from . import protocol as _proto
from ._pipeline import RequestPipeline
from .exceptions import ConnectionExecuteError, make_server_error
from .types import ConnectionTypes
from .types import _unprepared

log = logging.getLogger("psqlpy.connection")

# SQLSTATEs that mean a cached statement is gone or stale: re-prepare once.
_STALE_STATEMENT = {"26000", "0A000"}


class PgConnection(RequestPipeline):
    __slots__ = (
        "config", "_stmt_cache", "_stmt_cache_size", "_stmt_counter", "notice_log",
        "server_version", "__weakref__", "_types",
    )

    def __init__(self, loop, core, protocol, transport, config, host, port, tls=False):
        super().__init__(loop, core, protocol, transport, host, port, tls)
        self.config = config
        self._stmt_cache: collections.OrderedDict = collections.OrderedDict()
        # ``statement_cache_size`` on the settings: 0 turns the cache off and
        # every query goes through the one-shot unprepared flow (PgBouncer in
        # transaction pooling mode); None keeps the default.
        size = getattr(config, "statement_cache_size", None)
        self._stmt_cache_size = 256 if size is None else max(0, int(size))
        self._stmt_counter = 0
        # What is known of types and the codecs for them; a pool hands its
        # connections views of one shared registry (ConnectionPool._open_in_slot).
        self._types = None
        self.types = ConnectionTypes()
        self.server_version = _parse_server_version(core.parameters.get("server_version", ""))

    def rollback_soon(self) -> None:
        """Roll back whatever transaction is open once every unit sent so far
        has completed, before any later one runs.  For a BEGIN, COMMIT or
        ROLLBACK whose task was cancelled (it may still run, or never have
        been sent, and nothing else would end that transaction) and for a
        transaction block left by an exception: the caller does not wait."""
        if not self.is_closed:
            self.run_first(self._rollback_open)

    async def _rollback_open(self) -> None:
        if self.is_closed or self.transaction_status == "I":
            return
        try:
            await asyncio.wait_for(
                self.send_now(_proto.REQUEST_SIMPLE, _proto.build_query("ROLLBACK")), 30)
        except asyncio.TimeoutError:
            log.error("ROLLBACK did not finish in 30 s; closing the connection")
            self.terminate()
        except Exception as e:
            log.warning("could not roll back after a cancelled transaction command: %s", e)

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
        self._set_text_types(st, req.columns, oids)
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
        """One unit for every chunk of ``batches`` (Bind/Execute messages,
        encoded as they are needed), written a chunk at a time (waiting on
        transport backpressure, never on the server) with the wire held, one
        Sync at the end, so the whole set is pipelined and atomic like one
        statement, and no other unit lands in its middle."""
        first = next(batches)   # encode errors cost nothing yet
        req, fut = await self.open_stream(_proto.REQUEST_EXTENDED, first, st)
        try:
            # Each chunk is encoded while the kernel still sends the last.
            for chunk in batches:
                await self.protocol.drain()
                self.transport.write(chunk)
        except BaseException:
            # A bad row or a cancellation mid-way: make the server discard the
            # whole set; the unit then completes, unawaited, in order.
            if not self.is_closed and not self.transport.is_closing():
                self.transport.write(_proto.build_pipeline_abort())
            self.end_stream(req)
            self.abandon(req)
            raise
        self.transport.write(_proto.build_sync())
        self.end_stream(req)
        return await self.result(req, fut)

    async def open_portal_unprepared(self, sql: str, params, portal: str, context):
        """Open ``portal`` over a one-shot (unnamed) statement in one unit:
        Parse + Bind + Describe(portal) + Sync, parameters typed from their
        Python values, results in text.  Returns the statement, described by
        the portal's columns (user-defined types among them learned first):
        fetch from the portal with it, the core decodes the text rows."""
        oids, values = _unprepared.prepare_params(params)
        st = _proto.Statement.text_results_for("", sql, oids, self.types.lookup)
        req = await self.request(_proto.REQUEST_SYNC,
                                 _proto.build_open_portal_unnamed(st, values, portal), st)
        self.raise_for(req, context)
        if st.unknown_columns:
            await self.types.learn_columns(self, req.columns)
            st.describe_text(req.columns)
        self._set_text_types(st, req.columns, oids)
        return st

    def _set_text_types(self, st, columns, oids) -> None:
        if columns:
            info = self.types.info
            st.set_types([info(c.type_oid) for c in columns], [info(o) for o in oids])

    def statement_is_current(self, st) -> bool:
        """``st`` is still the cached (so still prepared) statement for its text."""
        return self._stmt_cache.get(st.query) is st


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
