"""Logical replication against the real server: every DML kind, every type with a
binary codec, TOAST, messages, streamed transactions, acks and backpressure."""
from __future__ import annotations

import asyncio
import datetime

import pytest

import psqlpy
from psqlpy import UNCHANGED_TOAST
from psqlpy.exceptions import ReplicationClosedError, ReplicationStartError
from replication_helpers import ReplEnv, ids_of, take, unique, wait_until


@pytest.fixture
async def env(dsn):
    e = ReplEnv(dsn)
    try:
        await e.setup()
        yield e
    finally:
        await e.close()


async def test_every_dml_kind_in_commit_order(env):
    t = env.table
    other = unique("rt2")
    await env.sql(f"CREATE TABLE {other} (k text PRIMARY KEY, v int); "
                  f"ALTER PUBLICATION {env.pub} ADD TABLE {other}")
    s = env.stream(create_slot=True)
    await s.startup()
    version = int(await env.val("SHOW server_version_num"))
    assert s.proto_version == (4 if version >= 160000 else 3 if version >= 150000 else 2)
    assert s.system is not None and s.system.dbname == "psqlpy_test"
    await env.sql(f"INSERT INTO {t} VALUES (1, 'a', 10), (2, 'b', 20)")        # tx 1: 2 inserts
    await env.sql(f"UPDATE {t} SET name = 'a2' WHERE id = 1")                  # tx 2: key kept
    await env.sql(f"UPDATE {t} SET id = 3 WHERE id = 2")                       # tx 3: key changed
    await env.sql(f"DELETE FROM {t} WHERE id = 1")                             # tx 4
    await env.sql(f"INSERT INTO {other} VALUES ('x', 1)")                      # tx 5
    await env.sql(f"TRUNCATE {t}, {other}")                                    # tx 6
    await env.sql("SELECT pg_logical_emit_message(true, 'tx', 'in a transaction')")  # tx 7
    await env.sql("SELECT pg_logical_emit_message(false, 'nt', '\\x00ff'::bytea)")   # 8: alone
    txs = await take(s, 8)

    assert [[c.kind for c in tx.changes] for tx in txs] == [
        ["insert", "insert"], ["update"], ["update"], ["delete"], ["insert"],
        ["truncate", "truncate"], ["message"], ["message"]]
    ins = txs[0].changes
    assert (ins[0].schema, ins[0].table) == ("public", t)
    assert [c.new for c in ins] == [{"id": 1, "name": "a", "n": 10}, {"id": 2, "name": "b", "n": 20}]
    assert all(c.old is None for c in ins)
    up = txs[1].changes[0]
    assert up.new == {"id": 1, "name": "a2", "n": 10} and up.old is None
    moved = txs[2].changes[0]
    assert moved.new == {"id": 3, "name": "b", "n": 20} and moved.old == {"id": 2}
    gone = txs[3].changes[0]
    assert gone.new is None and gone.old == {"id": 1}
    assert txs[4].changes[0].table == other and txs[4].changes[0].new == {"k": "x", "v": 1}
    assert {(c.table, c.new, c.old) for c in txs[5].changes} == {(t, None, None), (other, None, None)}
    msg = txs[6].changes[0]
    assert (msg.prefix, msg.content, msg.schema, msg.table) == ("tx", b"in a transaction", None, None)
    alone = txs[7]
    assert alone.xid == 0 and alone.commit_time is None
    assert alone.changes[0].prefix == "nt" and alone.changes[0].content == b"\x00\xff"
    assert alone.end_lsn == alone.commit_lsn + 1

    for tx in txs[:7]:
        assert tx.xid > 0
        assert tx.commit_lsn < tx.end_lsn
        assert tx.commit_time.tzinfo is not None
        assert abs(tx.commit_time - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=5)
    ends = [tx.end_lsn for tx in txs]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    assert [tx.xid for tx in txs[:7]] == sorted(tx.xid for tx in txs[:7])


