"""What an ORM needs of the type system (issue 20), against the real server: a codec
registry (``set_type_codec`` on a connection and on a pool), ranges and multiranges of
every built-in subtype and of user-defined ones, hstore, composite parameters, and
statement descriptions (column and parameter types without running the statement).
pgvector has its own cluster below (the system server has no pgvector).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import pickle
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from conftest import fresh_pool_with_schema
from hypothesis import HealthCheck, given, settings, strategies as st

import psqlpy
from psqlpy import Range
from psqlpy import exceptions as exc

UTC = dt.timezone.utc
PROPS = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])

SCHEMA = """
DROP TABLE IF EXISTS orm_items;
DROP TYPE IF EXISTS orm_item;
DROP TYPE IF EXISTS orm_mood;
DROP TYPE IF EXISTS orm_frange;
CREATE TYPE orm_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE orm_item AS (id int4, name text, mood orm_mood, tags text[]);
CREATE TYPE orm_frange AS RANGE (subtype = float8);
CREATE TABLE orm_items (item orm_item, during tstzrange, attrs text);
"""


class Mood(enum.Enum):
    SAD = "sad"
    OK = "ok"
    HAPPY = "happy"


@dataclass
class Item:
    id: int
    name: str
    mood: Any
    tags: list | None


@pytest.fixture
async def pool(dsn):
    async for p in fresh_pool_with_schema(dsn, SCHEMA):   # nothing learned yet
        yield p


# --------------------------------------------------------------------------- Range

def test_range_value_type():
    r = Range(1, 5)
    assert (r.lower, r.upper, r.lower_inc, r.upper_inc, r.isempty) == (1, 5, True, False, False)
    assert r == Range(1, 5, lower_inc=True, upper_inc=False) and hash(r) == hash(Range(1, 5))
    assert r != Range(1, 5, upper_inc=True) and r != Range(1, 6) and r != (1, 5)
    assert Range(None, 5, lower_inc=True).lower_inc is False          # unbounded: never inclusive
    assert Range(None, 5).lower_inf and not Range(None, 5).upper_inf
    e = Range(empty=True)
    assert e.isempty and not e and e == Range(empty=True) and not e.lower_inf
    assert bool(r) and str(r) == "[1,5)" and str(e) == "empty"
    assert str(Range("a,b", None, upper_inc=True)) == '["a,b",)'
    assert repr(r) == "Range(1, 5, lower_inc=True, upper_inc=False)"
    with pytest.raises(ValueError):
        Range(1, 2, empty=True)
    for v in (r, e, Range(dt.date(2024, 1, 1), None)):
        assert pickle.loads(pickle.dumps(v)) == v
    assert isinstance(r, psqlpy.Range) and psqlpy.Range is psqlpy.protocol.Range
    with pytest.raises(AttributeError):
        r.lower = 3  # type: ignore[misc]


RANGE_CASES = {
    "int4range": (st.integers(-2**31, 2**31 - 2), 1),
    "int8range": (st.integers(-2**63, 2**63 - 2), 1),
    "numrange": (st.decimals(allow_nan=False, allow_infinity=False, places=3,
                             min_value=-10**9, max_value=10**9), Decimal("0.001")),
    "tsrange": (st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
                dt.timedelta(microseconds=1)),
    "tstzrange": (st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                               timezones=st.just(UTC)), dt.timedelta(microseconds=1)),
    # (date.min and date.max are -infinity and infinity, as for every date codec)
    "daterange": (st.dates(min_value=dt.date(1, 1, 2), max_value=dt.date(9999, 12, 30)),
                  dt.timedelta(days=1)),
}


def _canonical(typ, lo, hi, lo_inc, hi_inc):
    # the server's form: discrete ranges are [) ; an empty one is empty
    if lo is not None and hi is not None and (hi < lo or (hi == lo and not (lo_inc and hi_inc))):
        return None
    step = RANGE_CASES[typ][1]
    if typ in ("int4range", "int8range", "daterange"):
        if lo is not None and not lo_inc:
            lo, lo_inc = lo + step, True
        if hi is not None and hi_inc:
            hi, hi_inc = hi + step, False
        if lo is not None and hi is not None and lo >= hi:
            return Range(empty=True)
    return Range(lo, hi, lower_inc=lo_inc, upper_inc=hi_inc)


class SyncConn:
    """One connection driven synchronously (hypothesis tests stay synchronous)."""

    def __init__(self, dsn: str, setup: str = ""):
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(psqlpy.connect(dsn=dsn))
        if setup:
            self.batch(setup)

    def __call__(self, sql: str, params: Any = None, prepared: bool = True) -> Any:
        return self.loop.run_until_complete(self.conn.fetch_val(sql, params, prepared=prepared))

    def batch(self, sql: str) -> None:
        self.loop.run_until_complete(self.conn.execute_batch(sql))

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def sync_conn(pg_cluster):
    conn = SyncConn(pg_cluster.dsn())
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.parametrize("typ", sorted(RANGE_CASES))
def test_builtin_ranges_round_trip(sync_conn, typ):
    values, _ = RANGE_CASES[typ]
    multi = typ.replace("range", "multirange")

    @PROPS
    @given(st.none() | values, st.none() | values, st.booleans(), st.booleans())
    def run(lo, hi, lo_inc, hi_inc):
        want = _canonical(typ, lo, hi, lo_inc, hi_inc)
        if want is None:
            return
        r = Range(lo, hi, lower_inc=lo_inc, upper_inc=hi_inc)
        for prepared in (True, False):
            assert sync_conn(f"SELECT $1::{typ}", [r], prepared=prepared) == want
            assert sync_conn(f"SELECT ARRAY[$1::{typ}, NULL]", [r], prepared=prepared) == \
                [want, None]
        assert sync_conn(f"SELECT $1::{typ}[]", [[r, None, Range(empty=True)]]) == \
            [want, None, Range(empty=True)]
        assert sync_conn(f"SELECT $1::{multi}", [[r]]) == ([] if want.isempty else [want])
        assert sync_conn(f"SELECT $1::{multi}::text", [[r]]) == \
            sync_conn(f"SELECT {multi}($1::{typ})::text", [r])
        assert sync_conn(f"SELECT {multi}($1::{typ})", [r], prepared=False) == \
            ([] if want.isempty else [want])

    run()


async def test_ranges_from_the_server(pool):
    async with pool.acquire() as conn:
        for prepared in (True, False):
            row = (await conn.execute(
                "SELECT int4range(1, 5, '(]') AS a, 'empty'::numrange AS b, '(,5]'::int8range AS c, "
                "'[2024-01-01,infinity)'::daterange AS d, '{[1,3), [5,7)}'::int4multirange AS e, "
                "'{}'::datemultirange AS f, orm_frange(1.5, 2.5, '[]') AS g, "
                "'{[1,2)}'::orm_fmultirange AS h, ARRAY[int4range(1, 2), NULL] AS i, "
                "tstzrange('2024-01-01 00:00+02', NULL) AS j", prepared=prepared)).result()[0]
            assert row == {
                "a": Range(2, 6), "b": Range(empty=True), "c": Range(None, 6),
                "d": Range(dt.date(2024, 1, 1), dt.date.max), "e": [Range(1, 3), Range(5, 7)],
                "f": [], "g": Range(1.5, 2.5, upper_inc=True), "h": [Range(1.0, 2.0)],
                "i": [Range(1, 2), None], "j": Range(dt.datetime(2023, 12, 31, 22, tzinfo=UTC), None)}
        # parameters: a Range, or (as asyncpg) (lower, upper) for [lower, upper)
        assert await conn.fetch_val("SELECT $1::orm_frange", [Range(0.5, None)]) == Range(0.5, None)
        assert await conn.fetch_val("SELECT $1::int4range", [(3, 7)]) == Range(3, 7)
        assert await conn.fetch_val("SELECT $1::orm_fmultirange", [[Range(1.0, 2.0), (3.0, 4.0)]]) \
            == [Range(1.0, 2.0), Range(3.0, 4.0)]
        assert await conn.fetch_val("SELECT $1::int4range @> 4", [Range(1, 5)]) is True
        assert await conn.fetch_val("SELECT $1::int4range", ["[3,4]"]) == Range(3, 5)   # text
        with pytest.raises(exc.PyToRustValueMappingError):
            await conn.fetch_val("SELECT $1::int4range", [5])
        await conn.execute("INSERT INTO orm_items (during) VALUES ($1)",
                           [Range(dt.datetime(2024, 1, 1, tzinfo=UTC), None)])
        assert await conn.fetch_val("SELECT during FROM orm_items") == \
            Range(dt.datetime(2024, 1, 1, tzinfo=UTC), None)


# --------------------------------------------------------------------------- hstore

async def test_hstore(pool):
    async with pool.acquire() as conn:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS hstore")
        except exc.DatabaseError:
            pytest.skip("the hstore extension is not installed on this server")
        value = {"a": "1", "b": None, "c d": 'e"f\\g', "": "é"}
        for prepared in (True, False):
            assert await conn.fetch_val("SELECT 'a=>1, b=>NULL'::hstore", prepared=prepared) == \
                {"a": "1", "b": None}
            assert await conn.fetch_val("SELECT ARRAY['x=>y'::hstore, NULL]", prepared=prepared) == \
                [{"x": "y"}, None]
        assert await conn.fetch_val("SELECT $1::hstore", [value]) == value
        assert await conn.fetch_val("SELECT $1::hstore -> 'c d'", [value]) == 'e"f\\g'
        assert await conn.fetch_val("SELECT $1::hstore[]", [[value, None]]) == [value, None]
        assert await conn.fetch_val("SELECT $1::hstore", ["k=>v"]) == {"k": "v"}   # its text
        with pytest.raises(exc.PyToRustValueMappingError):
            await conn.fetch_val("SELECT $1::hstore", [{"k": 1}])


_HSTORE_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                      max_size=6)


@PROPS
@given(st.dictionaries(_HSTORE_TEXT, st.none() | _HSTORE_TEXT, max_size=5))
def test_hstore_round_trip(sync_conn, value):
    try:
        sync_conn.batch("CREATE EXTENSION IF NOT EXISTS hstore")
    except exc.DatabaseError:
        pytest.skip("hstore is not installed")
    assert sync_conn("SELECT $1::hstore", [value]) == value
    # its text form, decoded in text (unprepared: a dict parameter would be JSON there)
    text = sync_conn("SELECT $1::hstore::text", [value])
    assert sync_conn("SELECT $1::text::hstore", [text], prepared=False) == value


# --------------------------------------------------------------------------- composites as parameters

async def test_composite_parameters(pool):
    async with pool.acquire() as conn:
        want = {"id": 1, "name": 'q,"r', "mood": "ok", "tags": ["a", None]}
        for value in (want, (1, 'q,"r', "ok", ["a", None]), Item(1, 'q,"r', Mood.OK, ["a", None]),
                      {"id": 1, "name": 'q,"r', "mood": Mood.OK, "tags": ["a", None]}):
            assert await conn.fetch_val("SELECT $1::orm_item", [value]) == want
        assert await conn.fetch_val("SELECT $1::orm_item", [{"id": 2}]) == \
            {"id": 2, "name": None, "mood": None, "tags": None}
        assert await conn.fetch_val("SELECT $1::orm_item[]", [[(1, "a", "sad", None), None,
                                                               {"id": 3}]]) == \
            [{"id": 1, "name": "a", "mood": "sad", "tags": None}, None,
             {"id": 3, "name": None, "mood": None, "tags": None}]
        await conn.execute("INSERT INTO orm_items (item) VALUES ($1)", [want])
        assert await conn.fetch_val("SELECT (item).name FROM orm_items") == 'q,"r'
        # a str attribute for a non-text type: the whole value as text, parsed by the server
        assert await conn.fetch_val("SELECT $1::orm_item", [("7", "x", "happy", None)]) == \
            {"id": 7, "name": "x", "mood": "happy", "tags": None}
        for bad in ((1, 2), {"nope": 1}, 5):
            with pytest.raises(exc.PyToRustValueMappingError):
                await conn.fetch_val("SELECT $1::orm_item", [bad])
        assert await conn.fetch_val("SELECT 1") == 1


HYP_SCHEMA = """
DROP TYPE IF EXISTS orm_h_item; DROP TYPE IF EXISTS orm_h_mood; DROP TYPE IF EXISTS orm_h_range;
CREATE TYPE orm_h_mood AS ENUM ('sad', 'ok', 'happy', 'a,b "c"');
CREATE TYPE orm_h_range AS RANGE (subtype = float8);
CREATE TYPE orm_h_item AS (id int8, name text, mood orm_h_mood, tags text[], during int4range,
                           spans orm_h_range);
