from __future__ import annotations

import pytest
from sqlspec import SQLSpec
from sqlspec.adapters.psqlpy import PsqlpyConfig


@pytest.fixture
async def spec_config(dsn: str):
    spec = SQLSpec()
    config = spec.add_config(PsqlpyConfig(connection_config={"dsn": dsn, "max_db_pool_size": 5}))
    yield spec, config
    await spec.close_all_pools()


@pytest.fixture
async def session(spec_config):
    spec, config = spec_config
    async with spec.provide_session(config) as session:
        yield session
