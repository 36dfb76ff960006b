"""taskiq-psqlpy: task results kept in PostgreSQL through the driver's pool."""

from __future__ import annotations

import asyncio
import uuid

import psqlpy
import pytest
from taskiq import InMemoryBroker, TaskiqResult
from taskiq_psqlpy import PSQLPyResultBackend
from taskiq_psqlpy.exceptions import ResultIsMissingError


async def _rows(dsn: str, query: str, params=None) -> list:
    conn = await psqlpy.connect(dsn=dsn)
    try:
        return (await conn.execute(query, params or [])).result()
    finally:
        conn.close()


@pytest.fixture
async def backend(dsn):
    table = "tq_results_" + uuid.uuid4().hex[:8]
    backend = PSQLPyResultBackend(dsn=dsn, table_name=table, max_db_pool_size=4)
    yield backend
    await _rows(dsn, f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
async def broker(backend):
    # InMemoryBroker runs the tasks in this process (it does not start the result
    # backend itself: a real broker's startup() does).
    broker = InMemoryBroker(await_inplace=False).with_result_backend(backend)
    await broker.startup()
    await backend.startup()
    yield broker
    await backend.shutdown()
    await broker.shutdown()


async def test_results_of_tasks_are_stored_and_read_back(broker, backend, dsn):
    @broker.task
    async def add(a: int, b: int) -> dict:
        await asyncio.sleep(0.01)
        return {"sum": a + b, "pair": [a, b], "text": "ü"}

    handles = [await add.kiq(i, i * 10) for i in range(20)]
    results = [await h.wait_result(timeout=10) for h in handles]
    assert [r.return_value for r in results] == [{"sum": i * 11, "pair": [i, i * 10], "text": "ü"} for i in range(20)]
    assert not any(r.is_err for r in results)
    assert [await h.is_ready() for h in handles] == [True] * 20

    # the rows are in the backend's table, one per task id
    rows = await _rows(dsn, f"SELECT task_id FROM {backend.table_name}")
    assert {r["task_id"] for r in rows} == {h.task_id for h in handles}

    # a result is read again (keep_results defaults to True)
    again = await backend.get_result(handles[3].task_id)
    assert again.return_value["sum"] == 33


async def test_a_failing_task_stores_its_error(broker):
    @broker.task
    async def explode(word: str) -> None:
        raise ValueError(f"bad {word}")

    result = await (await explode.kiq("input")).wait_result(timeout=10)
    assert result.is_err
    assert isinstance(result.error, ValueError) and str(result.error) == "bad input"
    with pytest.raises(ValueError):
        result.raise_for_error()


async def test_backend_directly_overwrite_missing_and_not_ready(backend):
    await backend.startup()
    try:
        task_id = uuid.uuid4().hex
        assert await backend.is_result_ready(task_id) is False
        with pytest.raises(ResultIsMissingError):
            await backend.get_result(task_id)

        first = TaskiqResult(is_err=False, log="log line", return_value=[1, 2], execution_time=0.5)
        await backend.set_result(task_id, first)
        assert await backend.is_result_ready(task_id) is True
        got = await backend.get_result(task_id, with_logs=True)
        assert (got.return_value, got.log, got.execution_time) == ([1, 2], "log line", 0.5)
        assert (await backend.get_result(task_id)).log is None

        # ON CONFLICT: a second result for the same task replaces the first
        await backend.set_result(task_id, TaskiqResult(is_err=False, return_value="second", execution_time=1.0))
        assert (await backend.get_result(task_id)).return_value == "second"
    finally:
        await backend.shutdown()


async def test_results_not_kept_are_deleted_once_read(dsn):
    table = "tq_once_" + uuid.uuid4().hex[:8]
    backend = PSQLPyResultBackend(dsn=dsn, table_name=table, keep_results=False, field_for_task_id="Text")
    await backend.startup()
    try:
        await backend.set_result("t-1", TaskiqResult(is_err=False, return_value={"k": [1.5, None]}, execution_time=0.1))
        assert (await backend.get_result("t-1")).return_value == {"k": [1.5, None]}
        assert await backend.is_result_ready("t-1") is False
        with pytest.raises(ResultIsMissingError):
            await backend.get_result("t-1")
        types = await _rows(
            dsn, "SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = 'task_id'",
            [table])
        assert types == [{"data_type": "text"}]
    finally:
        await backend.shutdown()
        await _rows(dsn, f"DROP TABLE IF EXISTS {table}")