"""
_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def _float_ranges(draw):
    lo, hi = sorted([draw(_FLOAT), draw(_FLOAT)])
    lo_inc, hi_inc = draw(st.booleans()), draw(st.booleans())
    lo = None if draw(st.integers(0, 5)) == 0 else lo
    hi = None if draw(st.integers(0, 5)) == 0 else hi
    sent = Range(lo, hi, lower_inc=lo_inc, upper_inc=hi_inc)
    # the server's form: equal bounds not both inclusive make an empty range
    empty = lo is not None and lo == hi and not (lo_inc and hi_inc)
    return sent, Range(empty=True) if empty else sent


@st.composite
def _items(draw):
    lo = draw(st.integers(-2**31, 2**31 - 2))
    during = Range(lo, draw(st.integers(lo + 1, 2**31 - 1)))
    spans_sent, spans = draw(_float_ranges())
    item = {"id": draw(st.integers(-2**63, 2**63 - 1)), "name": draw(st.none() | _TEXT),
            "mood": draw(st.none() | st.sampled_from(["sad", "ok", "happy", 'a,b "c"'])),
            "tags": draw(st.none() | st.lists(st.none() | _TEXT, max_size=3)),
            "during": draw(st.none() | st.just(during)), "spans": spans_sent}
    return item, dict(item, spans=spans)


@pytest.fixture(scope="module")
def hyp_types(pg_cluster):
    """A connection of its own, with types nobody drops mid-module."""
    conn = SyncConn(pg_cluster.dsn(), HYP_SCHEMA)
    try:
        yield conn
    finally:
        conn.close()


@PROPS
@given(st.lists(st.none() | _items(), max_size=3))
def test_user_types_round_trip(hyp_types, items):
    # composites (as dicts, nested enum/array/ranges), enums, a user-defined range and
    # multirange, and arrays of each, sent as parameters and read back
    sent = [None if i is None else i[0] for i in items]
    want = [None if i is None else i[1] for i in items]
    assert hyp_types("SELECT $1::orm_h_item[]", [sent]) == want
    for s, w in zip(sent, want):
        assert hyp_types("SELECT $1::orm_h_item", [s]) == w
        if w is not None:
            assert s is not None
            assert hyp_types("SELECT $1::orm_h_mood", [s["mood"]]) == w["mood"]
            assert hyp_types("SELECT $1::orm_h_range", [s["spans"]]) == w["spans"]
            multi = [] if w["spans"].isempty else [w["spans"]]
            assert hyp_types("SELECT $1::orm_h_multirange", [[s["spans"]]]) == multi
            # the text form, read by the unprepared (text) path
            text = hyp_types("SELECT $1::orm_h_item::text", [s])
            assert hyp_types("SELECT $1::text::orm_h_item", [text], prepared=False) == w


# --------------------------------------------------------------------------- set_type_codec

async def test_set_type_codec_on_a_connection(pool):
    async with pool.acquire() as conn:
        await conn.set_type_codec("orm_mood", decoder=Mood, encoder=lambda m: m.value)
        assert await conn.fetch_val("SELECT 'happy'::orm_mood") is Mood.HAPPY
        assert await conn.fetch_val("SELECT 'happy'::orm_mood", prepared=False) is Mood.HAPPY
        assert await conn.fetch_val("SELECT ARRAY['ok'::orm_mood, NULL]") == [Mood.OK, None]
        assert await conn.fetch_val("SELECT $1::orm_mood", [Mood.SAD]) is Mood.SAD
        assert (await conn.fetch_val("SELECT ROW(1, 'a', 'sad', NULL)::orm_item"))["mood"] is Mood.SAD
        # registered codecs win over the built-in ones, arrays included
        await conn.set_type_codec("json", schema="pg_catalog", decoder=lambda s: ("json", s),
                                  encoder=json.dumps)
        assert await conn.fetch_val("SELECT '{\"a\":1}'::json") == ("json", '{"a":1}')
        assert await conn.fetch_val("SELECT ARRAY['[1]'::json]") == [("json", "[1]")]
        assert await conn.fetch_val("SELECT $1::json::text", [{"k": 1}]) == '{"k": 1}'
        # binary format: bytes both ways
        await conn.set_type_codec("int4", schema="pg_catalog", format="binary",
                                  decoder=lambda b: int.from_bytes(b, "big", signed=True) * 10,
                                  encoder=lambda v: (v // 10).to_bytes(4, "big", signed=True))
        assert await conn.fetch_val("SELECT 7::int4") == 70
        assert await conn.fetch_val("SELECT $1::int4 + 1", [70]) == 80
        # a composite as a class: tuple and dict formats
        await conn.set_type_codec("orm_item", format="tuple", decoder=lambda t: Item(*t),
                                  encoder=lambda i: (i.id, i.name, i.mood, i.tags))
        got = await conn.fetch_val("SELECT ROW(1, 'a', 'ok', ARRAY['x'])::orm_item")
        assert got == Item(10, "a", Mood.OK, ["x"])             # its int4 codec too
        assert await conn.fetch_val("SELECT $1::orm_item", [Item(20, "b", Mood.HAPPY, None)]) == \
            Item(20, "b", Mood.HAPPY, None)
        await conn.set_type_codec("orm_item", format="dict", decoder=lambda d: sorted(d),
                                  encoder=lambda v: v)
        assert await conn.fetch_val("SELECT ROW(1, 'a', 'ok', NULL)::orm_item") == \
            ["id", "mood", "name", "tags"]
        with pytest.raises(exc.ProgrammingError):
            await conn.set_type_codec("no_such_type", decoder=str, encoder=str)
        with pytest.raises(ValueError):
            await conn.set_type_codec("orm_mood", decoder=str, encoder=str, format="xml")
        with pytest.raises(TypeError):
            await conn.set_type_codec("orm_mood", decoder=str, encoder=str, format="tuple")
    # a connection's codecs are its own
    async with pool.acquire() as c1, pool.acquire() as c2:
        assert {await c1.fetch_val("SELECT 7::int4"), await c2.fetch_val("SELECT 7::int4")} <= {7, 70}


async def test_set_type_codec_one_side(pool):
    # a missing side passes the format's value through
    async with pool.acquire() as conn:
        await conn.set_type_codec("orm_mood", decoder=str.upper)
        assert await conn.fetch_val("SELECT $1::orm_mood", ["ok"]) == "OK"
        with pytest.raises(exc.PyToRustValueMappingError):
            await conn.fetch_val("SELECT $1::orm_mood", [Mood.OK])   # not a str
        await conn.set_type_codec("orm_mood", encoder=lambda m: m.value)
        assert await conn.fetch_val("SELECT $1::orm_mood", [Mood.HAPPY]) == "happy"
        with pytest.raises(TypeError):
            await conn.set_type_codec("orm_mood")


async def test_set_type_codec_on_a_pool(pool):
    async with pool.acquire() as conn:
        assert await conn.fetch_val("SELECT 'ok'::orm_mood") == "ok"      # a cached statement
    await pool.set_type_codec("orm_mood", decoder=Mood, encoder=lambda m: m.value)
    conns = [await pool.connection() for _ in range(3)]
    try:
        got = await asyncio.gather(*[c.fetch_val("SELECT 'ok'::orm_mood") for c in conns])
        assert got == [Mood.OK] * 3
        assert await conns[0].fetch_val("SELECT $1::orm_mood", [Mood.HAPPY]) is Mood.HAPPY
    finally:
        for c in conns:
            c.close()
    with pytest.raises(exc.ProgrammingError):
        await pool.set_type_codec("orm_nope", decoder=str, encoder=str)


# --------------------------------------------------------------------------- descriptions

async def test_statement_descriptions(pool):
    async with pool.acquire() as conn:
        st = await conn.prepare(
            "SELECT item, 1::int4 AS n, ARRAY['a']::text[] AS t, int4range(1, 2) AS r, "
            "NULL::orm_mood AS m, now() AS ts FROM orm_items WHERE during @> $1::timestamptz "
            "AND (item).mood = $2 AND $3::int8 > 0")
        cols = st.columns()
        assert [(c.name, c.type_name, c.type_schema, c.type_kind) for c in cols] == [
            ("item", "orm_item", "public", "composite"), ("n", "int4", "pg_catalog", "base"),
            ("t", "_text", "pg_catalog", "array"), ("r", "int4range", "pg_catalog", "range"),
            ("m", "orm_mood", "public", "enum"), ("ts", "timestamptz", "pg_catalog", "base")]
        assert cols[1].type_oid == 23 and cols[0].table_oid is not None and cols[1].table_oid is None
        assert st.parameter_types() == ["timestamptz", "orm_mood", "int8"]
        assert [t.oid for t in st.parameter_infos()][2] == 20
        res = await conn.execute("SELECT 1::int4 AS n, NULL::orm_mood AS m")
        assert [(c.name, c.type_name) for c in res.columns()] == [("n", "int4"), ("m", "orm_mood")]
        res = await conn.execute("SELECT 1::int4 AS n, NULL::orm_mood AS m", prepared=False)
        assert [(c.name, c.type_name) for c in res.columns()] == [("n", "int4"), ("m", "orm_mood")]


async def test_descriptions_without_introspection(dsn):
    async with await psqlpy.connect(dsn=dsn, introspect_types=False) as conn:
        st = await conn.prepare("SELECT 1::int4 AS n, NULL::orm_mood AS m WHERE $1::orm_mood IS NULL")
        assert [(c.type_name, c.type_kind) for c in st.columns()] == [("int4", "base"), (None, None)]
        assert st.parameter_types() == [None]


# --------------------------------------------------------------------------- pgvector

@pytest.fixture(scope="module")
def vector_dsn():
    """pgvector ships with the pgserver wheel's PostgreSQL (not with the system one)."""
    from pgcluster import PgCluster, _pgserver_bindir
    bindir = _pgserver_bindir()
    if not bindir:
        pytest.skip("no pgserver PostgreSQL (the only one here with pgvector)")
    cluster = PgCluster(bindir=bindir).start()
    try:
        yield cluster.dsn()
    finally:
        cluster.stop()


