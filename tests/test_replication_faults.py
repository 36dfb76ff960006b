"""Logical replication is at least once and never lossy: a consumer cancelled
mid-transaction, a connection cut by a proxy, a server restart.  After each,
every transaction committed after the last ack arrives again, none at or
before it does, and the slot's confirmed_flush_lsn follows the acks."""
from __future__ import annotations

import asyncio

import pytest

import psqlpy

from pgcluster import make_dsn
from psqlpy.exceptions import ReplicationClosedError
from replication_helpers import ReplEnv, ids_of, take, wait_until
from tcpproxy import TcpProxy


@pytest.fixture
async def proxy(own_cluster):
    p = await TcpProxy(own_cluster.host, own_cluster.port).start()
    yield p
    await p.close()


async def _confirmed_is(env, slot, lsn):
    return await env.confirmed_flush(slot) == lsn


async def test_consumer_cancelled_mid_transaction_gets_it_again(dsn):
    env = ReplEnv(dsn)
    try:
        await env.setup()
        s = env.stream(create_slot=True)
        await s.startup()
        await env.insert(1, 2, 3)
        seen = []
        inside = asyncio.Event()

        async def consumer():
            async for tx in s:
                seen.append(tx)
                if ids_of([tx]) == [2]:
                    inside.set()
                    await asyncio.sleep(3600)     # "processing" tx 2: cancelled here
                await s.ack(tx)

        task = asyncio.ensure_future(consumer())
        await asyncio.wait_for(inside.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        first = seen[0]
        await wait_until(lambda: _confirmed_is(env, s.slot_name, first.end_lsn), 5, "ack of tx 1")
        # The stream itself goes on: the next consumer gets what follows.
        assert ids_of(await take(s, 1, ack=False)) == [3]
        await s.shutdown()
        assert await env.confirmed_flush(s.slot_name) == first.end_lsn
        # A new consumer of the slot gets 2 (not acknowledged) and 3 again, not 1.
        s2 = env.stream(s.slot_name)
        await s2.startup()
        await env.insert(4)
        again = await take(s2, 3)
        assert ids_of(again) == [2, 3, 4]
        assert again[0].end_lsn == seen[1].end_lsn
    finally:
        await env.close()


async def test_connection_cut_resumes_from_last_ack(own_cluster, proxy):
    env = ReplEnv(own_cluster.dsn(sslmode="disable"))
    try:
        await env.setup()
        # The stream goes through the proxy; the test's own queries do not.
        s = env.stream(create_slot=True, pool=_proxied(proxy))
        await s.startup()
        await env.insert(1, 2)
        acked = await take(s, 2)
        await env.insert(3)
        (unacked,) = await take(s, 1, ack=False)         # delivered, never acknowledged
        await wait_until(lambda: _confirmed_is(env, s.slot_name, acked[-1].end_lsn), 5, "ack")
        proxy.cut()
        await env.insert(4, 5)                            # committed while cut off
        got = await take(s, 3, timeout=30)
        assert ids_of(got) == [3, 4, 5]
        assert got[0].end_lsn == unacked.end_lsn
        assert s.reconnect_count >= 1
        await wait_until(lambda: _confirmed_is(env, s.slot_name, got[-1].end_lsn), 5, "ack after")
        await env.insert(6)
        assert ids_of(await take(s, 1)) == [6]
    finally:
        await env.close()


async def test_connection_cut_without_reconnect_ends_the_stream(own_cluster, proxy):
    env = ReplEnv(own_cluster.dsn(sslmode="disable"))
    try:
        await env.setup()
        s = env.stream(create_slot=True, reconnect=False, pool=_proxied(proxy))
        await s.startup()
        await env.insert(1)
        await take(s, 1)
        proxy.cut()
        with pytest.raises(ReplicationClosedError):
            await take(s, 1, timeout=10)
        assert not s.is_started
    finally:
        await env.close()


async def test_server_fast_restart_resumes_from_last_ack(own_cluster):
    # A fast shutdown waits until the client confirms everything sent: the
    # stream does once every transaction delivered is acknowledged.
    env = ReplEnv(own_cluster.dsn(sslmode="disable"))
    try:
        await env.setup()
        s = env.stream(create_slot=True)
        await s.startup()
        await env.insert(1, 2)
        acked = await take(s, 2)
        await wait_until(lambda: _confirmed_is(env, s.slot_name, acked[-1].end_lsn), 5, "ack")
        await asyncio.get_running_loop().run_in_executor(None, own_cluster.restart)
        await env.insert(3)
        got = await take(s, 1, timeout=30)
        assert ids_of(got) == [3]
        assert s.reconnect_count >= 1
        await wait_until(lambda: _confirmed_is(env, s.slot_name, got[-1].end_lsn), 5, "ack after")
    finally:
        await env.close()


async def test_fast_shutdown_waits_for_the_consumer_to_ack(own_cluster):
    # The server's WAL sender does not exit before the client confirms what
    # it sent: the stream does not confirm a transaction it delivered but
    # that is not acknowledged, so the shutdown waits for the ack.
    env = ReplEnv(own_cluster.dsn(sslmode="disable"))
    try:
        await env.setup()
        s = env.stream(create_slot=True)
        await s.startup()
        await env.insert(1)
        (tx,) = await take(s, 1, ack=False)          # being processed
        restart = asyncio.get_running_loop().run_in_executor(None, own_cluster.restart)
        await asyncio.sleep(1.0)
        assert not restart.done()
        await s.ack(tx)
        await asyncio.wait_for(restart, 30)
        await env.insert(2)
        assert ids_of(await take(s, 1, timeout=30)) == [2]
        assert s.reconnect_count >= 1
    finally:
        await env.close()


async def test_server_crash_restart_resends_unacknowledged_only(own_cluster):
    # An immediate shutdown (as a crash): the slot comes back with the
    # position of the last checkpoint, so the server sends acknowledged
    # transactions again; the stream drops those, and delivers the one that
    # was delivered but not acknowledged again.
    env = ReplEnv(own_cluster.dsn(sslmode="disable"))
    try:
        await env.setup()
        s = env.stream(create_slot=True)
        await s.startup()
        await env.insert(1, 2)
        acked = await take(s, 2)
        await env.insert(3)
        (unacked,) = await take(s, 1, ack=False)
        await wait_until(lambda: _confirmed_is(env, s.slot_name, acked[-1].end_lsn), 5, "ack")
        await asyncio.get_running_loop().run_in_executor(None, own_cluster.restart, "immediate")
        await env.insert(4)
        got = await take(s, 2, timeout=30)
        assert ids_of(got) == [3, 4]
        assert got[0].end_lsn == unacked.end_lsn
        assert s.reconnect_count >= 1
        await wait_until(lambda: _confirmed_is(env, s.slot_name, got[-1].end_lsn), 5, "ack after")
    finally:
        await env.close()


def _proxied(proxy) -> psqlpy.ConnectionPool:
    return psqlpy.ConnectionPool(
        dsn=make_dsn("postgres", None, "127.0.0.1", proxy.port, "psqlpy_test", "disable"))
