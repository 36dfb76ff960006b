"""Listener behaviour against a real server: every promise in its docs."""
import asyncio
import logging
from typing import Any, cast

import pytest

import psqlpy
from psqlpy import exceptions as exc


@pytest.fixture
async def pool(dsn):
    p = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=3)
    yield p
    p.close()
    await p.wait_closed()


@pytest.fixture
async def sender(pool):
    conn = await pool.connection()

    async def send(channel, payload=""):
        await conn.execute("SELECT pg_notify($1, $2)", [channel, payload])

    cast(Any, send).conn = conn
    yield send
    conn.close()


async def _iterating(pool, *channels, **settings):
    """A started listener in iterator mode: a no-op callback on each channel
    (which LISTENs it), ``listen()`` never called."""
    listener = pool.listener(**settings)

    async def cb(*a):
        pass

    for channel in channels:
        await listener.add_callback(channel, cb)
    await listener.startup()
    return listener


async def _collect(listener, n, timeout=10):
    got = []

    async def run():
        async for msg in listener:
            got.append(msg)
            if len(got) >= n:
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_iterator_receives_and_buffers_before_first_anext(pool, sender):
    listener = await _iterating(pool, "chan_iter")
    try:
        for i in range(5):
            await sender("chan_iter", f"m{i}")
        await asyncio.sleep(0.2)   # they arrive before anyone iterates
        got = await _collect(listener, 5)
        assert [m.payload for m in got] == [f"m{i}" for i in range(5)]
        assert all(m.channel == "chan_iter" for m in got)
        assert all(isinstance(m, psqlpy.ListenerNotificationMsg) for m in got)
        assert got[0].connection is listener.connection
        assert got[0].process_id > 0
    finally:
        await listener.shutdown()


async def test_callbacks_order_and_arguments(pool, sender):
    listener = pool.listener()
    calls: list[tuple[Any, ...]] = []
    done = asyncio.Event()

    async def first(connection, payload, channel, process_id):
        calls.append(("first", payload, channel, process_id, connection))

    async def second(connection, payload, channel, process_id):
        calls.append(("second", payload))
        if payload == "9":
            done.set()

    await listener.add_callback("chan_cb", first)
    await listener.add_callback("chan_cb", second)
    await listener.startup()
    listener.listen()
    listener.listen()   # idempotent: no second delivery
    try:
        for i in range(10):
            await sender("chan_cb", str(i))
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.1)
        assert [c[1] for c in calls] == [str(i) for i in range(10) for _ in (0, 1)]
        assert [c[0] for c in calls[:2]] == ["first", "second"]
        _, _, channel, pid, connection = calls[0]
        assert channel == "chan_cb"
        assert pid == await sender.conn.fetch_val("SELECT pg_backend_pid()")
        assert connection is listener.connection
    finally:
        await listener.shutdown()


async def test_add_callback_after_startup_is_confirmed_when_it_returns(pool, sender):
    listener = pool.listener()
    await listener.startup()
    try:
        async def cb(*a):
            pass
        await listener.add_callback("late_chan", cb)
        # The listener connection is idle; the NOTIFY right after must arrive.
        await sender("late_chan", "hello")
        got = await _collect(listener, 1, timeout=5)
        assert got[0].payload == "hello"
        chans = await listener.connection.fetch("SELECT pg_listening_channels() AS c")
        assert [r["c"] for r in chans.result()] == ["late_chan"]
    finally:
        await listener.shutdown()


async def test_clear_and_restart_relisten(pool, sender):
    listener = pool.listener()

    async def cb(*a):
        pass

    await listener.add_callback("c1", cb)
    await listener.add_callback("c2", cb)
    await listener.startup()
    try:
        await listener.clear_channel_callbacks("c1")
        chans = await listener.connection.fetch("SELECT pg_listening_channels() AS c")
        assert sorted(r["c"] for r in chans.result()) == ["c2"]
        await listener.shutdown()
        await listener.startup()
        chans = await listener.connection.fetch("SELECT pg_listening_channels() AS c")
        assert sorted(r["c"] for r in chans.result()) == ["c2"]
        await listener.clear_all_channels()
        chans = await listener.connection.fetch("SELECT pg_listening_channels() AS c")
        assert chans.result() == []
    finally:
        await listener.shutdown()
    with pytest.raises(exc.ListenerStartError):
        listener.connection


async def test_startup_twice_and_non_coroutine_callback(pool):
    listener = pool.listener()
    with pytest.raises(exc.ListenerCallbackError):
        await listener.add_callback("x", lambda *a: None)
    await listener.startup()
    try:
        with pytest.raises(exc.ListenerStartError):
            await listener.startup()
    finally:
        await listener.shutdown()


