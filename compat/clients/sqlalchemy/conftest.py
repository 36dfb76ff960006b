from __future__ import annotations

import pytest
from sqlalchemy import URL
from engines import make_engine


@pytest.fixture
def url(dsn_parts: dict) -> URL:
    # The dialect registers itself as postgresql+psqlpy (an entry point of psqlpy-sqlalchemy).
    return URL.create(
        "postgresql+psqlpy",
        username=dsn_parts["user"],
        password=dsn_parts["password"],
        host=dsn_parts["host"],
        port=dsn_parts["port"],
        database=dsn_parts["database"],
    )


@pytest.fixture
async def engine(url: URL):
    engine = make_engine(url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()
