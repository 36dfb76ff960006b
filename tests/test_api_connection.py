"""Conformance: Connection (API.md), module aliases, patchable classes."""
from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
from typing import Any

import pytest

import psqlpy
from psqlpy import Connection, ConnectionPool, QueryResult, SingleQueryResult, Transaction, connect
from psqlpy import exceptions as exc
from psqlpy._connect import parse_settings


async def _socket_gone(c: Connection) -> None:
    """close() is synchronous: let the socket finish closing before the loop ends."""
    await asyncio.wait_for(asyncio.shield(getattr(c, "_conn").protocol.closed), 5)


@pytest.fixture
async def conn(dsn: str) -> Any:
    c = await connect(dsn=dsn)
    async with c:
        yield c


@pytest.fixture
async def pool(dsn: str) -> Any:
    p = ConnectionPool(dsn=dsn, max_db_pool_size=2)
    yield p
    p.close()
    await p.wait_closed()


async def test_properties(dsn: str, conn: Connection) -> None:
    cfg = parse_settings(dsn=dsn)
    assert conn.conn_dbname == cfg.database
    assert conn.dbname == cfg.database
    assert conn.user == cfg.user
    assert conn.hosts == [h for h, _ in cfg.hosts]
    assert conn.host_addrs == [h for h, _ in cfg.hosts]
    assert conn.ports == [p for _, p in cfg.hosts]
    assert conn.options is None
    c2 = await connect(dsn=dsn, options="-c work_mem=8MB")
    async with c2:
        assert c2.options == "-c work_mem=8MB"
        assert await c2.fetch_val("SHOW work_mem") == "8MB"


async def test_execute_and_fetch(conn: Connection) -> None:
    res = await conn.execute("SELECT $1::int AS a, $2::text AS b", [1, "x"])
    assert isinstance(res, QueryResult)
    assert res.result() == [{"a": 1, "b": "x"}]
    res2 = await conn.fetch("SELECT g FROM generate_series(1, 3) g")
    assert isinstance(res2, QueryResult)
    assert res2.result(as_tuple=True) == [(1,), (2,), (3,)]
    for prepared in (True, False, None):
        r = await conn.execute("SELECT $1::int8 + 1 AS v", (41,), prepared=prepared)
        assert r.result() == [{"v": 42}]
    ddl = await conn.execute("CREATE TEMP TABLE api_c (x int)")
    assert ddl.result() == []


async def test_fetch_row(conn: Connection) -> None:
    row = await conn.fetch_row("SELECT 1 AS a, 'q' AS b")
    assert isinstance(row, SingleQueryResult)
    assert row.result() == {"a": 1, "b": "q"}
    with pytest.raises(exc.ConnectionExecuteError):
        await conn.fetch_row("SELECT 1 WHERE false")


@pytest.mark.parametrize("prepared", [True, False])
async def test_fetch_row_and_val_refuse_several_rows(conn: Connection, prepared) -> None:
    # The reference driver raises where asyncpg would return the first row.
    for method in (conn.fetch_row, conn.fetch_val):
        with pytest.raises(exc.ConnectionExecuteError, match="returned 5 rows"):
            await method("SELECT g FROM generate_series(5, 9) g", prepared=prepared)
    async with conn.transaction() as tx:
        for method in (tx.fetch_row, tx.fetch_val):
            with pytest.raises(exc.TransactionExecuteError, match="returned 2 rows"):
                await method("SELECT 1 UNION ALL SELECT 2", prepared=prepared)
        assert await tx.fetch_val("SELECT 7") == 7   # the transaction goes on


async def test_fetch_val(conn: Connection) -> None:
    assert await conn.fetch_val("SELECT 'v'") == "v"
    assert await conn.fetch_val("SELECT NULL::int") is None
    assert await conn.fetch_val("SELECT $1::int * 2", [21], prepared=False) == 42
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.fetch_val("SELECT 1 WHERE false")
    assert isinstance(ei.value, exc.Error)
    assert type(ei.value).__module__ == "psqlpy.exceptions"


async def test_execute_batch(conn: Connection) -> None:
    await conn.execute_batch(
        "CREATE TEMP TABLE api_b (x int); INSERT INTO api_b VALUES (1), (2); "
        "UPDATE api_b SET x = x * 10")
    assert await conn.fetch_val("SELECT sum(x) FROM api_b") == 30
    with pytest.raises(exc.ConnectionExecuteError):
        await conn.execute_batch("SELECT 1; SELECT * FROM api_no_such_table")
    assert await conn.fetch_val("SELECT 1") == 1


