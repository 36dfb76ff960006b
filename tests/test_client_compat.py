"""What the libraries built on the reference driver rely on (compat/clients runs
the libraries themselves; each case here pins one driver behaviour they need)."""

from __future__ import annotations

import uuid

import pytest

import psqlpy

U = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.fixture
async def conn(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def test_uuid_for_a_text_parameter_is_its_canonical_form(conn):
    # SQLAlchemy's ORM bulk INSERT puts uncast parameters in a VALUES list, which
    # the server types as text, and casts them to uuid outside it.
    got = await conn.fetch_val(
        "SELECT v::uuid FROM (VALUES ($1, 0), ($2, 1)) AS t(v, n) ORDER BY n LIMIT 1", [U, uuid.UUID(int=7)])
    assert got == U
    assert await conn.fetch_val("SELECT $1::text", [U]) == str(U)
    assert await conn.fetch_val("SELECT $1::varchar(40)", [U]) == str(U)


async def test_int2vector_and_oidvector_are_lists_of_ints(conn):
    # SQLAlchemy's PostgreSQL reflection (get_indexes) reads pg_index.indoption and
    # indkey, both int2vector, as sequences of ints (as asyncpg returns them).
    row = await conn.fetch_row(
        "SELECT '1 -2 3'::int2vector AS v, '12 4294967295'::oidvector AS o, ''::int2vector AS e")
    assert row.result() == {"v": [1, -2, 3], "o": [12, 4294967295], "e": []}
    await conn.execute("CREATE TEMP TABLE vec_t (a int, b int, c int)")
    await conn.execute("CREATE INDEX vec_t_i ON vec_t (c DESC NULLS LAST, a)")
    got = await conn.fetch_row(
        "SELECT indkey, indoption FROM pg_index WHERE indexrelid = 'vec_t_i'::regclass")
    assert got.result() == {"indkey": [3, 1], "indoption": [1, 0]}
    # the same through the unprepared (text) path and as a parameter
    assert await conn.fetch_val("SELECT '5 6'::int2vector", prepared=False) == [5, 6]
    assert await conn.fetch_val("SELECT $1::int2vector", ["7 8"]) == [7, 8]


async def test_async_iteration_does_not_call_the_public_fetchmany(conn, monkeypatch):
    # Instrumentations (otlp-psqlpy) wrap Cursor.fetchmany and Cursor.__anext__ each
    # with a span: iterating must not go through fetchmany too, or every batch is
    # recorded twice.
    calls = []
    original = psqlpy.Cursor.fetchmany

    async def counting(self, *args, **kwargs):
        calls.append(args)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(psqlpy.Cursor, "fetchmany", counting)
    async with conn.transaction() as tx:
        cursor = tx.cursor("SELECT g FROM generate_series(1, 5) g", array_size=2)
        await cursor.start()
        batches = [b.result() async for b in cursor]
        assert [len(b) for b in batches] == [2, 2, 1]
        assert await cursor.fetchmany(3) is not None
    assert calls == [(3,)]


async def test_prepared_statement_columns_without_parameters(conn):
    # psqlpy-sqlalchemy builds cursor.description from prepare(...).columns(),
    # parameters=None for every statement without bound values.
    no_values: list[int] = []
    for params in (None, no_values):
        async with conn.transaction():
            stmt = await conn.prepare(querystring="SELECT 1 AS a, 'x'::text AS b", parameters=params)
            assert [c.name for c in stmt.columns()] == ["a", "b"]
            assert (await stmt.execute()).result() == [{"a": 1, "b": "x"}]
    await conn.execute("CREATE TEMP TABLE cols_t (id int)")
    stmt = await conn.prepare(querystring="SELECT id FROM cols_t")
    (col,) = stmt.columns()
    assert col.name == "id"
    assert col.table_oid == await conn.fetch_val("SELECT 'cols_t'::regclass::oid")


async def test_json_text_for_a_jsonb_parameter(conn):
    # SQLAlchemy's JSON types (and sqlspec's serializer) send json.dumps() output.
    assert await conn.fetch_val("SELECT $1::jsonb", ['{"a": [1, null]}']) == {"a": [1, None]}
    assert await conn.fetch_val("SELECT $1::json -> 0", ['["x", 2]']) == "x"
    assert await conn.fetch_val("SELECT $1::jsonb", [{"a": "ü"}]) == {"a": "ü"}
    with pytest.raises(psqlpy.exceptions.DatabaseError):
        await conn.fetch_val("SELECT $1::jsonb", ["not json"])
