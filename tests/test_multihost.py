"""Multi-host DSNs against a real primary + hot standby pair.

The ``standby`` fixture (session) streams from ``own_cluster`` via
``pg_basebackup -R`` (see ``tests/pgcluster.py: PgStandby``).
"""
from __future__ import annotations

import os
import socket
from typing import Any, cast

import pytest

import psqlpy
from psqlpy import ConnectionPool, LoadBalanceHosts, TargetSessionAttrs
from psqlpy._connect import reported_read_only as _reported_read_only
from psqlpy.exceptions import BaseConnectionError, ConnectionExecuteError

from pgcluster import ClusterError, PgStandby, make_dsn


@pytest.fixture(scope="session")
def standby(own_cluster):
    try:
        sb = PgStandby(own_cluster)
    except ClusterError as e:
        pytest.skip(f"cannot make a standby: {e}")
    if not os.access(sb.exe("pg_basebackup"), os.X_OK):
        pytest.skip("pg_basebackup is not available")
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _multi(ports, **params) -> str:
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    dsn = make_dsn("postgres", None, "127.0.0.1", ports[0], "psqlpy_test", **params)
    # make_dsn writes one host: splice in the list
    return dsn.replace(f"@127.0.0.1:{ports[0]}/", f"@{hosts}/", 1)


async def _where(conn) -> tuple[int, bool]:
    in_recovery = await conn.fetch_val("SELECT pg_is_in_recovery()")
    return conn._conn.port, in_recovery


@pytest.fixture
def ports(own_cluster, standby):
    return own_cluster.port, standby.port


def test_standby_is_streaming(standby):
    assert standby.psql("SELECT pg_is_in_recovery()") == "t"
    assert standby.psql("SELECT status FROM pg_stat_wal_receiver") == "streaming"


@pytest.mark.parametrize("order", ["primary-first", "standby-first"])
async def test_read_write_lands_on_primary(ports, order):
    primary, sb = ports
    lst = [primary, sb] if order == "primary-first" else [sb, primary]
    async with await psqlpy.connect(dsn=_multi(lst, target_session_attrs="read-write")) as conn:
        assert await _where(conn) == (primary, False)
        await conn.execute("CREATE TEMP TABLE rw_probe (x int)")  # writable


@pytest.mark.parametrize("order", ["primary-first", "standby-first"])
async def test_read_only_lands_on_standby(ports, order):
    primary, sb = ports
    lst = [primary, sb] if order == "primary-first" else [sb, primary]
    async with await psqlpy.connect(dsn=_multi(lst, target_session_attrs="read-only")) as conn:
        assert await _where(conn) == (sb, True)


async def test_read_only_uses_parameter_status(ports):
    """PG14+ reports in_hot_standby: the check needs no query."""
    primary, sb = ports
    async with await psqlpy.connect(dsn=_multi([sb], target_session_attrs="read-only")) as conn:
        params = cast(Any, conn)._conn.core.parameters
        assert params.get("in_hot_standby") == "on"
        assert _reported_read_only(params) is True
    async with await psqlpy.connect(dsn=_multi([primary])) as conn:
        assert _reported_read_only(cast(Any, conn)._conn.core.parameters) is False


def test_reported_read_only_rules():
    assert _reported_read_only({}) is None
    assert _reported_read_only({"in_hot_standby": "off"}) is None
    assert _reported_read_only({"in_hot_standby": "off",
                                "default_transaction_read_only": "off"}) is False
    assert _reported_read_only({"in_hot_standby": "off",
                                "default_transaction_read_only": "on"}) is True
    assert _reported_read_only({"in_hot_standby": "on",
                                "default_transaction_read_only": "off"}) is True


@pytest.mark.parametrize("order", ["primary-first", "standby-first"])
async def test_any_takes_the_first_host(ports, order):
    primary, sb = ports
    lst = [primary, sb] if order == "primary-first" else [sb, primary]
    async with await psqlpy.connect(dsn=_multi(lst, target_session_attrs="any")) as conn:
        assert (await _where(conn))[0] == lst[0]