async def test_replica_identity_full_sends_old_rows(env):
    t = env.table
    await env.sql(f"ALTER TABLE {t} REPLICA IDENTITY FULL; INSERT INTO {t} VALUES (1, 'a', 10)")
    s = env.stream(create_slot=True)
    await s.startup()
    await env.sql(f"UPDATE {t} SET n = 11 WHERE id = 1")
    await env.sql(f"DELETE FROM {t} WHERE id = 1")
    up, de = await take(s, 2)
    assert up.changes[0].old == {"id": 1, "name": "a", "n": 10}
    assert up.changes[0].new == {"id": 1, "name": "a", "n": 11}
    assert de.changes[0].old == {"id": 1, "name": "a", "n": 11} and de.changes[0].new is None


# (SQL type, literal) for every type with a binary codec, and a custom enum.
TYPES = [
    ("bool", "true"), ("bytea", "'\\x00ff10'"), ('"char"', "'a'"), ("name", "'nm'"),
    ("int2", "-7"), ("int4", "123456"), ("int8", "-9000000000"), ("text", "'héllo ☃'"),
    ("oid", "4242"), ("json", """'{"a": [1, 2]}'"""), ("xml", "'<a>1</a>'"), ("float4", "1.5"),
    ("float8", "-2.25"), ("char(3)", "'ab'"), ("varchar(10)", "'vc'"), ("date", "'2024-02-29'"),
    ("time", "'12:34:56.789'"), ("timestamp", "'2024-01-02 03:04:05.678'"),
    ("timestamptz", "'2024-01-02 03:04:05+02'"), ("interval", "'1 day 02:03:04.5'"),
    ("timetz", "'12:00:00+03'"), ("numeric", "'12345.678900'"),
    ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"), ("jsonb", """'{"k": [true, null]}'"""),
    ("int4[]", "'{1,2,NULL}'"), ("text[]", """'{a,"b c"}'"""), ("numeric[]", "'{1.5,-2}'"),
    ("timestamptz[]", "'{2024-01-01 00:00:00+00}'"), ("uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"),
    ("inet", "'192.168.1.5/24'"), ("cidr", "'10.0.0.0/8'"), ("macaddr", "'08:00:2b:01:02:03'"),
    ("macaddr8", "'08:00:2b:01:02:03:04:05'"), ("money", "'12.34'"), ("point", "'(1,2)'"),
    ("lseg", "'[(1,2),(3,4)]'"), ("path", "'((0,0),(1,1))'"), ("box", "'(1,1),(0,0)'"),
    ("polygon", "'((0,0),(1,0),(1,1))'"), ("line", "'{1,2,3}'"), ("circle", "'<(1,2),3>'"),
]


async def test_every_supported_type_round_trips(dsn):
    cols = ", ".join(f"c{i} {typ}" for i, (typ, _) in enumerate(TYPES))
    enum = unique("mood")
    env = ReplEnv(dsn)
    await env.sql(f"CREATE TYPE {enum} AS ENUM ('sad', 'happy')")
    try:
        await env.setup(f"id int PRIMARY KEY, {cols}, mood {enum}")
        s = env.stream(create_slot=True)
        await s.startup()
        values = ", ".join(lit for _, lit in TYPES)
        await env.sql(f"INSERT INTO {env.table} VALUES (1, {values}, 'happy'); "
                      f"INSERT INTO {env.table} (id) VALUES (2)")
        (tx,) = await take(s, 1)        # one simple query: one transaction
        async with env.pool.acquire() as conn:
            fetched = (await conn.fetch(f"SELECT * FROM {env.table} ORDER BY id")).result()
        full, nulls = tx.changes[0].new, tx.changes[1].new
        assert list(full) == list(fetched[0])
        assert full["mood"] == b"happy"           # no binary codec: the send form, as bytes
        for name in fetched[0]:
            if name != "mood":
                assert full[name] == fetched[0][name], name
        assert nulls == {name: (2 if name == "id" else None) for name in fetched[1]}
        assert full["c0"] is True and full["c1"] == b"\x00\xff\x10" and full["c7"] == "héllo ☃"
        assert str(full["c21"]) == "12345.678900"
        assert full["c18"] == datetime.datetime(2024, 1, 2, 1, 4, 5, tzinfo=datetime.timezone.utc)
    finally:
        await env.close()
        async with await psqlpy.connect(dsn=dsn) as conn:
            await conn.execute(f"DROP TYPE IF EXISTS {enum}")


async def test_unchanged_toast_value(dsn):
    env = ReplEnv(dsn)
    try:
        await env.setup("id int PRIMARY KEY, big text, n int")
        s = env.stream(create_slot=True)
        await s.startup()
        # md5 digests do not compress: the value is stored out of line (TOAST).
        big = "SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g"
        await env.sql(f"INSERT INTO {env.table} VALUES (1, ({big}), 1)")
        await env.sql(f"UPDATE {env.table} SET n = 2 WHERE id = 1")
        await env.sql(f"UPDATE {env.table} SET big = 'small', n = 3 WHERE id = 1")
        ins, up, up2 = await take(s, 3)
        assert len(ins.changes[0].new["big"]) == 400 * 32
        assert up.changes[0].new == {"id": 1, "big": UNCHANGED_TOAST, "n": 2}
        assert up.changes[0].new["big"] is psqlpy.UNCHANGED_TOAST
        assert repr(UNCHANGED_TOAST) == "UNCHANGED_TOAST"
        assert up2.changes[0].new == {"id": 1, "big": "small", "n": 3}
    finally:
        await env.close()


async def test_large_transactions_are_streamed_before_commit(dsn):
    # A small logical_decoding_work_mem in the walsender makes the server
    # stream the transaction in blocks before it commits.
    env = ReplEnv(dsn, options="-c logical_decoding_work_mem=64kB")
    try:
        await env.setup()
        s = env.stream(create_slot=True)
        await s.startup()
        t = env.table
        await env.sql(
            f"BEGIN; INSERT INTO {t} SELECT g, repeat('x', 50), g FROM generate_series(1, 3000) g; "
            f"SAVEPOINT sp; INSERT INTO {t} SELECT g, 'rolled back', g FROM generate_series(3001, 6000) g; "
            f"ROLLBACK TO sp; INSERT INTO {t} SELECT g, 'kept', g FROM generate_series(6001, 6500) g; "
            f"SELECT pg_logical_emit_message(true, 'big', 'end'); COMMIT")
        await env.sql(f"BEGIN; INSERT INTO {t} SELECT g, 'aborted', g FROM generate_series(7001, 12000) g; "
                      "ROLLBACK")
        await env.insert(13000)
        big, small = await take(s, 2)
        ids = [c.new["id"] for c in big.changes if c.kind == "insert"]
        assert ids == list(range(1, 3001)) + list(range(6001, 6501))
        assert big.changes[-1].kind == "message" and big.changes[-1].content == b"end"
        assert ids_of([small]) == [13000]
        assert big.end_lsn < small.end_lsn
        streamed = await env.val("SELECT stream_txns FROM pg_stat_replication_slots "
                                 "WHERE slot_name = $1", [s.slot_name])
        assert streamed >= 2     # the big one and the aborted one went out in blocks
    finally:
        await env.close()


async def test_ack_moves_confirmed_flush_lsn(env):
    s = env.stream(create_slot=True)
    await s.startup()
    start = await env.confirmed_flush(s.slot_name)
    assert s.confirmed_lsn == s.acked_lsn == start
    await env.insert(1, 2, 3)
    txs = await take(s, 3, ack=False)
    await asyncio.sleep(0.3)
    assert await env.confirmed_flush(s.slot_name) == start      # nothing acknowledged yet
    await s.ack(txs[0])

    async def follows(lsn):
        return await env.confirmed_flush(s.slot_name) == lsn

    await wait_until(lambda: follows(txs[0].end_lsn), 5, "confirmed_flush_lsn = first end_lsn")
    assert s.confirmed_lsn == txs[0].end_lsn
    await s.ack(txs[0].commit_lsn)            # backwards: ignored
    await s.ack(psqlpy.protocol.format_lsn(txs[2].end_lsn))   # 'X/Y' text
    await wait_until(lambda: follows(txs[2].end_lsn), 5, "confirmed_flush_lsn = last end_lsn")
    with pytest.raises(ValueError):
        await s.ack(s.received_lsn + 1000)
    with pytest.raises(TypeError):
        await s.ack(1.5)
    # Shutdown reports the last ack; a new stream starts after it.
    await env.insert(4)
    (t4,) = await take(s, 1, ack=False)
    await s.ack(t4)
    await s.shutdown()
    assert await env.confirmed_flush(s.slot_name) == t4.end_lsn
    await env.insert(5)
    s2 = env.stream(s.slot_name)
    await s2.startup()
    assert ids_of(await take(s2, 1)) == [5]


async def test_reply_requested_keepalive_is_answered_at_once(dsn):
    # wal_sender_timeout 1 s: the server asks for a reply after 0.5 s of silence.
    env = ReplEnv(dsn, options="-c wal_sender_timeout=1000")
    try:
        await env.setup()
        s = env.stream(create_slot=True, status_interval=3600)
        await s.startup()
        await env.insert(1)
        (tx,) = await take(s, 1)
        await wait_until(lambda: _eq(env.confirmed_flush(s.slot_name), tx.end_lsn), 6,
                         "the ack reported on a keepalive")
        await asyncio.sleep(1.5)        # past wal_sender_timeout: still alive
        await env.insert(2)
        assert ids_of(await take(s, 1)) == [2]
        assert s.reconnect_count == 0
    finally:
        await env.close()


async def _eq(coro, value):
    return await coro == value


async def test_backpressure_stops_reading_at_max_buffered(env):
    s = env.stream(create_slot=True, max_buffered=20)
    await s.startup()
    async with env.pool.acquire() as conn:
        for i in range(1, 301):
            await conn.execute(f"INSERT INTO {env.table} VALUES ($1, 'x', $1)", [i])
    await asyncio.sleep(0.5)
    assert 20 <= s.buffered <= 20   # one change per transaction: reading stopped at the limit
    txs = await take(s, 300)
    assert ids_of(txs) == list(range(1, 301))
    assert s.buffered == 0


async def test_value_that_cannot_be_decoded_raises_with_its_transaction(dsn):
    env = ReplEnv(dsn)
    try:
        await env.setup("id int PRIMARY KEY, ts timestamp")
        s = env.stream(create_slot=True)
        await s.startup()
        await env.sql(f"INSERT INTO {env.table} VALUES (1, '200000-01-01')")   # beyond Python's datetime
        await env.sql(f"INSERT INTO {env.table} VALUES (2, '2000-01-01')")
        it = s.__aiter__()
        with pytest.raises(psqlpy.exceptions.Error) as info:
            await asyncio.wait_for(it.__anext__(), 10)
        bad = getattr(info.value, "transaction")
        assert bad.changes[0].new == {"id": 1, "ts": None}
        await s.ack(bad)
        ok = await asyncio.wait_for(it.__anext__(), 10)
        assert ok.changes[0].new == {"id": 2, "ts": datetime.datetime(2000, 1, 1)}
    finally:
        await env.close()


async def test_start_errors(env):
    with pytest.raises(ValueError):
        env.pool.replication("Bad-Name", env.pub)
    with pytest.raises(ValueError):
        env.pool.replication("ok", [])
    s = env.stream()
    with pytest.raises(ReplicationStartError):
        await s.__anext__()
    with pytest.raises(ReplicationStartError, match="does not exist"):
        await s.startup()
    s = env.stream(create_slot=True)
    await s.startup()
    with pytest.raises(ReplicationStartError, match="already started"):
        await s.startup()
    # The slot is in use by this stream: a second consumer is refused.
    other = env.stream(s.slot_name)
    with pytest.raises(ReplicationStartError):
        await other.startup()
    await s.shutdown()
    with pytest.raises(StopAsyncIteration):
        await s.__anext__()


async def test_missing_publication_is_reported_by_the_iterator(env):
    s = env.stream(create_slot=True, publications="no_such_publication")
    await s.startup()
    await env.insert(1)
    with pytest.raises(ReplicationClosedError, match="no_such_publication"):
        await take(s, 1, timeout=10)


async def test_temporary_slot_and_drop_slot(env):
    s = env.stream(create_slot=True, temporary=True)
    await s.startup()
    assert await env.val("SELECT temporary FROM pg_replication_slots WHERE slot_name = $1",
                         [s.slot_name]) is True
    await env.insert(1)
    assert ids_of(await take(s, 1)) == [1]
    await s.shutdown()

    async def gone():
        return await env.confirmed_flush(s.slot_name) is None

    await wait_until(gone, 5, "temporary slot dropped")
    p = env.stream(create_slot=True)
    async with p:
        await p.startup()
    await p.drop_slot()
    assert await env.confirmed_flush(p.slot_name) is None
    with pytest.raises(psqlpy.exceptions.DatabaseError):
        await p.drop_slot()
