"""Cursor: a protocol-level portal (Bind with a name, Execute with a row limit)
inside a transaction.

Semantics (the reference driver is vague in places; we do what asyncpg / psycopg
users expect and say so here):

* ``array_size`` (default 1) is the batch size: ``fetchmany()`` without a size and
  every step of ``async for`` fetch that many rows; ``async for`` yields one
  :class:`QueryResult` per batch (the psqlpy way), and stops at the first empty one.
* ``fetchone()`` / ``fetchmany()`` / ``fetchall()`` return a :class:`QueryResult`
  (empty, and so falsy, when the rows are exhausted).
* ``execute(querystring, parameters)`` closes the current portal and opens a new
  one for the new query without fetching (DB-API style: execute, then fetch*); it
  returns the cursor itself.
* Outside a transaction the cursor begins one when it starts and commits it when it
  is closed (a portal only outlives its Sync inside a transaction); inside a
  ``Transaction`` it uses that transaction and leaves it alone.  A start that
  fails (or is cancelled) rolls back the transaction it began.
* ``close()`` is synchronous and returns an awaitable (``await cursor.close()``
  also works, waiting for the portal to be closed on the server).  The Close and
  COMMIT run before any later request on the connection, awaited or not; once the
  connection is closed or back in its pool, closing the cursor does nothing there.
* A fetch cancelled in flight (a timeout) loses its rows, so every later fetch
  raises ``CursorFetchError`` rather than silently skipping them; ``execute()``
  opens a fresh portal.  Leaving ``async with`` by a cancellation does not wait
  for the close (it still runs before any later request).
* The portal is set up in one unit of the connection's pipeline: with the
  statement cache off (``statement_cache_size=0``, PgBouncer) that is Parse of
  the unnamed statement, Bind and Describe behind one Sync, so another task's
  query can never replace the statement between its Parse and its Bind; rows
  then come in text and are decoded by column type, as for ``prepared=False``.
"""
from __future__ import annotations

import asyncio
import itertools

from . import protocol as _proto
from ._named import bind_parameters
from ._results import QueryResult
from .connection import owned_pg, pg_of
from .exceptions import (
    CursorClosedError,
    CursorFetchError,
    CursorStartError,
)

_portal_ids = itertools.count(1)


