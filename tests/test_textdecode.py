"""Text-format result decoding (unprepared queries): the Cython decoders of the one table
of types (protocol/codecs/textdecode.pyx, text arrays and composites in typecodec.pyx)
against the binary decoders and against the pure-Python reference
(psqlpy/types/_reference.py).

For random values the server renders each one twice in the same query, in binary and as
text (``SELECT v, format('%s', v) FROM unnest($1::T[]) v``: format() renders with the
type's output function, as a text result is; ``v::text`` differs for bool and inet): the
text must decode to exactly what the binary form decodes to, in both implementations.  Hostile text (random, mutated) may
only ever raise ``psqlpy.exceptions.Error`` subclasses.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import math
import os
from decimal import Decimal
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import psqlpy
from psqlpy import protocol as _proto
from psqlpy.exceptions import Error
from psqlpy.types._reference import decode_text

PROPS = settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "40")),
                 deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FUZZ = settings(max_examples=int(os.environ.get("PSQLPY_HYPOTHESIS_EXAMPLES", "300")),
                deadline=None)

UTC = dt.timezone.utc
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
text_st = st.text(st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00"),
                  max_size=12)


@pytest.fixture(scope="module")
def server(pg_cluster):
    """Run SQL on one connection kept for the module (hypothesis stays synchronous)."""
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(psqlpy.connect(dsn=pg_cluster.dsn()))
    loop.run_until_complete(conn.execute_batch(
        "SET TimeZone = 'America/St_Johns'; SET extra_float_digits = 1;"
        "DROP TYPE IF EXISTS td_pair; DROP TYPE IF EXISTS td_mood;"
        "CREATE TYPE td_mood AS ENUM ('a,b', 'q\"x', ' sp', 'NULL', '{b}', 'é');"
        "CREATE TYPE td_pair AS (t text, m td_mood, a int4[], ts timestamptz, tags text[])"))

    def run(sql, params=None, prepared=True):
        res = loop.run_until_complete(conn.execute(sql, params, prepared=prepared))
        return res.result(as_tuple=True)

    try:
        yield run
    finally:
        loop.run_until_complete(conn.__aexit__(None, None, None))
        loop.close()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, Decimal) and a.is_nan():
        return isinstance(b, Decimal) and b.is_nan()
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (dt.datetime, dt.time)):
        return a == b and type(a) is type(b) and a.utcoffset() == b.utcoffset()
    return a == b and type(a) is type(b)


def check_values(server, typ: str, oid: int, values: list) -> None:
    rows = server(f"SELECT v, format('%s', v) FROM unnest($1::{typ}[]) v", [values])
    assert len(rows) == len(values)
    for binary, text in rows:
        if binary is None:
            continue
        assert same(_proto._decode_text(oid, text.encode()), binary), (typ, text, binary)
        assert same(decode_text(oid, text), binary), (typ, text, binary)


nums = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                 st.integers(-10**6, 10**6))
points = st.tuples(nums, nums)

CASES: dict[str, tuple[int, Any]] = {
    "bool": (16, st.booleans()),
    "int2": (21, st.integers(-2**15, 2**15 - 1)),
    "int4": (23, st.integers(-2**31, 2**31 - 1)),
    "int8": (20, st.integers(-2**63, 2**63 - 1)),
    "oid": (26, st.integers(0, 2**32 - 1)),
    "float4": (700, st.floats(width=32)),
    "float8": (701, st.floats()),
    "numeric": (1700, st.decimals(allow_nan=True, allow_infinity=True).filter(
        lambda d: not d.is_snan() and (not d.is_finite() or abs(d.adjusted()) < 300))),
    "text": (25, text_st),
    "varchar": (1043, text_st),
    "bytea": (17, st.binary(max_size=40)),
    "date": (1082, st.dates()),
    "time": (1083, st.times()),
    "timetz": (1266, st.times(timezones=st.sampled_from(
        [UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)),
         dt.timezone(-dt.timedelta(hours=3, minutes=30))]))),
    "timestamp": (1114, st.datetimes()),
    "timestamptz": (1184, st.datetimes(min_value=dt.datetime(1, 1, 3),
                                       max_value=dt.datetime(9999, 12, 29), timezones=st.just(UTC))),
    "interval": (1186, st.timedeltas(min_value=-dt.timedelta(days=10**6),
                                     max_value=dt.timedelta(days=10**6))),
    "uuid": (2950, st.uuids()),
    "jsonb": (3802, st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | text_st,
                                 lambda c: st.lists(c, max_size=3)
                                 | st.dictionaries(text_st, c, max_size=3), max_leaves=8)
              .map(lambda v: psqlpy.extra_types.JSONB(v))),
    "inet": (869, st.one_of(st.ip_addresses(), st.ip_addresses(v=4).map(
        lambda a: ipaddress.ip_interface(f"{a}/17")))),
    "cidr": (650, st.ip_addresses(v=6).map(lambda a: ipaddress.ip_network(f"{a}/48", strict=False))),
    "macaddr": (829, st.binary(min_size=6, max_size=6)),
    "macaddr8": (774, st.binary(min_size=8, max_size=8)),
    "money": (790, st.integers(-2**62, 2**62)),
    "point": (600, points),
    "lseg": (601, st.tuples(points, points)),
    "box": (603, st.tuples(points, points)),
    "path": (602, st.lists(points, min_size=1, max_size=4)
             | st.lists(points, min_size=1, max_size=3).map(lambda p: p + [p[0]])),
    "polygon": (604, st.lists(points, min_size=1, max_size=4)),
    "line": (628, st.tuples(st.integers(1, 10**6), nums, nums)),   # (the server: |A| > 1e-6)
    "circle": (718, st.tuples(points, st.floats(0, 1e6, width=32))),
}



def _ranges(values):
    """Ranges the server accepts: lower <= upper, either bound absent, or empty."""
    def build(a, b, lo_inc, hi_inc, drop):
        lo, hi = sorted([a, b])
        return psqlpy.Range(None if drop & 1 else lo, None if drop & 2 else hi,
                            lower_inc=lo_inc, upper_inc=hi_inc)
    return st.just(psqlpy.Range(empty=True)) | st.builds(
        build, values, values, st.booleans(), st.booleans(), st.integers(0, 3))


_RANGE_SUBTYPES = {
    "int4": (3904, 4451, st.integers(-2**31, 2**31 - 2)),
    "int8": (3926, 4536, st.integers(-2**63, 2**63 - 2)),
    "num": (3906, 4532, st.decimals(allow_nan=False, allow_infinity=False, places=4,
                                    min_value=-10**12, max_value=10**12)),
    "ts": (3908, 4533, st.datetimes(min_value=dt.datetime(1, 1, 1, 1))),
    "tstz": (3910, 4534, st.datetimes(min_value=dt.datetime(1, 1, 3),
                                      max_value=dt.datetime(9999, 12, 29), timezones=st.just(UTC))),
    "date": (3912, 4535, st.dates(max_value=dt.date(9999, 12, 30))),
}
for _name, (_roid, _moid, _vals) in _RANGE_SUBTYPES.items():
    CASES[f"{_name}range"] = (_roid, _ranges(_vals))
    # (a multirange in an array: a non-empty list of Range; [] would be a dimension)
    CASES[f"{_name}multirange"] = (_moid, st.lists(_ranges(_vals), min_size=1, max_size=3))


@pytest.mark.parametrize("typ", sorted(CASES))
def test_text_equals_binary(server, typ):
    oid, values = CASES[typ]

    # (a NULL jsonb parameter in an array is JSON null to the wrapper: none for jsonb)
    elements = values if typ == "jsonb" else st.none() | values

    @PROPS
    @given(st.lists(elements, min_size=1, max_size=8))
    def run(vals):
        check_values(server, typ, oid, vals)

    run()


@PROPS
@given(st.lists(st.none() | text_st, max_size=4), st.integers(1, 3))
def test_text_arrays_equal_binary(server, texts, rows):
    grid = [[t] * 2 for t in texts] * rows or [[]]
    for typ in ("text[]", "int4[]", "box[]", "timestamptz[]", "uuid[]", "bytea[]", "path[]",
                "numeric[]"):
        vals = {"text[]": grid, "int4[]": [[len(t or "") for t in texts] or []],
                "box[]": [((1.5, 2), (0, -1)), None, ((3, 3), (3, 3))],
                "timestamptz[]": [dt.datetime(2024, 1, 1, tzinfo=UTC), None],
                "uuid[]": [None], "bytea[]": [b"\x00\\\"{}", None, b""],
                "path[]": [[(0, 0), (1, 1)], [(0, 0), (1, 1), (0, 0)]],
                "numeric[]": [Decimal("1.50"), None, Decimal("NaN")]}[typ]
        (binary, text), = server(f"SELECT $1::{typ}, format('%s', $1::{typ})", [vals])
        oid = {"text[]": 1009, "int4[]": 1007, "box[]": 1020, "timestamptz[]": 1185,
               "uuid[]": 2951, "bytea[]": 1001, "path[]": 1019, "numeric[]": 1231}[typ]
        assert same(_proto._decode_text(oid, text.encode()), binary), (typ, text)
        assert same(decode_text(oid, text), binary), (typ, text)


@PROPS
@given(st.lists(st.tuples(st.none() | text_st,
                          st.none() | st.sampled_from(["a,b", 'q"x', " sp", "NULL", "{b}", "é"]),
                          st.none() | st.lists(st.none() | st.integers(-5, 5), max_size=3),
                          st.none() | st.lists(st.none() | text_st, max_size=3)),
                max_size=4))
def test_composites_and_enums_text_equal_binary(server, items):
    pairs = []
    for t, m, a, tags in items:
        pairs.append(server("SELECT ROW($1::text, $2::td_mood, $3::int4[], "
                            "'2024-01-02 03:04:05+02'::timestamptz, $4::text[])::td_pair",
                            [t, m, a, tags])[0][0])
    # the same values, binary (prepared) and text (unprepared), nested in arrays too
    q = ("SELECT array_agg(p), array_agg((p).m), array_agg((p).t) FROM (SELECT ROW($1::text, $2::td_mood, $3::int4[], "
         "'2024-01-02 03:04:05+02'::timestamptz, $4::text[])::td_pair AS p "
         "FROM generate_series(1, 2)) s")
    for t, m, a, tags in items:
        want = server(q, [t, m, a, tags])
        got = server(q, [t, m, a, tags], prepared=False)
        assert same(got, want)
    assert all(isinstance(p, dict) for p in pairs)


# --------------------------------------------------------------------------- hostile

SCALAR_OIDS = sorted(_proto._text_decoder_oids())
ARRAY_OIDS = [o for o in _proto._binary_decoder_oids() if _proto.array_element_oid(o)]


@FUZZ
@given(st.sampled_from(SCALAR_OIDS + ARRAY_OIDS),
       st.one_of(st.binary(max_size=40),
                 st.text(alphabet="0123456789-+:. ,{}()[]\"\\NUL\x00tfxeE$=/abcdefBCinfty",
                         max_size=40).map(str.encode)))
def test_hostile_text_only_typed_errors(oid, data):
    try:
        _proto._decode_text(oid, data)
    except Error:
        pass


@FUZZ
@given(st.sampled_from(sorted(CASES)), st.data())
def test_mutated_valid_text_only_typed_errors(typ, data):
    samples = {
        "interval": b"-1 years -2 mons +3 days -04:05:06.789", "timestamptz": b"2024-01-02 03:04:05.1-03:30",
        "timetz": b"12:00:00.5+05:30:15", "path": b"((1,2),(3.5,-4e-05))", "money": b"-$1,234.56",
        "numeric": b"-1.50", "bytea": b"\\x00ff10", "uuid": b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "macaddr": b"08:00:2b:01:02:03", "date": b"2024-02-29 BC", "float8": b"-1.5e-300",
        "int4range": b"[1,5)", "numrange": b"(,1.5]", "tstzrange": b'["2024-01-02 03:04:05+00",)',
        "daterange": b"empty", "int8multirange": b"{[1,3),[7,9)}",
        "tsmultirange": b'{["2024-01-02 03:04:05","2024-01-03 00:00:00")}',
    }
    oid = CASES[typ][0]
    raw = bytearray(samples.get(typ, b"{1,2}"))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, max(0, len(raw) - 1)))
        op = data.draw(st.sampled_from(["flip", "cut", "dup"]))
        if not raw:
            break
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i:]
        else:
            raw[i:i] = raw[i:i + 3]
    try:
        _proto._decode_text(oid, bytes(raw))
    except Error:
        pass


def test_known_texts():
    d = _proto._decode_text
    assert d(1186, b"1 year 2 mons -3 days -04:05:06.789") == \
        dt.timedelta(days=12 * 30 + 2 * 30 - 3, hours=-4, minutes=-5, seconds=-6, microseconds=-789000)
    assert d(1186, b"100:00:00") == dt.timedelta(hours=100)
    assert d(1184, b"2024-01-02 03:04:05.1+05:30") == dt.datetime(2024, 1, 1, 21, 34, 5, 100000, tzinfo=UTC)
    assert d(1184, b"1900-01-01 00:00:00-03:30:52") == \
        dt.datetime(1900, 1, 1, 3, 30, 52, tzinfo=UTC)
    assert d(1009, b'{"a,b","c\\\\d",NULL,"NULL",""}') == ["a,b", "c\\d", None, "NULL", ""]
    assert d(1007, b"[0:1]={7,8}") == [7, 8] and d(1016, b"{{1,2},{3,4}}") == [[1, 2], [3, 4]]
    assert d(1020, b"{(3,4),(1,2);(5,6),(0,0)}") == [((3.0, 4.0), (1.0, 2.0)), ((5.0, 6.0), (0.0, 0.0))]
    assert d(790, b"($1,234.56)") == -123456 and d(790, b"$0.00") == 0
    assert d(17, b"a\\\\b\\001") == b"a\\b\x01"                  # bytea_output = escape
    assert d(18, b"\\377") == "\xff" and d(18, b"") == ""
    for oid, bad in [(1082, b"10000-01-01"), (1082, b"2024-01-01 BC"), (1083, b"24:00:00"),
                     (1114, b"0044-03-15 00:00:00 BC")]:
        with pytest.raises(psqlpy.exceptions.RustToPyValueMappingError):
            d(oid, bad)


@pytest.mark.parametrize("oid, text", [
    (17, b"\\389"), (17, b"\\099"),                          # octal digits only
    (1266, b"12:00:00+24"), (1266, b"12:00:00-95:30:15"),    # offsets beyond a day
    (1082, b"2021-02-31"), (1082, b"2021-02-29"),            # days beyond the month
    (1114, b"2021-02-31 00:00:00"), (1184, b"2021-04-31 00:00:00+00"),
    (1114, b"2020-01-01 24:30:00"), (1114, b"2020-01-01 24:00:00"), (1083, b"24:30:00"),
    (1186, b"999999999999:00:00"), (1186, b"5124095577:00:00"),   # over an int64 of us
    (1186, b"2562047788:00:54.775808"), (1186, b"999999999999 years " * 100),
    (26, b"-5"), (790, b"abc"), (700, b"3.5e38"), (700, b"3.4028236e38"),
])
def test_hostile_texts_a_review_found_are_typed_errors(oid, text):
    # each of these once gave a bare ValueError or a silently wrong value
    with pytest.raises(psqlpy.exceptions.RustToPyValueMappingError):
        _proto._decode_text(oid, text)


def test_texts_at_the_edges_still_decode():
    d = _proto._decode_text
    assert d(1082, b"2020-02-29") == dt.date(2020, 2, 29)
    assert d(1082, b"2000-02-29") == dt.date(2000, 2, 29)
    assert d(17, b"\\101\\377") == b"A\xff"
    assert d(1186, b"2562047788:00:54.775807") == dt.timedelta(microseconds=2**63 - 1)
    assert d(1266, b"12:00:00-15:59:59") == dt.time(
        12, tzinfo=dt.timezone(-dt.timedelta(hours=15, minutes=59, seconds=59)))
    assert d(26, b"4294967295") == 2**32 - 1
    assert d(700, b"Infinity") == math.inf and d(700, b"3.4028235e+38") == 3.4028234663852886e+38