async def test_execute_many(conn: Connection) -> None:
    await conn.execute("CREATE TEMP TABLE api_m (a int, b text)")
    await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)",
                            [[i, str(i)] for i in range(100)])
    await conn.execute_many("INSERT INTO api_m VALUES ($(a)p, $(b)p)",
                            [{"a": 1000, "b": "named"}])
    await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)", [(2000, "u")], prepared=False)
    await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)", [])
    assert await conn.fetch_val("SELECT count(*) FROM api_m") == 102
    assert await conn.fetch_val("SELECT b FROM api_m WHERE a = 1000") == "named"
    # Lists and tuples mixed go to the encoder as they are; a generator works;
    # a mapping among them takes the named path; bad rows are typed errors.
    await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)", [(3000, "t"), [3001, "l"]])
    await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)",
                            ((i, "g") for i in range(4000, 4003)))  # type: ignore[arg-type]
    await conn.execute_many("INSERT INTO api_m VALUES ($(a)p, $(b)p)",
                            [{"a": 5000, "b": "m1"}, {"b": "m2", "a": 5001}])
    assert await conn.fetch_val("SELECT count(*) FROM api_m") == 109
    assert await conn.fetch_val("SELECT string_agg(b, ',' ORDER BY a) FROM api_m WHERE a >= 3000") == \
        "t,l,g,g,g,m1,m2"
    with pytest.raises(exc.PyToRustValueMappingError):
        await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)", [(1, "a"), "xy"])
    with pytest.raises(exc.PyToRustValueMappingError):
        await conn.execute_many("INSERT INTO api_m VALUES ($1, $2)", [(1, "a"), (2,)])
    assert await conn.fetch_val("SELECT count(*) FROM api_m") == 109   # nothing half-applied


