"""Bad input from callers: each case ends in a typed ``psqlpy.exceptions`` error
(or a correct round trip) and the connection stays usable afterwards.

Cases the driver gets wrong today are ``xfail(strict=True)`` with the cause in
the reason; they turn into failures (XPASS) once fixed, so the marker goes.
"""
from __future__ import annotations

import sys

import pytest

import psqlpy
from psqlpy import exceptions as exc

pytestmark = pytest.mark.asyncio

MB = 1024 * 1024


@pytest.fixture
async def conn(dsn):
    # async with: waits for the socket to close (a bare close() would leave the
    # transport closing when the test's loop ends -> ResourceWarning under uvloop)
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def _still_usable(conn):
    assert await conn.fetch_val("SELECT $1::int4 + 1", [41]) == 42
    assert not await conn.in_transaction()


async def _expect_typed(conn, query, params, cls=exc.Error, match=None):
    with pytest.raises(cls, match=match) as info:
        await conn.execute(query, params)
    # never a bare builtin: everything derives from psqlpy.exceptions.Error
    assert isinstance(info.value, exc.Error)
    await _still_usable(conn)
    return info.value


# ---- parameters that cannot be encoded --------------------------------------------

@pytest.mark.parametrize(
    "query, value",
    [
        ("SELECT $1::int4", object()),
        ("SELECT $1::int4", {1}),
        ("SELECT $1::int8", 1.5),
        ("SELECT $1::int4", float("nan")),
        ("SELECT $1::text", b"\xff\xfe"),
        ("SELECT $1::uuid", 12),
        ("SELECT $1::bool", object()),
        ("SELECT $1::date", object()),
        ("SELECT $1::int4[]", [[1, 2], [3]]),        # ragged
        ("SELECT $1::jsonb", {"k": object()}),      # not JSON-serialisable
        ("SELECT $1::numeric", object()),
    ],
    ids=["object-int4", "set-int4", "float-int8", "nan-int4", "bytes-text", "int-uuid",
         "object-bool", "object-date", "ragged-array", "object-in-jsonb", "object-numeric"],
)
async def test_unencodable_parameter(conn, query, value):
    e = await _expect_typed(conn, query, [value], exc.PyToRustValueMappingError)
    assert "$1" in str(e) or "parameter" in str(e)


# ---- wrong parameter counts ------------------------------------------------------

@pytest.mark.parametrize(
    "query, params",
    [
        ("SELECT $1::int4, $2::int4", [1]),
        ("SELECT $1::int4", [1, 2]),
        ("SELECT $1::int4", None),
        ("SELECT 1", [1]),
        ("SELECT $1::int4", []),
    ],
    ids=["too-few", "too-many", "none-for-one", "one-for-none", "empty-for-one"],
)
async def test_wrong_parameter_count(conn, query, params):
    await _expect_typed(conn, query, params, exc.PyToRustValueMappingError)


async def test_wrong_parameter_count_in_execute_many(conn):
    await conn.execute("CREATE TEMP TABLE em (a int4, b int4)")
    with pytest.raises(exc.PyToRustValueMappingError):
        await conn.execute_many("INSERT INTO em VALUES ($1, $2)", [[1, 2], [3]])
    await _still_usable(conn)
    # all-or-nothing within one batch: the good row was not inserted either
    assert await conn.fetch_val("SELECT count(*) FROM em") == 0


async def test_missing_named_parameter(conn):
    await _expect_typed(conn, "SELECT $(a)p::int4, $(b)p::int4", {"a": 1},
                        exc.PyToRustValueMappingError)


async def test_string_as_parameter_list(conn):
    await _expect_typed(conn, "SELECT $1::text", "abc", exc.PyToRustValueMappingError)


@pytest.mark.parametrize("params", [5, (i for i in [1])], ids=["int", "generator"])
async def test_non_sequence_parameters(conn, params):
    await _expect_typed(conn, "SELECT $1::int4", params, exc.PyToRustValueMappingError)


# ---- out-of-range integers ----------------------------------------------------------

@pytest.mark.parametrize(
    "pgtype, bad, edge",
    [
        ("int2", 2**15, 2**15 - 1), ("int2", -(2**15) - 1, -(2**15)),
        ("int4", 2**31, 2**31 - 1), ("int4", -(2**31) - 1, -(2**31)),
        ("int8", 2**63, 2**63 - 1), ("int8", -(2**63) - 1, -(2**63)),
        ("int8", 10**100, 0), ("oid", -1, 2**32 - 1), ("oid", 2**32, 0),
    ],
)
async def test_out_of_range_integers(conn, pgtype, bad, edge):
    await _expect_typed(conn, f"SELECT $1::{pgtype}", [bad], exc.PyToRustValueMappingError,
                        match="out of range|cannot encode")
    # the boundary value itself round-trips
    assert await conn.fetch_val(f"SELECT $1::{pgtype}", [edge]) == edge


