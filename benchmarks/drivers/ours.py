"""This repository's psqlpy (Cython core), used as its users would."""
from __future__ import annotations

import contextlib

import psqlpy

from . import NotAvailable
from .base import BaseDriver


def _range(key):
    lower, upper, lower_inc, upper_inc, empty = key
    if empty:
        return psqlpy.Range(empty=True)
    return psqlpy.Range(lower, upper, lower_inc=lower_inc, upper_inc=upper_inc)


class Driver(BaseDriver):
    name = "ours"
    distributions = ("psqlpy",)

    def versions(self) -> dict:
        return {"psqlpy": f"{psqlpy.__version__ if hasattr(psqlpy, '__version__') else '?'} (this tree)"}

    async def connect(self, dsn):
        self.conn = await psqlpy.connect(dsn=dsn)

    async def close(self):
        await self.conn.__aexit__(None, None, None)

    async def select1(self):
        return await self.conn.fetch_val("SELECT 1")

    async def fetch(self, sql):
        return (await self.conn.fetch(sql)).result()

    def type_value(self, case, v):
        from typecases import MULTIRANGE_CASES, RANGE_CASES, range_key
        if case.name in RANGE_CASES:
            return range_key(v)
        if case.name in MULTIRANGE_CASES:
            return [range_key(r) for r in v]
        return v

    def type_param(self, case, v):
        from typecases import MULTIRANGE_CASES, RANGE_CASES
        if case.name in RANGE_CASES:
            return _range(v)
        if case.name in MULTIRANGE_CASES:
            return [_range(r) for r in v]
        return v

    async def fetch_tuples(self, sql):
        return (await self.conn.fetch(sql)).result(as_tuple=True)

    async def execute(self, sql):
        await self.conn.execute_batch(sql)

    async def scalar(self, sql):
        return await self.conn.fetch_val(sql)

    async def execute_many(self, sql, rows):
        await self.conn.execute_many(sql, rows)

    async def copy_records(self, table, rows, columns):
        if not hasattr(self.conn, "copy_records_to_table"):
            raise NotAvailable("Connection.copy_records_to_table is not implemented yet")
        await self.conn.copy_records_to_table(table, rows, columns=columns)

    def _listener(self, pool, max_buffered):
        return pool.listener(max_buffered=max_buffered)

    async def listen_callback(self, dsn, channel, on_payload, max_buffered):
        pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
        listener = self._listener(pool, max_buffered)

        async def cb(connection, payload, channel, process_id):
            on_payload(payload)

        await listener.add_callback(channel, cb)
        await listener.startup()
        listener.listen()
        self.listening = listener    # notify_delivery_cost.py feeds its protocol

        async def close():
            listener.abort_listen()
            await listener.shutdown()
            pool.close()
        return close

    @contextlib.asynccontextmanager
    async def listen_iter(self, dsn, channel, max_buffered):
        pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
        listener = self._listener(pool, max_buffered)

        async def cb(connection, payload, channel, process_id):  # registers the channel;
            pass                                                  # listen() is never called

        await listener.add_callback(channel, cb)
        await listener.startup()

        async def payloads():
            async for msg in listener:
                yield msg.payload
        try:
            yield payloads()
        finally:
            await listener.shutdown()
            pool.close()

    async def pool_open(self, dsn, size):
        self.pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=size)

    async def pool_query(self, i):
        async with self.pool.acquire() as conn:
            return await conn.fetch_val("SELECT $1::int4", [i])

    async def pool_close(self):
        self.pool.close()
