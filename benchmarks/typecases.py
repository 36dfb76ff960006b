"""The per-type benchmark's cases: one PostgreSQL type each, its rows and their values.

Standard library only (every driver's virtualenv imports it).  Each case gives the SQL
that computes row ``g`` (g = 1..N) of a one-column table, and ``value(g)``: the same
value as the canonical Python value (what ours returns; drivers' adapters map theirs to
it with ``normalize``), used both to check what a driver decoded and as the parameter it
encodes.  ``cmp`` compares an encoded row with the decoded table's on the server
(``e.v`` and ``d.v``), for types whose ``=`` is not equality (box compares areas) or
that have none (json, point).
"""
from __future__ import annotations

import datetime
import decimal
import hashlib
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any, Callable

UTC = datetime.timezone.utc
D = decimal.Decimal


def _md5(g: int) -> str:
    return hashlib.md5(str(g).encode()).hexdigest()


def _path(g: int):
    pts = [(float(g), 0.0), (g + 1.0, 1.0), (g + 2.0, 0.5)]
    return tuple(pts + [pts[0]]) if g % 2 else pts


@dataclass(frozen=True)
class Case:
    name: str
    sql_type: str
    expr: str                       # SQL of row g
    value: Callable[[int], Any]     # the canonical Python value of row g
    cmp: str = "e.v = d.v"          # the server's check of an encoded row

    def table(self, prefix: str) -> str:
        return f"{prefix}_{self.name}"


COMPOSITE_TYPE = "bench_pair"
ENUM_TYPE = "bench_mood"
# the types the cases use, made once per database (each statement on its own: hstore's
# extension may be missing, which only its case notes)
TYPES_DDL = [
    f"DO $$ BEGIN CREATE TYPE {COMPOSITE_TYPE} AS (a int4, b text); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    f"DO $$ BEGIN CREATE TYPE {ENUM_TYPE} AS ENUM ('sad', 'ok', 'happy'); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    "CREATE EXTENSION IF NOT EXISTS hstore",
]
TEXT_CMP = "e.v::text = d.v::text"

# Ranges have no common Python type across drivers (psqlpy.Range, asyncpg.Range,
# psycopg's Range): the canonical value is (lower, upper, lower_inc, upper_inc, isempty),
# a multirange a list of those; each driver maps its own with range_key.
RANGE_CASES = {"int4range", "tstzrange"}
MULTIRANGE_CASES = {"int4multirange"}


def range_key(r) -> tuple:
    """Any driver's range object as the canonical tuple (they share these attributes)."""
    return (r.lower, r.upper, r.lower_inc, r.upper_inc, r.isempty)


def _r(lower, upper) -> tuple:
    return (lower, upper, True, False, False)


_T0 = "timestamptz '2000-01-01 00:00+00' + g * interval '1 minute'"

