"""otlp-psqlpy: OpenTelemetry spans for the driver's queries (it wraps the methods of
psqlpy.Connection, Transaction and Cursor with wrapt)."""

from __future__ import annotations

import psqlpy
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from otlp_psqlpy import PSQLPyPGInstrumentor


@pytest.fixture(scope="module")
def exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = PSQLPyPGInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield exporter, provider
    instrumentor.uninstrument()


@pytest.fixture
def spans(exporter):
    exp, _ = exporter
    exp.clear()
    return exp


@pytest.fixture
async def pool(dsn):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    yield pool
    pool.close()


def _by_statement(finished) -> dict:
    return {s.attributes.get("db.statement"): s for s in finished}


async def test_connection_queries_make_client_spans(spans, pool, dsn_parts):
    async with pool.acquire() as conn:
        await conn.execute("SELECT $1::int + 1", [41])
        assert await conn.fetch_val("SELECT 'x'") == "x"
        await conn.fetch_row(querystring="SELECT 1 AS a")
        await conn.fetch("SELECT 2 AS b", prepared=False)
        await conn.execute("CREATE TEMP TABLE otlp_t (a int)")
        await conn.execute_many("INSERT INTO otlp_t VALUES ($1)", [[1], [2]])
    finished = spans.get_finished_spans()
    by = _by_statement(finished)
    assert set(by) == {
        "SELECT $1::int + 1", "SELECT 'x'", "SELECT 1 AS a", "SELECT 2 AS b",
        "CREATE TEMP TABLE otlp_t (a int)", "INSERT INTO otlp_t VALUES ($1)",
    }
    first = by["SELECT $1::int + 1"]
    assert first.name == "SELECT" and first.kind is SpanKind.CLIENT
    assert first.status.status_code is StatusCode.UNSET
    attrs = first.attributes
    assert attrs["db.system"] == "postgresql"
    assert attrs["db.user"] == dsn_parts["user"]
    assert attrs["db.statement.parameters"] == "[41]"
    assert attrs["server.address"] == dsn_parts["host"]
    assert attrs["server.port"] == str(dsn_parts["port"])
    assert attrs["network.transport"] == "ip_tcp"
    assert by["SELECT 2 AS b"].attributes["db.statement.prepared"] == "False"
    assert by["CREATE TEMP TABLE otlp_t (a int)"].name == "CREATE"
    assert by["INSERT INTO otlp_t VALUES ($1)"].attributes["db.statement.parameters"] == "[[1], [2]]"


async def test_a_failing_query_marks_its_span(spans, pool):
    async with pool.acquire() as conn:
        with pytest.raises(psqlpy.exceptions.ConnectionExecuteError):
            await conn.execute("SELECT * FROM otlp_no_such_table")
        assert await conn.fetch_val("SELECT 1") == 1
    failed = _by_statement(spans.get_finished_spans())["SELECT * FROM otlp_no_such_table"]
    assert failed.status.status_code is StatusCode.ERROR


async def test_transaction_and_cursor_spans(spans, pool):
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.begin()
        await tx.execute("SELECT 10")
        await tx.create_savepoint("sp")
        await tx.rollback_savepoint("sp")
        cursor = tx.cursor("SELECT g FROM generate_series(1, 5) g", array_size=2)
        await cursor.start()
        assert [len(batch.result()) async for batch in cursor] == [2, 2, 1]
        cursor.close()
        await tx.commit()
    finished = spans.get_finished_spans()
    cursor_spans = [s for s in finished if s.name == "CURSOR"]
    # one span per round trip: two full batches, the short one, the empty one that ends it
    assert len(cursor_spans) == 4
    assert {s.attributes["db.statement"] for s in cursor_spans} == {"SELECT g FROM generate_series(1, 5) g"}
    names = [s.name for s in finished]
    assert "SELECT" in names and "sp" in names
    assert names.count("postgresql") >= 2  # begin() and commit() carry no statement


async def test_async_with_transaction_records_only_its_queries(spans, pool):
    # As on the reference driver: the block's own BEGIN and COMMIT are not calls
    # of the (instrumented) public begin()/commit().
    async with pool.acquire() as conn:
        async with conn.transaction() as tx:
            await tx.execute("SELECT 11")
    assert [s.attributes.get("db.statement") for s in spans.get_finished_spans()] == ["SELECT 11"]


async def test_spans_nest_under_the_application_span(spans, pool, exporter):
    _, provider = exporter
    tracer = trace.get_tracer("app", tracer_provider=provider)
    with tracer.start_as_current_span("handler") as parent:
        async with pool.acquire() as conn:
            await conn.execute("SELECT 'nested'")
    by = _by_statement(spans.get_finished_spans())
    child = by["SELECT 'nested'"]
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id
    assert child.context.trace_id == parent.get_span_context().trace_id


async def test_uninstrument_restores_the_driver(pool, exporter):
    exp, provider = exporter
    instrumentor = PSQLPyPGInstrumentor()
    instrumentor.uninstrument()
    try:
        exp.clear()
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SELECT 5") == 5
        assert exp.get_finished_spans() == ()
    finally:
        instrumentor.instrument(tracer_provider=provider)
    async with pool.acquire() as conn:
        await conn.fetch_val("SELECT 6")
    assert [s.attributes["db.statement"] for s in exp.get_finished_spans()] == ["SELECT 6"]
