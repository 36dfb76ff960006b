"""Cursor: a protocol-level portal (Bind with a name, Execute with a row
limit) inside a transaction."""
from __future__ import annotations

from . import protocol as _proto
from ._named import bind_parameters
from ._results import QueryResult
from .exceptions import (
    CursorClosedError,
    CursorFetchError,
    CursorStartError,
)


class Cursor:
    _counter = 0

    def __init__(self, connection, querystring=None, parameters=None, array_size=None,
                 transaction=None):
        self._connection = connection
        self._transaction = transaction
        self.querystring = querystring
        self.parameters = parameters
        self.array_size = 1 if array_size is None else array_size
        self._portal = None
        self._statement = None
        self._own_tx = False
        self._exhausted = False
        self._closed = False
        self._rows_buffer: list = []

    def _pg(self):
        return self._connection._pg()

    async def start(self) -> None:
        if self._portal is not None:
            raise CursorStartError("the cursor is already started")
        if self.querystring is None:
            raise CursorStartError("the cursor has no query")
        pg = self._pg()
        if pg.transaction_status == "I":
            await pg.simple_query("BEGIN", CursorStartError)
            self._own_tx = True
        query, params = bind_parameters(self.querystring, self.parameters)
        st = await pg.statement_for(query, True, CursorStartError)
        Cursor._counter += 1
        portal = f"__psqlpy_c{Cursor._counter}"
        # The portal is bound with the first fetch (Bind + Execute(limit) +
        # Sync); Sync does not close it because we are inside a transaction.
        self._statement = st
        self._params = params
        self._portal = portal
        self._bound = False

    async def _fetch(self, n: int) -> list:
        if self._closed:
            raise CursorClosedError("the cursor is closed")
        if self._portal is None:
            await self.start()
        if self._exhausted:
            return []
        pg = self._pg()
        st = self._statement
        if not self._bound:
            data = _proto.build_execute_statement(st, self._params, self._portal, n, True)
            self._bound = True
        else:
            data = _proto.build_portal_execute(self._portal, n)
        req = await pg.request(_proto.REQUEST_EXTENDED, data, st)
        pg.raise_for(req, CursorFetchError)
        if not req.suspended:
            self._exhausted = True
        return req.rows

    async def fetchone(self):
        rows = await self._fetch(1)
        st = self._statement
        if not rows:
            return None
        return QueryResult(st.column_names, rows, None, st.columns)

    async def fetchmany(self, size: int | None = None):
        rows = await self._fetch(size or self.array_size)
        st = self._statement
        return QueryResult(st.column_names, rows, None, st.columns)

    async def fetchall(self):
        rows = await self._fetch(0)
        st = self._statement
        return QueryResult(st.column_names, rows, None, st.columns)

    async def execute(self, querystring: str, parameters=None):
        await self._close_portal()
        self.querystring = querystring
        self.parameters = parameters
        self._portal = None
        self._exhausted = False
        self._closed = False
        await self.start()
        return await self.fetchmany()

    async def _close_portal(self) -> None:
        if self._portal is not None and self._bound:
            pg = self._pg()
            if not pg.is_closed and pg.transaction_status == "T":
                await pg.request(_proto.REQUEST_SYNC, _proto.build_close_portal(self._portal))
        self._portal = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pg = self._connection._conn
        if pg is not None and not pg.is_closed:
            pg.spawn(self._aclose(pg))

    async def _aclose(self, pg) -> None:
        try:
            await self._close_portal()
            if self._own_tx and pg.transaction_status != "I":
                await pg.simple_query("COMMIT")
        except Exception:
            pass

    def is_closed(self) -> bool:
        return self._closed

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        if not self._closed:
            self._closed = True
            await self._aclose(self._pg())

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._exhausted and not self._rows_buffer:
            raise StopAsyncIteration
        result = await self.fetchmany()
        if len(result) == 0:
            raise StopAsyncIteration
        return result
