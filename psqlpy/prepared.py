"""PreparedStatement: a server-side statement with its parameters bound."""
from __future__ import annotations

from . import protocol as _proto
from ._results import Column, QueryResult, describe_columns
from .connection import pg_of
from .exceptions import ConnectionExecuteError

__all__ = ["Column", "PreparedStatement"]


class PreparedStatement:
    """Made by ``Connection.prepare(querystring, parameters)``: the statement is parsed
    and described once; ``execute()`` runs it with the parameters given to prepare()
    (asyncpg binds at execute time; the reference driver binds at prepare time)."""

    def __init__(self, connection, statement, parameters, context=ConnectionExecuteError):
        self._connection = connection
        self._statement = statement
        self._parameters = parameters
        self._context = context

    @property
    def querystring(self) -> str:
        return self._statement.query

    @property
    def parameters(self):
        return self._parameters

    async def execute(self) -> QueryResult:
        pg = pg_of(self._connection)
        st = self._statement
        if not st.name:
            # The unnamed statement (statement cache off, e.g. behind PgBouncer)
            # is overwritten by the next query: run it the one-round-trip way.
            req = await pg.execute(st.query, self._parameters, False, self._context)
            st = req.statement
            return QueryResult(st.column_names, req.rows, req.tag, st)
        if not pg.statement_is_current(st):
            # evicted from the cache (closed on the server) or DISCARDed: prepare again
            st = self._statement = await pg.statement_for(st.query, True, self._context)
        req = await pg.request(_proto.REQUEST_EXTENDED,
                               _proto.build_execute_statement(st, self._parameters), st)
        pg.raise_for(req, self._context)
        return QueryResult(st.column_names, req.rows, req.tag, st)

    def cursor(self, array_size=None):
        """A Cursor over this statement (fetching ``array_size`` rows at a time)."""
        return self._connection.cursor(self._statement.query, self._parameters, array_size)

    def columns(self) -> list[Column]:
        """The result columns: name, table OID and (ours) type OID, name, schema, kind."""
        return describe_columns(self._statement)

    def parameter_types(self) -> list[str | None]:
        """Ours: the type names of the parameters ``$1, $2, ...`` in order, as the
        server inferred them (None for a type nothing is known of)."""
        return [t.name if t is not None else None for t in self.parameter_infos()]

    def parameter_infos(self) -> list:
        """Ours: what is known of each parameter's type (``psqlpy.types.TypeInfo``:
        OID, schema, name, kind, ...; None for a type nothing is known of)."""
        st = self._statement
        types = st.param_types
        return [types[i] if i < len(types) else None for i in range(len(st.param_oids))]

    def __repr__(self) -> str:
        return f"<psqlpy.PreparedStatement {self._statement.query!r}>"