async def test_out_of_range_in_array(conn):
    await _expect_typed(conn, "SELECT $1::int4[]", [[1, 2**40]], exc.PyToRustValueMappingError)


# ---- text that UTF-8 cannot carry, NUL bytes -------------------------------------------

@pytest.mark.parametrize(
    "query, value",
    [
        ("SELECT $1::text", "\ud800"),
        ("SELECT $1::text", "ok\udfffok"),
        ("SELECT $1::varchar", "\ud800"),
        ("SELECT $1::jsonb", {"k": "\ud800"}),
        ("SELECT $1::text[]", ["fine", "\ud800"]),
        ("SELECT $1::text", "a\x00b"),
        ("SELECT $1::varchar", "\x00"),
        ("SELECT $1::text[]", ["a", "b\x00"]),
    ],
    ids=["surrogate-text", "surrogate-mid", "surrogate-varchar", "surrogate-jsonb",
         "surrogate-array", "nul-text", "nul-varchar", "nul-array"],
)
async def test_text_parameter_utf8_and_nul(conn, query, value):
    await _expect_typed(conn, query, [value], exc.PyToRustValueMappingError)


async def test_nul_in_jsonb_is_a_server_error(conn):
    # JSON escapes it as \u0000, which the server refuses for jsonb: a typed SQLSTATE error.
    e = await _expect_typed(conn, "SELECT $1::jsonb", [{"k": "a\x00b"}], exc.DatabaseError)
    assert getattr(e, "sqlstate", None) == "22P05"


async def test_nul_in_json_round_trips(conn):
    # json (not jsonb) keeps the text as given, escape included
    assert await conn.fetch_val("SELECT $1::json", [{"k": "a\x00b"}]) == {"k": "a\x00b"}


async def test_nul_in_bytea_round_trips(conn):
    v = b"\x00\x01\x00\xff" * 100
    assert await conn.fetch_val("SELECT $1::bytea", [v]) == v


@pytest.mark.parametrize("sql", ["SELECT 'a\x00b'", "SELECT '\ud800'"], ids=["nul", "surrogate"])
async def test_bad_query_text(conn, sql):
    await _expect_typed(conn, sql, None, exc.InterfaceError)


async def test_bad_query_text_leaves_connection_usable(conn):
    for sql in ("SELECT 'a\x00b'", "SELECT '\ud800'"):
        with pytest.raises(Exception):
            await conn.execute(sql)
        await _still_usable(conn)
        with pytest.raises(Exception):
            await conn.execute_batch(sql)
        await _still_usable(conn)


def _nesting(value) -> int:
    depth = 0
    while isinstance(value, list):
        assert len(value) <= 1
        depth += 1
        value = value[0] if value else None
    return depth


@pytest.mark.parametrize("pgtype", ["json", "jsonb"])
async def test_deeply_nested_json_from_server(conn, pgtype):
    # 5000 levels: past the json decoder's recursion limit on Python 3.10-3.12 (a
    # typed error), within 3.13's (decoded).  Either way no crash, no bare
    # RecursionError, and the connection stays usable.
    try:
        value = await conn.fetch_val(f"SELECT (repeat('[', 5000) || repeat(']', 5000))::{pgtype}")
    except exc.Error as e:
        assert isinstance(e, exc.RustToPyValueMappingError) and "nested too deeply" in str(e)
        assert sys.version_info < (3, 13)
    else:
        assert _nesting(value) == 5000
    await _still_usable(conn)


# ---- huge values ------------------------------------------------------------------------

async def test_50mb_bytea_round_trip(conn):
    v = bytes(range(256)) * (50 * MB // 256)
    got = await conn.fetch_val("SELECT $1::bytea", [v])
    assert len(got) == len(v) and got == v
    assert await conn.fetch_val("SELECT length($1::bytea)", [v]) == 50 * MB
    await _still_usable(conn)


async def test_50mb_text_round_trip(conn):
    v = ("psqlpy-é\u20ac" * (50 * MB // 12))[: 50 * MB // 2]
    got = await conn.fetch_val("SELECT $1::text", [v])
    assert got == v
    await _still_usable(conn)


async def test_over_1gb_is_refused_by_server_not_hang(conn):
    # The server's own limit for one value is 1 GB; a value generated server-side
    # that is bigger fails with a typed SQLSTATE error, and we stay in sync.
    await _expect_typed(conn, "SELECT repeat('x', 1024*1024*1024 + 1)", None, exc.DatabaseError)


async def test_many_parameters(conn):
    # 65535 is the protocol maximum for the Int16 parameter count
    n = 1000
    sql = "SELECT " + " + ".join(f"${i}::int4" for i in range(1, n + 1))
    assert await conn.fetch_val(sql, list(range(n))) == sum(range(n))
    await _still_usable(conn)


async def test_too_many_parameters(conn):
    sql = "SELECT " + ", ".join(f"${i}::int4" for i in range(1, 70000))
    with pytest.raises(exc.Error):
        await conn.execute(sql, list(range(69999)))
    await _still_usable(conn)
