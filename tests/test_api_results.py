"""Conformance: QueryResult, SingleQueryResult, Record, row_factories (API.md)."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from psqlpy import Connection, QueryResult, Record, SingleQueryResult, connect
from psqlpy.exceptions import RustToPyValueMappingError
from psqlpy.row_factories import class_row, tuple_row

Q = "SELECT 1 AS a, 'x'::text AS b, NULL::int AS c UNION ALL SELECT 2, 'y', 3 ORDER BY a"


@pytest.fixture
async def conn(dsn: str) -> Any:
    c = await connect(dsn=dsn)
    async with c:
        yield c


@dataclasses.dataclass
class Row:
    a: int
    b: str
    c: int | None


async def test_query_result(conn: Connection) -> None:
    res = await conn.execute(Q)
    assert isinstance(res, QueryResult)
    assert res.result() == [{"a": 1, "b": "x", "c": None}, {"a": 2, "b": "y", "c": 3}]
    assert res.result(as_tuple=True) == [(1, "x", None), (2, "y", 3)]
    assert res.result(as_tuple=False) == res.result()
    # a custom decoder gets the column's wire bytes, as on the reference
    dec = res.result(custom_decoders={"b": lambda v: v.decode().upper()})
    assert [r["b"] for r in dec] == ["X", "Y"]
    assert res.result(custom_decoders={"b": bytes.upper}, as_tuple=True)[0] == (1, b"X", None)
    assert res.as_class(Row) == [Row(1, "x", None), Row(2, "y", 3)]
    # (column, value) pairs, as the reference's tuple_row gives (psqlpy-sqlalchemy unpacks them)
    assert res.row_factory(tuple_row) == [
        (("a", 1), ("b", "x"), ("c", None)), (("a", 2), ("b", "y"), ("c", 3))]
    assert res.row_factory(class_row(Row)) == [Row(1, "x", None), Row(2, "y", 3)]
    assert res.row_factory(lambda d: d["a"] * 10) == [10, 20]
    assert res.row_factory(tuple_row, custom_decoders={"a": lambda v: -int.from_bytes(v, "big")}) == [
        (("a", -1), ("b", "x"), ("c", None)), (("a", -2), ("b", "y"), ("c", 3))]
    assert len(res) == 2


@pytest.mark.parametrize("prepared", [True, False])
async def test_custom_decoders_get_wire_bytes(conn: Connection, prepared: bool) -> None:
    # The reference's custom_decoders receive the column's binary wire bytes and
    # are not called for NULL; the same whether the query was prepared or not.
    res = await conn.execute(
        "SELECT 1::int4 AS a, 2::int8 AS b, $1::text AS c, NULL::int4 AS d, 1.5::numeric AS e,"
        " '6f1c3e2a-9a4b-4c55-8f0e-0123456789ab'::uuid AS u, ARRAY[1, 2] AS arr,"
        " 'ok'::text AS untouched", ["x"], prepared=prepared)
    seen = dict.fromkeys(["a", "b", "c", "d", "e", "u", "arr"], lambda v: v)
    row = res.result(custom_decoders=seen)[0]
    assert row == {
        "a": b"\x00\x00\x00\x01", "b": b"\x00" * 7 + b"\x02", "c": b"x", "d": None,
        "e": b"\x00\x02\x00\x00\x00\x00\x00\x01\x00\x01\x13\x88",
        "u": bytes.fromhex("6f1c3e2a9a4b4c558f0e0123456789ab"),
        "arr": bytes.fromhex("00000001" "00000000" "00000017" "00000002" "00000001"
                             "00000004" "00000001" "00000004" "00000002"),
        "untouched": "ok"}
    calls: list[bytes] = []
    res.result(custom_decoders={"d": calls.append})
    assert calls == []
    # a key must be the column's name as the server gives it (lower case unless quoted)
    assert res.result(custom_decoders={"A": lambda v: 0})[0]["a"] == 1
    single = await conn.fetch_row("SELECT 7::int2 AS n", prepared=prepared)
    assert single.result(custom_decoders={"n": lambda v: v}) == {"n": b"\x00\x07"}


async def test_custom_decoders_for_a_type_without_binary_codec(conn: Connection) -> None:
    # tsvector has no binary codec here: its decoder gets the text form's bytes
    res = await conn.execute("SELECT to_tsvector('simple', 'b a') AS t")
    assert res.result(custom_decoders={"t": lambda v: v})[0]["t"] == b"'a':2 'b':1"


async def test_empty_result(conn: Connection) -> None:
    res = await conn.execute("SELECT 1 AS a WHERE false")
    assert res.result() == [] and res.result(as_tuple=True) == []
    assert res.as_class(Row) == [] and res.records() == []


async def test_single_query_result(conn: Connection) -> None:
    row = await conn.fetch_row(Q + " LIMIT 1")  # fetch_row refuses several rows
    assert isinstance(row, SingleQueryResult)
    assert row.result() == {"a": 1, "b": "x", "c": None}
    assert row.result(as_tuple=True) == (1, "x", None)
    assert row.result(custom_decoders={"b": lambda v: v * 2}) == {"a": 1, "b": b"xx", "c": None}
    assert row.as_class(Row) == Row(1, "x", None)
    assert row.row_factory(tuple_row) == (("a", 1), ("b", "x"), ("c", None))
    assert row.row_factory(class_row(Row)) == Row(1, "x", None)


async def test_records(conn: Connection) -> None:
    recs = (await conn.execute("SELECT 1 AS a, 'h' AS b, 3 AS c, 4 AS d")).records()
    assert len(recs) == 1
    r = recs[0]
    assert isinstance(r, Record)
    assert len(r) == 4
    assert r[0] == 1 and r[-1] == 4 and r["b"] == "h"
    assert r[1:3] == ["h", 3] and r[:2] == [1, "h"] and r[::2] == [1, 3]
    assert list(r) == [1, "h", 3, 4]
    assert r.get("a") == 1 and r.get("zz") is None and r.get("zz", 9) == 9
    assert r.get(10) is None
    assert r.keys() == ["a", "b", "c", "d"]
    assert r.values() == [1, "h", 3, 4]
    assert r.items() == [("a", 1), ("b", "h"), ("c", 3), ("d", 4)]
    assert dict(r.items()) == {"a": 1, "b": "h", "c": 3, "d": 4}
    assert "a" in r and "zz" not in r
    with pytest.raises(KeyError):
        r["zz"]
    with pytest.raises(IndexError):
        r[10]
    a, b, c, d = r
    assert (a, b, c, d) == (1, "h", 3, 4)


async def test_records_share_columns(conn: Connection) -> None:
    recs = (await conn.execute("SELECT g AS n FROM generate_series(1, 5) g")).records()
    assert [rec["n"] for rec in recs] == [1, 2, 3, 4, 5]
    assert all(rec.keys() == ["n"] for rec in recs)


def test_row_factories_unit() -> None:
    assert tuple_row({"a": 1, "b": 2}) == (("a", 1), ("b", 2))
    assert tuple_row({}) == ()
    for bad in ([1, 2], None, (("a", 1),)):
        with pytest.raises(RustToPyValueMappingError, match="only dict"):
            tuple_row(bad)  # type: ignore[arg-type]
    assert class_row(Row)({"a": 1, "b": "q", "c": None}) == Row(1, "q", None)


async def test_rows_of_scalars_skip_the_gc_and_dicts_follow_dict_zip(conn: Connection) -> None:
    import gc

    from psqlpy.protocol import rows_to_dicts
    res = await conn.fetch("SELECT 1 AS a, NULL::int AS b, 'x'::text AS c")
    row = getattr(res, "_rows")[0]
    assert not gc.is_tracked(row)          # ints, None, str: no cycle is possible
    res2 = await conn.fetch("SELECT 1 AS a, ARRAY[1, 2] AS b")
    assert gc.is_tracked(getattr(res2, "_rows")[0])    # holds a list
    assert res.result() == [{"a": 1, "b": None, "c": "x"}]
    assert res2.result() == [{"a": 1, "b": [1, 2]}]
    dup = await conn.fetch("SELECT 1 AS x, 2 AS x")
    assert dup.result() == [dict(zip(("x", "x"), (1, 2)))] == [{"x": 2}]
    with pytest.raises(ValueError):
        rows_to_dicts(("a",), [(1, 2)])
