"""sqlspec's psqlpy adapter: what an application does with a session."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import uuid
from dataclasses import dataclass

import pytest
from sqlspec import sql
from sqlspec.exceptions import NotFoundError, SQLParsingError, UniqueViolationError, ForeignKeyViolationError

SCHEMA = """
DROP TABLE IF EXISTS ss_orders;
DROP TABLE IF EXISTS ss_items;
CREATE TABLE ss_items (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    price numeric(10, 2) NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    attrs jsonb,
    key uuid,
    added timestamptz,
    active boolean NOT NULL DEFAULT true
);
CREATE TABLE ss_orders (
    id serial PRIMARY KEY,
    item_id int NOT NULL REFERENCES ss_items (id),
    qty int NOT NULL
);
"""


@pytest.fixture
async def items(session):
    await session.execute_script(SCHEMA)
    yield session
    await session.execute_script("DROP TABLE IF EXISTS ss_orders; DROP TABLE IF EXISTS ss_items;")


@dataclass
class Item:
    id: int
    name: str
    price: decimal.Decimal


async def test_crud_with_named_and_positional_parameters(items):
    s = items
    result = await s.execute(
        "INSERT INTO ss_items (name, price, tags) VALUES (:name, :price, :tags)",
        {"name": "apple", "price": decimal.Decimal("1.25"), "tags": ["fruit", "red"]},
    )
    assert result.rows_affected == 1
    await s.execute("INSERT INTO ss_items (name, price) VALUES ($1, $2)", "pear", decimal.Decimal("2.50"))
    many = await s.execute_many(
        "INSERT INTO ss_items (name, price, active) VALUES (:name, :price, :active)",
        [{"name": f"nut{i}", "price": decimal.Decimal(i), "active": i % 2 == 0} for i in range(1, 6)],
    )
    assert many.rows_affected == 5

    rows = await s.select("SELECT name, price FROM ss_items WHERE price > :p AND active ORDER BY name", p=1)
    assert rows == [
        {"name": "apple", "price": decimal.Decimal("1.25")},
        {"name": "nut2", "price": decimal.Decimal("2.00")},
        {"name": "nut4", "price": decimal.Decimal("4.00")},
        {"name": "pear", "price": decimal.Decimal("2.50")},
    ]
    assert await s.select_value("SELECT count(*) FROM ss_items WHERE name LIKE $1", "nut%") == 5
    one = await s.select_one("SELECT id, name, price FROM ss_items WHERE name = :n", n="apple", schema_type=Item)
    assert isinstance(one, Item) and one.name == "apple" and one.price == decimal.Decimal("1.25")
    assert await s.select_one_or_none("SELECT * FROM ss_items WHERE name = 'nope'") is None
    with pytest.raises(NotFoundError):
        await s.select_one("SELECT * FROM ss_items WHERE name = 'nope'")
    tags = await s.select_value("SELECT tags FROM ss_items WHERE name = 'apple'")
    assert tags == ["fruit", "red"]

    updated = await s.execute("UPDATE ss_items SET price = price * 2 WHERE name LIKE :pat", pat="nut%")
    assert updated.rows_affected == 5
    deleted = await s.execute("DELETE FROM ss_items WHERE NOT active")
    assert deleted.rows_affected == 3
    returned = await s.execute("DELETE FROM ss_items WHERE name = 'pear' RETURNING id, name")
    assert [r["name"] for r in returned.get_data()] == ["pear"]
    names = await s.select("SELECT name FROM ss_items ORDER BY id")
    assert [r["name"] for r in names] == ["apple", "nut2", "nut4"]


async def test_query_builder_and_paging(items):
    s = items
    await s.execute_many(
        "INSERT INTO ss_items (name, price) VALUES ($1, $2)",
        [(f"n{i:02}", decimal.Decimal(i)) for i in range(30)],
    )
    query = sql.select("name", "price").from_("ss_items").where("price >= 10").order_by("price")
    rows = await s.select(query)
    assert [r["name"] for r in rows] == [f"n{i:02}" for i in range(10, 30)]
    page, total = await s.select_with_total(
        sql.select("name").from_("ss_items").where("price < 20").order_by("name").limit(5).offset(5)
    )
    assert total == 20
    assert [r["name"] for r in page] == [f"n{i:02}" for i in range(5, 10)]


async def test_values_of_common_types(items):
    s = items
    key = uuid.uuid4()
    added = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    attrs = {"size": [1, 2], "note": "ü", "deep": {"x": None}}
    await s.execute(
        "INSERT INTO ss_items (name, price, attrs, key, added, tags) VALUES (:n, :p, :a, :k, :d, :t)",
        n="typed", p=decimal.Decimal("12345678.99"), a=attrs, k=key, d=added, t=["a", "b"],
    )
    row = await s.select_one("SELECT * FROM ss_items WHERE key = :k", k=key)
    assert row["attrs"] == attrs
    assert str(row["key"]) == str(key)  # (a str on the reference driver, a UUID on ours)
    assert row["added"] == added
    assert row["price"] == decimal.Decimal("12345678.99")
    assert row["active"] is True
    # the JSON operators through a parameter
    got = await s.select_value("SELECT attrs -> 'size' ->> 1 FROM ss_items WHERE attrs @> :frag", frag={"note": "ü"})
    assert got == "2"


async def test_transactions(items):
    s = items
    await s.begin()
    await s.execute("INSERT INTO ss_items (name, price) VALUES ('gone', 1)")
    await s.rollback()
    await s.begin()
    await s.execute("INSERT INTO ss_items (name, price) VALUES ('kept', 1)")
    await s.commit()

    async with s.transaction():
        await s.execute("INSERT INTO ss_items (name, price) VALUES ('block', 1)")
        with pytest.raises(RuntimeError):
            async with s.transaction():  # a savepoint inside the outer block
                await s.execute("INSERT INTO ss_items (name, price) VALUES ('inner', 1)")
                raise RuntimeError("undo the inner block")
    with pytest.raises(RuntimeError):
        async with s.transaction():
            await s.execute("INSERT INTO ss_items (name, price) VALUES ('aborted', 1)")
            raise RuntimeError("undo")

    names = await s.select("SELECT name FROM ss_items ORDER BY name")
    assert [r["name"] for r in names] == ["block", "kept"]


async def test_errors_are_mapped_and_the_session_goes_on(items):
    s = items
    await s.execute("INSERT INTO ss_items (name, price) VALUES ('dup', 1)")
    with pytest.raises(UniqueViolationError):
        await s.execute("INSERT INTO ss_items (name, price) VALUES ('dup', 2)")
    with pytest.raises(ForeignKeyViolationError):
        await s.execute("INSERT INTO ss_orders (item_id, qty) VALUES (999, 1)")
    with pytest.raises(SQLParsingError):
        await s.execute("SELEC nothing")
    # a failed statement inside a transaction: rolled back, then the session works
    await s.begin()
    with pytest.raises(UniqueViolationError):
        await s.execute("INSERT INTO ss_items (name, price) VALUES ('dup', 3)")
    await s.rollback()
    assert await s.select_value("SELECT count(*) FROM ss_items") == 1


async def test_streaming_select(items):
    s = items
    await s.execute("INSERT INTO ss_items (name, price) SELECT 'g' || g, g FROM generate_series(1, 2500) g")
    seen = []
    async with s.select_stream(
        "SELECT id, price FROM ss_items WHERE price > :p ORDER BY price", p=100, chunk_size=300, native_only=True
    ) as stream:
        async for row in stream:
            seen.append(int(row["price"]))
    assert seen == list(range(101, 2501))
    # inside a transaction the stream joins it and sees its uncommitted rows
    async with s.transaction():
        await s.execute("INSERT INTO ss_items (name, price) VALUES ('late', 99999)")
        last = [r async for r in s.select_stream("SELECT name FROM ss_items WHERE price > 2500", chunk_size=1)]
        assert last == [{"name": "late"}]


async def test_pool_serves_concurrent_sessions(spec_config, items):
    spec, config = spec_config

    async def worker(n: int) -> int:
        async with spec.provide_session(config) as s:
            async with s.transaction():
                await s.execute("INSERT INTO ss_items (name, price) VALUES ($1, $2)", f"w{n}", n)
                return await s.select_value("SELECT price FROM ss_items WHERE name = $1", f"w{n}")

    got = await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(40))), 60)
    assert [int(v) for v in got] == list(range(40))
    assert await items.select_value("SELECT count(*) FROM ss_items") == 40
