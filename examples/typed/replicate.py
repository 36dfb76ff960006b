"""Logical replication (type-checked with ``mypy --strict``; not run)."""
from __future__ import annotations

from typing import Any

from psqlpy import UNCHANGED_TOAST, Change, ConnectionPool, LogicalReplication, ReplicationTransaction
from psqlpy.exceptions import Error, ReplicationClosedError


def describe(change: Change) -> str:
    if change.kind == "message":
        return f"message {change.prefix}: {change.content!r}"
    new: dict[str, Any] = change.new or {}
    kept = [name for name, value in new.items() if value is UNCHANGED_TOAST]
    return f"{change.kind} {change.schema}.{change.table} {new} {change.old} unchanged={kept}"


async def follow(pool: ConnectionPool) -> int:
    stream: LogicalReplication = pool.replication(
        "orders_slot", ["orders_pub"], create_slot=True, max_buffered=5000, status_interval=5.0)
    await stream.startup()
    seen = 0
    try:
        tx: ReplicationTransaction
        async for tx in stream:
            for change in tx.changes:
                describe(change)
            seen += len(tx)
            await stream.ack(tx)
            if tx.commit_time is not None and tx.end_lsn > stream.confirmed_lsn:
                pass
    except ReplicationClosedError:
        pass
    except Error as err:
        bad: ReplicationTransaction | None = getattr(err, "transaction", None)
        if bad is not None:
            await stream.ack(bad.end_lsn)
    finally:
        await stream.shutdown()
    await stream.drop_slot()
    return seen
