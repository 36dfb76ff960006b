"""The SQLAlchemy ORM on psqlpy-sqlalchemy: AsyncSession, relationships, errors, a busy pool."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import pytest
import sqlalchemy as sa
from engines import make_engine
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "orm_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    key: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    joined: Mapped[datetime.datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    books: Mapped[list[Book]] = relationship(back_populates="author", cascade="all, delete-orphan")


class Book(Base):
    __tablename__ = "orm_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    pages: Mapped[int | None]
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("orm_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


class Counter(Base):
    __tablename__ = "orm_counters"
    id: Mapped[int] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)


@pytest.fixture
async def session_factory(engine):
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    yield async_sessionmaker(engine, expire_on_commit=False)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


async def test_session_add_query_update_delete(session_factory):
    async with session_factory() as session:
        ann = Author(name="ann", books=[Book(title="one", pages=10), Book(title="two")])
        bob = Author(name="bob")
        session.add_all([ann, bob])
        await session.commit()
        assert ann.id is not None and isinstance(ann.key, uuid.UUID)

    async with session_factory() as session:
        authors = (
            await session.scalars(sa.select(Author).options(selectinload(Author.books)).order_by(Author.name))
        ).all()
        assert [a.name for a in authors] == ["ann", "bob"]
        assert sorted(b.title for b in authors[0].books) == ["one", "two"]
        assert authors[1].books == []
        assert authors[0].joined.tzinfo is not None

        book = await session.scalar(sa.select(Book).where(Book.title == "two"))
        book.pages = 99
        loaded = await session.get(Author, authors[1].id)
        loaded.books.append(Book(title="three", pages=3))
        await session.commit()

    async with session_factory() as session:
        rows = (await session.execute(
            sa.select(Author.name, Book.title, Book.pages).join(Book.author).order_by(Book.title)
        )).all()
        assert [tuple(r) for r in rows] == [("ann", "one", 10), ("bob", "three", 3), ("ann", "two", 99)]
        total = await session.scalar(sa.select(sa.func.sum(Book.pages)).where(Book.pages > 5))
        assert total == 109

        ann = await session.scalar(sa.select(Author).where(Author.name == "ann"))
        await session.delete(ann)
        await session.commit()

    async with session_factory() as session:
        assert (await session.scalars(sa.select(Book.title).order_by(Book.title))).all() == ["three"]
        assert await session.get(Author, 12345) is None


async def test_session_rollback_and_error_recovery(session_factory):
    async with session_factory() as session:
        session.add(Author(name="ann"))
        await session.commit()

    async with session_factory() as session:
        session.add(Author(name="temp"))
        await session.flush()
        await session.rollback()
        assert await session.scalar(sa.select(sa.func.count()).select_from(Author)) == 1

        session.add(Author(name="ann"))
        with pytest.raises(exc.DBAPIError) as info:
            await session.commit()
        assert "orm_authors_name_key" in str(info.value)
        await session.rollback()
        session.add(Author(name="cid"))
        await session.commit()

    async with session_factory() as session:
        names = (await session.scalars(sa.select(Author.name).order_by(Author.name))).all()
        assert names == ["ann", "cid"]


async def test_session_begin_context_commits_or_rolls_back(session_factory):
    async with session_factory() as session:
        async with session.begin():
            session.add(Author(name="kept"))
    with pytest.raises(RuntimeError):
        async with session_factory() as session:
            async with session.begin():
                session.add(Author(name="lost"))
                await session.flush()
                raise RuntimeError("abandon")
    async with session_factory() as session:
        assert (await session.scalars(sa.select(Author.name))).all() == ["kept"]


async def test_stream_scalars_through_the_orm(session_factory):
    async with session_factory() as session:
        session.add(Author(name="big", books=[Book(title=f"b{i:03}", pages=i) for i in range(300)]))
        await session.commit()
    async with session_factory() as session:
        stream = await session.stream_scalars(
            sa.select(Book).order_by(Book.id).execution_options(yield_per=50)
        )
        titles = [b.title async for b in stream]
        assert titles == [f"b{i:03}" for i in range(300)]


async def test_pool_under_concurrency(url, session_factory):
    engine = make_engine(url, pool_size=4, max_overflow=2, pool_timeout=30)
    try:
        factory = async_sessionmaker(engine, expire_on_commit=False)
        async with factory() as session:
            session.add_all([Counter(id=i) for i in range(5)])
            await session.commit()

        async def worker(n: int) -> int:
            async with factory() as session:
                async with session.begin():
                    row = await session.scalar(
                        sa.select(Counter).where(Counter.id == n % 5).with_for_update()
                    )
                    row.hits += 1
                async with AsyncSession(engine) as other:
                    return await other.scalar(sa.select(sa.literal(n, sa.Integer) * 2))

        results = await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(60))), 60)
        assert results == [n * 2 for n in range(60)]
        async with factory() as session:
            hits = (await session.execute(sa.select(Counter.id, Counter.hits).order_by(Counter.id))).all()
            assert [tuple(r) for r in hits] == [(i, 12) for i in range(5)]
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


async def test_savepoints_with_begin_nested(session_factory):
    async with session_factory() as session:
        session.add(Author(name="outer"))
        await session.flush()
        nested = await session.begin_nested()
        session.add(Author(name="inner-dropped"))
        await session.flush()
        await nested.rollback()
        async with session.begin_nested():
            session.add(Author(name="inner-kept"))
        await session.commit()
    async with session_factory() as session:
        names = (await session.scalars(sa.select(Author.name).order_by(Author.name))).all()
        assert names == ["inner-kept", "outer"]


async def test_bulk_update_and_delete_statements(session_factory):
    async with session_factory() as session:
        session.add(Author(name="ann", books=[Book(title=f"t{i}", pages=i) for i in range(10)]))
        await session.commit()
    async with session_factory() as session:
        # executemany of an UPDATE (the dialect hands it to execute_many)
        await session.execute(
            sa.update(Book),
            [{"id": b.id, "pages": b.pages * 100} for b in (await session.scalars(sa.select(Book))).all()],
        )
        await session.execute(sa.delete(Book).where(Book.pages >= 800))
        await session.commit()
    async with session_factory() as session:
        pages = (await session.scalars(sa.select(Book.pages).order_by(Book.pages))).all()
        assert pages == [i * 100 for i in range(8)]


async def test_a_killed_connection_raises_and_is_replaced(url, session_factory):
    # (pool_pre_ping cannot help here: the dialect leaves is_disconnect() at
    # SQLAlchemy's default, on either driver, so the application invalidates.)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
        async with session_factory() as admin:
            assert await admin.scalar(sa.select(sa.func.pg_terminate_backend(pid))) is True
        await asyncio.sleep(0.2)
        async with engine.connect() as conn:
            with pytest.raises(exc.DBAPIError):
                await conn.scalar(sa.text("SELECT 1"))
            await conn.invalidate()
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()