class Cursor:
    def __init__(self, connection, querystring=None, parameters=None, array_size=None,
                 transaction=None, fetch_number=None):
        self._connection = connection
        self._transaction = transaction
        self.querystring = querystring
        self.parameters = parameters
        if array_size is None:
            array_size = fetch_number
        self.array_size = 1 if array_size is None else array_size
        self._portal = None
        self._statement = None
        self._params = ()
        self._bound = False
        self._own_tx = False
        self._exhausted = False
        self._closed = False
        self._lost = False

    def _pg(self):
        if self._transaction is not None:
            return pg_of(self._transaction)
        return pg_of(self._connection)

    # attributes the instrumentation and users read
    @property
    def conn_dbname(self):
        return self._connection.conn_dbname

    @property
    def user(self):
        return self._connection.user

    @property
    def hosts(self):
        return self._connection.hosts

    @property
    def host_addrs(self):
        return self._connection.host_addrs

    @property
    def ports(self):
        return self._connection.ports

    async def start(self) -> None:
        """Prepare the query and open the portal (bound with the first fetch)."""
        if self._closed:
            raise CursorClosedError("the cursor is closed")
        if self._portal is not None:
            raise CursorStartError("the cursor is already started")
        if self.querystring is None:
            raise CursorStartError("the cursor has no query")
        pg = self._pg()
        query, params = bind_parameters(self.querystring, self.parameters)
        # The status is known once what was sent before has completed.
        await pg.wait_idle()
        own_tx = pg.transaction_status == "I"
        text = pg.statement_cache_size <= 0
        try:
            if own_tx:
                await pg.simple_query("BEGIN", CursorStartError)
            # Bind the portal now (Sync does not close it inside a transaction).
            portal = f"__psqlpy_c{next(_portal_ids)}"
            if text:
                # Parse + Bind in one unit: the unnamed statement is replaced
                # by the next Parse on this connection, whoever sends it.
                st = await pg.open_portal_unprepared(query, params, portal, CursorStartError)
            else:
                st = await pg.statement_for(query, True, CursorStartError)
                req = await pg.request(_proto.REQUEST_SYNC,
                                       _proto.build_bind_portal(st, params, portal), st)
                pg.raise_for(req, CursorStartError)
        except BaseException:
            if own_tx:
                # The transaction we began must not outlive a failed start
                # (``async with`` does not close a cursor whose start raised):
                # a failed Parse or Bind left it aborted, a cancellation open.
                pg.rollback_soon()
            raise
        self._own_tx = own_tx
        self._statement = st
        self._params = params
        self._portal = portal
        self._bound = True
        self._exhausted = False
        self._lost = False     # a new portal: nothing of it was lost

    async def _fetch(self, n: int) -> QueryResult:
        if self._closed:
            raise CursorClosedError("the cursor is closed")
        if self._lost:
            raise CursorFetchError(
                "an earlier fetch on this cursor was cancelled and its rows are lost; "
                "the cursor cannot go on")
        if self._portal is None:
            await self.start()
        st = self._statement
        if self._exhausted:
            return QueryResult(st.column_names, [], None, st)
        pg = self._pg()
        if not self._bound:
            data = _proto.build_execute_statement(st, self._params, self._portal, n, True)
            self._bound = True
        else:
            data = _proto.build_portal_execute(self._portal, n)
        try:
            req = await pg.request(_proto.REQUEST_EXTENDED, data, st)
        except BaseException as e:
            if not isinstance(e, Exception):
                # Cancelled: the portal may still have advanced, its rows
                # consumed for nobody; going on would silently skip them.
                self._lost = True
            raise
        pg.raise_for(req, CursorFetchError)
        if not req.suspended:
            self._exhausted = True
        return QueryResult(st.column_names, req.rows, req.tag, st)

    async def fetchone(self) -> QueryResult:
        """The next row, as a QueryResult of at most one row."""
        return await self._fetch(1)

    async def fetchmany(self, size: int | None = None) -> QueryResult:
        """The next ``size`` rows (``array_size`` when None)."""
        return await self._fetch(_batch_size(self.array_size if size is None else size))

    async def fetchall(self, size: int | None = None) -> QueryResult:
        """Every remaining row.  ``size`` is in the reference's stub but not in its
        code; accepted and ignored."""
        return await self._fetch(0)

    async def execute(self, querystring: str, parameters=None) -> Cursor:
        """Close the current portal, open one for ``querystring``; fetch with fetch*."""
        if self._closed:
            raise CursorClosedError("the cursor is closed")
        await self._close_portal()
        self.querystring = querystring
        self.parameters = parameters
        await self.start()
        return self

    async def _close_portal(self) -> None:
        portal, bound = self._portal, self._bound
        self._portal = None
        self._bound = False
        if portal is not None and bound:
            pg = self._own_pg()
            if pg is not None and pg.transaction_status == "T":
                await pg.request(_proto.REQUEST_SYNC, _proto.build_close_portal(portal))

    def _own_pg(self):
        """The connection's PgConnection while it is still ours: None once the
        connection is closed or handed back to its pool, where another user
        may have it (and a COMMIT of ours would end their transaction)."""
        return owned_pg(self._connection)

    def close(self):
        """Close the cursor (its portal, and its own transaction if it began one).

        Returns an awaitable; awaiting it is optional."""
        if self._closed:
            return _done_future()
        self._closed = True
        pg = self._own_pg()
        if pg is not None and (self._portal is not None or self._own_tx):
            # Ahead of any later request on the connection (the pool's reset
            # after Connection.close() included): the Close and our COMMIT go
            # out while the connection is still ours, even when close() is
            # not awaited or the awaiting task is cancelled.
            return asyncio.shield(pg.run_first(self._close_now, pg))
        return _done_future()

    async def _close_now(self, pg) -> None:
        portal, bound, own_tx = self._portal, self._bound, self._own_tx
        self._portal = None
        self._bound = False
        self._own_tx = False
        try:
            if portal is not None and bound and pg.transaction_status == "T":
                await pg.send_now(_proto.REQUEST_SYNC, _proto.build_close_portal(portal))
            if own_tx and pg.transaction_status != "I":
                await pg.send_now(_proto.REQUEST_SIMPLE, _proto.build_query("COMMIT"))
        except Exception:
            pass   # the connection is gone: the server ends the transaction

    def is_closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Cursor:
        if self.querystring is not None and self._portal is None:
            await self.start()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        closing = self.close()
        if exc_type is not None and not issubclass(exc_type, Exception):
            return     # cancelled: the close runs on in the background, in order
        await closing

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> QueryResult:
        if self._exhausted and self._portal is not None:
            raise StopAsyncIteration
        # _fetch, not fetchmany(): instrumentations wrap both public methods, and
        # one batch must not be recorded twice.
        result = await self._fetch(_batch_size(self.array_size))
        if len(result) == 0:
            raise StopAsyncIteration
        return result

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._portal else "new")
        return f"<psqlpy.Cursor {state} {self.querystring!r}>"


def _batch_size(n: int) -> int:
    if n < 1:
        raise CursorFetchError(f"fetch size must be at least 1, got {n}")
    return n


def _done_future():
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    fut = loop.create_future()
    fut.set_result(None)
    return fut
