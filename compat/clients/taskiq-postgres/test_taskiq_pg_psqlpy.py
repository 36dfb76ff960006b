"""taskiq-postgres on psqlpy: the broker (a message table plus LISTEN/NOTIFY through
the driver's Listener), its result backend and its schedule source, with a worker
(taskiq's Receiver) running in this process."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import uuid

import psqlpy
import pytest
from taskiq import BrokerMessage, ScheduledTask
from taskiq.receiver import Receiver
from taskiq_pg.exceptions import ResultIsMissingError
from taskiq_pg.psqlpy import PSQLPyBroker, PSQLPyResultBackend, PSQLPyScheduleSource


async def _query(dsn: str, query: str, params=None) -> list:
    conn = await psqlpy.connect(dsn=dsn)
    try:
        return (await conn.execute(query, params or [])).result()
    finally:
        conn.close()


def _names() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"tq_messages_{tag}", f"tq_results_{tag}", f"tq_channel_{tag}"


@pytest.fixture
async def tables(dsn):
    messages, results, channel = _names()
    yield messages, results, channel
    await _query(dsn, f"DROP TABLE IF EXISTS {messages}")
    await _query(dsn, f"DROP TABLE IF EXISTS {results}")


def _broker(dsn: str, tables) -> PSQLPyBroker:
    messages, results, channel = tables
    return PSQLPyBroker(dsn=dsn, channel_name=channel, table_name=messages).with_result_backend(
        PSQLPyResultBackend(dsn=dsn, table_name=results)
    )


@contextlib.asynccontextmanager
async def _worker(broker: PSQLPyBroker):
    """taskiq's Receiver consuming broker.listen() as `taskiq worker` does."""
    finish = asyncio.Event()
    receiver = Receiver(broker, run_startup=False, max_async_tasks=10)
    task = asyncio.ensure_future(receiver.listen(finish))
    try:
        yield
    finally:
        finish.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)


async def test_worker_runs_kicked_tasks_and_results_come_back(dsn, tables):
    broker = _broker(dsn, tables)

    @broker.task(task_name="double")
    async def double(x: int) -> dict:
        return {"x": x, "double": 2 * x}

    @broker.task(task_name="fail")
    async def fail(word: str) -> None:
        raise RuntimeError(f"failed on {word}")

    await broker.startup()
    try:
        async with _worker(broker):
            handles = [await double.kiq(i) for i in range(25)]
            results = await asyncio.wait_for(asyncio.gather(*(h.wait_result(timeout=20) for h in handles)), 30)
            assert [r.return_value for r in results] == [{"x": i, "double": 2 * i} for i in range(25)]

            bad = await (await fail.kiq("purpose")).wait_result(timeout=20)
            assert bad.is_err and "failed on purpose" in str(bad.error)

            delayed = await double.kicker().with_labels(delay=1).kiq(21)
            assert await delayed.is_ready() is False
            assert (await delayed.wait_result(timeout=20)).return_value == {"x": 21, "double": 42}
        # each message is deleted once acknowledged
        left = await _query(dsn, f"SELECT count(*) AS n FROM {tables[0]}")
        assert left == [{"n": 0}]
    finally:
        await broker.shutdown()


async def test_a_message_is_claimed_by_one_of_two_workers(dsn, tables):
    first, second = _broker(dsn, tables), _broker(dsn, tables)
    await first.startup()
    await second.startup()
    try:
        task_id = uuid.uuid4().hex
        waiting = [asyncio.ensure_future(b.listen().__anext__()) for b in (first, second)]
        await asyncio.sleep(0.2)
        await first.kick(BrokerMessage(task_id=task_id, task_name="t", message=b'{"a": 1}', labels={"k": "v"}))
        done, pending = await asyncio.wait(waiting, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1
        await asyncio.sleep(0.5)
        assert all(not t.done() for t in pending)  # the other worker lost the claim
        message = next(iter(done)).result()
        assert message.data == b'{"a": 1}'
        rows = await _query(dsn, f"SELECT status, labels FROM {tables[0]} WHERE task_id = $1", [task_id])
        assert rows == [{"status": "processing", "labels": {"k": "v"}}]
        await message.ack()
        assert await _query(dsn, f"SELECT 1 FROM {tables[0]} WHERE task_id = $1", [task_id]) == []
        for t in pending:
            t.cancel()
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_result_backend_progress_and_missing_results(dsn, tables):
    from taskiq import TaskiqResult
    from taskiq.depends.progress_tracker import TaskProgress, TaskState

    backend = PSQLPyResultBackend(dsn=dsn, table_name=tables[1], keep_results=False)
    await backend.startup()
    try:
        task_id = uuid.uuid4().hex
        assert await backend.is_result_ready(task_id) is False
        with pytest.raises(ResultIsMissingError):
            await backend.get_progress(task_id)
        await backend.set_progress(task_id, TaskProgress(state=TaskState.STARTED, meta={"pct": 10}))
        progress = await backend.get_progress(task_id)
        assert (progress.state, progress.meta) == (TaskState.STARTED, {"pct": 10})
        assert await backend.is_result_ready(task_id) is False
        await backend.set_result(task_id, TaskiqResult(is_err=False, return_value=[1, "x"], execution_time=0.2))
        assert await backend.is_result_ready(task_id) is True
        assert (await backend.get_result(task_id)).return_value == [1, "x"]
        # keep_results=False: read once, then gone
        assert await backend.is_result_ready(task_id) is False
    finally:
        await backend.shutdown()


async def test_schedule_source_stores_schedules(dsn, tables):
    broker = _broker(dsn, tables)
    table = f"tq_schedules_{uuid.uuid4().hex[:8]}"

    @broker.task(task_name="nightly", schedule=[{"cron": "0 3 * * *", "args": [1], "schedule_id": str(uuid.UUID(int=5))}])
    async def nightly(n: int) -> int:
        return n

    source = PSQLPyScheduleSource(broker, dsn=dsn, table_name=table)
    await source.startup()
    try:
        schedules = await source.get_schedules()
        assert [(s.task_name, s.cron, s.args) for s in schedules] == [("nightly", "0 3 * * *", [1])]

        once = ScheduledTask(
            task_name="nightly", labels={}, args=[2], kwargs={"k": None},
            time=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc), schedule_id=str(uuid.uuid4()),
        )
        await source.add_schedule(once)
        by_id = {s.schedule_id: s for s in await source.get_schedules()}
        assert by_id[once.schedule_id].time == once.time
        assert by_id[once.schedule_id].kwargs == {"k": None}
        await source.post_send(by_id[once.schedule_id])  # a one-off schedule is removed once sent
        assert [s.task_name for s in await source.get_schedules()] == ["nightly"]
    finally:
        await source.shutdown()
        await _query(dsn, f"DROP TABLE IF EXISTS {table}")
