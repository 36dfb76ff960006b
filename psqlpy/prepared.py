"""PreparedStatement: a server-side statement with its parameters bound."""
from __future__ import annotations

from dataclasses import dataclass

from . import protocol as _proto
from ._results import QueryResult


@dataclass(frozen=True)
class Column:
    name: str
    table_oid: int | None


class PreparedStatement:
    def __init__(self, connection, statement, parameters):
        self._connection = connection
        self._statement = statement
        self._parameters = parameters

    async def execute(self) -> QueryResult:
        pg = self._connection._pg()
        st = self._statement
        req = await pg.request(_proto.REQUEST_EXTENDED,
                               _proto.build_execute_statement(st, self._parameters), st)
        pg.raise_for(req, self._connection._error_context)
        return QueryResult(st.column_names, req.rows, req.tag, st.columns)

    def cursor(self, array_size=None):
        return self._connection.cursor(self._statement.query, self._parameters, array_size)

    def columns(self) -> list[Column]:
        return [Column(c.name, c.table_oid or None) for c in self._statement.columns]
