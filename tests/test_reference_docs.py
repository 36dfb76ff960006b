"""What the reference driver's documentation promises holds on ours.

One test per documented behaviour of ../shared/upstream-psqlpy/docs (components, usage,
parameters, row factories, FAQ, external pools), written from the documentation's own
examples.  Where the documentation and the reference's behaviour disagree we follow the
behaviour (README, "Differences from the reference driver"); those spots say so.
Types are covered by tests/test_types_server.py and the reference's own suite, the
Listener by tests/test_listener*.py.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from psqlpy import (
    ConnectionPool,
    ConnectionPoolBuilder,
    IsolationLevel,
    QueryResult,
    ReadVariant,
    SingleQueryResult,
    connect,
    connect_pool,
)
from psqlpy import exceptions as exc
from psqlpy.extra_types import BigInt, TextArray, VarCharArray
from psqlpy.row_factories import class_row


@pytest.fixture
async def pool(dsn):
    p = ConnectionPool(dsn=dsn, max_db_pool_size=4)
    async with p.acquire() as c:
        await c.execute_batch(
            "DROP TABLE IF EXISTS users; "
            "CREATE TABLE users (id int PRIMARY KEY, username text, name text); "
            "INSERT INTO users VALUES (1, 'chandr-andr', 'Aleksandr'), (2, 'insani7y', 'Michail')")
    yield p
    async with p.acquire() as c:
        await c.execute_batch("DROP TABLE IF EXISTS users")
    p.close()
    await p.wait_closed()


# ---- components/connection_pool.md ------------------------------------------------------


async def test_pool_dsn_wins_over_separate_parameters(dsn) -> None:
    # "If dsn is specified then username, password, host, hosts, port, ports, db_name and
    # target_session_attrs parameters will be ignored."
    p = ConnectionPool(dsn=dsn, username="nobody", password="x", host="192.0.2.1",
                       port=1, db_name="nodb", max_db_pool_size=2)
    try:
        async with p.acquire() as c:
            assert await c.fetch_val("SELECT current_database()") == "psqlpy_test"
    finally:
        p.close()
        await p.wait_closed()


async def test_pool_as_sync_context_manager_and_connect_pool(dsn) -> None:
    with connect_pool(dsn=dsn, max_db_pool_size=2) as p:
        async with p.acquire() as c:
            assert await c.fetch_val("SELECT 1") == 1
    with pytest.raises(exc.BaseConnectionPoolError):
        await p.connection()
    await p.wait_closed()


async def test_pool_status_resize_connection_listener(pool) -> None:
    conn = await pool.connection()
    st = pool.status()
    assert (st.max_size, st.size, st.available, st.waiting) == (4, 1, 0, 0)
    pool.resize(15)
    assert pool.status().max_size == 15
    conn.close()                           # "Returns connection to the pool"
    assert pool.status().available == 1
    assert pool.listener().is_started is False


# ---- components/connection.md -----------------------------------------------------------


async def test_single_connection_from_connect(dsn) -> None:
    async with await connect(dsn=dsn) as conn:
        res = await conn.execute("SELECT $1::int AS a", [5])
        assert res.result() == [{"a": 5}]
    assert conn.is_closed()


async def test_execute_and_fetch_with_positional_parameters(pool) -> None:
    async with pool.acquire() as conn:
        for method in (conn.execute, conn.fetch):
            res = await method("SELECT * FROM users WHERE id = $1 and username = $2",
                               [2, "insani7y"])
            assert isinstance(res, QueryResult)
            assert res.result() == [{"id": 2, "username": "insani7y", "name": "Michail"}]


async def test_execute_batch_stops_at_the_first_error(pool) -> None:
    # "If an error occurs, execution of the sequence will stop at that point."
    async with pool.acquire() as conn:
        await conn.execute_batch("CREATE TABLE psqlpy (name VARCHAR); "
                                 "CREATE TABLE psqlpy2 (name VARCHAR);")
        with pytest.raises(exc.DatabaseError):
            await conn.execute_batch("INSERT INTO psqlpy VALUES ('a'); SELECT 1/0; "
                                     "INSERT INTO psqlpy2 VALUES ('b')")
        assert await conn.fetch_val("SELECT count(*) FROM psqlpy2") == 0
        await conn.execute_batch("DROP TABLE psqlpy; DROP TABLE psqlpy2")


@pytest.mark.parametrize("prepared", [True, False])
async def test_execute_many_is_atomic(pool, prepared) -> None:
    # "Atomicity is provided ... there is a transaction used internally."
    async with pool.acquire() as conn:
        await conn.execute_many("INSERT INTO users (id, name) VALUES ($1, $2)",
                                [[10, "boba"], [11, "biba"]], prepared=prepared)
        with pytest.raises(exc.IntegrityError):
            await conn.execute_many("INSERT INTO users (id, name) VALUES ($1, $2)",
                                    [[12, "ok"], [10, "duplicate"]], prepared=prepared)
        assert await conn.fetch_val("SELECT count(*) FROM users WHERE id >= 10") == 2


async def test_fetch_row_and_fetch_val_need_exactly_one_row(pool) -> None:
    async with pool.acquire() as conn:
        row = await conn.fetch_row("SELECT username FROM users WHERE id = $1", [1])
        assert isinstance(row, SingleQueryResult)
        assert row.result() == {"username": "chandr-andr"}
        assert await conn.fetch_val("SELECT COUNT(*) FROM users WHERE id > $1", [0]) == 2
        for sql in ("SELECT id FROM users", "SELECT id FROM users WHERE false"):
            for method in (conn.fetch_row, conn.fetch_val):
                with pytest.raises(exc.ConnectionExecuteError):
                    await method(sql)


async def test_transaction_parameters_reach_the_server(pool) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction(isolation_level=IsolationLevel.Serializable,
                              read_variant=ReadVariant.ReadOnly, deferrable=True)
        async with tx:
            assert await tx.fetch_val("SHOW transaction_isolation") == "serializable"
            assert await tx.fetch_val("SHOW transaction_read_only") == "on"
            assert await tx.fetch_val("SHOW transaction_deferrable") == "on"


async def test_prepare_execute_cursor_columns(pool) -> None:
    async with pool.acquire() as conn:
        stmt = await conn.prepare(querystring="SELECT id FROM users WHERE id > $1 ORDER BY id",
                                  parameters=[0])
        assert (await stmt.execute()).result() == [{"id": 1}, {"id": 2}]
        assert [c.name for c in stmt.columns()] == ["id"]
        async with conn.transaction():
            cur = stmt.cursor()
            await cur.start()
            assert (await cur.fetchall()).result() == [{"id": 1}, {"id": 2}]


async def test_connection_is_invalid_after_async_with(pool) -> None:
    async with pool.acquire() as connection:
        assert await connection.fetch_val("SELECT 1") == 1
    with pytest.raises(exc.ConnectionClosedError):
        await connection.fetch_val("SELECT 1")


# ---- components/transaction.md ----------------------------------------------------------


async def test_manual_begin_commit(pool) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.begin()
        await tx.execute("INSERT INTO users (id, username) VALUES ($1, $2)", [100, "Alex"])
        await tx.commit()
        assert await conn.fetch_val("SELECT username FROM users WHERE id = 100") == "Alex"


async def test_async_with_commits_or_rolls_back(pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction() as tx:
            await tx.execute("INSERT INTO users (id, username) VALUES ($1, $2)", [101, "A"])
        with pytest.raises(exc.IntegrityError):
            async with conn.transaction() as tx:
                await tx.execute("INSERT INTO users (id) VALUES (102)")
                await tx.execute("INSERT INTO users (id) VALUES (102)")
        ids = await conn.fetch("SELECT id FROM users WHERE id > 100")
        assert ids.result() == [{"id": 101}]


async def test_transaction_begins_only_once(pool) -> None:
    # "if you have already called begin() manually then async context manager
    # initialize will fail" (the reference itself lets the server warn instead).
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.begin()
        with pytest.raises(exc.TransactionBeginError):
            async with tx:
                pass
        await tx.rollback()


async def test_pipeline_savepoints_and_cursor(pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction() as tx:
            results = await tx.pipeline(queries=[
                ("SELECT username FROM users WHERE id = $1", [1]),
                ("SELECT 1", None),
                ("INSERT INTO users (username, id) VALUES ($1, $2)", ["PSQLPy", 50]),
            ])
            assert [r.result() for r in results] == [[{"username": "chandr-andr"}],
                                                     [{"?column?": 1}], []]
            await tx.create_savepoint("my_savepoint")
            await tx.execute("DELETE FROM users")
            await tx.rollback_savepoint("my_savepoint")
            await tx.create_savepoint("other")
            await tx.release_savepoint("other")
            cursor = tx.cursor(querystring="SELECT id FROM users ORDER BY id", fetch_number=2)
            await cursor.start()
            batches = [r.result() async for r in cursor]
            assert batches == [[{"id": 1}, {"id": 2}], [{"id": 50}]]


# ---- components/cursor.md ---------------------------------------------------------------


async def test_cursor_opens_its_own_transaction(pool) -> None:
    # "Cursor always lives inside a transaction. If you don't begin transaction
    # explicitly, it will be opened anyway."
    async with pool.acquire() as conn:
        cursor = conn.cursor(querystring="SELECT id FROM users WHERE id > $1", parameters=[0],
                             fetch_number=10)
        await cursor.start()
        assert await conn.in_transaction()
        assert (await cursor.fetchone()).result() == [{"id": 1}]
        await cursor.close()                 # the docs await it; ours also allows that
        assert not await conn.in_transaction()


async def test_cursor_post_initialization_and_context_manager(pool) -> None:
    async with pool.acquire() as conn:
        cursor = conn.cursor()
        await cursor.execute(querystring="SELECT id FROM users WHERE id > $1 ORDER BY id",
                             parameters=[0])
        assert (await cursor.fetchone()).result() == [{"id": 1}]
        cursor.close()
        async with conn.cursor(querystring="SELECT id FROM users ORDER BY id",
                               array_size=10) as cur:
            assert cur.array_size == 10
            assert (await cur.fetchmany(size=1)).result() == [{"id": 1}]
            cur.array_size = 5
            assert (await cur.fetchall()).result() == [{"id": 2}]


# ---- components/results.md, usage/row_factories -----------------------------------------


class ExampleOfAsClass:
    def __init__(self, username: str) -> None:
        self.username = username


@dataclass
class ValidationTestModel:
    id: int
    name: str


async def test_result_shapes(pool) -> None:
    async with pool.acquire() as conn:
        res = await conn.execute("SELECT username FROM users ORDER BY id", [])
        assert res.result() == [{"username": "chandr-andr"}, {"username": "insani7y"}]
        assert res.result(as_tuple=True) == [("chandr-andr",), ("insani7y",)]
        assert [o.username for o in res.as_class(as_class=ExampleOfAsClass)] == \
            ["chandr-andr", "insani7y"]
        one = await conn.fetch_row("SELECT username FROM users WHERE id = $1", [1])
        assert one.result() == {"username": "chandr-andr"}
        assert one.result(as_tuple=True) == ("chandr-andr",)
        assert one.as_class(as_class=ExampleOfAsClass).username == "chandr-andr"


async def test_row_factories_function_callable_class_and_class_row(pool) -> None:
    def to_class(cls):
        def to_class_inner(row: dict[str, Any]):
            return cls(**row)
        return to_class_inner

    class Upper:
        def __call__(self, row: dict[str, Any]) -> str:
            return row["name"].upper()

    async with pool.acquire() as conn:
        res = await conn.execute("SELECT id, name FROM users ORDER BY id")
        assert res.row_factory(row_factory=to_class(ValidationTestModel)) == [
            ValidationTestModel(1, "Aleksandr"), ValidationTestModel(2, "Michail")]
        assert res.row_factory(row_factory=Upper()) == ["ALEKSANDR", "MICHAIL"]
        assert res.row_factory(class_row(ValidationTestModel))[1] == \
            ValidationTestModel(2, "Michail")


# ---- components/copy.md -----------------------------------------------------------------


def _binary_copy(rows: list[tuple[int, str]]) -> bytes:
    out = bytearray(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    for i, s in rows:
        b = s.encode()
        out += struct.pack("!hii", 2, 4, i) + struct.pack("!i", len(b)) + b
    return bytes(out + struct.pack("!h", -1))


async def test_binary_copy_from_bytes_and_bytesio(pool) -> None:
    async with pool.acquire() as conn:
        n = await conn.binary_copy_to_table(source=_binary_copy([(7, "x"), (8, "y")]),
                                            table_name="users", columns=["id", "username"])
        assert n == 2
        async with conn.transaction() as tx:
            n = await tx.binary_copy_to_table(source=io.BytesIO(_binary_copy([(9, "z")])),
                                              table_name="users", columns=["id", "username"],
                                              schema_name="public")
        assert n == 1
        assert await conn.fetch_val("SELECT string_agg(username, ',' ORDER BY id) "
                                    "FROM users WHERE id >= 7") == "x,y,z"


async def test_copy_records_all_columns_or_a_subset(pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute_batch(
            "CREATE TABLE measurements (id int, label text, value float8, at timestamptz)")
        records = [
            (1, "alpha", 1.5, datetime(2026, 1, 1, tzinfo=timezone.utc)),
            (2, "beta", 2.25, datetime(2026, 1, 2, tzinfo=timezone.utc)),
            (3, "gamma", None, datetime(2026, 1, 3, tzinfo=timezone.utc)),
        ]
        assert await conn.copy_records_to_table(table_name="measurements", records=records) == 3
        async with conn.transaction() as tx:
            n = await tx.copy_records_to_table(table_name="measurements",
                                               records=[(4, "delta"), (5, "eps")],
                                               columns=["id", "label"])
        assert n == 2
        rows = (await conn.execute("SELECT * FROM measurements ORDER BY id")).result(as_tuple=True)
        assert rows[2] == (3, "gamma", None, datetime(2026, 1, 3, tzinfo=timezone.utc))
        assert rows[4] == (5, "eps", None, None)
        await conn.execute_batch("DROP TABLE measurements")


# ---- usage/parameters.md, faq.md --------------------------------------------------------


async def test_sequence_and_mapping_parameters(pool) -> None:
    async with pool.acquire() as conn:
        res = await conn.execute(querystring="SELECT id FROM users WHERE id = $1",
                                 parameters=(2,))
        assert res.result() == [{"id": 2}]
        res = await conn.execute(querystring="SELECT id FROM users WHERE id = $(user_id)p",
                                 parameters=dict(user_id=2))
        assert res.result() == [{"id": 2}]
        # "If you don't pass parameter but have it in querystring, exception will be raised."
        with pytest.raises(exc.PyToRustValueMappingError):
            await conn.execute("SELECT id FROM users WHERE id = $(user_id)p", {"other": 1})


async def test_faq_cases_work_both_ways(pool) -> None:
    # The FAQ's "correct" forms work, and so do its "incorrect" ones: ours encodes each
    # parameter by the type the server inferred for it.
    async with pool.acquire() as conn:
        for limit in ([1, 1], [BigInt(1), BigInt(1)]):
            res = await conn.execute("SELECT id FROM users ORDER BY id LIMIT $1 OFFSET $2", limit)
            assert res.result() == [{"id": 2}]
        res = await conn.execute("SELECT id FROM users WHERE id = ANY($1)", [(1, 2, 3)])
        assert len(res.result()) == 2
        for names in (["Aleksandr", "Cafe"], TextArray(["Aleksandr", "Cafe"])):
            res = await conn.execute("SELECT id FROM users WHERE name = ANY($1)", [names])
            assert res.result() == [{"id": 1}]
        await conn.execute("CREATE TEMP TABLE arr_table (some_array VARCHAR ARRAY)")
        empty: Any
        for empty in ([], VarCharArray([])):
            await conn.execute("INSERT INTO arr_table (some_array) VALUES ($1)", [empty])
        assert (await conn.execute("SELECT * FROM arr_table")).result() == \
            [{"some_array": []}, {"some_array": []}]


# ---- external_connection_pools.md, connection_pool_builder.md ---------------------------


async def test_unprepared_statements_in_a_transaction(pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction() as transaction:
            res = await transaction.execute("SELECT 1 AS one", prepared=False)
            assert res.result() == [{"one": 1}]


async def test_builder_builds_a_working_pool(pg_cluster) -> None:
    from psqlpy._connect import parse_settings
    cfg = parse_settings(dsn=pg_cluster.dsn())
    host, port = cfg.hosts[0]
    builder = (ConnectionPoolBuilder().max_pool_size(10).user(cfg.user).dbname(cfg.database)
               .host(host).port(port))
    if cfg.password:
        builder = builder.password(cfg.password)
    p = builder.build()
    try:
        assert p.status().max_size == 10
        async with p.acquire() as c:
            assert await c.fetch_val("SELECT current_user") == cfg.user
    finally:
        p.close()
        await p.wait_closed()
