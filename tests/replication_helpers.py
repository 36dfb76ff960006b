"""Shared set-up for the logical replication tests: a table, a publication and
a slot of the test's own (unique names), dropped afterwards."""
from __future__ import annotations

import asyncio
import itertools
import os

import pytest

import psqlpy

_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_counter)}"


async def wait_until(pred, timeout: float = 15.0, what: str = "condition") -> None:
    """Until ``await pred()`` is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await pred():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(0.02)


class ReplEnv:
    """One table (``id int primary key, name text, n int``), its publication,
    and every slot made through ``stream()``; ``close()`` drops them all."""

    def __init__(self, dsn: str, **pool_kwargs):
        self.dsn = dsn
        self.pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=4, **pool_kwargs)
        self.table = unique("rt")
        self.pub = unique("rp")
        self.slots: list[str] = []
        self.streams: list = []

    async def setup(self, columns: str = "id int PRIMARY KEY, name text, n int") -> "ReplEnv":
        if await self.val("SHOW wal_level") != "logical":   # a server given by PSQLPY_TEST_DSN
            pytest.skip("the server runs without wal_level = logical")
        await self.sql(f"CREATE TABLE {self.table} ({columns}); "
                       f"CREATE PUBLICATION {self.pub} FOR TABLE {self.table}")
        return self

    async def sql(self, text: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute_batch(text)

    async def val(self, text: str, params=None):
        async with self.pool.acquire() as conn:
            return await conn.fetch_val(text, params)

    async def insert(self, *ids: int) -> None:
        """One transaction per id."""
        async with self.pool.acquire() as conn:
            for i in ids:
                await conn.execute(f"INSERT INTO {self.table} VALUES ($1, $2, $3)",
                                   [i, f"row{i}", i * 10])

    def stream(self, slot: str | None = None, pool=None, **kwargs):
        """A stream from ``pool`` (default: the env's own)."""
        slot = slot or unique("rs")
        if slot not in self.slots:
            self.slots.append(slot)
        kwargs.setdefault("status_interval", 0.1)
        kwargs.setdefault("reconnect_delay", 0.05)
        s = (pool or self.pool).replication(slot, kwargs.pop("publications", self.pub), **kwargs)
        self.streams.append(s)
        return s

    async def confirmed_flush(self, slot: str) -> int | None:
        async with self.pool.acquire() as conn:
            rows = (await conn.fetch("SELECT confirmed_flush_lsn::text AS lsn FROM "
                                     "pg_replication_slots WHERE slot_name = $1", [slot])).result()
        return None if not rows else psqlpy.protocol.parse_lsn(rows[0]["lsn"])

    async def close(self) -> None:
        for s in self.streams:
            try:
                await asyncio.wait_for(s.shutdown(), 10)
            except Exception:
                pass
        for slot in self.slots:
            for _ in range(100):   # the walsender may hold it a moment after shutdown
                try:
                    await self.sql(f"SELECT pg_drop_replication_slot(slot_name) FROM "
                                   f"pg_replication_slots WHERE slot_name = '{slot}'")
                    break
                except psqlpy.exceptions.DatabaseError:
                    await asyncio.sleep(0.05)
        await self.sql(f"DROP PUBLICATION IF EXISTS {self.pub}; DROP TABLE IF EXISTS {self.table} CASCADE")
        self.pool.close()
        await self.pool.wait_closed()


async def take(stream, n: int, timeout: float = 20.0, ack: bool = True) -> list:
    """The next ``n`` transactions, each acknowledged when ``ack``."""
    out = []

    async def run():
        async for tx in stream:
            out.append(tx)
            if ack:
                await stream.ack(tx)
            if len(out) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


def ids_of(txs) -> list[int]:
    return [c.new["id"] if c.new is not None else c.old["id"] for tx in txs for c in tx.changes]
