"""Transaction: BEGIN ... COMMIT/ROLLBACK on one connection, with savepoints."""
from __future__ import annotations

import asyncio

from ._enums import IsolationLevel, ReadVariant
from ._ident import quote_ident
from ._named import bind_parameters
from ._results import QueryResult
from .connection import _QueryMethods, config_of, pg_of
from .exceptions import (
    TransactionBeginError,
    TransactionClosedError,
    TransactionCommitError,
    TransactionExecuteError,
    TransactionRollbackError,
    TransactionSavepointError,
)


class Transaction(_QueryMethods):
    """BEGIN ... COMMIT / ROLLBACK on one connection.

    ``async with conn.transaction() as tx`` begins, commits when the block ends
    normally and rolls back (re-raising) when it raises.  ``begin()`` may be called
    once; after ``commit()`` / ``rollback()`` every method raises
    ``TransactionClosedError``.  As in the reference driver, a query before
    ``begin()`` runs on the connection outside a transaction block, and ``commit()`` /
    ``rollback()`` before ``begin()`` send their command (the server only warns) and
    finish the transaction object.  Savepoint names
    are quoted as identifiers: any text is a valid name, compared exactly (``'my sp'``,
    ``'"x"'``).  Query errors inside are ``TransactionExecuteError`` (and the
    SQLSTATE's class)."""

    _error_context = TransactionExecuteError

    def __init__(self, connection, isolation_level=None, read_variant=None, deferrable=None):
        self._connection = connection
        self._isolation_level = isolation_level
        self._read_variant = read_variant
        self._deferrable = deferrable
        self._state = "new"   # new -> started -> done

    def _pg(self):
        # Before begin() a query runs on the connection outside any transaction
        # block, as in the reference driver (whose own test suite relies on it).
        if self._state == "done":
            raise TransactionClosedError("the transaction is already finished")
        return pg_of(self._connection)

    def _pg_config(self):
        return config_of(self._connection)

    def _begin_sql(self) -> str:
        parts = ["BEGIN"]
        if self._isolation_level is not None:
            parts.append("ISOLATION LEVEL " + IsolationLevel(self._isolation_level).value)
        if self._read_variant is not None:
            parts.append(ReadVariant(self._read_variant).value)
        if self._deferrable is not None:
            parts.append("DEFERRABLE" if self._deferrable else "NOT DEFERRABLE")
        return " ".join(parts)

    async def begin(self) -> None:
        await self._begin()

    # ``async with`` goes through _begin/_end, never the public methods: the
    # OpenTelemetry instrumentation wraps those on the class, and the reference
    # driver's block records no begin/commit span of its own.
    async def _begin(self) -> None:
        if self._state == "done":
            raise TransactionClosedError("the transaction is already finished")
        if self._state != "new":
            raise TransactionBeginError("the transaction was already started")
        pg = pg_of(self._connection)
        # The status is known once what was sent before (a cancelled query's
        # clean-up, the ROLLBACK after it) has completed.
        await pg.wait_idle()
        if pg.transaction_status != "I":
            raise TransactionBeginError("the connection is already in a transaction")
        try:
            await pg.simple_query(self._begin_sql(), TransactionBeginError)
        except BaseException as e:
            if not isinstance(e, Exception):
                # Cancelled: the BEGIN may still run (its unit is abandoned) and
                # nothing would ever end the transaction it opens.
                pg.rollback_soon()
            raise
        self._state = "started"

    async def commit(self) -> None:
        await self._end("COMMIT", TransactionCommitError)

    async def rollback(self) -> None:
        await self._end("ROLLBACK", TransactionRollbackError)

    async def _end(self, sql: str, context) -> None:
        pg = self._pg()
        self._state = "done"
        try:
            await pg.simple_query(sql, context)
        except BaseException as e:
            if not isinstance(e, Exception):
                # Cancelled, maybe while still waiting for an earlier cancelled
                # query, so before our COMMIT/ROLLBACK was sent: the transaction
                # must not stay open with no Transaction left to end it.
                pg.rollback_soon()
            raise

    @staticmethod
    def _savepoint(name) -> str:
        return quote_ident(name, "savepoint name", TransactionSavepointError)

    async def create_savepoint(self, savepoint_name: str) -> None:
        await self._pg().simple_query(
            "SAVEPOINT " + self._savepoint(savepoint_name), TransactionSavepointError)

    async def rollback_savepoint(self, savepoint_name: str) -> None:
        await self._pg().simple_query(
            "ROLLBACK TO SAVEPOINT " + self._savepoint(savepoint_name),
            TransactionSavepointError)

    async def release_savepoint(self, savepoint_name: str) -> None:
        await self._pg().simple_query(
            "RELEASE SAVEPOINT " + self._savepoint(savepoint_name),
            TransactionSavepointError)

    async def pipeline(self, queries=None, prepared=None) -> list:
        """Run ``queries`` (each a query string or a ``(query, parameters)`` pair) and
        return one QueryResult per query, in order.

        The queries are pipelined: every statement is prepared first (once per distinct
        text, cached), then all Bind/Execute/Sync batches are written back to back and
        the results read as they come, so N queries cost about one round trip.  Each
        query has its own Sync, so the first failing one raises (like asyncpg and
        psycopg's pipeline mode, later ones then fail with "current transaction is
        aborted" and are not reported separately)."""
        items = []
        for item in queries or ():
            if isinstance(item, str):
                q, p = item, None
            else:
                q, p = item[0], (item[1] if len(item) > 1 else None)
            items.append(bind_parameters(q, p))
        if not items:
            return []
        pg = self._pg()
        ctx = self._error_context
        use_prepared = prepared is not False and pg.statement_cache_size > 0
        distinct = {q for q, _ in items}
        if use_prepared and len(distinct) > pg.statement_cache_size // 2:
            # too many to keep prepared at once: one after the other
            reqs = [await pg.execute(q, p, True, ctx) for q, p in items]
        else:
            if use_prepared:
                for q in distinct:
                    await pg.statement_for(q, True, ctx)
            # With every statement cached, each pg.execute() writes its messages before
            # its first suspension, so the tasks below hit the socket in order.
            outcomes = await asyncio.gather(
                *(pg.execute(q, p, use_prepared, ctx) for q, p in items),
                return_exceptions=True)
            for o in outcomes:
                if isinstance(o, BaseException):
                    raise o
            reqs = list(outcomes)
        results = []
        for req in reqs:
            st = req.statement
            results.append(QueryResult(st.column_names, req.rows, req.tag, st))
        return results

    def cursor(self, querystring=None, parameters=None, array_size=None, fetch_number=None):
        """As :meth:`Connection.cursor`, inside this transaction."""
        from .cursor import Cursor
        return Cursor(self._connection, querystring, parameters, array_size, transaction=self,
                      fetch_number=fetch_number)

    def is_closed(self) -> bool:
        return self._state == "done"

    def __repr__(self) -> str:
        state = {"new": "not begun", "started": "begun", "done": "finished"}[self._state]
        opts = [f"isolation_level={IsolationLevel(self._isolation_level).name}"
                if self._isolation_level is not None else "",
                f"read_variant={ReadVariant(self._read_variant).name}"
                if self._read_variant is not None else "",
                f"deferrable={self._deferrable}" if self._deferrable is not None else ""]
        return " ".join(["<psqlpy.Transaction", state, *filter(None, opts)]) + ">"

    async def __aenter__(self):
        await self._begin()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if self._state != "started":
            return False
        if exc_type is None:
            await self._end("COMMIT", TransactionCommitError)
            return False
        # The block failed (or was cancelled, or timed out): the ROLLBACK runs
        # in the background, before anything sent later on this connection,
        # so leaving the block never waits for the server (a stalled network
        # would otherwise hold a timed-out caller for as long as the
        # cancellation and the ROLLBACK take).
        self._state = "done"
        try:
            pg = pg_of(self._connection)
        except Exception:
            return False     # closed: the server ends the transaction
        pg.rollback_soon()
        return False
