"""The adapter interface every driver implements (see ``worker.py`` for its use).

SQL given to adapters uses ``$1, $2, ...`` placeholders; an adapter whose driver
spells them differently (psycopg: ``%s``) rewrites them.
"""
from __future__ import annotations

import importlib.metadata

from . import NotAvailable


class BaseDriver:
    name = "?"
    #: distributions whose versions go into the results
    distributions: tuple = ()

    def versions(self) -> dict:
        out = {}
        for dist in self.distributions:
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = None
        return out

    # ---- one connection ----------------------------------------------------------
    async def connect(self, dsn: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def select1(self):
        """``SELECT 1`` -> 1, one round trip."""
        raise NotImplementedError

    async def fetch(self, sql: str) -> list:
        """All rows of ``sql``, as the driver's usual result objects."""
        raise NotImplementedError

    def cell(self, row, index: int, name: str):
        """Column ``index`` (named ``name``) of a row returned by :meth:`fetch`."""
        return row[name]

    async def fetch_tuples(self, sql: str) -> list:
        """All rows of ``sql`` in the driver's fastest positional form (ours and the
        Rust psqlpy: ``result(as_tuple=True)``; asyncpg: Records; psycopg: tuples)."""
        return await self.fetch(sql)

    async def execute(self, sql: str) -> None:
        """Run setup SQL (possibly several statements, no parameters)."""
        raise NotImplementedError

    async def scalar(self, sql: str):
        raise NotImplementedError

    async def execute_many(self, sql: str, rows: list) -> None:
        raise NotImplementedError

    async def copy_records(self, table: str, rows: list, columns: list) -> None:
        raise NotAvailable("no COPY of Python records")

    # ---- LISTEN/NOTIFY (each opens its own listening connection) -----------------
    async def listen_callback(self, dsn: str, channel: str, on_payload, max_buffered: int):
        """Start delivering payloads of ``channel`` to ``on_payload(payload)`` from the
        driver's callback mechanism; LISTEN is in effect on return.  Returns an
        async ``close()`` callable."""
        raise NotAvailable("no callback mode")

    def listen_iter(self, dsn: str, channel: str, max_buffered: int):
        """An async context manager: LISTEN is in effect on entry; it yields an async
        iterator of payloads."""
        raise NotAvailable("no iterator mode")

    # ---- pool --------------------------------------------------------------------
    async def pool_open(self, dsn: str, size: int) -> None:
        raise NotAvailable("no connection pool")

    async def pool_query(self, i: int):
        """``SELECT $1::int4`` with ``i`` on a connection from the pool -> i."""
        raise NotImplementedError

    async def pool_close(self) -> None:
        raise NotImplementedError

    # ---- per-type benchmark (typecases.py) ---------------------------------------
    async def types_setup(self) -> None:
        """Configure the connection as its users would to get Python values."""

    def type_value(self, case, value):
        """The driver's decoded ``value`` of ``case`` as the canonical value; raises
        NotAvailable when the driver does not decode the type."""
        return value

    def type_param(self, case, value):
        """The canonical ``value`` of ``case`` as this driver takes it as a parameter;
        raises NotAvailable when it cannot send the type."""
        return value
