"""The four delivery bugs of issue 17, each against the real server, and one
the state machine (test_listener_stateful.py) found after the redesign.

Every test of 1-4 failed on the Listener before the redesign (one object per
channel owning its queue and task, one lifecycle state, public asyncio only);
those of 5 failed on the redesign before its fix.
They use the public API, plus feeding bytes to the listener's core where a
read must arrive at an exact moment."""
import asyncio
import contextvars
import logging

import pytest

import psqlpy


@pytest.fixture
async def pool(dsn):
    p = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=3)
    yield p
    p.close()
    await p.wait_closed()


async def _wait_for(cond, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def _notify(pool, channel, *payloads):
    """One transaction: the notifications arrive together, in this order."""
    await _notify_each(pool, *[(channel, p) for p in payloads])


async def _notify_each(pool, *notifications):
    """``(channel, payload)`` pairs in one transaction, in this order."""
    conn = await pool.connection()
    try:
        sql = "SELECT " + ", ".join(f"pg_notify('{ch}', '{p}')" for ch, p in notifications)
        await conn.execute(sql)
    finally:
        conn.close()


def _notification(channel, payload, pid=1):
    body = pid.to_bytes(4, "big") + channel.encode() + b"\0" + payload.encode() + b"\0"
    return b"A" + (len(body) + 4).to_bytes(4, "big") + body


def _other_tasks(before):
    me = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not me and not t.done()} - before


# ---- 1. a delivery cancelled before its first step left the channel stuck ----------------

@pytest.mark.parametrize("max_buffered", [10_000, 4])
async def test_shutdown_right_after_listen_leaves_delivery_working(pool, max_buffered):
    # Buffered for "b1", listen(), shutdown() at once (the channel's task
    # never ran), startup(), listen(): the channel stayed marked as being
    # delivered, so nothing on it was ever delivered again, and with a small
    # max_buffered what stayed buffered stopped reading for every channel.
    got: dict[str, list[str]] = {"b1": [], "b1_other": []}

    async def cb(conn, payload, channel, pid):
        got[channel].append(payload)

    listener = pool.listener(max_buffered=max_buffered)
    await listener.add_callback("b1", cb)
    await listener.add_callback("b1_other", cb)
    await listener.startup()                       # no listen(): they wait in the buffer
    try:
        await _notify(pool, "b1", "1", "2", "3")
        await _wait_for(lambda: listener.buffered == 3)
        listener.listen()
        await listener.shutdown()
        await listener.startup()
        listener.listen()
        await _notify(pool, "b1", "after")
        await _notify(pool, "b1_other", *[str(i) for i in range(20)])
        await _wait_for(lambda: len(got["b1"]) == 4 and len(got["b1_other"]) == 20)
        assert got["b1"] == ["1", "2", "3", "after"]
        assert got["b1_other"] == [str(i) for i in range(20)]
        assert listener.buffered == 0
    finally:
        await listener.shutdown()


async def test_a_callback_shutting_down_while_the_same_read_starts_another_channel(pool):
    # One read brings "b1_late"'s first notification and the one whose
    # callback (on "b1_stop", run right in the read) calls shutdown(): the
    # delivery of "b1_late" was cancelled before its first step and the
    # channel never delivered again.
    got: list[tuple[str, str]] = []

    async def cb(conn, payload, channel, pid):
        got.append((channel, payload))
        if payload == "stop":
            await listener.shutdown()

    listener = pool.listener()
    await listener.add_callback("b1_late", cb)
    await listener.add_callback("b1_stop", cb)
    await listener.startup()
    listener.listen()
    conn = await pool.connection()
    try:
        await _notify(pool, "b1_stop", "warm")    # its channel is idle now
        await _wait_for(lambda: got == [("b1_stop", "warm")])
        await asyncio.sleep(0.02)
        await conn.execute("SELECT pg_notify('b1_late', 'x'), pg_notify('b1_stop', 'stop')")
        await _wait_for(lambda: not listener.is_started)
        await asyncio.sleep(0.05)
        await listener.startup()
        listener.listen()
        await _notify(pool, "b1_late", "y")
        await _wait_for(lambda: ("b1_late", "y") in got)
        # "x" was received before shutdown(): delivered (before it, or kept
        # in the buffer and delivered after the restart), never lost.
        assert [p for ch, p in got if ch == "b1_late"] == ["x", "y"]
    finally:
        conn.close()
        await listener.shutdown()


# ---- 2. abort_listen(), listen() and a read before the old task ran: two tasks ------------

async def test_abort_listen_listen_and_a_read_at_once_keep_one_delivery(pool):
    got: list[str] = []
    running: list[str] = []
    overlap: list[tuple[str, str]] = []

    async def cb(conn, payload, channel, pid):
        if running:
            overlap.append((running[0], payload))
        running.append(payload)
        await asyncio.sleep(0)                  # suspends: another task could run
        running.remove(payload)
        got.append(payload)

    before = _other_tasks(set())
    listener = pool.listener()
    await listener.add_callback("b2", cb)
    await listener.startup()
    listener.listen()
    try:
        await _notify(pool, "b2", "warm")
        await _wait_for(lambda: got == ["warm"])
        await asyncio.sleep(0.05)               # the channel is idle
        core = listener._pg.core

        def at_once():   # in one step of the loop, as a read would come
            listener.abort_listen()
            listener.listen()
            core.feed(b"".join(_notification("b2", str(i)) for i in range(30)))

        asyncio.get_running_loop().call_soon(at_once)
        await _wait_for(lambda: len(got) == 31)
        await asyncio.sleep(0.05)
        assert got == ["warm"] + [str(i) for i in range(30)]     # in order, once each
        assert overlap == []                                       # never two at once
    finally:
        await listener.shutdown()
    assert _other_tasks(before) == set()        # nothing of the listener left running


