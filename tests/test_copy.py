"""Binary COPY: Connection/Transaction.binary_copy_to_table and
copy_records_to_table against a real server, plus the sans-IO encoder."""
import asyncio
import datetime
import decimal
import hashlib
import io
import uuid
from typing import Any, cast

import pytest

import psqlpy
from psqlpy import exceptions as exc
from psqlpy import protocol


@pytest.fixture
async def conn(dsn):
    async with await psqlpy.connect(dsn=dsn) as c:
        yield c


async def _count(conn, table="t"):
    return await conn.fetch_val(f"SELECT count(*) FROM {table}")


async def _usable(conn):
    assert await conn.fetch_val("SELECT 41 + 1") == 42
    assert not await conn.in_transaction()


async def _server_copy_out(conn, query: str) -> bytes:
    """Binary COPY data produced by the server itself (independent of our encoder)."""
    req = await conn._conn.simple_query(f"COPY ({query}) TO STDOUT (FORMAT binary)")
    return b"".join(req.copy_data)


TZ = datetime.timezone.utc
# tsvector: a type with no binary encoder of ours (binary COPY cannot send it).
UNSUPPORTED_OID = 3614
assert not protocol.has_binary_encoder(UNSUPPORTED_OID)


# ---- the encoder (sans-IO) ----------------------------------------------------------

def test_encoder_format():
    data = protocol.encode_binary_copy([23, 25], [(1, "a"), [None, "bc"]])
    assert data == (
        b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
        + b"\x00\x02" + b"\x00\x00\x00\x04\x00\x00\x00\x01" + b"\x00\x00\x00\x01a"
        + b"\x00\x02" + b"\xff\xff\xff\xff" + b"\x00\x00\x00\x02bc"
        + b"\xff\xff")


def test_encoder_batches_are_copydata_messages():
    enc = protocol.BinaryCopyEncoder([25], ["t"], True, 1000)
    it = iter([("x" * 100,)] * 50)
    msgs = []
    while enc.feed(it):
        msgs.append(enc.take())
    msgs.append(enc.finish())
    assert len(msgs) > 3
    payload = b""
    for m in msgs:
        assert m[:1] == b"d"
        assert int.from_bytes(m[1:5], "big") == len(m) - 1
        assert len(m) < 1000 + 200
        payload += m[5:]
    assert payload == protocol.encode_binary_copy([25], [("x" * 100,)] * 50)
    assert enc.count == 50


def test_encoder_errors():
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 1, column 'n'"):
        protocol.encode_binary_copy([23], [(1,), ("two",)], ["n"])
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 2 has 1 value"):
        protocol.encode_binary_copy([23, 25], [(1, "a"), (2, "b"), (3,)], ["n", "t"])
    with pytest.raises(exc.PyToRustValueMappingError, match=r"column 'p'.*binary"):
        protocol.BinaryCopyEncoder([UNSUPPORTED_OID], ["p"])
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 0"):
        protocol.encode_binary_copy([25], ["abc"])        # a str is not a record
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 0.*out of range"):
        protocol.encode_binary_copy([21], [(70000,)])


# ---- copy_records_to_table ----------------------------------------------------------

ALL_TYPES = """
    CREATE TEMP TABLE t (
        i4 int4, i8 int8, i2 int2, t text, vc varchar(20), n numeric, f8 float8,
        b bool, ts timestamptz, tsn timestamp, d date, by bytea, u uuid, j jsonb,
        ai int4[], at text[], iv interval
    )"""


async def test_records_many_types_round_trip(conn):
    await conn.execute(ALL_TYPES)
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    rows: list[tuple[Any, ...]] = [
        (1, 2**40, -3, "héllo ✓", "v", decimal.Decimal("12345.678901234567890"), 1.5,
         True, datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=TZ),
         datetime.datetime(2021, 6, 7, 8, 9, 10), datetime.date(2024, 2, 29),
         b"\x00\x01\xff", u, {"a": [1, 2, {"b": None}]}, [1, None, 3], ["x", None, "z"],
         datetime.timedelta(days=3, seconds=7)),
        (None,) * 17,
        (-2**31, -2**63, 32767, "", "", decimal.Decimal("-0.5"), float("inf"), False,
         datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
         datetime.datetime(1970, 1, 1), datetime.date(1, 1, 1), b"", str(u), [], [[1, 2], [3, 4]], [],
         datetime.timedelta(0)),
    ]
    n = await conn.copy_records_to_table("t", rows)
    assert n == 3
    got = (await conn.fetch("SELECT * FROM t ORDER BY i4 NULLS FIRST")).result(as_tuple=True)
    assert got[0] == (None,) * 17
    expect_min = list(rows[2])
    expect_min[12] = u
    assert got[1][:8] == tuple(expect_min[:8])
    assert got[1][8] == expect_min[8]
    assert got[1][9:] == tuple(expect_min[9:])
    assert got[2] == rows[0]