async def test_execute_many_is_pipelined(conn: Connection,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a round trip per row: 2000 rows take a handful of requests."""
    from psqlpy._pgconn import PgConnection
    await conn.execute("CREATE TEMP TABLE api_mp (a int)")
    calls = 0
    orig = PgConnection.request

    async def counting(self: Any, *a: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await orig(self, *a, **kw)

    monkeypatch.setattr(PgConnection, "request", counting)
    await conn.execute_many("INSERT INTO api_mp VALUES ($1)", [[i] for i in range(2000)])
    monkeypatch.undo()
    assert calls <= 4
    assert await conn.fetch_val("SELECT count(*) FROM api_mp") == 2000


async def test_named_parameters(conn: Connection) -> None:
    res = await conn.fetch_val("SELECT $(a)p::int + $(b)p::int + $(a)p::int", {"a": 1, "b": 10})
    assert res == 12
    row = await conn.fetch_row("SELECT $(name)p::text AS n", {"name": "x"})
    assert row.result() == {"n": "x"}
    with pytest.raises(exc.PyToRustValueMappingError):
        await conn.execute("SELECT $(missing)p::int", {"other": 1})


async def test_prepare(conn: Connection) -> None:
    await conn.execute("CREATE TEMP TABLE api_p (id int, name text)")
    await conn.execute("INSERT INTO api_p VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    stmt = await conn.prepare("SELECT id, name FROM api_p WHERE id >= $1 ORDER BY id", [2])
    assert isinstance(stmt, psqlpy.PreparedStatement)
    res = await stmt.execute()
    assert res.result() == [{"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    assert (await stmt.execute()).result(as_tuple=True) == [(2, "b"), (3, "c")]
    cols = stmt.columns()
    assert [c.name for c in cols] == ["id", "name"]
    assert all(isinstance(c, psqlpy.Column) for c in cols)
    oid = await conn.fetch_val("SELECT 'pg_temp.api_p'::regclass::oid::int8")
    assert [c.table_oid for c in cols] == [oid, oid]
    computed = await conn.prepare("SELECT 1 AS one")
    assert computed.columns()[0].table_oid is None
    async with conn.transaction() as tx:
        cur = stmt.cursor(array_size=1)
        async with cur:
            first = await cur.fetchone()
            assert first.result() == [{"id": 2, "name": "b"}]
        assert tx is not None


async def test_in_transaction(conn: Connection) -> None:
    assert await conn.in_transaction() is False
    tx = conn.transaction()
    assert isinstance(tx, Transaction)
    await tx.begin()
    assert await conn.in_transaction() is True
    await tx.rollback()
    assert await conn.in_transaction() is False


async def test_cursor_factory(conn: Connection) -> None:
    cur = conn.cursor("SELECT g FROM generate_series(1, 4) g", array_size=3)
    assert isinstance(cur, psqlpy.Cursor)
    assert cur.array_size == 3
    async with cur:
        batches = [r.result(as_tuple=True) async for r in cur]
    assert batches == [[(1,), (2,), (3,)], [(4,)]]


async def test_close_and_is_closed(dsn: str) -> None:
    c = await connect(dsn=dsn)
    assert c.is_closed() is False
    c.close()
    assert c.is_closed() is True
    with pytest.raises(exc.ConnectionClosedError):
        await c.execute("SELECT 1")
    c.close()   # idempotent
    await _socket_gone(c)


async def test_async_context_manager_own_connection(dsn: str) -> None:
    c = await connect(dsn=dsn)
    async with c as same:
        assert same is c
        assert await c.fetch_val("SELECT 1") == 1
    assert c.is_closed()


async def test_async_context_manager_pool_connection(pool: ConnectionPool) -> None:
    c = await pool.connection()
    async with c:
        await c.fetch_val("SELECT 1")
    assert c.is_closed()
    assert pool.status().available == 1


async def test_errors_keep_connection_usable(conn: Connection) -> None:
    with pytest.raises(exc.ConnectionExecuteError) as ei:
        await conn.execute("SELECT * FROM api_does_not_exist")
    assert isinstance(ei.value, exc.ProgrammingError)
    assert isinstance(ei.value, exc.PostgresError) and ei.value.sqlstate == "42P01"
    assert await conn.fetch_val("SELECT 1") == 1


async def test_method_patched_on_class_takes_effect(conn: Connection, pool: ConnectionPool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = Connection.execute

    async def traced(self: Connection, querystring: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(querystring)
        return await original(self, querystring, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", traced)
    await conn.execute("SELECT 1")
    async with pool.acquire() as pc:
        await pc.execute("SELECT 2")
        await pc.fetch("SELECT 3")      # fetch is not implemented through execute
    assert seen == ["SELECT 1", "SELECT 2"]


def test_classes_are_plain_python_classes() -> None:
    for cls in (psqlpy.Connection, psqlpy.Transaction, psqlpy.Cursor, psqlpy.ConnectionPool,
                psqlpy.Listener):
        assert type(cls) is type, cls
        assert "execute" in dir(cls) or cls in (psqlpy.ConnectionPool, psqlpy.Listener)
        for name in ("execute", "fetch", "fetch_row", "fetch_val", "execute_many",
                     "execute_batch", "fetchone", "fetchmany", "fetchall", "startup",
                     "connection", "status"):
            if hasattr(cls, name):
                orig = cls.__dict__.get(name)
                setattr(cls, name, lambda *a, **k: None)
                try:
                    assert getattr(cls, name)() is None
                finally:
                    if orig is None:
                        delattr(cls, name)
                    else:
                        setattr(cls, name, orig)


def test_private_exceptions_alias() -> None:
    private = importlib.import_module("psqlpy._internal.exceptions")
    from psqlpy import exceptions
    for name in exceptions.__all__:
        assert getattr(private, name) is getattr(exceptions, name), name
    from psqlpy._internal.exceptions import InterfaceError
    assert InterfaceError is exceptions.InterfaceError


def test_distribution_version() -> None:
    try:
        version = importlib.metadata.version("psqlpy")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("psqlpy is not installed in this environment (make test installs it)")
    major, minor = (int(x) for x in version.split(".")[:2])
    assert (major, minor) >= (0, 13)
    assert psqlpy.__version__.split(".")[:2] == version.split(".")[:2]


async def test_queries_leave_no_cyclic_garbage(conn: Connection) -> None:
    """Each query's objects are freed by reference counting alone: a cycle per
    query (request <-> its future, say) would make the GC run all the time."""
    import gc
    for _ in range(10):
        await conn.fetch_val("SELECT 1")
    gc.collect()
    gc.disable()
    try:
        for i in range(100):
            assert await conn.fetch_val("SELECT $1::int4", [i]) == i
            assert (await conn.fetch("SELECT 1 AS a, 'x' AS b")).result() == [{"a": 1, "b": "x"}]
        await conn.execute_many("SELECT $1::int4", [[i] for i in range(50)])
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0