# ---- 3. strays dropped while a task iterates -------------------------------------------

async def test_notifications_without_callback_reach_a_task_iterating_in_callback_mode(pool, caplog):
    # Callback mode; "b3_free" has no callback (LISTENed by hand) and a task
    # iterates the listener.  Strays used to be trimmed to max_buffered // 4
    # even so (500 of 5000 arrived), with a warning that nobody iterates.
    got_cb: list[str] = []

    async def cb(conn, payload, channel, pid):
        got_cb.append(payload)

    listener = pool.listener(max_buffered=2000)
    await listener.add_callback("b3_cb", cb)
    await listener.startup()
    listener.listen()
    await listener.connection.execute('LISTEN "b3_free"')
    got: list[str] = []

    async def iterate() -> None:
        async for msg in listener:
            got.append(msg.payload)
            if len(got) % 100 == 0:
                await asyncio.sleep(0.001)       # a consumer slower than the socket
            if len(got) == 5000:
                return

    consumer = asyncio.ensure_future(iterate())
    try:
        await asyncio.sleep(0.02)                # iterating, waiting on the backlog
        with caplog.at_level(logging.WARNING, logger="psqlpy.listener"):
            conn = await pool.connection()
            try:
                await conn.execute(
                    "SELECT pg_notify('b3_free', g::text) FROM generate_series(1, 5000) g")
                await conn.execute("SELECT pg_notify('b3_cb', 'cb')")
            finally:
                conn.close()
            await asyncio.wait_for(consumer, 20)
            await _wait_for(lambda: got_cb == ["cb"])
        assert got == [str(i) for i in range(1, 5001)]
        assert not [r for r in caplog.records if "dropped" in r.getMessage()]
        assert listener.buffered == 0
    finally:
        consumer.cancel()
        await listener.shutdown()


# ---- 4. a context variable leaking from one callback invocation to the next --------------

async def test_each_callback_invocation_starts_from_a_clean_context(pool):
    var: contextvars.ContextVar[str] = contextvars.ContextVar("b4", default="unset")
    seen: list[tuple[str, str, str]] = []

    async def first(conn, payload, channel, pid):
        seen.append(("first", payload, var.get()))
        var.set("first:" + payload)

    async def second(conn, payload, channel, pid):
        seen.append(("second", payload, var.get()))
        var.set("second:" + payload)
        if payload == "2":
            await asyncio.sleep(0)           # and after a suspension, too

    listener = pool.listener()
    await listener.add_callback("b4", first)
    await listener.add_callback("b4", second)
    await listener.startup()
    listener.listen()
    try:
        await _notify(pool, "b4", "1", "2", "3")      # one burst
        await _notify(pool, "b4", "4")                # and another
        await _wait_for(lambda: len(seen) == 8)
        assert seen == [(who, p, "unset") for p in "1234" for who in ("first", "second")]
    finally:
        await listener.shutdown()


# ---- 5. found by the state machine: a callback added after listen() ---------------------

async def test_a_callback_added_while_listening_gets_what_waited_for_its_channel(pool):
    # Buffered while not listening, the channel's callbacks cleared, listen(),
    # a callback added again: the notification stayed in the backlog (listen()
    # had nowhere to route it), counted as buffered, while its channel had a
    # callback and delivery ran.  With add_callback() before listen() it was
    # delivered: the order of the two calls must not decide.
    got: list[str] = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)

    listener = pool.listener()
    await listener.add_callback("b5", cb)
    await listener.startup()
    try:
        await _notify(pool, "b5", "1", "2")
        await _wait_for(lambda: listener.buffered == 2)
        await listener.clear_channel_callbacks("b5")
        listener.listen()
        assert listener.buffered == 2                  # the iterator's, for now
        await listener.add_callback("b5", cb)
        await _notify(pool, "b5", "3")
        await _wait_for(lambda: got == ["1", "2", "3"])
        assert listener.buffered == 0
    finally:
        await listener.shutdown()


async def test_a_callback_takes_its_channel_from_the_backlog_in_order_and_leaves_the_rest(pool):
    # Strays on two channels LISTENed by hand, interleaved; a callback for one
    # of them gets its own in send order, then what comes next; the other
    # channel's stay in the backlog for the iterator, in order.
    got: list[str] = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)
        if payload == "a2":
            await asyncio.sleep(0)          # delivery suspends mid-way; order holds

    async def other(conn, payload, channel, pid):
        pass

    listener = pool.listener()
    await listener.add_callback("b5_other", other)   # callback mode: the rest are strays
    await listener.startup()
    listener.listen()
    try:
        await listener.connection.execute('LISTEN "b5_a"')
        await listener.connection.execute('LISTEN "b5_b"')
        await _notify_each(pool, ("b5_a", "a1"), ("b5_b", "b1"), ("b5_a", "a2"),
                           ("b5_b", "b2"), ("b5_a", "a3"))
        await _wait_for(lambda: listener.buffered == 5)
        await listener.add_callback("b5_a", cb)
        await _notify(pool, "b5_a", "a4")
        await _wait_for(lambda: got == ["a1", "a2", "a3", "a4"])
        assert listener.buffered == 2
        left = []
        async for msg in listener:
            left.append((msg.channel, msg.payload))
            if len(left) == 2:
                break
        assert left == [("b5_b", "b1"), ("b5_b", "b2")]
    finally:
        await listener.shutdown()
