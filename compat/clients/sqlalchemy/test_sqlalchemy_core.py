"""SQLAlchemy Core on psqlpy-sqlalchemy: what an application does with an AsyncEngine."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()

people = sa.Table(
    "sa_people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False, unique=True),
    sa.Column("age", sa.Integer),
    sa.Column("city", sa.String(50)),
)

visits = sa.Table(
    "sa_visits",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("sa_people.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("ix_sa_visits_person", "person_id"),
)


class Mood(enum.Enum):
    happy = "happy"
    sad = "sad"


every_type = sa.Table(
    "sa_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("small", sa.SmallInteger),
    sa.Column("big", sa.BigInteger),
    sa.Column("flag", sa.Boolean),
    sa.Column("short", sa.String(20)),
    sa.Column("long", sa.Text),
    sa.Column("price", sa.Numeric(12, 3)),
    sa.Column("ratio", sa.Float),
    sa.Column("day", sa.Date),
    sa.Column("moment", sa.DateTime),
    sa.Column("moment_tz", sa.DateTime(timezone=True)),
    sa.Column("clock", sa.Time),
    sa.Column("span", sa.Interval),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("doc", pg.JSONB),
    sa.Column("plain_json", sa.JSON),
    sa.Column("ident", sa.Uuid),
    sa.Column("numbers", pg.ARRAY(sa.Integer)),
    sa.Column("words", pg.ARRAY(sa.Text)),
    sa.Column("mood", sa.Enum(Mood, name="sa_mood")),
)


@pytest.fixture
async def tables(engine):
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


PEOPLE = [
    {"id": 1, "name": "ann", "age": 31, "city": "oslo"},
    {"id": 2, "name": "bob", "age": 25, "city": "rome"},
    {"id": 3, "name": "cid", "age": 47, "city": "oslo"},
    {"id": 4, "name": "dee", "age": None, "city": "lima"},
]


async def _fill(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(people), PEOPLE)


async def test_insert_and_select_with_filters(engine, tables):
    await _fill(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(people).order_by(people.c.id))).all()
        assert [tuple(r) for r in rows] == [tuple(p.values()) for p in PEOPLE]

        q = sa.select(people.c.name).where(people.c.city == "oslo", people.c.age > 40)
        assert (await conn.execute(q)).scalars().all() == ["cid"]

        q = sa.select(people.c.name).where(sa.or_(people.c.age < 30, people.c.age.is_(None))).order_by(people.c.name)
        assert (await conn.execute(q)).scalars().all() == ["bob", "dee"]

        q = sa.select(people.c.id).where(people.c.name.in_(["ann", "dee", "zed"])).order_by(people.c.id)
        assert (await conn.execute(q)).scalars().all() == [1, 4]

        q = sa.select(people.c.name).where(people.c.name.like("%e%")).order_by(people.c.name)
        assert (await conn.execute(q)).scalars().all() == ["dee"]

        q = sa.select(people.c.name).where(people.c.age.between(25, 31)).order_by(people.c.age.desc())
        assert (await conn.execute(q)).scalars().all() == ["ann", "bob"]

        q = sa.select(people.c.name).order_by(people.c.id).limit(2).offset(1)
        assert (await conn.execute(q)).scalars().all() == ["bob", "cid"]

        q = sa.select(people.c.city, sa.func.count().label("n")).group_by(people.c.city).order_by(people.c.city)
        assert [tuple(r) for r in await conn.execute(q)] == [("lima", 1), ("oslo", 2), ("rome", 1)]

        row = (await conn.execute(sa.select(people).where(people.c.id == 2))).mappings().one()
        assert dict(row) == PEOPLE[1]

        assert (await conn.execute(sa.select(people).where(people.c.id == 99))).first() is None


async def test_insert_returning_update_delete(engine, tables):
    async with engine.begin() as conn:
        new_id = (
            await conn.execute(
                sa.insert(people).values(id=10, name="eve", age=22, city="kyiv").returning(people.c.id)
            )
        ).scalar_one()
        assert new_id == 10
        await conn.execute(sa.insert(people), PEOPLE)

    async with engine.begin() as conn:
        result = await conn.execute(sa.update(people).where(people.c.city == "oslo").values(age=people.c.age + 1))
        assert result.rowcount >= 1
        updated = await conn.execute(
            sa.update(people).where(people.c.name == "bob").values(city="nice").returning(people.c.city)
        )
        assert updated.scalar_one() == "nice"
        deleted = await conn.execute(
            sa.delete(people).where(people.c.age.is_(None)).returning(people.c.name)
        )
        assert deleted.scalars().all() == ["dee"]

    async with engine.connect() as conn:
        ages = dict((await conn.execute(sa.select(people.c.name, people.c.age))).all())
        assert ages == {"eve": 22, "ann": 32, "bob": 25, "cid": 48}
        assert (await conn.execute(sa.select(people.c.city).where(people.c.name == "bob"))).scalar() == "nice"
        count = await conn.scalar(sa.select(sa.func.count()).select_from(people))
        assert count == 4


async def test_bound_parameters_and_text(engine, tables):
    await _fill(engine)
    async with engine.connect() as conn:
        q = sa.text("SELECT name FROM sa_people WHERE city = :city AND age >= :age ORDER BY name")
        assert (await conn.execute(q, {"city": "oslo", "age": 30})).scalars().all() == ["ann", "cid"]
        value = await conn.scalar(sa.select(sa.literal(5, sa.Integer) + sa.bindparam("x", 7, sa.Integer)))
        assert value == 12


ROW = {
    "id": 1,
    "small": -32768,
    "big": 2**62 + 5,
    "flag": True,
    "short": "héllo wörld",
    "long": "x" * 10_000,
    "price": decimal.Decimal("123456789.125"),
    "ratio": 0.25,
    "day": datetime.date(2024, 2, 29),
    "moment": datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
    "moment_tz": datetime.datetime(2024, 2, 29, 13, 14, 15, 5, tzinfo=datetime.timezone.utc),
    "clock": datetime.time(23, 59, 58, 999),
    "span": datetime.timedelta(days=3, hours=4, microseconds=7),
    "doc": {"a": [1, 2, {"b": None}], "c": "ü"},
    "plain_json": [1, "two", {"three": 3.5}],
    "ident": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "numbers": [1, -2, 3],
    "words": ["a", "b c", "ü"],
    "mood": Mood.sad,
}


BLOB = bytes(range(256)) * 4


async def test_every_common_type_round_trips(engine, tables):
    async with engine.begin() as conn:
        await conn.execute(sa.insert(every_type).values(**ROW))
        await conn.execute(sa.insert(every_type).values(id=2))
        # LargeBinary's bind processor calls the DB-API module's Binary(), which the
        # dialect's module (a copy of psqlpy's namespace) lacks on either driver:
        # bytes go in through text(), as a user of psqlpy-sqlalchemy writes them.
        await conn.execute(sa.text("UPDATE sa_types SET blob = :blob WHERE id = 1"), {"blob": BLOB})
    async with engine.connect() as conn:
        got = (await conn.execute(sa.select(every_type).where(every_type.c.id == 1))).mappings().one()
        for key, value in {**ROW, "blob": BLOB}.items():
            assert got[key] == value, key
            # a uuid arrives as psqlpy.protocol.UUID, a uuid.UUID subclass (as asyncpg's
            # own UUID type reaches SQLAlchemy users); every other type exactly
            if isinstance(value, uuid.UUID):
                assert isinstance(got[key], uuid.UUID) and hash(got[key]) == hash(value), key
            else:
                assert type(got[key]) is type(value), key
        empty = (await conn.execute(sa.select(every_type).where(every_type.c.id == 2))).mappings().one()
        assert {k: v for k, v in empty.items() if k != "id"} == {k: None for k in every_type.c.keys() if k != "id"}


async def test_filters_on_typed_columns(engine, tables):
    async with engine.begin() as conn:
        await conn.execute(sa.insert(every_type).values(**ROW))
    async with engine.connect() as conn:
        by = [
            every_type.c.ident == ROW["ident"],
            every_type.c.day == ROW["day"],
            every_type.c.moment_tz > datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
            every_type.c.price == decimal.Decimal("123456789.125"),
            every_type.c.flag.is_(True),
            every_type.c.mood == Mood.sad,
            every_type.c.doc["c"].astext == "ü",
            every_type.c.numbers.contains([3]),
        ]
        for condition in by:
            assert (await conn.execute(sa.select(every_type.c.id).where(condition))).scalar() == 1, str(condition)


async def test_transaction_rollback_and_commit(engine, tables):
    async with engine.connect() as conn:
        trans = await conn.begin()
        await conn.execute(sa.insert(people).values(id=1, name="ann"))
        await trans.rollback()
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(people)) == 0

    async with engine.connect() as conn:
        await conn.execute(sa.insert(people).values(id=1, name="ann"))
        await conn.commit()
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(people.c.name)) == "ann"


async def test_errors_are_dbapi_errors_and_the_connection_recovers(engine, tables):
    await _fill(engine)
    async with engine.connect() as conn:
        with pytest.raises(exc.DBAPIError) as info:
            await conn.execute(sa.insert(people).values(id=50, name="ann"))
        assert "sa_people_name_key" in str(info.value)
        await conn.rollback()
        # the same connection goes on after the rollback
        assert await conn.scalar(sa.select(sa.func.count()).select_from(people)) == 4

        with pytest.raises(exc.DBAPIError):
            await conn.execute(sa.text("SELECT no_such_column FROM sa_people"))
        await conn.rollback()
        with pytest.raises(exc.DBAPIError):
            await conn.execute(sa.text("SELECT 1/0"))
        await conn.rollback()
        assert await conn.scalar(sa.text("SELECT 41 + 1")) == 42

    # a failed statement inside engine.begin() rolls the whole block back
    with pytest.raises(exc.DBAPIError):
        async with engine.begin() as conn:
            await conn.execute(sa.insert(people).values(id=60, name="new"))
            await conn.execute(sa.insert(people).values(id=61, name="bob"))
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).where(people.c.id >= 60)) == 0


async def test_server_side_streaming(engine, tables):
    async with engine.begin() as conn:
        await conn.execute(sa.insert(people), [{"id": i, "name": f"p{i}", "age": i % 90} for i in range(1, 1001)])
    async with engine.connect() as conn:
        result = await conn.stream(
            sa.select(people.c.id, people.c.name).order_by(people.c.id).execution_options(yield_per=100)
        )
        seen = []
        async for partition in result.partitions():
            assert 0 < len(partition) <= 100
            if not seen:
                # the rows come from a cursor open on the server, not a buffered result
                # (the unnamed portal is this very query)
                open_cursors = await conn.scalar(sa.text("SELECT count(*) FROM pg_cursors WHERE name <> ''"))
                assert open_cursors == 1
            seen.extend(partition)
        assert [r.id for r in seen] == list(range(1, 1001))
        assert seen[9].name == "p10"

        result = await conn.stream_scalars(sa.select(people.c.age).where(people.c.age > 80).order_by(people.c.id))
        ages = [a async for a in result]
        assert ages == [i % 90 for i in range(1, 1001) if i % 90 > 80]


async def test_reflection(engine, tables):
    async with engine.connect() as conn:

        def inspect(sync_conn):
            insp = sa.inspect(sync_conn)
            return (
                insp.get_table_names(),
                insp.get_columns("sa_visits"),
                insp.get_pk_constraint("sa_visits"),
                insp.get_foreign_keys("sa_visits"),
                insp.get_indexes("sa_visits"),
                insp.get_unique_constraints("sa_people"),
                insp.get_enums(),
            )

        names, columns, pk, fks, indexes, uniques, enums = await conn.run_sync(inspect)
        assert {"sa_people", "sa_types", "sa_visits"} <= set(names)
        by_name = {c["name"]: c for c in columns}
        assert list(by_name) == ["id", "person_id", "at"]
        assert isinstance(by_name["id"]["type"], sa.BigInteger)
        assert by_name["person_id"]["nullable"] is False
        assert isinstance(by_name["at"]["type"], sa.DateTime) and by_name["at"]["type"].timezone
        assert "now()" in by_name["at"]["default"]
        assert pk["constrained_columns"] == ["id"]
        assert [(f["referred_table"], f["constrained_columns"], f["options"].get("ondelete")) for f in fks] == [
            ("sa_people", ["person_id"], "CASCADE")
        ]
        assert [(i["name"], i["column_names"]) for i in indexes] == [("ix_sa_visits_person", ["person_id"])]
        assert [u["column_names"] for u in uniques] == [["name"]]
        assert {"name": "sa_mood", "labels": ["happy", "sad"]}.items() <= next(
            e for e in enums if e["name"] == "sa_mood"
        ).items()

        reflected = sa.MetaData()
        await conn.run_sync(reflected.reflect, only=["sa_people", "sa_types"])
        t = reflected.tables["sa_types"]
        assert isinstance(t.c.doc.type, pg.JSONB)
        assert isinstance(t.c.numbers.type, pg.ARRAY)
        assert isinstance(t.c.ident.type, sa.Uuid)
        # a reflected table is usable for queries
        await conn.execute(sa.insert(reflected.tables["sa_people"]).values(id=7, name="ref"))
        assert await conn.scalar(sa.select(reflected.tables["sa_people"].c.name)) == "ref"
        await conn.rollback()
