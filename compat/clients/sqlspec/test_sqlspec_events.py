"""sqlspec's event channels on psqlpy: LISTEN/NOTIFY through the driver's Listener,
and the durable queue (notify_queue: rows plus a NOTIFY hint; poll_queue: rows only)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlspec import SQLSpec
from sqlspec.adapters.psqlpy import PsqlpyConfig
from sqlspec.migrations.commands import AsyncMigrationCommands


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def _config(dsn: str, backend: str, migrations=None) -> PsqlpyConfig:
    kwargs: dict[str, Any] = {}
    if migrations is not None:
        kwargs["migration_config"] = {"script_location": str(migrations), "include_extensions": ["events"]}
    return PsqlpyConfig(
        connection_config={"dsn": dsn, "max_db_pool_size": 6},
        extension_config={"events": {"backend": backend}},
        **kwargs,
    )


@pytest.fixture
async def queue_tables(dsn, tmp_path):
    """The events extension's migrations, applied once (the queue's table)."""
    config = _config(dsn, "poll_queue", tmp_path)
    await AsyncMigrationCommands(config).upgrade()
    await config.close_pool()
    yield tmp_path


async def _channel(config):
    spec = SQLSpec()
    spec.add_config(config)
    return spec, spec.event_channel(config)


async def _until_heard(channel, name: str, heard: asyncio.Event) -> None:
    """NOTIFY is transient: publish warm-up events until the subscriber hears one."""
    for _ in range(200):
        await channel.publish(name, {"warmup": True})
        try:
            await asyncio.wait_for(heard.wait(), 0.1)
            return
        except asyncio.TimeoutError:
            pass
    raise AssertionError(f"no subscriber on {name!r} heard a warm-up event")


async def test_notify_backend_delivers_to_listeners_and_iterators(dsn):
    config = _config(dsn, "notify")
    spec, channel = await _channel(config)
    assert channel.backend_name == "notify"
    received: list[Any] = []
    heard = asyncio.Event()

    def handler(message) -> None:
        if message.payload.get("warmup"):
            heard.set()
        else:
            received.append(message)

    try:
        listener = channel.listen("alerts", handler, poll_interval=0.2)
        await _until_heard(channel, "alerts", heard)
        ids = [await channel.publish("alerts", {"n": i, "text": "ü"}) for i in range(3)]
        await _wait_for(lambda: len(received) >= 3)
        assert [m.event_id for m in received] == ids
        assert [m.payload for m in received] == [{"n": i, "text": "ü"} for i in range(3)]
        assert all(m.channel == "alerts" for m in received)
        await channel.stop_listener(listener.id)

        # a second channel, consumed as an async iterator (sqlspec keeps one queue
        # per consuming task), with a batch published at once
        other_heard = asyncio.Event()

        async def consume(n: int) -> list:
            iterator = channel.iter_events("other", poll_interval=0.2)
            out = []
            try:
                async for message in iterator:
                    if message.payload.get("warmup"):
                        other_heard.set()
                        continue
                    out.append(message)
                    if len(out) == n:
                        return out
            finally:
                await iterator.aclose()
            return out

        consumer = asyncio.ensure_future(consume(2))
        await _until_heard(channel, "other", other_heard)
        batch = await channel.publish_many([("other", {"k": 1}, None), ("other", {"k": 2}, {"m": True})])
        got = await asyncio.wait_for(consumer, 10)
        assert [m.event_id for m in got] == batch
        assert [m.payload for m in got] == [{"k": 1}, {"k": 2}]
        assert got[1].metadata == {"m": True}
        # nothing published on "alerts" after the listener stopped reached it
        await channel.publish("alerts", {"n": 99})
        await asyncio.sleep(0.3)
        assert len(received) == 3
    finally:
        await channel.shutdown()
        await spec.close_all_pools()


async def test_notify_queue_is_durable_and_signalled(dsn, queue_tables):
    config = _config(dsn, "notify_queue", queue_tables)
    spec, channel = await _channel(config)
    assert channel.backend_name == "notify_queue"
    try:
        # published before anyone listens: kept in the table, delivered later
        early = await channel.publish("jobs", {"job": "early"})
        received: list[Any] = []
        listener = channel.listen("jobs", received.append, poll_interval=0.3)
        await _wait_for(lambda: len(received) >= 1)
        late = await channel.publish("jobs", {"job": "late"})
        await _wait_for(lambda: len(received) >= 2)
        assert [m.event_id for m in received] == [early, late]
        assert [m.payload["job"] for m in received] == ["early", "late"]

        async def statuses() -> list:
            async with spec.provide_session(config) as s:
                rows = await s.select(
                    "SELECT event_id, status FROM sqlspec_event_queue WHERE channel = 'jobs' ORDER BY created_at"
                )
            return [(r["event_id"], r["status"]) for r in rows]

        # the listener acknowledges each event once its handler returned
        for _ in range(100):
            if await statuses() == [(early, "acked"), (late, "acked")]:
                break
            await asyncio.sleep(0.05)
        assert await statuses() == [(early, "acked"), (late, "acked")]
        await channel.stop_listener(listener.id)
    finally:
        await channel.shutdown()
        await spec.close_all_pools()


async def test_poll_queue_ack_and_nack(dsn, queue_tables):
    config = _config(dsn, "poll_queue", queue_tables)
    spec, channel = await _channel(config)
    assert channel.backend_name == "poll_queue"
    try:
        first = await channel.publish("work", {"task": 1})
        second = await channel.publish("work", {"task": 2})
        iterator = channel.iter_events("work", poll_interval=0.1)
        msg = await asyncio.wait_for(iterator.__anext__(), 10)
        assert (msg.event_id, msg.payload) == (first, {"task": 1})
        await channel.nack(msg.event_id)  # back to the queue
        seen = []
        for _ in range(3):
            m = await asyncio.wait_for(iterator.__anext__(), 10)
            seen.append(m.event_id)
            await channel.ack(m.event_id)
            if {first, second} <= set(seen):
                break
        await iterator.aclose()
        assert set(seen) == {first, second}
        async with spec.provide_session(config) as s:
            statuses = await s.select(
                "SELECT event_id, status FROM sqlspec_event_queue WHERE channel = 'work'"
            )
        assert {r["event_id"]: r["status"] for r in statuses} == {first: "acked", second: "acked"}
    finally:
        await channel.shutdown()
        await spec.close_all_pools()
