"""Transaction: BEGIN ... COMMIT/ROLLBACK on one connection, with savepoints."""
from __future__ import annotations

from ._enums import IsolationLevel, ReadVariant
from ._ident import quote_ident
from .connection import _QueryMethods
from .exceptions import (
    TransactionBeginError,
    TransactionClosedError,
    TransactionCommitError,
    TransactionExecuteError,
    TransactionRollbackError,
    TransactionSavepointError,
)


class Transaction(_QueryMethods):
    _error_context = TransactionExecuteError

    def __init__(self, connection, isolation_level=None, read_variant=None, deferrable=None):
        self._connection = connection
        self._isolation_level = isolation_level
        self._read_variant = read_variant
        self._deferrable = deferrable
        self._state = "new"   # new -> started -> done

    def _pg(self):
        if self._state == "done":
            raise TransactionClosedError("the transaction is already finished")
        if self._state == "new":
            raise TransactionClosedError("the transaction has not begun")
        return self._connection._pg()

    def _pg_config(self):
        return self._connection._pg_config()

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
        if self._state != "new":
            raise TransactionBeginError("the transaction was already started")
        pg = self._connection._pg()
        if pg.transaction_status != "I":
            raise TransactionBeginError("the connection is already in a transaction")
        await pg.simple_query(self._begin_sql(), TransactionBeginError)
        self._state = "started"

    async def commit(self) -> None:
        pg = self._pg()
        self._state = "done"
        await pg.simple_query("COMMIT", TransactionCommitError)

    async def rollback(self) -> None:
        pg = self._pg()
        self._state = "done"
        await pg.simple_query("ROLLBACK", TransactionRollbackError)

    async def create_savepoint(self, savepoint_name: str) -> None:
        await self._pg().simple_query(
            "SAVEPOINT " + quote_ident(savepoint_name, "savepoint name"), TransactionSavepointError)

    async def rollback_savepoint(self, savepoint_name: str) -> None:
        await self._pg().simple_query(
            "ROLLBACK TO SAVEPOINT " + quote_ident(savepoint_name, "savepoint name"),
            TransactionSavepointError)

    async def release_savepoint(self, savepoint_name: str) -> None:
        await self._pg().simple_query(
            "RELEASE SAVEPOINT " + quote_ident(savepoint_name, "savepoint name"),
            TransactionSavepointError)

    async def pipeline(self, queries=None, prepared=None) -> list:
        results = []
        for item in queries or ():
            if isinstance(item, str):
                q, p = item, None
            else:
                q, p = item[0], (item[1] if len(item) > 1 else None)
            results.append(await self.execute(q, p, prepared))
        return results

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

    def cursor(self, querystring=None, parameters=None, array_size=None):
        from .cursor import Cursor
        return Cursor(self._connection, querystring, parameters, array_size, transaction=self)

    def is_closed(self) -> bool:
        return self._state == "done"

    async def __aenter__(self):
        await self.begin()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if self._state != "started":
            return False
        if exc_type is None:
            await self.commit()
        else:
            try:
                await self.rollback()
            except Exception:
                pass
        return False