async def test_pgvector(vector_dsn):
    async with await psqlpy.connect(dsn=vector_dsn) as conn:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except exc.DatabaseError as e:
            pytest.skip(f"pgvector is not installed: {e}")
        for prepared in (True, False):
            assert await conn.fetch_val("SELECT '[1,2.5,-3]'::vector", prepared=prepared) == \
                [1.0, 2.5, -3.0]
            assert await conn.fetch_val("SELECT ARRAY['[1]'::vector, NULL]", prepared=prepared) == \
                [[1.0], None]
        v = [0.5, -1.25, 3.0]
        assert await conn.fetch_val("SELECT $1::vector", [v]) == v
        assert await conn.fetch_val("SELECT $1::vector", [tuple(v)]) == v
        assert await conn.fetch_val("SELECT $1::vector", [psqlpy.extra_types.PgVector(v)]) == v
        assert await conn.fetch_val("SELECT $1::vector <-> $2::vector", [[0, 0], [3, 4]]) == 5.0
        assert await conn.fetch_val("SELECT $1::vector[]", [[v, None]]) == [v, None]
        with pytest.raises(exc.PyToRustValueMappingError):
            await conn.fetch_val("SELECT $1::vector", [["x"]])
        st = await conn.prepare("SELECT $1::vector AS v")
        assert st.columns()[0].type_name == "vector" and st.parameter_types() == ["vector"]


def test_pgvector_round_trip(vector_dsn):
    conn = SyncConn(vector_dsn)
    try:
        try:
            conn.batch("CREATE EXTENSION IF NOT EXISTS vector")
        except exc.DatabaseError as e:
            pytest.skip(f"pgvector is not installed: {e}")

        @PROPS
        @given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False),
                        min_size=1, max_size=16))
        def run(v):
            assert conn("SELECT $1::vector", [v]) == v
            assert conn("SELECT $1::vector[]", [[v, None, v]]) == [v, None, v]
            text = conn("SELECT $1::vector::text", [v])
            assert conn("SELECT $1::text::vector", [text], prepared=False) == v

        run()
    finally:
        conn.close()
