"""User-defined types decoded without registration (issue 20; the reference driver's
``SELECT custom_type FROM for_test`` returning a dict).

Enums decode to ``str``, domains as their base type, composites to ``dict`` (attribute
name to value, nested types decoded), arrays of any of these to lists, whether the query
has parameters or not, prepared or not.  The pool introspects unknown OIDs once (one
query for the whole set, cached for all its connections); behind PgBouncer in
transaction mode it uses no prepared statement; ``introspect_types=False`` turns it off.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from conftest import fresh_pool_with_schema

import psqlpy
from psqlpy import exceptions as exc

SCHEMA = """
DROP TABLE IF EXISTS ut_items;
DROP TYPE IF EXISTS ut_outer;
DROP TYPE IF EXISTS ut_inner;
DROP TYPE IF EXISTS ut_pair;
DROP DOMAIN IF EXISTS ut_moods;
DROP TYPE IF EXISTS ut_mood;
DROP DOMAIN IF EXISTS ut_pos;
CREATE TYPE ut_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN ut_pos AS int4 CHECK (VALUE > 0);
CREATE DOMAIN ut_moods AS ut_mood[];
CREATE TYPE ut_pair AS (a int4, b text);
CREATE TYPE ut_inner AS (v varchar, m ut_mood, p ut_pos, "Odd, name" text);
CREATE TYPE ut_outer AS (id int8, inner_ ut_inner, arr ut_inner[], moods ut_mood[],
                         u uuid, ts timestamptz, n numeric, tags text[], ms ut_moods);