async def test_abort_listen_then_listen_resumes_without_loss(pool, sender):
    listener = pool.listener()
    got = []

    async def cb(connection, payload, channel, pid):
        got.append(payload)

    await listener.add_callback("ab", cb)
    await listener.startup()
    listener.listen()
    try:
        await sender("ab", "1")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        listener.abort_listen()
        await sender("ab", "2")
        await sender("ab", "3")
        await asyncio.sleep(0.3)
        assert got == ["1"]
        listener.listen()
        for _ in range(100):
            if len(got) == 3:
                break
            await asyncio.sleep(0.02)
        assert got == ["1", "2", "3"]
    finally:
        await listener.shutdown()


@pytest.mark.parametrize("channel", ["MyChan", "a-b c", '"; DROP TABLE x; --', "ünï"])
async def test_channel_names_are_literal(pool, sender, channel):
    listener = await _iterating(pool, channel)
    try:
        await sender(channel, "p")
        got = await _collect(listener, 1, timeout=5)
        assert got[0].channel == channel
        chans = await listener.connection.fetch("SELECT pg_listening_channels() AS c")
        assert [r["c"] for r in chans.result()] == [channel]
    finally:
        await listener.shutdown()


@pytest.mark.parametrize("bad", ["", "a\x00b", "x" * 64, "é" * 32])
async def test_invalid_channel_names_rejected_before_sending(pool, bad):
    listener = pool.listener()

    async def cb(*a):
        pass

    await listener.startup()
    try:
        with pytest.raises(exc.ListenerCallbackError):
            await listener.add_callback(bad, cb)
        assert listener.channels == ()
    finally:
        await listener.shutdown()


async def test_payloads_are_byte_exact(pool, sender):
    payloads = ["", "x" * 7999, "ünïcødé ✓ 漢字", "it's \"quoted\"", "line1\nline2\r\n\ttab"]
    listener = await _iterating(pool, "pl")
    try:
        for p in payloads:
            await sender("pl", p)
        got = await _collect(listener, len(payloads))
        assert [m.payload for m in got] == payloads
        with pytest.raises(exc.DatabaseError) as ei:
            await sender("pl", "y" * 8000)
        assert cast(exc.PostgresError, ei.value).sqlstate == "22023"
    finally:
        await listener.shutdown()


async def test_raising_callback_is_logged_and_delivery_continues(pool, sender, caplog):
    listener = pool.listener()
    got = []

    async def bad(connection, payload, channel, pid):
        if payload == "boom":
            raise ValueError("callback failure")
        got.append(payload)

    await listener.add_callback("rc", bad)
    await listener.startup()
    listener.listen()
    try:
        with caplog.at_level(logging.ERROR, logger="psqlpy.listener"):
            await sender("rc", "a")
            await sender("rc", "boom")
            # A NOTICE on the listener connection changes nothing.
            await listener.connection.execute(
                "DO $$ BEGIN RAISE NOTICE 'just a notice'; END $$")
            await sender("rc", "b")
            for _ in range(200):
                if len(got) == 2:
                    break
                await asyncio.sleep(0.02)
        assert got == ["a", "b"]
        assert any("callback failure" in (r.exc_text or "") or "raised" in r.getMessage()
                   for r in caplog.records if r.name == "psqlpy.listener")
    finally:
        await listener.shutdown()


async def test_queries_on_listener_connection_do_not_lose_notifications(pool, sender):
    listener = pool.listener()
    got = []

    async def cb(connection, payload, channel, pid):
        # A query from inside the callback, on the listener's own connection.
        got.append((payload, await connection.fetch_val("SELECT $1::text", [payload])))

    await listener.add_callback("q", cb)
    await listener.startup()
    listener.listen()
    try:
        await sender.conn.execute(
            "SELECT pg_notify('q', g::text) FROM generate_series(1, 200) g")
        for _ in range(500):
            if len(got) == 200:
                break
            await asyncio.sleep(0.02)
        assert got == [(str(i), str(i)) for i in range(1, 201)]
    finally:
        await listener.shutdown()


async def test_backpressure_bounds_memory_and_loses_nothing(pool, sender):
    listener = await _iterating(pool, "bp", max_buffered=50)
    try:
        await sender.conn.execute(
            "SELECT pg_notify('bp', g::text) FROM generate_series(1, 3000) g")
        await asyncio.sleep(0.5)
        assert listener.buffered <= 50
        assert listener._reading.paused
        seen = []
        peak = 0
        async for msg in listener:
            seen.append(int(msg.payload))
            peak = max(peak, listener.buffered)
            if len(seen) % 100 == 0:
                await asyncio.sleep(0.001)   # a slow consumer
            if len(seen) == 3000:
                break
        assert seen == list(range(1, 3001))
        assert peak <= 50
    finally:
        await listener.shutdown()


async def test_reconnects_relistens_and_reports_gap(pool, sender):
    listener = pool.listener(reconnect_delay=0.05)
    gaps = []

    async def on_gap(gap):
        gaps.append(gap)

    async def cb(*a):
        pass

    listener.add_gap_callback(on_gap)
    await listener.add_callback("rc_chan", cb)
    await listener.startup()
    try:
        pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        await sender.conn.execute("SELECT pg_terminate_backend($1)", [pid])
        for _ in range(250):
            if gaps:
                break
            await asyncio.sleep(0.02)
        assert len(gaps) == 1
        assert gaps[0].reconnected_at is not None and gaps[0].duration >= 0
        assert gaps[0].channels == ("rc_chan",)
        assert listener.reconnect_count == 1
        new_pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        assert new_pid != pid
        await sender("rc_chan", "after")
        got = await _collect(listener, 1, timeout=5)
        assert got[0].payload == "after"
    finally:
        await listener.shutdown()


