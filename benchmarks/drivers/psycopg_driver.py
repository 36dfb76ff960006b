"""psycopg 3 (AsyncConnection, the binary C implementation), in autocommit mode."""
from __future__ import annotations

import contextlib
import re

import psycopg

from typecases import MULTIRANGE_CASES, RANGE_CASES, range_key

from . import NotAvailable
from .base import BaseDriver

_DOLLAR = re.compile(r"\$\d+")


def _pyformat(sql: str) -> str:
    return _DOLLAR.sub("%s", sql)


def _range(key):
    from psycopg.types.range import Range
    lower, upper, lower_inc, upper_inc, empty = key
    if empty:
        return Range(empty=True)
    return Range(lower, upper, ("[" if lower_inc else "(") + ("]" if upper_inc else ")"))


class Driver(BaseDriver):
    name = "psycopg"
    distributions = ("psycopg", "psycopg-binary", "psycopg-pool")

    async def connect(self, dsn):
        self.conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    async def close(self):
        await self.conn.close()

    async def select1(self):
        cur = await self.conn.execute("SELECT 1")
        return (await cur.fetchone())[0]

    async def fetch(self, sql):
        cur = await self.conn.execute(sql)
        return await cur.fetchall()

    def cell(self, row, index, name):
        return row[index]    # tuples, psycopg's default row factory

    async def execute(self, sql):
        await self.conn.execute(sql)

    _NO_TYPE = {"point", "box", "lseg", "path", "polygon", "line", "circle", "composite"}

    async def types_setup(self):
        # hstore as a dict: psycopg's documented registration, when the extension is there
        from psycopg.types import TypeInfo
        from psycopg.types.hstore import register_hstore
        info = await TypeInfo.fetch(self.conn, "hstore")
        if info is not None:
            register_hstore(info, self.conn)

    def type_value(self, case, v):
        if case.name in self._NO_TYPE:
            raise NotAvailable("returns the text (no adapter for this type unless registered)")
        if case.name == "macaddr":
            return v.upper()
        if case.name in RANGE_CASES:
            return range_key(v)
        if case.name in MULTIRANGE_CASES:
            return [range_key(r) for r in v]
        return v

    def type_param(self, case, v):
        if case.name in self._NO_TYPE:
            raise NotAvailable("no adapter for this type unless registered")
        if case.name in ("json", "jsonb"):
            from psycopg.types.json import Json, Jsonb
            return (Json if case.name == "json" else Jsonb)(v)
        if case.name in RANGE_CASES:
            return _range(v)
        if case.name in MULTIRANGE_CASES:
            from psycopg.types.multirange import Multirange
            return Multirange([_range(r) for r in v])
        return v

    async def scalar(self, sql):
        cur = await self.conn.execute(sql)
        return (await cur.fetchone())[0]

    async def execute_many(self, sql, rows):
        async with self.conn.cursor() as cur:
            await cur.executemany(_pyformat(sql), rows)   # pipelined since psycopg 3.1

    async def copy_records(self, table, rows, columns):
        async with self.conn.cursor() as cur:
            async with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    await copy.write_row(row)

    async def listen_callback(self, dsn, channel, on_payload, max_buffered):
        raise NotAvailable("add_notify_handler callbacks run only while the connection is busy "
                           "(a query or notifies()); no background delivery")

    @contextlib.asynccontextmanager
    async def listen_iter(self, dsn, channel, max_buffered):
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        await conn.execute(f'LISTEN "{channel}"')
        gen = conn.notifies()

        async def payloads():
            async for n in gen:
                yield n.payload
        try:
            yield payloads()
        finally:
            await gen.aclose()
            await conn.close()

    async def pool_open(self, dsn, size):
        try:
            from psycopg_pool import AsyncConnectionPool
        except ImportError:
            raise NotAvailable("psycopg_pool is not installed")
        self.pool = AsyncConnectionPool(dsn, min_size=size, max_size=size, open=False,
                                        kwargs={"autocommit": True})
        await self.pool.open(wait=True)

    async def pool_query(self, i):
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT %s::int4", (i,))
            return (await cur.fetchone())[0]

    async def pool_close(self):
        await self.pool.close()
