"""Listener under connection loss: server restart, reset, silent network cut."""
import asyncio

import pytest

import psqlpy
from pgcluster import make_dsn
from tcpproxy import TcpProxy


async def _wait_for(pred, timeout=15.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def proxy(own_cluster):
    p = await TcpProxy(own_cluster.host, own_cluster.port).start()
    yield p
    await p.close()


def _proxy_dsn(proxy):
    return make_dsn("postgres", None, "127.0.0.1", proxy.port, "psqlpy_test", "disable")


async def _notify(dsn, channel, payload):
    async with await psqlpy.connect(dsn=dsn) as conn:
        await conn.execute("SELECT pg_notify($1, $2)", [channel, payload])


async def _listener_with_gaps(dsn, channel, **kw):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    listener = pool.listener(reconnect_delay=0.05, **kw)
    gaps, got = [], []

    async def on_gap(gap):
        gaps.append(gap)

    async def cb(connection, payload, channel_, pid):
        got.append(payload)

    listener.add_gap_callback(on_gap)
    await listener.add_callback(channel, cb)
    await listener.startup()
    listener.listen()
    return pool, listener, gaps, got


async def test_server_restart_reconnects_and_relistens(own_cluster):
    dsn = own_cluster.dsn(sslmode="disable")
    pool, listener, gaps, got = await _listener_with_gaps(dsn, "restart_chan")
    try:
        await _notify(dsn, "restart_chan", "before")
        await _wait_for(lambda: got == ["before"])
        await asyncio.get_running_loop().run_in_executor(None, own_cluster.restart)
        await _wait_for(lambda: gaps, timeout=30)
        assert gaps[0].reconnected_at is not None
        assert gaps[0].channels == ("restart_chan",)
        await _notify(dsn, "restart_chan", "after")
        await _wait_for(lambda: got == ["before", "after"])
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def test_connection_reset_reconnects(own_cluster, proxy):
    dsn = _proxy_dsn(proxy)
    pool, listener, gaps, got = await _listener_with_gaps(dsn, "reset_chan")
    try:
        proxy.cut()
        await _wait_for(lambda: gaps)
        await _notify(own_cluster.dsn(sslmode="disable"), "reset_chan", "after-reset")
        await _wait_for(lambda: got == ["after-reset"])
        assert listener.reconnect_count == 1
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def test_silent_network_cut_detected_by_liveness_check(own_cluster, proxy):
    dsn = _proxy_dsn(proxy)
    pool, listener, gaps, got = await _listener_with_gaps(
        dsn, "stall_chan", liveness_interval=0.2, liveness_timeout=0.5)
    try:
        proxy.stall()   # no FIN, no RST: the socket just goes quiet
        await _wait_for(lambda: gaps, timeout=10)
        assert gaps[0].reconnected_at is not None
        await _notify(own_cluster.dsn(sslmode="disable"), "stall_chan", "after-stall")
        await _wait_for(lambda: got == ["after-stall"])
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def test_corrupted_stream_is_a_typed_loss_and_recovers(own_cluster, proxy):
    dsn = _proxy_dsn(proxy)
    pool, listener, gaps, got = await _listener_with_gaps(dsn, "corrupt_chan")
    try:
        proxy.corrupt_next(3)
        await _notify(own_cluster.dsn(sslmode="disable"), "corrupt_chan", "garbled")
        await _wait_for(lambda: gaps)
        assert isinstance(gaps[0].error, psqlpy.exceptions.Error)
        await _notify(own_cluster.dsn(sslmode="disable"), "corrupt_chan", "clean")
        await _wait_for(lambda: "clean" in got)
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def test_channels_changed_while_reconnecting(own_cluster, proxy):
    dsn = _proxy_dsn(proxy)
    pool, listener, gaps, got = await _listener_with_gaps(dsn, "keep_chan")
    try:
        proxy.refuse_new = True
        proxy.cut()
        await asyncio.sleep(0.2)            # the listener is now retrying
        assert not gaps

        async def cb2(connection, payload, channel, pid):
            got.append("new:" + payload)

        await listener.add_callback("new_chan", cb2)        # no error while disconnected
        await listener.clear_channel_callbacks("keep_chan")
        proxy.refuse_new = False
        await _wait_for(lambda: gaps)
        chans = await listener.connection.fetch("SELECT pg_listening_channels() AS c")
        assert [r["c"] for r in chans.result()] == ["new_chan"]
        await _notify(own_cluster.dsn(sslmode="disable"), "new_chan", "x")
        await _wait_for(lambda: got == ["new:x"])
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()


async def test_a_second_callback_on_a_channel_waits_for_its_listen(own_cluster, proxy):
    # add_callback() on a started listener returns once the server confirmed
    # the LISTEN; that holds for the second callback of a channel whose
    # LISTEN (sent by the first) is still on its way, too.
    dsn = _proxy_dsn(proxy)
    pool, listener, gaps, got = await _listener_with_gaps(dsn, "base_chan")
    try:
        proxy.stall()                       # the listener's LISTENs get no reply
        stalled = list(getattr(proxy, "_stalled"))

        async def a(connection, payload, channel, pid):
            got.append("a:" + payload)

        async def b(connection, payload, channel, pid):
            got.append("b:" + payload)

        first = asyncio.ensure_future(listener.add_callback("late_chan", a))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(listener.add_callback("late_chan", b))
        await asyncio.sleep(0.2)
        assert not first.done()
        assert not second.done()            # it returned before the server listened
        for p in stalled:
            p.running.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        await _notify(own_cluster.dsn(sslmode="disable"), "late_chan", "x")
        await _wait_for(lambda: sorted(got) == ["a:x", "b:x"])
        assert not gaps
    finally:
        await listener.shutdown()
        pool.close()
        await pool.wait_closed()
