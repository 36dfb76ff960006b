"""Idiomatic use of connections, transactions, cursors and results.

Type-checked with ``mypy --strict`` by tests/test_typing.py (it is not run): the
stubs must accept what users write.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from psqlpy import (
    Connection,
    ConnectionPool,
    Cursor,
    IsolationLevel,
    PreparedStatement,
    QueryResult,
    ReadVariant,
    Record,
    SingleQueryResult,
    Transaction,
)
from psqlpy.row_factories import class_row, tuple_row


@dataclasses.dataclass
class User:
    id: int
    name: str


async def count_users(pool: ConnectionPool) -> int:
    async with pool.acquire() as conn:
        async with conn.transaction(isolation_level=IsolationLevel.RepeatableRead,
                                    read_variant=ReadVariant.ReadOnly) as tx:
            # a return inside the block: __aexit__ must not claim to swallow errors
            return int(await tx.fetch_val("SELECT count(*) FROM users"))


async def users(conn: Connection) -> list[User]:
    res: QueryResult = await conn.execute("SELECT id, name FROM users WHERE id > $1", [0])
    as_dicts: list[dict[str, Any]] = res.result()
    as_tuples: list[tuple[Any, ...]] = res.result(as_tuple=True)
    pairs = res.row_factory(tuple_row)
    records: list[Record] = res.records()
    first_name: Any = records[0]["name"] if records else None
    del as_dicts, as_tuples, pairs, first_name
    return res.row_factory(class_row(User))


async def one_user(conn: Connection, user_id: int) -> User:
    row: SingleQueryResult = await conn.fetch_row(
        "SELECT id, name FROM users WHERE id = $(id)p", {"id": user_id})
    data: dict[str, Any] = row.result()
    return User(**data)


async def write(conn: Connection) -> None:
    await conn.execute_batch("CREATE TABLE IF NOT EXISTS log (at timestamptz, msg text)")
    await conn.execute_many("INSERT INTO log VALUES ($1, $2)",
                            [[datetime.datetime.now(datetime.timezone.utc), "a"]])
    n: int = await conn.copy_records_to_table("log", [(None, "b")], columns=["at", "msg"])
    tx: Transaction = conn.transaction()
    await tx.begin()
    await tx.create_savepoint("before")
    await tx.execute("DELETE FROM log")
    await tx.rollback_savepoint("before")
    results: list[QueryResult] = await tx.pipeline([("SELECT $1::int", [n]), "SELECT 2"])
    del results
    await tx.commit()


async def stream(conn: Connection) -> int:
    total = 0
    async with conn.transaction() as tx:
        cursor: Cursor = tx.cursor("SELECT id FROM users", array_size=100)
        async with cursor:
            async for batch in cursor:
                total += len(batch.result())
    stmt: PreparedStatement = await conn.prepare("SELECT id FROM users WHERE id > $1", [1])
    names = [c.name for c in stmt.columns()]
    total += len((await stmt.execute()).result()) + len(names)
    return total
