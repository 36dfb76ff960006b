"""Connection: the psqlpy API over one PgConnection.

The other API modules reach a Connection's PgConnection through the functions
at the end of this module (:func:`pg_of`, :func:`owned_pg`, :func:`rebind`),
never through its attributes.
"""
from __future__ import annotations

import asyncio
import weakref

from . import protocol as _proto
from ._named import bind_parameters
from ._results import QueryResult, SingleQueryResult
from .exceptions import (
    ConnectionClosedError,
    ConnectionExecuteError,
)


_POSITIONAL = frozenset((list, tuple))


def _one_row(rows, what: str, error) -> None:
    if len(rows) != 1:
        raise error(f"{what}: the query returned {len(rows)} rows, exactly one was expected")


class _QueryMethods:
    """Query methods shared by Connection and Transaction.

    Each public method goes through the private ``_run``/``_run_rows`` and never
    through another public method, so wrapping one on the class (the OpenTelemetry
    instrumentation wraps ``execute``, ``fetch``, ``fetch_val``, ... with wrapt)
    records exactly one span per call.

    ``prepared`` (default: True) uses a named, cached server-side statement; with
    ``prepared=False`` the query goes through the unnamed statement in one round trip.
    """

    _error_context = ConnectionExecuteError

    def _pg(self):
        raise NotImplementedError

    def _pg_config(self):
        raise NotImplementedError

    async def _run(self, querystring: str, parameters, prepared):
        pg = self._pg()
        query, params = bind_parameters(querystring, parameters)
        return await pg.execute(query, params, prepared is not False, self._error_context)

    async def _result(self, querystring: str, parameters, prepared) -> QueryResult:
        req = await self._run(querystring, parameters, prepared)
        st = req.statement
        return QueryResult(st.column_names, req.rows, req.tag, st)

    async def execute(self, querystring: str, parameters=None, prepared: bool | None = None) -> QueryResult:
        return await self._result(querystring, parameters, prepared)

    async def fetch(self, querystring: str, parameters=None, prepared: bool | None = None) -> QueryResult:
        """Same as :meth:`execute` (the reference driver's alias)."""
        return await self._result(querystring, parameters, prepared)

    async def fetch_row(self, querystring: str, parameters=None, prepared: bool | None = None) -> SingleQueryResult:
        """The one row the query returns; no row or several rows raise
        ``ConnectionExecuteError`` / ``TransactionExecuteError``, as in the reference
        driver."""
        req = await self._run(querystring, parameters, prepared)
        _one_row(req.rows, "fetch_row", self._error_context)
        return SingleQueryResult(req.statement.column_names, req.rows[0], req.statement)

    async def fetch_val(self, querystring: str, parameters=None, prepared: bool | None = None):
        """The first column of the one row the query returns.  No row or several rows
        raise (where asyncpg's ``fetchval`` returns None or the first row's value, we
        follow the reference driver: ``ConnectionExecuteError`` /
        ``TransactionExecuteError``); a NULL value is returned as None."""
        req = await self._run(querystring, parameters, prepared)
        _one_row(req.rows, "fetch_val", self._error_context)
        row = req.rows[0]
        if not row:
            raise self._error_context("fetch_val: the query returned no columns")
        return row[0]

    async def execute_batch(self, querystring: str) -> None:
        """Several ``;``-separated statements through the simple-query protocol, no
        parameters, nothing returned."""
        await self._pg().simple_query(querystring, self._error_context)

    async def execute_many(self, querystring: str, parameters=None, prepared: bool | None = None) -> None:
        """Run the statement once per parameter set, pipelined (batches of Bind/Execute
        behind one Sync), not a round trip per row.  Nothing is returned, as in the
        reference driver and asyncpg's ``executemany``."""
        if not parameters:
            return
        pg = self._pg()
        rows = parameters if isinstance(parameters, (list, tuple)) else list(parameters)
        if set(map(type, rows)) <= _POSITIONAL:
            # Positional rows go to the encoder as they are (it checks each
            # row's length); a per-row Python call would cost more than the
            # encoding itself.
            query = querystring
        else:
            seq = [bind_parameters(querystring, p) for p in rows]
            query = seq[0][0]
            rows = [p for _, p in seq]
        await pg.execute_many(query, rows, prepared is not False, self._error_context)

    async def binary_copy_to_table(self, source, table_name: str, columns=None,
                                   schema_name=None) -> int:
        """COPY binary data (bytes-like, a file-like object with a sync or async
        read(), or an iterable of bytes) into the table; returns the row count."""
        from ._copy import binary_copy_to_table
        return await binary_copy_to_table(self._pg(), source, table_name, columns,
                                          schema_name, self._error_context)

    async def copy_records_to_table(self, table_name: str, records, columns=None,
                                    schema_name=None) -> int:
        """Insert ``records`` (sequences of column values) with a binary COPY;
        returns the number of rows inserted."""
        from ._copy import copy_records_to_table
        return await copy_records_to_table(self._pg(), table_name, records, columns,
                                           schema_name, self._error_context)

    async def in_transaction(self) -> bool:
        pg = self._pg()
        # The status is known once what was sent before (a cancelled query's
        # clean-up, the ROLLBACK after it) has completed.
        await pg.wait_idle()
        return pg.transaction_status != "I"

    # attributes the OpenTelemetry instrumentation and users read
    @property
    def _config(self):
        return self._pg_config()

    @property
    def conn_dbname(self):
        return self._pg_config().database

    @property
    def dbname(self):
        return self._pg_config().database

    @property
    def user(self):
        return self._pg_config().user

    @property
    def hosts(self):
        return [h for h, _ in self._pg_config().hosts]

    @property
    def host_addrs(self):
        return [h for h, _ in self._pg_config().hosts]

    @property
    def ports(self):
        return [p for _, p in self._pg_config().hosts]

    @property
    def options(self):
        return self._pg_config().options


