"""asyncpg, the baseline every ratio is taken against."""
from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from .base import BaseDriver


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