CASES: list[Case] = [
    Case("bool", "bool", "g % 2 = 0", lambda g: g % 2 == 0),
    Case("int2", "int2", "(g % 30000)::int2", lambda g: g % 30000),
    Case("int4", "int4", "g * 7", lambda g: g * 7),
    Case("int8", "int8", "g::int8 * 1000003", lambda g: g * 1000003),
    Case("float4", "float4", "(g::float8 / 8)::float4", lambda g: g / 8),
    Case("float8", "float8", "g::float8 / 3", lambda g: g / 3),
    Case("numeric_small", "numeric(10, 2)", "(g::numeric / 100)::numeric(10, 2)",
         lambda g: (D(g) / 100).quantize(D("0.01"))),
    Case("numeric_big", "numeric", "g::numeric * 1e30 + 0.123456789012345678",
         lambda g: D(f"{g}{'0' * 30}.123456789012345678")),
    Case("text_8", "text", "left(md5(g::text), 8)", lambda g: _md5(g)[:8]),
    Case("text_128", "text", "repeat(md5(g::text), 4)", lambda g: _md5(g) * 4),
    Case("text_1k", "text", "repeat(md5(g::text), 32)", lambda g: _md5(g) * 32),
    Case("bytea_1k", "bytea", "decode(repeat(md5(g::text), 64), 'hex')",
         lambda g: bytes.fromhex(_md5(g) * 64)),
    Case("date", "date", "date '2000-01-01' + g", lambda g: datetime.date(2000, 1, 1)
         + datetime.timedelta(days=g)),
    Case("time", "time", "time '00:00' + g * interval '7 seconds 3 milliseconds'",
         lambda g: (datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=7 * g,
                                                                       milliseconds=3 * g)).time()),
    Case("timestamp", "timestamp", "timestamp '2000-01-01' + g * interval '1 minute 1 microsecond'",
         lambda g: datetime.datetime(2000, 1, 1) + datetime.timedelta(minutes=g, microseconds=g)),
    Case("timestamptz", "timestamptz",
         "timestamptz '2000-01-01 00:00+00' + g * interval '1 minute 1 microsecond'",
         lambda g: datetime.datetime(2000, 1, 1, tzinfo=UTC)
         + datetime.timedelta(minutes=g, microseconds=g)),
    Case("interval", "interval", "g * interval '1 second' + (g % 10) * interval '1 day'",
         lambda g: datetime.timedelta(days=g % 10, seconds=g)),
    Case("uuid", "uuid", "md5(g::text)::uuid", lambda g: uuid.UUID(_md5(g))),
    Case("json", "json", "json_build_object('id', g, 'name', 'n' || g)",
         lambda g: {"id": g, "name": f"n{g}"}, "e.v::jsonb = d.v::jsonb"),
    Case("jsonb", "jsonb", "jsonb_build_object('id', g, 'name', 'n' || g)",
         lambda g: {"id": g, "name": f"n{g}"}),
    Case("inet", "inet", "'10.0.0.0'::inet + g", lambda g: ipaddress.IPv4Address(0x0A000000 + g)),
    Case("cidr", "cidr", "set_masklen('10.0.0.0'::cidr + g * 256, 24)",
         lambda g: ipaddress.IPv4Network((0x0A000000 + g * 256, 24))),
    Case("macaddr", "macaddr", "('08:00:2b:' || lpad(to_hex(g / 256 % 256), 2, '0') || ':'"
         " || lpad(to_hex(g % 256), 2, '0') || ':01')::macaddr",
         lambda g: f"08:00:2B:{g // 256 % 256:02X}:{g % 256:02X}:01"),
    Case("int4_array", "int4[]", "ARRAY[g, g + 1, g + 2, g + 3, g + 4]",
         lambda g: [g, g + 1, g + 2, g + 3, g + 4]),
    Case("text_array", "text[]", "ARRAY['a' || g, 'b' || g, 'c' || g]",
         lambda g: [f"a{g}", f"b{g}", f"c{g}"]),
    Case("point", "point", "point(g, g / 2.0)", lambda g: (float(g), g / 2), "e.v ~= d.v"),
    Case("box", "box", "box(point(g + 1, g + 2), point(g, g))",
         lambda g: ((g + 1.0, g + 2.0), (float(g), float(g))), "e.v ~= d.v"),
    Case("lseg", "lseg", "lseg(point(g, 0), point(g + 1, 1))",
         lambda g: [(float(g), 0.0), (g + 1.0, 1.0)], TEXT_CMP),
    Case("path", "path",
         "(CASE WHEN g % 2 = 1 THEN '(' ELSE '[' END || '(' || g || ',0),(' || (g + 1) || ',1),('"
         " || (g + 2) || ',0.5)' || CASE WHEN g % 2 = 1 THEN ',(' || g || ',0))' ELSE ']' END)::path",
         _path, TEXT_CMP),
    Case("polygon", "polygon", "('((' || g || ',0),(' || (g + 1) || ',1),(' || g || ',2))')::polygon",
         lambda g: ((float(g), 0.0), (g + 1.0, 1.0), (float(g), 2.0)), "e.v ~= d.v"),
    Case("line", "line", "('{1,-1,' || -g || '}')::line",
         lambda g: (1.0, -1.0, -float(g)), TEXT_CMP),
    Case("circle", "circle", "circle(point(g, g), 2)", lambda g: ((float(g), float(g)), 2.0),
         "e.v ~= d.v"),
    Case("composite", COMPOSITE_TYPE, f"ROW(g, 'n' || g)::{COMPOSITE_TYPE}",
         lambda g: {"a": g, "b": f"n{g}"}),
    Case("enum", ENUM_TYPE, f"(ARRAY['sad', 'ok', 'happy']::{ENUM_TYPE}[])[g % 3 + 1]",
         lambda g: ("sad", "ok", "happy")[g % 3]),
    Case("int4range", "int4range", "int4range(g, g + 10)", lambda g: _r(g, g + 10)),
    Case("tstzrange", "tstzrange", f"tstzrange({_T0}, {_T0} + interval '1 hour')",
         lambda g: _r(datetime.datetime(2000, 1, 1, tzinfo=UTC) + datetime.timedelta(minutes=g),
                      datetime.datetime(2000, 1, 1, 1, tzinfo=UTC) + datetime.timedelta(minutes=g))),
    Case("int4multirange", "int4multirange", "int4multirange(int4range(g, g + 2), int4range(g + 5, g + 9))",
         lambda g: [_r(g, g + 2), _r(g + 5, g + 9)]),
    Case("hstore", "hstore", "hstore(ARRAY['id', 'name'], ARRAY[g::text, 'n' || g])",
         lambda g: {"id": str(g), "name": f"n{g}"}),
]

BY_NAME = {c.name: c for c in CASES}


def canonical_path(points) -> Any:
    """A path as the canonical value: a tuple when its first point equals its last."""
    pts = [tuple(float(x) for x in p) for p in points]
    return tuple(pts) if pts and pts[0] == pts[-1] else pts