class Connection(_QueryMethods):
    """A database connection; from a pool it goes back there on close()."""

    def __init__(self, pg, release=None, release_from_gc=None):
        # A pool's connection: ``release(pg)`` hands the socket back to it,
        # ``release_from_gc(pg)`` when this object is collected unclosed.
        self._conn = pg
        self._release_to = release
        self._released = False
        if release_from_gc is not None:
            self._finalizer = weakref.finalize(self, release_from_gc, pg)
        else:
            self._finalizer = None

    def _pg(self):
        pg = self._conn
        if pg is None or self._released:
            raise ConnectionClosedError("the connection is closed")
        return pg

    def _pg_config(self):
        if self._conn is None:
            raise ConnectionClosedError("the connection is closed")
        return self._conn.config

    def transaction(self, isolation_level=None, read_variant=None, deferrable=None):
        from .transaction import Transaction
        return Transaction(self, isolation_level, read_variant, deferrable)

    def cursor(self, querystring=None, parameters=None, array_size=None, fetch_number=None):
        """A server-side cursor; ``fetch_number`` is the reference's documented name
        for ``array_size`` (its code takes only ``array_size``), accepted as an alias."""
        from .cursor import Cursor
        return Cursor(self, querystring, parameters, array_size, fetch_number=fetch_number)

    async def set_type_codec(self, typename: str, *, schema: str = "public", encoder=None,
                             decoder=None, format: str = "text") -> None:
        """Ours (asyncpg's shape): decode and encode values of type ``schema.typename``
        with ``decoder`` and ``encoder`` on this connection, over the built-in codecs
        and the pool's.  ``format``: "text" (decoder(str), encoder -> str),
        "binary" (bytes both ways), or for a composite type "tuple" / "dict"
        (decoder gets its decoded attributes as a tuple / dict, encoder returns a
        sequence / mapping).  A side left out (None) passes the format's value
        through unchanged; at least one is needed.  Raises ProgrammingError when the type does not exist.  The
        codec lives as long as this server connection: for every connection of
        a pool, register it on the pool."""
        from .types._registry import make_spec
        pg = self._pg()
        await pg.types.register(pg, make_spec(typename, schema, encoder, decoder, format))

    async def prepare(self, querystring: str, parameters=None, prepared=None):
        from .prepared import PreparedStatement
        pg = self._pg()
        query, params = bind_parameters(querystring, parameters)
        st = await pg.statement_for(query, True, self._error_context)
        return PreparedStatement(self, st, params, self._error_context)

    def close(self) -> None:
        """Return the connection to its pool, or close it when it has none."""
        if self._released:
            return
        self._released = True
        pg = self._conn
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._release_to is not None:
            self._release_to(pg)
        elif pg is not None:
            pg.terminate_soon()

    def is_closed(self) -> bool:
        return self._released or self._conn is None or self._conn.is_closed

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if self._release_to is None and not self._released:
            self._released = True
            if self._conn is not None:
                if exc_type is not None and not issubclass(exc_type, Exception):
                    # Cancelled (a timeout): the caller's deadline is over,
                    # so close without waiting for the socket.
                    self._conn.terminate_soon()
                else:
                    # Our own socket: close it gracefully and wait for it.
                    await self._conn.close()
            return
        self.close()

    def __repr__(self):
        if self.is_closed():
            return "<psqlpy.Connection closed>"
        pg = self._conn
        status = {"I": "idle", "T": "in transaction", "E": "in failed transaction"}.get(
            pg.transaction_status, "busy")
        return (f"<psqlpy.Connection open {pg.config.describe()} pid={pg.backend_pid} "
                f"{status}>")


# ---- the named interface for the other API modules ----------------------------

def pg_of(obj):
    """The PgConnection a Connection or Transaction runs its queries on; raises
    (ConnectionClosedError, TransactionClosedError) when it may not."""
    return obj._pg()


def config_of(conn: Connection):
    """The settings ``conn`` was opened with."""
    return conn._pg_config()


def owned_pg(conn: Connection):
    """``conn``'s PgConnection while it is still ``conn``'s: None once the
    connection is closed or handed back to its pool, where another user may
    have it."""
    pg = conn._conn
    if conn._released or pg is None or pg.is_closed:
        return None
    return pg


def rebind(conn: Connection, pg) -> None:
    """Point ``conn`` at another PgConnection (None: none), for a Connection
    whose socket is replaced, as a listener's is on a reconnect."""
    conn._conn = pg
