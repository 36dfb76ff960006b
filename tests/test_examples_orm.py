"""examples/orm_types.py (issue 20's examples for custom ORMs), run against the real
server: a Pydantic model for a composite, an ``enum.Enum`` for an enum, and a numpy array
for pgvector's ``vector`` (on the pgserver cluster, the only one here with pgvector).
Skips when pydantic or numpy is not installed (both are in the ``test`` extra).
"""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("pydantic")

from test_types_orm import vector_dsn  # noqa: E402,F401  (the pgvector cluster fixture)

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "orm_types.py"


def _load():
    spec = importlib.util.spec_from_file_location("orm_types_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _load()


async def test_composite_as_pydantic_model_and_enum_as_enum(dsn):
    out = await example.main(dsn)
    address = out["address"]
    assert isinstance(address, example.Address)
    assert address == example.Address(street="1 Main St", city="Springfield", zip=12345)
    assert out["mood"] is example.Mood.HAPPY
    assert out["history"] == [example.Mood.SAD, example.Mood.OK]     # inside arrays too
    assert out["found"] == 1           # enum and composite parameters in a WHERE clause


async def test_the_codecs_are_the_pool_s_for_every_connection(dsn):
    import psqlpy
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    try:
        await example.composite_and_enum(pool)
        # two connections at once: the second is opened after the registration
        async with pool.acquire() as a, pool.acquire() as b:
            for conn in (a, b):
                assert await conn.fetch_val("SELECT 'sad'::ex_mood") is example.Mood.SAD
                got = await conn.fetch_val("SELECT ROW('x', 'y', NULL)::ex_address")
                assert got == example.Address(street="x", city="y", zip=None)
            assert await a.fetch_val("SELECT $1::ex_mood", ["ok"]) is example.Mood.OK
            # what the encoder raises reaches the caller as a typed error (the
            # encoder's own as its cause), nothing is sent, the connection goes on
            with pytest.raises(psqlpy.exceptions.PyToRustValueMappingError,
                               match="encoder registered for public.ex_mood") as info:
                await a.fetch_val("SELECT $1::ex_mood", ["not-a-mood"])
            assert isinstance(info.value.__cause__, ValueError)
            assert "not-a-mood" in str(info.value.__cause__)
            assert await a.fetch_val("SELECT 1") == 1
            # the same for a decoder
            await a.set_type_codec("ex_mood", decoder=lambda label: 1 / 0)
            with pytest.raises(psqlpy.exceptions.RustToPyValueMappingError,
                               match="decoder registered for public.ex_mood") as dinfo:
                await a.fetch_val("SELECT 'sad'::ex_mood")
            assert isinstance(dinfo.value.__cause__, ZeroDivisionError)
            assert await a.fetch_val("SELECT 2") == 2
    finally:
        pool.close()
        await pool.wait_closed()


def test_vector_codec_round_trips_without_a_server():
    v = np.array([1.5, -2.0, 0.25], dtype=np.float32)
    data = example.vector_to_binary(v)
    assert data[:4] == b"\x00\x03\x00\x00" and len(data) == 16
    assert np.array_equal(example.vector_from_binary(data), v)
    with pytest.raises(ValueError):
        example.vector_from_binary(data[:-1])


async def test_vector_as_numpy_array(vector_dsn):
    out = await example.main(vector_dsn)
    vec = out["vector"]
    if vec is None:
        pytest.skip("pgvector is not installed in the pgserver PostgreSQL")
    assert vec["id"] == 2
    assert isinstance(vec["embedding"], np.ndarray) and vec["embedding"].dtype == np.float32
    assert vec["embedding"].tolist() == [0.0, 1.0, 0.5]
    assert vec["distance"] == 5.0
    assert isinstance(out["address"], example.Address)


def test_the_example_runs_as_a_program(dsn):
    proc = subprocess.run([sys.executable, str(EXAMPLE), dsn], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "street='1 Main St' city='Springfield' zip=12345"
    assert lines[1] == "Mood.HAPPY [<Mood.SAD: 'sad'>, <Mood.OK: 'ok'>]"