async def test_load_balance_random_uses_both_hosts(ports):
    primary, sb = ports
    dsn = _multi([primary, sb], target_session_attrs="any", load_balance_hosts="random")
    seen = set()
    for _ in range(40):
        async with await psqlpy.connect(dsn=dsn) as conn:
            seen.add(cast(Any, conn)._conn.port)
        if seen == {primary, sb}:
            break
    assert seen == {primary, sb}


async def test_load_balance_keyword_with_read_write(ports):
    primary, sb = ports
    for _ in range(10):
        async with await psqlpy.connect(
            dsn=_multi([primary, sb]), load_balance_hosts=LoadBalanceHosts.Random,
            target_session_attrs=TargetSessionAttrs.ReadWrite) as conn:
            assert await _where(conn) == (primary, False)


@pytest.mark.parametrize("attrs,expect", [("read-write", False), ("read-only", True),
                                          ("any", False)])
async def test_dead_host_first_is_skipped(ports, attrs, expect):
    primary, sb = ports
    dead = _closed_port()
    lst = [dead, primary, sb] if expect is False else [dead, sb, primary]
    async with await psqlpy.connect(dsn=_multi(lst, target_session_attrs=attrs, connect_timeout=5)) as conn:
        assert (await _where(conn))[1] is expect


async def test_all_hosts_dead_lists_every_failure():
    dead = [_closed_port(), _closed_port()]
    with pytest.raises(ConnectionExecuteError) as ei:
        await psqlpy.connect(dsn=_multi(dead, connect_timeout=5))
    assert isinstance(ei.value, BaseConnectionError)
    msg = str(ei.value)
    for p in dead:
        assert f"127.0.0.1:{p}" in msg
    assert isinstance(ei.value.__cause__, OSError)


async def test_no_host_matches_lists_every_host(ports):
    primary, sb = ports
    dead = _closed_port()
    with pytest.raises(ConnectionExecuteError) as ei:
        await psqlpy.connect(dsn=_multi([primary, dead], target_session_attrs="read-only"))
    msg = str(ei.value)
    assert f"127.0.0.1:{primary}: server is not read-only" in msg
    assert f"127.0.0.1:{dead}" in msg


@pytest.mark.parametrize("attrs,expect", [("read-write", False), ("read-only", True)])
async def test_pool_with_multi_host_dsn(ports, attrs, expect):
    primary, sb = ports
    pool = ConnectionPool(dsn=_multi([sb, primary] if not expect else [primary, sb],
                                     target_session_attrs=attrs),
                          max_db_pool_size=3)
    try:
        conns = [await pool.connection() for _ in range(3)]
        for c in conns:
            assert await _where(c) == (sb if expect else primary, expect)
        for c in conns:
            c.close()
    finally:
        pool.close()
        await pool.wait_closed()


@pytest.mark.parametrize("attrs,expect", [(TargetSessionAttrs.ReadWrite, False),
                                          (TargetSessionAttrs.ReadOnly, True)])
async def test_pool_with_hosts_and_ports_keywords(ports, attrs, expect):
    primary, sb = ports
    pool = ConnectionPool(hosts=["127.0.0.1", "127.0.0.1"], ports=[sb, primary],
                          username="postgres", db_name="psqlpy_test",
                          target_session_attrs=attrs, max_db_pool_size=2)
    try:
        async with pool.acquire() as conn:
            assert await _where(conn) == (sb if expect else primary, expect)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_connect_hosts_keywords_with_dead_host(ports):
    primary, sb = ports
    async with await psqlpy.connect(hosts=["127.0.0.1"] * 3, ports=[_closed_port(), sb, primary],
                                username="postgres", db_name="psqlpy_test",
                                target_session_attrs=TargetSessionAttrs.ReadWrite) as conn:
        assert await _where(conn) == (primary, False)


async def test_standby_sees_primary_writes(own_cluster, standby, ports):
    primary, sb = ports
    own_cluster.psql("CREATE TABLE IF NOT EXISTS mh_repl (x int); INSERT INTO mh_repl VALUES (42)")
    standby.wait_replayed()
    async with await psqlpy.connect(dsn=_multi([primary, sb], target_session_attrs="read-only")) as conn:
        assert await conn.fetch_val("SELECT max(x) FROM mh_repl") == 42
        with pytest.raises(ConnectionExecuteError):
            await conn.execute("INSERT INTO mh_repl VALUES (1)")
