"""Suite-wide fixtures: a throwaway PostgreSQL cluster and two event loops.

Fixtures
--------
``pg_cluster`` (session)
    A started :class:`tests.pgcluster.PgCluster`, or an
    :class:`tests.pgcluster.ExternalCluster` when ``PSQLPY_TEST_DSN`` is set.
``dsn`` (function)
    The superuser DSN to the ``psqlpy_test`` database (plain TCP, ``sslmode`` left
    to the client's default).
``own_cluster`` (session)
    Like ``pg_cluster`` but skips the test when the server is external (use it
    for tests that need the auth roles, TLS, restarts or ``pg_basebackup``).

Event loops
-----------
Every async test runs twice, ids ``[asyncio]`` and ``[uvloop]``. When
the installed pytest-asyncio has it (1.5 here), this goes through the ``pytest_asyncio_loop_factories``
hook (overriding ``event_loop_policy`` is deprecated there and, since the
plugin's fixture is autouse, would also duplicate every sync test); with
older versions a parametrized session ``event_loop_policy`` fixture does the
same. ``PSQLPY_TEST_LOOPS=asyncio`` (comma list) restricts the loops.
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from typing import Any, AsyncIterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from pgcluster import ExternalCluster, PgCluster, cluster_from_env  # noqa: E402

uvloop: types.ModuleType | None
try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test extra on Linux/macOS
    uvloop = None

_pa_plugin: types.ModuleType | None
try:
    import pytest_asyncio.plugin as _pa_plugin
except ImportError:  # pragma: no cover
    _pa_plugin = None


def _loop_factories() -> dict:
    factories = {"asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    wanted = os.environ.get("PSQLPY_TEST_LOOPS")
    if wanted:
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        factories = {n: f for n, f in factories.items() if n in names} or factories
    return factories


LOOP_FACTORIES = _loop_factories()

_HAS_FACTORY_HOOK = _pa_plugin is not None and hasattr(_pa_plugin, "PytestAsyncioSpecs")

if _HAS_FACTORY_HOOK:

    def pytest_asyncio_loop_factories(config, item):
        return LOOP_FACTORIES

else:
    _POLICIES = {"asyncio": asyncio.DefaultEventLoopPolicy}
    if uvloop is not None:
        _POLICIES["uvloop"] = uvloop.EventLoopPolicy
    _POLICY_IDS = [n for n in _POLICIES if n in LOOP_FACTORIES]

    @pytest.fixture(scope="session", params=_POLICY_IDS, ids=_POLICY_IDS)
    def event_loop_policy(request):
        return _POLICIES[request.param]()


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = cluster_from_env()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def own_cluster(pg_cluster):
    if isinstance(pg_cluster, ExternalCluster):
        pytest.skip("needs the throwaway cluster (PSQLPY_TEST_DSN is set)")
    return pg_cluster


@pytest.fixture
def dsn(pg_cluster) -> str:
    return pg_cluster.dsn()


__all__ = ["PgCluster", "ExternalCluster"]


async def fresh_pool_with_schema(dsn: str, schema: str) -> AsyncIterator[Any]:
    """Async generator for fixtures: ``schema`` run once, then a pool that has
    learned no types yet (what type introspection tests start from)."""
    import psqlpy
    p = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=3)
    async with p.acquire() as conn:
        await conn.execute_batch(schema)
    p.close()
    await p.wait_closed()
    p = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=3)
    try:
        yield p
    finally:
        p.close()
        await p.wait_closed()
