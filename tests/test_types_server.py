"""Type round trips through the real server (binary codecs, text fallbacks,
extra_types wrappers, Python enums, PostgreSQL enums and composites).

Each value goes out as a parameter (``SELECT $1::type``) and comes back as a
result column; the server's own literals are decoded too, and ``::text``
casts check what the server actually received.  Property tests use
hypothesis on a dedicated event loop (one per loop kind) with a connection
kept for the module, so each example is one round trip.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import enum
import ipaddress
import json
import math
import uuid
from decimal import Decimal
from typing import Literal

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import psqlpy
from psqlpy import extra_types as et
from psqlpy import exceptions as exc

from conftest import LOOP_FACTORIES

UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
V4, V6 = ipaddress.ip_address, ipaddress.ip_interface


@pytest.fixture
async def conn(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def rt(conn, typ, value):
    return await conn.fetch_val(f"SELECT $1::{typ}", [value])


# --------------------------------------------------------------------------- network

INET_CASES = [
    (ipaddress.IPv4Address("192.168.0.1"), ipaddress.IPv4Address("192.168.0.1"), "192.168.0.1"),
    (ipaddress.IPv4Interface("192.168.0.1/24"), ipaddress.IPv4Interface("192.168.0.1/24"),
     "192.168.0.1/24"),
    (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Interface("10.0.0.0/8"), "10.0.0.0/8"),
    (ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::1"), "2001:db8::1"),
    (ipaddress.IPv6Interface("2001:db8::1/64"), ipaddress.IPv6Interface("2001:db8::1/64"),
     "2001:db8::1/64"),
    ("10.1.2.3/16", ipaddress.IPv4Interface("10.1.2.3/16"), "10.1.2.3/16"),
]


@pytest.mark.parametrize("value,expected,text", INET_CASES)
async def test_inet(conn, value, expected, text):
    got = await rt(conn, "inet", value)
    assert got == expected and type(got) is type(expected)
    assert await conn.fetch_val("SELECT $1::inet::text", [value]) == \
        (text if "/" in text else text + ("/32" if "." in text else "/128"))


async def test_inet_cidr_server_literals(conn):
    assert await conn.fetch_val("SELECT '192.168.0.1/24'::inet") == \
        ipaddress.IPv4Interface("192.168.0.1/24")
    assert await conn.fetch_val("SELECT '192.168.0.1'::inet") == ipaddress.IPv4Address("192.168.0.1")
    assert await conn.fetch_val("SELECT '::ffff:1.2.3.4'::inet") == \
        ipaddress.IPv6Address("::ffff:1.2.3.4")
    got = await conn.fetch_val("SELECT '10.0.0.0/8'::cidr")
    assert got == ipaddress.IPv4Network("10.0.0.0/8") and type(got) is ipaddress.IPv4Network
    assert await conn.fetch_val("SELECT '2001:db8::/32'::cidr") == ipaddress.IPv6Network("2001:db8::/32")
    assert await conn.fetch_val("SELECT '10.1'::cidr") == ipaddress.IPv4Network("10.1.0.0/16")


async def test_cidr(conn):
    for value, expected in [
        (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("10.0.0.0/8")),
        (ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Network("10.0.0.1/32")),
        (ipaddress.IPv6Network("2001:db8::/48"), ipaddress.IPv6Network("2001:db8::/48")),
        ("192.168.0.0/16", ipaddress.IPv4Network("192.168.0.0/16")),
    ]:
        assert await rt(conn, "cidr", value) == expected
    with pytest.raises(exc.PyToRustValueMappingError):
        await rt(conn, "cidr", ipaddress.IPv4Interface("10.1.2.3/8"))
    with pytest.raises(exc.DatabaseError):
        await rt(conn, "cidr", "10.1.2.3/8")          # the server refuses it too


async def test_inet_cidr_arrays(conn):
    v = [[ipaddress.IPv4Address("1.2.3.4"), None],
         [ipaddress.IPv6Interface("::1/64"), ipaddress.IPv4Interface("10.0.0.1/8")]]
    assert await rt(conn, "inet[]", v) == v
    assert await rt(conn, "inet[]", et.IpAddressArray(v)) == v
    n = [ipaddress.IPv4Network("10.0.0.0/8"), None, ipaddress.IPv6Network("::/0")]
    assert await rt(conn, "cidr[]", n) == n
    assert await conn.fetch_val("SELECT ARRAY['1.2.3.4/8', NULL]::inet[]") == \
        [ipaddress.IPv4Interface("1.2.3.4/8"), None]


async def test_macaddr(conn):
    for value in ("08:00:2b:01:02:03", "08-00-2B-01-02-03", "0800.2b01.0203",
                  b"\x08\x00\x2b\x01\x02\x03", et.MacAddr6("08002b010203")):
        assert await rt(conn, "macaddr", value) == "08:00:2B:01:02:03"
    assert await conn.fetch_val("SELECT '08:00:2B:01:02:03'::macaddr") == "08:00:2B:01:02:03"
    assert await rt(conn, "macaddr8", "08:00:2b:01:02:03:04:05") == "08:00:2B:01:02:03:04:05"
    assert await rt(conn, "macaddr8", et.MacAddr8("08:00:2b:01:02:03")) == "08:00:2B:FF:FE:01:02:03"
    assert await rt(conn, "macaddr8", b"\x08\x00\x2b\x01\x02\x03") == "08:00:2B:FF:FE:01:02:03"
    assert await conn.fetch_val("SELECT '08:00:2b:01:02:03'::macaddr8") == "08:00:2B:FF:FE:01:02:03"
    arr = ["08:00:2b:01:02:03", None, "ff:ff:ff:ff:ff:ff"]
    assert await rt(conn, "macaddr[]", arr) == ["08:00:2B:01:02:03", None, "FF:FF:FF:FF:FF:FF"]
    assert await rt(conn, "macaddr[]", et.MacAddr6Array([et.MacAddr6("08:00:2b:01:02:03")])) == \
        ["08:00:2B:01:02:03"]
    assert await rt(conn, "macaddr8[]", [[et.MacAddr8("08:00:2b:01:02:03:04:05")], [None]]) == \
        [["08:00:2B:01:02:03:04:05"], [None]]


async def test_money(conn):
    assert await rt(conn, "money", 1234) == 1234
    assert await rt(conn, "money", -5) == -5
    assert await rt(conn, "money", et.Money(99)) == 99
    assert await conn.fetch_val("SELECT $1::money::numeric", [1234]) == Decimal("12.34")
    assert await conn.fetch_val("SELECT '12.34'::money") == 1234
    assert await rt(conn, "money", "7.5") == 750               # str: parsed by the server
    assert await rt(conn, "money", 2**63 - 1) == 2**63 - 1
    assert await rt(conn, "money[]", [[1, None], [3, 4]]) == [[1, None], [3, 4]]
    assert await rt(conn, "money[]", et.MoneyArray([et.Money(1), 2])) == [1, 2]
    with pytest.raises(exc.PyToRustValueMappingError):
        await rt(conn, "money", 1.5)


# --------------------------------------------------------------------------- geometry

async def test_geometry_params(conn):
    assert await rt(conn, "point", (1.5, -2)) == (1.5, -2.0)
    assert await rt(conn, "point", et.Point([3, 4])) == (3.0, 4.0)
    assert await rt(conn, "lseg", ((0, 0), (1, 1))) == [(0.0, 0.0), (1.0, 1.0)]
    assert await rt(conn, "lseg", et.LineSegment((0, 0, 1, 2))) == [(0.0, 0.0), (1.0, 2.0)]
    # box: the server keeps the upper-right corner first
    assert await rt(conn, "box", ((0, 0), (2, 3))) == ((2.0, 3.0), (0.0, 0.0))
    assert await rt(conn, "box", et.Box((2, 3, 0, 0))) == ((2.0, 3.0), (0.0, 0.0))
    assert await rt(conn, "line", (1, -1, 0)) == (1.0, -1.0, 0.0)
    assert await rt(conn, "line", et.Line((0, 1, 2))) == (0.0, 1.0, 2.0)
    assert await rt(conn, "circle", ((1, 2), 3)) == ((1.0, 2.0), 3.0)
    assert await rt(conn, "circle", et.Circle((1, 2, 3))) == ((1.0, 2.0), 3.0)
    assert await rt(conn, "path", [(0, 0), (1, 1)]) == [(0.0, 0.0), (1.0, 1.0)]
    # a tuple exactly when the first point equals the last, and sent closed then
    assert await rt(conn, "path", ((0, 0), (1, 1), (1, 0))) == [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0)]
    assert await rt(conn, "path", [(0, 0), (1, 1), (0, 0)]) == ((0.0, 0.0), (1.0, 1.0), (0.0, 0.0))
    assert await rt(conn, "path", et.Path([(0, 0), (1, 1)])) == [(0.0, 0.0), (1.0, 1.0)]
    assert await rt(conn, "path", et.Path(((0, 0), (1, 1)))) == [(0.0, 0.0), (1.0, 1.0)]
    assert await rt(conn, "path", et.Path([(3.5, 3), (6, 6), (3.5, 3)])) == \
        ((3.5, 3.0), (6.0, 6.0), (3.5, 3.0))
    assert await conn.fetch_val("SELECT isclosed($1::path)", [et.Path([(0, 0), (1, 1), (0, 0)])]) is True
    assert await conn.fetch_val("SELECT isclosed($1::path)", [et.Path(((0, 0), (1, 1)))]) is False
    assert await rt(conn, "polygon", [(0, 0), (1, 1), (1, 0)]) == ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))
    assert await rt(conn, "polygon", et.Polygon([0, 0, 2, 2, 2, 0])) == \
        ((0.0, 0.0), (2.0, 2.0), (2.0, 0.0))
    assert await conn.fetch_val("SELECT area($1::polygon::path)", [et.Polygon([(0, 0), (0, 2), (2, 2), (2, 0)])]) == 4.0
    assert await conn.fetch_val("SELECT $1::polygon::text", [et.Polygon([(0, 0), (1, 1), (1, 0)])]) == \
        "((0,0),(1,1),(1,0))"
    assert await conn.fetch_val("SELECT $1::path::text", [((0, 0), (1, 1), (0, 0))]) == \
        "((0,0),(1,1),(0,0))"
    assert await conn.fetch_val("SELECT $1::path::text", [((0, 0), (1, 1))]) == "[(0,0),(1,1)]"
    assert await rt(conn, "point", "(5,6)") == (5.0, 6.0)      # str: parsed by the server
    with pytest.raises(exc.PyToRustValueMappingError):
        await rt(conn, "line", (0, 0, 1))


async def test_geometry_server_literals(conn):
    row = (await conn.execute(
        "SELECT '(1,2)'::point AS p, '[(0,0),(1,1)]'::lseg AS l, '(1,1),(0,0)'::box AS b, "
        "'{1,2,3}'::line AS li, '<(1,2),3>'::circle AS c, '[(0,0),(1,1)]'::path AS op, "
        "'((0,0),(1,1))'::path AS cp, '((0,0),(1,1),(1,0))'::polygon AS pg, "
        "'infinity'::float8::text AS t")).result()[0]
    assert row["p"] == (1.0, 2.0)
    assert row["l"] == [(0.0, 0.0), (1.0, 1.0)]
    assert row["b"] == ((1.0, 1.0), (0.0, 0.0))
    assert row["li"] == (1.0, 2.0, 3.0)
    assert row["c"] == ((1.0, 2.0), 3.0)
    assert row["op"] == [(0.0, 0.0), (1.0, 1.0)] and isinstance(row["op"], list)
    # the server's closed flag does not decide the shape: first == last does
    assert row["cp"] == [(0.0, 0.0), (1.0, 1.0)]
    assert row["pg"] == ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))


async def test_geometry_arrays(conn):
    pts = [(1.0, 2.0), None, (3.0, 4.0)]
    assert await rt(conn, "point[]", pts) == pts
    assert await rt(conn, "point[]", [[(1, 2), (3, 4)], [(5, 6), None]]) == \
        [[(1.0, 2.0), (3.0, 4.0)], [(5.0, 6.0), None]]
    assert await rt(conn, "point[]", et.PointArray([et.Point((1, 2))])) == [(1.0, 2.0)]
    assert await rt(conn, "box[]", [((1, 1), (0, 0)), None]) == [((1.0, 1.0), (0.0, 0.0)), None]
    assert await rt(conn, "box[]", et.BoxArray([et.Box((1, 1, 0, 0))])) == [((1.0, 1.0), (0.0, 0.0))]
    assert await rt(conn, "lseg[]", et.LsegArray([et.LineSegment((0, 0, 1, 1))])) == \
        [[(0.0, 0.0), (1.0, 1.0)]]
    assert await rt(conn, "line[]", et.LineArray([et.Line((1, 2, 3))])) == [(1.0, 2.0, 3.0)]
    assert await rt(conn, "circle[]", et.CircleArray([et.Circle(((0, 0), 1))])) == [((0.0, 0.0), 1.0)]
    assert await rt(conn, "path[]", [[(0, 0), (1, 1)], ((2, 2), (3, 3), (2, 2))]) == \
        [[(0.0, 0.0), (1.0, 1.0)], ((2.0, 2.0), (3.0, 3.0), (2.0, 2.0))]
    assert await rt(conn, "path[]", et.PathArray([et.Path(((0, 0),))])) == [((0.0, 0.0),)]
    assert await rt(conn, "polygon[]", [[(0, 0), (1, 1), (1, 0)]]) == \
        [((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))]
    assert await rt(conn, "polygon[]", et.PolygonArray([et.Polygon([(0, 0), (1, 1), (1, 0)]), None])) == \
        [((0.0, 0.0), (1.0, 1.0), (1.0, 0.0)), None]
    assert await conn.fetch_val("SELECT ARRAY['(1,2)'::point, NULL]") == [(1.0, 2.0), None]


async def test_timetz_array(conn):
    t = dt.time(1, 2, 3, 4, tzinfo=IST)
    assert await rt(conn, "timetz[]", [t, None]) == [t, None]
    assert await conn.fetch_val("SELECT ARRAY['01:02:03+05:30'::timetz]") == \
        [dt.time(1, 2, 3, tzinfo=IST)]


# --------------------------------------------------------------------------- wrappers

async def test_scalar_wrappers(conn):
    assert await rt(conn, "int4", et.SmallInt(5)) == 5
    assert await rt(conn, "int2", et.SmallInt(-5)) == -5
    assert await rt(conn, "int8", et.BigInt(2**40)) == 2**40
    assert await rt(conn, "int4", et.Integer(7)) == 7
    assert await rt(conn, "float4", et.Float32(1.5)) == 1.5
    assert await rt(conn, "float8", et.Float64(2.5)) == 2.5
    assert await rt(conn, "text", et.Text("t")) == "t"
    assert await rt(conn, "varchar", et.VarChar("v")) == "v"
    assert await rt(conn, "jsonb", et.JSONB({"a": [1, None]})) == {"a": [1, None]}
    assert await rt(conn, "json", et.JSON([1, "x"])) == [1, "x"]
    assert await rt(conn, "jsonb", et.JSONB("s")) == "s"
    assert await rt(conn, "text", et.SmallInt(5)) == "5"         # text fallback
    assert await rt(conn, "text", et.Point((1, 2))) == "(1.0,2.0)"
    assert await rt(conn, "text", et.PgVector([1, 2.5])) == "[1.0,2.5]"
    assert await rt(conn, "int4", et.CustomType(b"\x00\x00\x00\x07")) == 7
    assert await rt(conn, "bytea", et.CustomType(b"\x00\xff")) == b"\x00\xff"
    assert await rt(conn, "int4[]", et.Int32Array([[1, None], [3, 4]])) == [[1, None], [3, 4]]
    assert await rt(conn, "text[]", et.TextArray(["a", None])) == ["a", None]
    assert await rt(conn, "jsonb[]", et.JSONBArray([et.JSONB({"a": 1}), {"b": 2}])) == \
        [{"a": 1}, {"b": 2}]
    assert await rt(conn, "int2[]", et.Int16Array([et.SmallInt(1), 2])) == [1, 2]
    assert await rt(conn, "uuid[]", et.UUIDArray([uuid.UUID(int=1)])) == [uuid.UUID(int=1)]
    assert await rt(conn, "interval[]", et.IntervalArray([dt.timedelta(1)])) == [dt.timedelta(1)]


async def test_wrappers_for_domains(conn):
    # A domain's OID has no binary codec: the wrapper's text form is sent.
    await conn.execute(
        "DO $$ BEGIN CREATE DOMAIN psqlpy_posint AS int4 CHECK (VALUE > 0); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    await conn.execute(
        "DO $$ BEGIN CREATE DOMAIN psqlpy_pt AS point; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    assert await rt(conn, "psqlpy_posint", et.Integer(5)) == 5
    assert await rt(conn, "psqlpy_posint", 6) == 6
    assert await rt(conn, "psqlpy_pt", et.Point((1, 2))) == (1.0, 2.0)
    with pytest.raises(exc.DatabaseError):
        await rt(conn, "psqlpy_posint", et.Integer(-1))


# --------------------------------------------------------------------------- enums

class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class StrMood(str, enum.Enum):
    OK = "ok"


async def _create_mood(conn):
    await conn.execute(
        "DO $$ BEGIN CREATE TYPE psqlpy_mood AS ENUM ('happy', 'sad', 'ok'); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$")


async def test_enum_type(conn):
    await _create_mood(conn)
    assert await rt(conn, "psqlpy_mood", "happy") == "happy"
    assert await rt(conn, "psqlpy_mood", Mood.SAD) == "sad"
    assert await rt(conn, "psqlpy_mood", StrMood.OK) == "ok"
    assert await conn.fetch_val("SELECT 'sad'::psqlpy_mood") == "sad"
    assert await rt(conn, "text", Mood.HAPPY) == "happy"
    assert await rt(conn, "varchar", Mood.HAPPY) == "happy"
    assert await conn.fetch_val("SELECT $1::psqlpy_mood = 'happy'", [Mood.HAPPY]) is True
    # arrays of a PostgreSQL enum: introspected, decoded to lists of str
    assert await rt(conn, "psqlpy_mood[]", [Mood.HAPPY, None, "sad"]) == ["happy", None, "sad"]
    assert await rt(conn, "text[]", [Mood.HAPPY, StrMood.OK]) == ["happy", "ok"]
    with pytest.raises(exc.DatabaseError):
        await rt(conn, "psqlpy_mood", "angry")


async def test_enum_in_table(conn):
    await _create_mood(conn)
    await conn.execute("CREATE TEMP TABLE psqlpy_moods (id int, m psqlpy_mood)")
    await conn.execute("INSERT INTO psqlpy_moods VALUES ($1, $2), ($3, $4)",
                       [1, Mood.HAPPY, 2, "sad"])
    res = await conn.execute("SELECT m FROM psqlpy_moods WHERE m = $1", [Mood.HAPPY])
    assert res.result() == [{"m": "happy"}]
    assert await conn.fetch_val("SELECT count(*) FROM psqlpy_moods") == 2


async def test_composites(conn):
    # an anonymous record stays text; a named composite decodes to a dict
    # (tests/test_user_types.py has the rest)
    assert await conn.fetch_val("SELECT ROW(1, 'a b', NULL)") == '(1,"a b",)'
    await conn.execute(
        "DO $$ BEGIN CREATE TYPE psqlpy_pair AS (a int, b text); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    assert await conn.fetch_val("SELECT ROW(2, 'x')::psqlpy_pair") == {"a": 2, "b": "x"}
    assert await rt(conn, "psqlpy_pair", "(3,y)") == {"a": 3, "b": "y"}
    assert await conn.fetch_val("SELECT ($1::psqlpy_pair).b", ["(3,y)"]) == "y"


# --------------------------------------------------------------------------- arrays

async def test_arrays_nulls_and_2d(conn):
    assert await rt(conn, "int4[]", [1, None, 3]) == [1, None, 3]
    assert await rt(conn, "int8[]", [[1, 2], [None, 4]]) == [[1, 2], [None, 4]]
    assert await rt(conn, "text[]", [["a", None], ["c", "d"]]) == [["a", None], ["c", "d"]]
    assert await rt(conn, "int4[]", []) == []
    assert await conn.fetch_val("SELECT '{{1,2},{3,NULL}}'::int4[]") == [[1, 2], [3, None]]
    assert await conn.fetch_val("SELECT '[0:1]={7,8}'::int4[]") == [7, 8]
    assert await rt(conn, "date[]", ["2024-01-01", None]) == [dt.date(2024, 1, 1), None]
    got = await rt(conn, "numeric[]", [[Decimal("1.5")], [Decimal("NaN")]])
    assert got[0] == [Decimal("1.5")] and got[1][0].is_nan()
    got = await rt(conn, "numeric[]", [[Decimal("1.5")], [None]])
    assert got == [[Decimal("1.5")], [None]]


# --------------------------------------------------------------------------- timestamptz

async def test_timestamptz_with_non_utc_session(conn):
    await conn.execute("SET TimeZone = 'Asia/Kolkata'")
    aware = dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert await rt(conn, "timestamptz", aware) == aware
    assert await conn.fetch_val("SELECT $1::timestamptz::text", [aware]) == "2024-01-01 17:30:00+05:30"
    got = await conn.fetch_val("SELECT '2024-01-01 12:00:00'::timestamptz")
    assert got == dt.datetime(2024, 1, 1, 6, 30, tzinfo=UTC)
    ist = dt.datetime(2024, 1, 1, 12, 0, tzinfo=IST)
    assert await rt(conn, "timestamptz", ist) == ist
    naive = dt.datetime(2024, 1, 1, 12, 0)
    assert await rt(conn, "timestamp", naive) == naive
    assert await conn.fetch_val("SELECT $1::timestamp::text", [naive]) == "2024-01-01 12:00:00"
    # a naive datetime for timestamptz is taken as UTC (not the session zone)
    assert await rt(conn, "timestamptz", naive) == naive.replace(tzinfo=UTC)
    assert await conn.fetch_val("SELECT $1::timestamptz::timestamp", [aware]) == \
        dt.datetime(2024, 1, 1, 17, 30)


async def test_infinities(conn):
    assert await conn.fetch_val("SELECT 'infinity'::date") == dt.date.max
    assert await conn.fetch_val("SELECT '-infinity'::date") == dt.date.min
    assert await conn.fetch_val("SELECT $1::date::text", [dt.date.max]) == "infinity"
    assert await conn.fetch_val("SELECT 'infinity'::timestamp") == dt.datetime.max
    assert await conn.fetch_val("SELECT $1::timestamptz::text", [dt.datetime.min]) == "-infinity"
    assert (await conn.fetch_val("SELECT 'NaN'::numeric")).is_nan()
    assert math.isnan(await conn.fetch_val("SELECT 'NaN'::float8"))
    assert await conn.fetch_val("SELECT '-Infinity'::float8") == -math.inf


# --------------------------------------------------------------------------- properties
#
# One connection per event-loop kind for the whole module, driven with
# run_until_complete so hypothesis stays synchronous.

@pytest.fixture(scope="module", params=sorted(LOOP_FACTORIES))
def sync_conn(request, pg_cluster):
    loop = LOOP_FACTORIES[request.param]()
    conn = loop.run_until_complete(psqlpy.connect(dsn=pg_cluster.dsn()))
    loop.run_until_complete(conn.execute("SET TimeZone = 'Asia/Kolkata'"))

    def run(sql, params=None):
        return loop.run_until_complete(conn.fetch_val(sql, params))

    try:
        yield run
    finally:
        loop.run_until_complete(conn.__aexit__(None, None, None))
        loop.close()


PROPS = settings(max_examples=50, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
text_st = st.text(st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00"))
json_scalar = st.none() | st.booleans() | st.integers(-2**53, 2**53) | text_st
json_st = st.recursive(json_scalar, lambda c: st.lists(c, max_size=4)
                       | st.dictionaries(text_st, c, max_size=4), max_leaves=12)


def same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, Decimal) and a.is_nan():
        return isinstance(b, Decimal) and b.is_nan()
    return a == b and type(a) is type(b)


@PROPS
@given(st.integers(-2**15, 2**15 - 1), st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1))
def test_prop_ints(sync_conn, a, b, c):
    assert sync_conn("SELECT $1::int2", [a]) == a
    assert sync_conn("SELECT $1::int4", [b]) == b
    assert sync_conn("SELECT $1::int8", [c]) == c
    assert sync_conn("SELECT $1::int8::text", [c]) == str(c)


@PROPS
@given(st.floats(), st.floats(width=32))
def test_prop_floats(sync_conn, a, b):
    got = sync_conn("SELECT $1::float8", [a])
    assert same(a, got) and (math.isnan(a) or math.copysign(1, a) == math.copysign(1, got))
    assert same(b, sync_conn("SELECT $1::float4", [b]))


@PROPS
@given(st.decimals(allow_nan=True, allow_infinity=True)
       .filter(lambda d: not d.is_snan() and (not d.is_finite() or abs(d.adjusted()) < 1000)))
def test_prop_decimal(sync_conn, d):
    got = sync_conn("SELECT $1::numeric", [d])
    assert same(d, got)
    if d.is_finite():
        assert Decimal(sync_conn("SELECT $1::numeric::text", [d])) == d


@PROPS
@given(text_st, st.binary())
def test_prop_text_bytea(sync_conn, s, b):
    assert sync_conn("SELECT $1::text", [s]) == s
    assert sync_conn("SELECT $1::varchar", [s]) == s
    assert sync_conn("SELECT length($1::text)", [s]) == len(s)
    assert sync_conn("SELECT $1::bytea", [b]) == b
    assert sync_conn("SELECT length($1::bytea)", [b]) == len(b)


@PROPS
@given(st.dates())
def test_prop_dates(sync_conn, d):
    assert sync_conn("SELECT $1::date", [d]) == d
    text = sync_conn("SELECT $1::date::text", [d])
    if d == dt.date.max:
        assert text == "infinity"
    elif d == dt.date.min:
        assert text == "-infinity"
    else:
        assert sync_conn("SELECT $1::text::date", [text]) == d


@PROPS
@given(st.datetimes(), st.datetimes(timezones=st.sampled_from(
    [UTC, IST, dt.timezone(dt.timedelta(hours=-7)), dt.timezone(dt.timedelta(hours=13, minutes=45))])))
def test_prop_timestamps(sync_conn, naive, aware):
    assert sync_conn("SELECT $1::timestamp", [naive]) == naive
    try:
        aware.astimezone(UTC)
    except OverflowError:
        # Year 1 east of UTC is a BC instant: the server keeps it, Python's
        # datetime cannot hold it on the way back (test_timestamptz_before_year_1).
        assume(False)
    got = sync_conn("SELECT $1::timestamptz", [aware])
    assert got == aware and got.tzinfo == UTC
    if 1950 <= aware.year <= 9990:
        # the instant the server saw, rendered in the session zone (+05:30
        # since 1945; earlier years have historical offsets)
        assert sync_conn("SELECT $1::timestamptz::timestamp", [aware]) == \
            aware.astimezone(IST).replace(tzinfo=None)


@PROPS
@given(st.timedeltas(), st.uuids())
def test_prop_interval_uuid(sync_conn, td, u):
    assert sync_conn("SELECT $1::interval", [td]) == td
    assert sync_conn("SELECT $1::uuid", [u]) == u
    assert sync_conn("SELECT $1::uuid::text", [u]) == str(u)


@PROPS
@given(json_st)
def test_prop_json(sync_conn, v):
    assert sync_conn("SELECT $1::jsonb", [json.dumps(v)]) == v
    if isinstance(v, (dict, list)):
        assert sync_conn("SELECT $1::jsonb", [v]) == v
        assert sync_conn("SELECT $1::json", [v]) == v
    assert sync_conn("SELECT $1::jsonb", [et.JSONB(v)]) == v


@PROPS
@given(st.lists(st.none() | st.integers(-2**31, 2**31 - 1), max_size=8),
       st.lists(st.none() | text_st, max_size=6),
       st.integers(1, 3), st.integers(1, 3))
def test_prop_arrays(sync_conn, ints, texts, rows, cols):
    assert sync_conn("SELECT $1::int4[]", [ints]) == ints
    assert sync_conn("SELECT $1::int8[]", [ints]) == ints
    assert sync_conn("SELECT $1::text[]", [texts]) == texts
    grid = [[(ints + [None] * 9)[r * cols + c] for c in range(cols)] for r in range(rows)]
    assert sync_conn("SELECT $1::int4[]", [grid]) == grid


@PROPS
@given(st.ip_addresses(), st.integers(0, 128))
def test_prop_inet(sync_conn, addr, bits):
    assert sync_conn("SELECT $1::inet", [addr]) == addr
    iface = ipaddress.ip_interface(f"{addr}/{min(bits, addr.max_prefixlen)}")
    got = sync_conn("SELECT $1::inet", [iface])
    assert str(got) == str(iface).replace(f"/{iface.max_prefixlen}", "")
    assert sync_conn("SELECT $1::cidr", [iface.network]) == iface.network
    assert ipaddress.ip_interface(sync_conn("SELECT $1::inet::text", [iface])) == iface


async def test_unprepared_path_wrappers_and_enums(conn):
    # prepared=False sends most parameters with OID 0 in text format: the
    # wrappers' and enum members' text forms must be what the server parses.
    await _create_mood(conn)
    q = conn.fetch_val
    assert await q("SELECT $1::point", [et.Point((1, 2))], prepared=False) == (1.0, 2.0)
    assert await q("SELECT $1::path", [et.Path([(0, 0), (1, 1)])], prepared=False) == \
        [(0.0, 0.0), (1.0, 1.0)]
    assert await q("SELECT $1::circle", [et.Circle((1, 2, 3))], prepared=False) == ((1.0, 2.0), 3.0)
    assert await q("SELECT $1::polygon", [et.Polygon([(0, 0), (1, 1), (1, 0)])], prepared=False) == \
        ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0))
    assert await q("SELECT $1::macaddr", [et.MacAddr6("08002b010203")], prepared=False) == \
        "08:00:2B:01:02:03"
    assert await q("SELECT $1::money", [et.Money(150)], prepared=False) == 150
    assert await q("SELECT $1::money[]", [et.MoneyArray([et.Money(1), 250, None])],
                   prepared=False) == [1, 250, None]
    assert await q("SELECT $1::psqlpy_mood", [Mood.SAD], prepared=False) == "sad"
    assert await q("SELECT $1::inet", [ipaddress.IPv4Interface("10.0.0.1/8")], prepared=False) == \
        ipaddress.IPv4Interface("10.0.0.1/8")


async def test_timestamptz_offsets_are_per_value_across_timezones(conn):
    # The encoder remembers the last fixed-offset timezone's offset: values in
    # other zones, DST-dependent zones and naive values in between must each
    # get their own offset.
    import zoneinfo
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    plus2 = dt.timezone(dt.timedelta(hours=2))
    minus5 = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    values = [
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 1, 1, 12, tzinfo=plus2),
        dt.datetime(2024, 1, 1, 12, tzinfo=paris),     # +01:00 in winter
        dt.datetime(2024, 7, 1, 12, tzinfo=paris),     # +02:00 in summer
        dt.datetime(2024, 1, 1, 12, tzinfo=plus2),
        dt.datetime(2024, 1, 1, 12, tzinfo=minus5),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # equal, not same
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc),
    ]
    await conn.execute("CREATE TEMP TABLE tz_mix (i int4, t timestamptz)")
    await conn.execute_many("INSERT INTO tz_mix VALUES ($1, $2)", [[i, v] for i, v in enumerate(values)])
    got = [r["t"] for r in (await conn.fetch("SELECT t FROM tz_mix ORDER BY i")).result()]
    assert got == values                       # aware datetimes compare as instants
    utc = [v.astimezone(dt.timezone.utc).replace(tzinfo=None) for v in values]
    texts = (await conn.fetch(
        "SELECT (t AT TIME ZONE 'UTC') AS u FROM tz_mix ORDER BY i")).result()
    assert [r["u"] for r in texts] == utc
    assert utc[2].hour == 11 and utc[3].hour == 10 and utc[5] == dt.datetime(2024, 1, 1, 17, 30)


async def test_timestamptz_before_year_1(conn):
    # datetime.min east of UTC is a real instant in 1 BC, not -infinity; it is
    # stored as such and comes back as a typed error, never as a wrong value.
    ist_min = dt.datetime.min.replace(tzinfo=IST)
    assert await conn.fetch_val("SELECT $1::timestamptz = '0001-01-01 00:00+05:30'", [ist_min]) is True
    assert await conn.fetch_val("SELECT isfinite($1::timestamptz)", [ist_min]) is True
    with pytest.raises(exc.RustToPyValueMappingError):
        await conn.fetch_val("SELECT $1::timestamptz", [ist_min])
    # As UTC (or naive) they still stand for -infinity / infinity.
    assert await conn.fetch_val("SELECT $1::timestamptz::text", [dt.datetime.min.replace(tzinfo=UTC)]) == "-infinity"
    assert await conn.fetch_val("SELECT $1::timestamptz::text", [dt.datetime.max.replace(tzinfo=UTC)]) == "infinity"
    plus = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert await conn.fetch_val("SELECT $1::timestamptz", [plus]) == plus