CREATE TABLE ut_items (id int4, o ut_outer, extra int4, gone int4);
ALTER TABLE ut_items DROP COLUMN extra;
"""

OUTER = ("ROW(7, ROW('x', 'sad', 5, 'q \"r\"')::ut_inner, "
         "ARRAY[ROW('y', 'ok', 2, NULL)::ut_inner, NULL], ARRAY['happy'::ut_mood, NULL], "
         "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-02 03:04:05+00', 1.50, "
         "ARRAY['a,b', '', NULL], ARRAY['ok']::ut_moods)::ut_outer")

OUTER_VALUE = {
    "id": 7,
    "inner_": {"v": "x", "m": "sad", "p": 5, "Odd, name": 'q "r"'},
    "arr": [{"v": "y", "m": "ok", "p": 2, "Odd, name": None}, None],
    "moods": ["happy", None],
    "u": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "n": Decimal("1.50"),
    "tags": ["a,b", "", None],
    "ms": ["ok"],
}


@pytest.fixture
async def pool(dsn):
    async for p in fresh_pool_with_schema(dsn, SCHEMA):   # nothing learned yet
        yield p


@pytest.mark.parametrize("prepared", [True, False])
async def test_issue_examples(pool, prepared):
    async with pool.acquire() as conn:
        assert await conn.fetch_val("SELECT ARRAY['sad'::ut_mood]", prepared=prepared) == ["sad"]
        assert await conn.fetch_val("SELECT ROW(1,'x')::ut_pair", prepared=prepared) == \
            {"a": 1, "b": "x"}
        assert await conn.fetch_val("SELECT 'ok'::ut_mood", prepared=prepared) == "ok"


@pytest.mark.parametrize("prepared", [True, False])
async def test_nested_composites_enums_domains_arrays(pool, prepared):
    async with pool.acquire() as conn:
        row = (await conn.execute(f"SELECT {OUTER} AS o, NULL::ut_outer AS nothing, "
                                  "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
                                  "::ut_outer AS empty", prepared=prepared)).result()[0]
    assert row["o"] == OUTER_VALUE
    assert list(row["o"]) == list(OUTER_VALUE)          # attribute order
    assert row["nothing"] is None
    assert row["empty"] == dict.fromkeys(OUTER_VALUE)


@pytest.mark.parametrize("prepared", [True, False])
async def test_with_parameters_and_table_rows(pool, prepared):
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM ut_items")
        await conn.execute(f"INSERT INTO ut_items VALUES ($1, {OUTER}, $2)", [1, 9])
        res = await conn.execute("SELECT o, i FROM ut_items i WHERE id = $1", [1],
                                 prepared=prepared)
        row = res.result()[0]
        # a table's row type; its dropped column is not part of the value
        assert row["i"] == {"id": 1, "o": OUTER_VALUE, "gone": 9}
        assert row["o"] == OUTER_VALUE
        arr = await conn.fetch_val("SELECT array_agg(o) FROM ut_items", prepared=prepared)
        assert arr == [OUTER_VALUE]


async def test_cursor_with_the_statement_cache_off(dsn):
    # No statement cache (as behind PgBouncer): the cursor's portal is over the
    # unnamed statement, its rows come in text; types met for the first time are
    # learned when the portal opens, before any row is fetched.
    async with await psqlpy.connect(dsn=dsn, statement_cache_size=0) as conn:
        await conn.execute_batch(SCHEMA)
        await conn.execute(f"INSERT INTO ut_items VALUES (1, {OUTER}, 9), (2, NULL, NULL)")
        async with conn.transaction() as tx:
            cur = tx.cursor("SELECT id, o, ARRAY[(o).inner_.m] AS m FROM ut_items "
                            "WHERE id >= $1 ORDER BY id", [1], array_size=1)
            async with cur:
                first = (await cur.fetchone()).result()
                rest = (await cur.fetchall()).result()
    assert first == [{"id": 1, "o": OUTER_VALUE, "m": ["sad"]}]
    assert rest == [{"id": 2, "o": None, "m": [None]}]


async def test_enum_and_composite_parameters_still_go_as_text(pool):
    async with pool.acquire() as conn:
        assert await conn.fetch_val("SELECT $1::ut_mood", ["happy"]) == "happy"
        assert await conn.fetch_val("SELECT $1::ut_pair", ["(3,z)"]) == {"a": 3, "b": "z"}
        assert await conn.fetch_val("SELECT ($1::ut_pair).b", ["(3,z)"]) == "z"


async def test_one_introspection_query_per_unknown_set_cached_per_pool(pool):
    types = pool.types
    assert types.queries == 0
    async with pool.acquire() as conn:
        await conn.execute(f"SELECT {OUTER} AS o, 'ok'::ut_mood AS m, ROW(1,'x')::ut_pair AS p")
        assert types.queries == 1       # every OID and all their parts in one query
        await conn.execute("SELECT ARRAY['sad'::ut_mood], ROW(2,'y')::ut_pair, 1 AS other")
        await conn.execute(f"SELECT {OUTER}", prepared=False)
        assert types.queries == 1
        info = types.info(await conn.fetch_val("SELECT 'ut_pair'::regtype::oid"))
        assert info is not None and info.kind == "composite" and info.name == "ut_pair"
        assert info.attributes == (("a", 23), ("b", 25))
    # the pool's other connections use what the first learned
    async with pool.acquire() as c1, pool.acquire() as c2:
        await asyncio.gather(c1.execute("SELECT ROW(1,'x')::ut_pair AS p"),
                             c2.execute("SELECT 'ok'::ut_mood AS m"))
    assert types.queries == 1
    # no query at all for built-in types, decoded or not (void, regclass: initdb's)
    async with pool.acquire() as conn:
        await conn.execute("SELECT 1::int4, 'x'::text, now()")
        assert (await conn.execute("SELECT pg_sleep(0) AS v, 'pg_class'::regclass AS r")
                ).result() == [{"v": "", "r": "pg_class"}]
    assert types.queries == 1


async def test_concurrent_connections_ask_once(dsn):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=4)
    try:
        conns = [await pool.connection() for _ in range(4)]
        got = await asyncio.gather(*[c.fetch_val("SELECT ROW(4,'w')::ut_pair") for c in conns])
        assert got == [{"a": 4, "b": "w"}] * 4
        assert pool.types.queries == 1
        for c in conns:
            c.close()
    finally:
        pool.close()
        await pool.wait_closed()


async def test_turned_off(dsn):
    pool = psqlpy.ConnectionPool(dsn=dsn, introspect_types=False)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetch_val("SELECT ROW(1,'x')::ut_pair") == "(1,x)"
            assert await conn.fetch_val("SELECT ARRAY['sad'::ut_mood]") == "{sad}"
            assert await conn.fetch_val("SELECT 'ok'::ut_mood") == "ok"
        assert pool.types.queries == 0
    finally:
        pool.close()
        await pool.wait_closed()
    async with await psqlpy.connect(dsn=dsn, introspect_types=False) as conn:
        assert await conn.fetch_val("SELECT ROW(1,'x')::ut_pair", prepared=False) == "(1,x)"
    built = psqlpy.ConnectionPoolBuilder().host("localhost").introspect_types(False).build()
    assert built.types.introspect is False
    built.close()


async def test_single_connection_learns_too(dsn):
    async with await psqlpy.connect(dsn=dsn) as conn:
        assert await conn.fetch_val("SELECT ROW(5,'v')::ut_pair") == {"a": 5, "b": "v"}
        assert await conn.fetch_val("SELECT ROW(5,'v')::ut_pair", prepared=False) == \
            {"a": 5, "b": "v"}


async def test_anonymous_records_stay_text(pool):
    # ROW(...) without a named type: its text carries no attribute types, so the
    # unprepared path could not decode it as the binary one would; both give the text
    async with pool.acquire() as conn:
        for prepared in (True, False):
            assert await conn.fetch_val("SELECT ROW(1, 'a b', NULL)", prepared=prepared) == \
                '(1,"a b",)'
            assert await conn.fetch_val("SELECT ROW(1, 'sad'::ut_mood)", prepared=prepared) == \
                "(1,sad)"


async def test_altered_type_is_introspected_again(pool):
    async with pool.acquire() as conn:
        await conn.execute_batch(
            "DROP TABLE IF EXISTS ut_alter; DROP TYPE IF EXISTS ut_alt;"
            "CREATE TYPE ut_alt AS (a int4); CREATE TABLE ut_alter (v ut_alt);"
            "INSERT INTO ut_alter VALUES (ROW(1))")
        q = "SELECT v FROM ut_alter"
        assert await conn.fetch_val(q) == {"a": 1}
        await conn.execute_batch("ALTER TYPE ut_alt ADD ATTRIBUTE b text")
        with pytest.raises(psqlpy.protocol.StaleTypeError):
            await conn.fetch_val(q)
        assert isinstance(psqlpy.protocol.StaleTypeError(), exc.RustToPyValueMappingError)
        assert await conn.fetch_val(q) == {"a": 1, "b": None}
        await conn.execute_batch("DROP TABLE ut_alter")
        q = "SELECT ROW(1, '2')::ut_alt"
        assert await conn.fetch_val(q) == {"a": 1, "b": "2"}
        await conn.execute_batch("ALTER TYPE ut_alt ALTER ATTRIBUTE b TYPE int8")
        with pytest.raises(psqlpy.protocol.StaleTypeError):
            await conn.fetch_val(q)
        assert await conn.fetch_val(q) == {"a": 1, "b": 2}
        await conn.execute_batch("DROP TYPE ut_alt")
