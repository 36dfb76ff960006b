"""Custom Python types for PostgreSQL types, with ``set_type_codec``:

* a Pydantic model for a composite type (``format="dict"``),
* an ``enum.Enum`` for an enum type (``format="text"``),
* a numpy array for pgvector's ``vector`` (``format="binary"``).

Run it against any server you may create types on (pgvector is optional: that part is
skipped when the extension is not installed)::

    python examples/orm_types.py postgresql://user:pw@localhost/db

Needs ``pydantic`` (2.x) and ``numpy``. tests/test_examples_orm.py runs it against the
test cluster.
"""
from __future__ import annotations

import asyncio
import enum
import struct
import sys

import numpy as np
from pydantic import BaseModel

import psqlpy
from psqlpy import exceptions as exc

SCHEMA = """
DROP TABLE IF EXISTS ex_customers;
DROP TYPE IF EXISTS ex_address;
DROP TYPE IF EXISTS ex_mood;
CREATE TYPE ex_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE ex_address AS (street text, city text, zip int4);
CREATE TABLE ex_customers (id int4 PRIMARY KEY, address ex_address, mood ex_mood,
                           history ex_mood[]);
"""


# ---- a composite as a Pydantic model ------------------------------------------------

class Address(BaseModel):
    street: str
    city: str
    zip: int | None = None


# ---- an enum as an enum.Enum --------------------------------------------------------

class Mood(enum.Enum):
    SAD = "sad"
    OK = "ok"
    HAPPY = "happy"


async def composite_and_enum(pool: psqlpy.ConnectionPool) -> dict:
    """Register the codecs on the pool (every connection, open or opened later), write a
    row with model and enum parameters, read it back as a model and enum members."""
    async with pool.acquire() as conn:
        await conn.execute_batch(SCHEMA)
    # "dict": the decoder gets the attributes, decoded, as a dict (the model validates
    # it); the encoder returns a mapping, encoded as a composite parameter is.
    await pool.set_type_codec("ex_address", format="dict",
                              decoder=Address.model_validate,
                              encoder=lambda a: a.model_dump())
    # "text" (the default): the decoder gets the label, the encoder returns it (from a
    # member or a label; anything else raises ValueError, which the call re-raises).
    await pool.set_type_codec("ex_mood", decoder=Mood, encoder=lambda m: Mood(m).value)

    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO ex_customers VALUES ($1, $2, $3, $4)",
            [1, Address(street="1 Main St", city="Springfield", zip=12345), Mood.HAPPY,
             [Mood.SAD, Mood.OK]])
        row = await conn.fetch_row(
            "SELECT address, mood, history FROM ex_customers WHERE id = $1", [1])
        found = await conn.fetch_val(
            "SELECT id FROM ex_customers WHERE mood = $1 AND (address).city = $2",
            [Mood.HAPPY, "Springfield"])
    return {**row.result(), "found": found}


# ---- pgvector's vector as a numpy array ----------------------------------------------

def vector_from_binary(data: bytes) -> np.ndarray:
    """pgvector's binary form: int16 dimensions, int16 unused, float4 values (big-endian)."""
    dim, _unused = struct.unpack_from(">HH", data)
    if len(data) != 4 + 4 * dim:
        raise ValueError(f"vector of {dim} dimensions in {len(data)} bytes")
    return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


def vector_to_binary(value) -> bytes:
    arr = np.asarray(value, dtype=">f4")
    if arr.ndim != 1:
        raise ValueError("a vector is one-dimensional")
    return struct.pack(">HH", arr.shape[0], 0) + arr.tobytes()


async def vector(pool: psqlpy.ConnectionPool) -> dict | None:
    """None when the server has no pgvector."""
    async with pool.acquire() as conn:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except exc.DatabaseError:
            return None
        await conn.execute_batch("DROP TABLE IF EXISTS ex_items;"
                                 "CREATE TABLE ex_items (id int4, embedding vector(3))")
    # "binary": bytes both ways, the type's own binary form (typsend/typreceive).
    await pool.set_type_codec("vector", format="binary",
                              decoder=vector_from_binary, encoder=vector_to_binary)
    async with pool.acquire() as conn:
        await conn.execute_many("INSERT INTO ex_items VALUES ($1, $2)",
                                [[1, np.array([1.0, 0.0, 0.0])],
                                 [2, np.array([0.0, 1.0, 0.5])]])
        nearest = await conn.fetch_row(
            "SELECT id, embedding FROM ex_items ORDER BY embedding <-> $1 LIMIT 1",
            [np.array([0.1, 0.9, 0.4], dtype=np.float32)])
        distance = await conn.fetch_val("SELECT $1::vector <-> $2::vector",
                                        [np.array([0, 0, 0]), np.array([3, 4, 0])])
    return {**nearest.result(), "distance": distance}


async def main(dsn: str) -> dict:
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        out = await composite_and_enum(pool)
        out["vector"] = await vector(pool)
    finally:
        pool.close()
        await pool.wait_closed()
    return out


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else
                              "postgresql://postgres@localhost/postgres"))
    print(result["address"])       # street='1 Main St' city='Springfield' zip=12345
    print(result["mood"], result["history"])   # Mood.HAPPY [<Mood.SAD: 'sad'>, <Mood.OK: 'ok'>]
    print(result["vector"] or "pgvector is not installed: skipped")
    # {'id': 2, 'embedding': array([0. , 1. , 0.5], dtype=float32), 'distance': 5.0}