async def test_reconnect_off_iterator_raises_closed(pool, sender):
    listener = await _iterating(pool, "nr", reconnect=False)
    pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
    await sender("nr", "before")
    await asyncio.sleep(0.1)
    await sender.conn.execute("SELECT pg_terminate_backend($1)", [pid])
    got = []
    with pytest.raises(exc.ListenerClosedError):
        async def run():
            async for msg in listener:
                got.append(msg.payload)
        await asyncio.wait_for(run(), 10)
    assert got == ["before"]
    assert not listener.is_started
    await listener.shutdown()


async def test_several_tasks_iterating_one_listener_all_get_woken(pool, sender):
    # Two consumer tasks share one listener (a common work-queue pattern):
    # each notification goes to exactly one of them, none is left waiting
    # forever, and shutdown() ends both loops.
    listener = await _iterating(pool, "two_iter")
    got: dict[int, list[str]] = {1: [], 2: []}

    async def consume(k):
        async for msg in listener:
            got[k].append(msg.payload)
            await asyncio.sleep(0.05)     # busy: the other one takes the next

    first = asyncio.ensure_future(consume(1))
    await asyncio.sleep(0.05)            # waiting on an empty backlog
    second = asyncio.ensure_future(consume(2))
    await asyncio.sleep(0.05)
    try:
        for i in range(6):
            await sender("two_iter", str(i))
            await asyncio.sleep(0.02)
        for _ in range(200):
            if len(got[1]) + len(got[2]) == 6:
                break
            await asyncio.sleep(0.01)
        assert sorted(got[1] + got[2]) == [str(i) for i in range(6)]
        assert got[1] and got[2]          # the first consumer was woken too
    finally:
        await listener.shutdown()
    done, pending = await asyncio.wait([first, second], timeout=5)
    for t in pending:
        t.cancel()
    assert not pending                    # shutdown() ended both loops
    assert [t.result() for t in done] == [None, None]


async def _listening_backends(conn, channel):
    """How many sessions last ran the LISTEN that _connect sends for ``channel``."""
    return await conn.fetch_val(
        "SELECT count(*) FROM pg_stat_activity WHERE query = $1", [f'LISTEN "{channel}"'])


async def _settle(conn, channel, expected):
    n = None
    for _ in range(100):                  # a terminated backend exits asynchronously
        n = await _listening_backends(conn, channel)
        if n == expected:
            break
        await asyncio.sleep(0.02)
    return n


async def test_concurrent_startups_open_one_connection(pool, sender):
    listener = pool.listener()
    got = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)

    await listener.add_callback("two_starts", cb)
    results = await asyncio.gather(listener.startup(), listener.startup(),
                                   return_exceptions=True)
    try:
        assert results[0] is None
        assert isinstance(results[1], exc.ListenerStartError)
        assert listener.is_started
        listener.listen()
        await sender("two_starts", "once")
        await asyncio.sleep(0.2)
        assert got == ["once"]            # not once per connection
        assert await _settle(sender.conn, "two_starts", 1) == 1
    finally:
        await listener.shutdown()
    assert await _settle(sender.conn, "two_starts", 0) == 0


async def test_shutdown_while_starting_wins(pool, sender):
    listener = pool.listener()

    async def cb(*a):
        pass

    await listener.add_callback("sd_starting", cb)
    starting = asyncio.ensure_future(listener.startup())
    await asyncio.sleep(0)                # connecting
    await listener.shutdown()
    with pytest.raises(exc.ListenerStartError):
        await starting
    assert not listener.is_started
    with pytest.raises(exc.ListenerStartError):
        listener.connection
    # The connection it was opening is closed, not left listening.
    assert await _settle(sender.conn, "sd_starting", 0) == 0
    # ... and the listener starts again normally.
    await listener.startup()
    try:
        listener.listen()
        await sender("sd_starting", "x")
        await asyncio.sleep(0.05)
        assert listener.is_started and await _settle(sender.conn, "sd_starting", 1) == 1
    finally:
        await listener.shutdown()


async def test_listen_before_startup_raises(pool) -> None:
    # The reference driver's contract (its test_listener_start_exc).
    listener = pool.listener()
    with pytest.raises(exc.ListenerStartError):
        listener.listen()
    await listener.startup()
    listener.listen()
    await listener.shutdown()
    with pytest.raises(exc.ListenerStartError):
        listener.listen()


async def test_async_with_shuts_the_listener_down(pool) -> None:
    async with pool.listener() as listener:
        await listener.startup()
        assert listener.is_started
    assert not listener.is_started
    async with pool.listener() as idle:   # never started: nothing to do
        assert not idle.is_started