async def test_records_columns_subset_order_and_defaults(conn):
    await conn.execute(
        "CREATE TEMP TABLE t (id serial, a int4, b text DEFAULT 'dflt', c int8 NOT NULL)")
    n = await conn.copy_records_to_table("t", [(10, 1), (20, 2)], columns=["c", "a"])
    assert n == 2
    got = (await conn.fetch("SELECT id, a, b, c FROM t ORDER BY id")).result(as_tuple=True)
    assert got == [(1, 1, "dflt", 10), (2, 2, "dflt", 20)]
    # columns given as an iterator: read once, used for the target and the encoders
    n = await conn.copy_records_to_table("t", [(30, 3)], columns=iter(["c", "a"]))
    assert n == 1
    assert await conn.fetch_val("SELECT c FROM t WHERE a = 3") == 30


async def test_records_mappings_records_and_generators(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4, b text)")
    assert await conn.copy_records_to_table("t", [{"b": "x", "a": 1}]) == 1
    src = await conn.fetch("SELECT 2::int4 AS a, 'y'::text AS b")
    assert await conn.copy_records_to_table("t", src.records()) == 1
    assert await conn.copy_records_to_table("t", ((i, str(i)) for i in range(3, 6))) == 3

    async def agen():
        for i in range(6, 2006):
            yield (i, None)
    assert await conn.copy_records_to_table("t", agen()) == 2000
    assert await conn.copy_records_to_table("t", []) == 0
    assert await _count(conn) == 2005
    assert await conn.fetch_val("SELECT sum(a) FROM t") == sum(range(1, 2006))


async def test_records_enum_and_domain(conn):
    await conn.execute_batch(
        "DROP TYPE IF EXISTS copy_mood CASCADE; CREATE TYPE copy_mood AS ENUM ('sad', 'ok');"
        "DROP DOMAIN IF EXISTS copy_posint CASCADE;"
        "CREATE DOMAIN copy_posint AS int4 CHECK (VALUE > 0);")
    try:
        await conn.execute("CREATE TEMP TABLE t (m copy_mood, p copy_posint)")
        assert await conn.copy_records_to_table("t", [("ok", 1), ("sad", None)]) == 2
        got = await conn.fetch("SELECT m::text, p FROM t ORDER BY t.m")
        assert got.result(as_tuple=True) == [("sad", None), ("ok", 1)]
        with pytest.raises(exc.ConnectionExecuteError) as ei:
            await conn.copy_records_to_table("t", [("ok", -1)])   # domain CHECK
        assert cast(exc.PostgresError, ei.value).sqlstate == "23514"
        await _usable(conn)
    finally:
        await conn.execute_batch("DROP TABLE IF EXISTS t; DROP TYPE copy_mood; DROP DOMAIN copy_posint")


async def test_quoted_identifiers_schema_table_columns(conn):
    await conn.execute_batch(
        'CREATE SCHEMA IF NOT EXISTS "s-1"; DROP TABLE IF EXISTS "s-1"."My Table";'
        'CREATE TABLE "s-1"."My Table" ("Id" int4, "we""ird col" text, other int4 DEFAULT 7)')
    try:
        n = await conn.copy_records_to_table(
            "My Table", [(1, "a"), (2, "b")], columns=["Id", 'we"ird col'], schema_name="s-1")
        assert n == 2
        payload = protocol.encode_binary_copy([23, 25], [(3, "c")])
        n = await conn.binary_copy_to_table(
            payload, "My Table", columns=["Id", 'we"ird col'], schema_name="s-1")
        assert n == 1
        got = await conn.fetch('SELECT "Id", "we""ird col", other FROM "s-1"."My Table" ORDER BY 1')
        assert got.result(as_tuple=True) == [(1, "a", 7), (2, "b", 7), (3, "c", 7)]
        # A name that would be SQL injection if not quoted is just a missing table.
        with pytest.raises(exc.ConnectionExecuteError) as ei:
            await conn.copy_records_to_table('My Table"; DROP TABLE x; --', [(1,)], schema_name="s-1")
        assert cast(exc.PostgresError, ei.value).sqlstate == "42P01"
        await _usable(conn)
    finally:
        await conn.execute_batch('DROP SCHEMA "s-1" CASCADE')


