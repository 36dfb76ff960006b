"""asyncpg, the baseline every ratio is taken against."""
from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg

from typecases import MULTIRANGE_CASES, RANGE_CASES, range_key

from .base import BaseDriver


def _pt(p):
    return (float(p[0]), float(p[1]))


def _range(key):
    lower, upper, lower_inc, upper_inc, empty = key
    return asyncpg.Range(lower, upper, lower_inc=lower_inc, upper_inc=upper_inc, empty=empty)


class Driver(BaseDriver):
    name = "asyncpg"
    distributions = ("asyncpg",)

    async def connect(self, dsn):
        self.conn = await asyncpg.connect(dsn)

    async def close(self):
        await self.conn.close()

    async def select1(self):
        return await self.conn.fetchval("SELECT 1")

    async def fetch(self, sql):
        return await self.conn.fetch(sql)

    async def execute(self, sql):
        await self.conn.execute(sql)

    async def types_setup(self):
        # asyncpg returns json as str unless told otherwise; its documentation's way
        # to get Python objects (what every other driver here returns):
        for t in ("json", "jsonb"):
            await self.conn.set_type_codec(t, encoder=json.dumps, decoder=json.loads,
                                           schema="pg_catalog")
        # and hstore as a dict (its documented built-in codec), when the extension is there
        if await self.conn.fetchval("SELECT to_regtype('hstore') IS NOT NULL"):
            await self.conn.set_builtin_type_codec("hstore", codec_name="pg_contrib.hstore")

    def type_value(self, case, v):
        from typecases import canonical_path
        n = case.name
        if n == "uuid":
            import uuid
            return uuid.UUID(bytes=v.bytes)
        if n == "macaddr":
            return v.upper()
        if n == "point":
            return _pt(v)
        if n == "box":
            return (_pt(v[0]), _pt(v[1]))
        if n == "lseg":
            return [_pt(v[0]), _pt(v[1])]
        if n == "path":
            return canonical_path(v.points)
        if n == "polygon":
            return tuple(_pt(p) for p in v.points)
        if n == "line":
            return tuple(v)
        if n == "circle":
            return (_pt(v[0]), v[1])
        if n == "composite":
            return dict(v)
        if n in RANGE_CASES:
            return range_key(v)
        if n in MULTIRANGE_CASES:
            return [range_key(r) for r in v]
        return v

    def type_param(self, case, v):
        n = case.name
        if n in RANGE_CASES:
            return _range(v)
        if n in MULTIRANGE_CASES:
            return [_range(r) for r in v]
        if n == "path":
            return asyncpg.Path(*v, is_closed=isinstance(v, tuple))
        if n == "polygon":
            return asyncpg.Polygon(*v)
        if n == "composite":
            return (v["a"], v["b"])
        return v

    async def scalar(self, sql):
        return await self.conn.fetchval(sql)

    async def execute_many(self, sql, rows):
        await self.conn.executemany(sql, rows)

    async def copy_records(self, table, rows, columns):
        await self.conn.copy_records_to_table(table, records=rows, columns=columns)

    async def listen_callback(self, dsn, channel, on_payload, max_buffered):
        conn = await asyncpg.connect(dsn)
        await conn.add_listener(channel, lambda c, pid, ch, payload: on_payload(payload))
        self.listening = conn    # notify_delivery_cost.py feeds its protocol

        async def close():
            await conn.close()
        return close

    @contextlib.asynccontextmanager
    async def listen_iter(self, dsn, channel, max_buffered):
        # asyncpg has no iterator: the idiomatic add_listener -> asyncio.Queue.
        conn = await asyncpg.connect(dsn)
        q: asyncio.Queue = asyncio.Queue()
        await conn.add_listener(channel, lambda c, pid, ch, payload: q.put_nowait(payload))

        async def payloads():
            while True:
                yield await q.get()
        try:
            yield payloads()
        finally:
            await conn.close()

    async def pool_open(self, dsn, size):
        self.pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)

    async def pool_query(self, i):
        return await self.pool.fetchval("SELECT $1::int4", i)

    async def pool_close(self):
        await self.pool.close()