async def test_records_100k_count_and_checksum(conn):
    await conn.execute("CREATE TEMP TABLE t (i int4, s text, f float8, ts timestamptz)")
    base = datetime.datetime(2024, 1, 1, tzinfo=TZ)
    n_rows = 100_000
    records = [(i, f"row-{i}", i * 0.5, base + datetime.timedelta(seconds=i))
               for i in range(n_rows)]
    assert await conn.copy_records_to_table("t", records) == n_rows
    row = (await conn.fetch_row(
        "SELECT count(*), sum(i), sum(f), md5(string_agg(s, ',' ORDER BY i)),"
        " max(ts), min(ts) FROM t")).result(as_tuple=True)
    expect_md5 = hashlib.md5(",".join(r[1] for r in records).encode()).hexdigest()
    assert row == (n_rows, sum(range(n_rows)), sum(r[2] for r in records), expect_md5,
                   records[-1][3], records[0][3])


async def test_records_errors_leave_connection_usable(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4, b text)")
    # wrong type (after many good rows, so some batches were already sent)
    rows = [(i, "x" * 50) for i in range(20_000)] + [("oops", "y")]
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 20000, column 'a'"):
        await conn.copy_records_to_table("t", rows)
    await _usable(conn)
    assert await _count(conn) == 0
    # wrong record length
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 1 has 3 value"):
        await conn.copy_records_to_table("t", [(1, "a"), (2, "b", 3)])
    await _usable(conn)
    # not a record at all
    with pytest.raises(exc.PyToRustValueMappingError, match=r"record 0"):
        await conn.copy_records_to_table("t", [5])
    # missing table / column
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.copy_records_to_table("no_such_table", [(1,)])
    assert cast(exc.PostgresError, ei.value).sqlstate == "42P01"
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.copy_records_to_table("t", [(1,)], columns=["nope"])
    assert cast(exc.PostgresError, ei.value).sqlstate == "42703"
    # a column type we cannot send in binary
    await conn.execute("CREATE TEMP TABLE tp (a int4, p tsvector)")
    with pytest.raises(exc.PyToRustValueMappingError, match=r"column 'p'.*tsvector"):
        await conn.copy_records_to_table("tp", [(1, None)])
    # the iterable itself fails mid-stream
    def gen():
        for i in range(30_000):
            yield (i, "z" * 20)
        raise RuntimeError("generator broke")
    with pytest.raises(RuntimeError, match="generator broke"):
        await conn.copy_records_to_table("t", gen())
    await _usable(conn)
    assert await _count(conn) == 0
    # the server rejects a value mid-stream (NOT NULL)
    await conn.execute("ALTER TABLE t ALTER COLUMN a SET NOT NULL")
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.copy_records_to_table("t", [(i, "w") for i in range(50_000)] + [(None, "w")])
    assert cast(exc.PostgresError, ei.value).sqlstate == "23502"
    assert isinstance(ei.value, exc.IntegrityError)
    await _usable(conn)
    assert await _count(conn) == 0
    assert await conn.copy_records_to_table("t", [(1, "ok")]) == 1


async def test_records_after_alter_table_uses_new_types(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4)")
    assert await conn.copy_records_to_table("t", [(1,)]) == 1
    await conn.execute("ALTER TABLE t ALTER COLUMN a TYPE text")
    assert await conn.copy_records_to_table("t", [("two",)]) == 1
    assert sorted((await conn.fetch("SELECT a FROM t")).result(as_tuple=True)) == [("1",), ("two",)]


# ---- binary_copy_to_table -----------------------------------------------------------

async def test_binary_sources(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4, b text, c bytea)")
    payload = protocol.encode_binary_copy([23, 25, 17], [(i, f"r{i}", bytes([i % 256]) * 3)
                                                          for i in range(1000)])

    class AsyncReader:
        def __init__(self, data):
            self._f = io.BytesIO(data)

        async def read(self, n=-1):
            await asyncio.sleep(0)
            return self._f.read(min(n, 777))   # odd chunk sizes split rows

    async def achunks(data):
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]

    sources = [payload, bytearray(payload), memoryview(payload), io.BytesIO(payload),
               AsyncReader(payload), achunks(payload),
               [payload[:10], payload[10:]]]
    for k, src in enumerate(sources):
        assert await conn.binary_copy_to_table(src, "t") == 1000, k
    assert await _count(conn) == 1000 * len(sources)
    assert await conn.fetch_val("SELECT sum(a) FROM t") == sum(range(1000)) * len(sources)


async def test_binary_server_produced_payload_many_chunks(conn):
    await conn.execute("CREATE TEMP TABLE t (i int8, s text, u uuid, n numeric, ts timestamptz)")
    q = ("SELECT g::int8, repeat('x', g % 50), md5(g::text)::uuid, (g / 7.0)::numeric,"
         " '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 60000) g")
    payload = await _server_copy_out(conn, q)
    assert len(payload) > 4 * 256 * 1024
    assert await conn.binary_copy_to_table(payload, "t", columns=["i", "s", "u", "n", "ts"]) == 60000
    diff = await conn.fetch_val(f"SELECT count(*) FROM (({q}) EXCEPT (SELECT * FROM t)) x")
    assert diff == 0


async def test_binary_errors_leave_connection_usable(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4)")
    good = protocol.encode_binary_copy([23], [(i,) for i in range(100)])
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.binary_copy_to_table(b"not a binary copy file", "t")
    assert cast(exc.PostgresError, ei.value).sqlstate == "22P04"      # bad_copy_file_format
    await _usable(conn)
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.binary_copy_to_table(good, "missing_table")
    assert cast(exc.PostgresError, ei.value).sqlstate == "42P01"
    await _usable(conn)
    with pytest.raises(TypeError):
        await conn.binary_copy_to_table("text is not binary", "t")
    with pytest.raises(TypeError):
        await conn.binary_copy_to_table(12345, "t")

    class Broken(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def read(self, n=-1):
            self.calls += 1
            if self.calls == 1:
                return good[:50]
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        await conn.binary_copy_to_table(Broken(), "t")
    await _usable(conn)
    assert await _count(conn) == 0

    async def broken_async():
        yield good[:30]
        await asyncio.sleep(0.01)
        raise ValueError("async source broke")

    with pytest.raises(ValueError, match="async source broke"):
        await conn.binary_copy_to_table(broken_async(), "t")
    await _usable(conn)
    assert await _count(conn) == 0
    assert await conn.binary_copy_to_table(good, "t") == 100


async def test_cancel_mid_copy_leaves_connection_usable(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4)")
    payload = protocol.encode_binary_copy([23], [(i,) for i in range(1000)])
    reads: list[int] = []

    class SlowReader:
        def __init__(self):
            self._f = io.BytesIO(payload)

        async def read(self, n=-1):
            if reads:
                await asyncio.sleep(30)
            reads.append(n)
            return self._f.read(100)

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(conn.binary_copy_to_table(SlowReader(), "t"), 0.3)
    assert reads          # the copy had started
    await _usable(conn)
    assert await _count(conn) == 0
    # and the next COPY works normally
    assert await conn.binary_copy_to_table(payload, "t") == 1000


async def test_cancel_copy_records_with_slow_async_records(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4)")

    async def slow():
        for i in range(2000):
            yield (i,)
        await asyncio.sleep(30)
        yield (-1,)

    task = asyncio.ensure_future(conn.copy_records_to_table("t", slow()))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _usable(conn)
    assert await _count(conn) == 0


async def test_cancel_before_copy_starts(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4)")
    payload = protocol.encode_binary_copy([23], [(1,)])
    # Cancelled right away: the COPY query may not even have reached the server.
    for delay in (0, 0.0005, 0.002):
        task = asyncio.ensure_future(conn.binary_copy_to_table(payload, "t"))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            n = await task
        except asyncio.CancelledError:
            n = None
        await _usable(conn)
        if n is None:
            # Cancelled after CopyDone had gone out, the COPY may still have
            # committed (as with any statement cancelled in flight); before
            # that, it was aborted.  Either way the connection is in sync.
            assert await _count(conn) in (0, 1)
        else:
            assert n == 1 and await _count(conn) == 1
        await conn.execute("TRUNCATE t")


# ---- inside a transaction ---------------------------------------------------------------

async def test_copy_in_transaction(conn):
    await conn.execute("CREATE TEMP TABLE t (a int4, b text)")
    async with conn.transaction() as tx:
        assert await tx.copy_records_to_table("t", [(1, "a"), (2, "b")]) == 2
        payload = protocol.encode_binary_copy([23, 25], [(3, "c")])
        assert await tx.binary_copy_to_table(payload, "t") == 1
        assert await tx.fetch_val("SELECT count(*) FROM t") == 3
    assert await _count(conn) == 3

    tx = conn.transaction()
    await tx.begin()
    assert await tx.copy_records_to_table("t", [(4, "d")]) == 1
    await tx.rollback()
    assert await _count(conn) == 3

    async with conn.transaction() as tx:
        with pytest.raises(exc.TransactionExecuteError) as ei:
            await tx.copy_records_to_table("missing", [(1,)])
        assert cast(exc.PostgresError, ei.value).sqlstate == "42P01"
        await tx.rollback()
    await _usable(conn)

    # a failed source inside a transaction aborts the transaction, not the connection
    tx = conn.transaction()
    await tx.begin()

    def bad():
        yield (5, "e")
        raise KeyError("boom")
    with pytest.raises(KeyError):
        await tx.copy_records_to_table("t", bad())
    assert conn._conn.transaction_status == "E"
    await tx.rollback()
    await _usable(conn)
    assert await _count(conn) == 3

    with pytest.raises(exc.TransactionClosedError):
        await tx.copy_records_to_table("t", [(1, "x")])
