"""Callback delivery: the Cython NotificationRouter routes, each channel's
task awaits its callbacks (started eagerly in the read where the Python has
eager tasks); callbacks that finish at once and callbacks that suspend, in
order, in a task, with errors logged; plus the router on its own (sans-IO)."""
import asyncio
import contextlib
import contextvars
import logging
import sys
import threading
import time
from collections import deque

import pytest

import psqlpy
from psqlpy.listener import channel as channel_module
from psqlpy.protocol import ChannelCore, CoreProtocol, ListenerNotificationMsg, NotificationRouter


def _in_read() -> bool:
    """Whether a burst's delivery task starts eagerly, inside the read (3.12+)."""
    return channel_module.EAGER_START


@pytest.fixture(params=["eager", "scheduled"])
async def pool(dsn, request, monkeypatch):
    # "scheduled": what Pythons without eager tasks do, every burst's task
    # is scheduled on the loop.
    if request.param == "scheduled":
        monkeypatch.setattr(channel_module, "EAGER_START", False)
    elif not _in_read():
        pytest.skip("this Python has no eager tasks")
    p = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    yield p
    p.close()
    await p.wait_closed()


async def _started(pool, channel, *callbacks, **settings):
    """A listener with ``callbacks`` on ``channel``, started and listening."""
    listener = pool.listener(**settings)
    for cb in callbacks:
        await listener.add_callback(channel, cb)
    await listener.startup()
    listener.listen()
    return listener


@contextlib.asynccontextmanager
async def _listening(pool, channel, *callbacks, **settings):
    """``_started`` plus a connection to send notifications; both closed after."""
    listener = await _started(pool, channel, *callbacks, **settings)
    conn = await pool.connection()
    try:
        yield listener, conn
    finally:
        conn.close()
        await listener.shutdown()


async def _notify_many(pool, channel, n):
    conn = await pool.connection()
    try:
        await conn.execute(f"SELECT pg_notify('{channel}', g::text) FROM generate_series(1, {n}) g")
    finally:
        conn.close()


def _consuming(listener, n, into):
    """A task taking ``n`` payloads from the listener's iterator into ``into``."""
    async def consume() -> None:
        async for msg in listener:
            into.append(msg.payload)
            if len(into) == n:
                return
    return asyncio.ensure_future(consume())


async def _wait_for(cond, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def test_mixed_suspending_callbacks_keep_order_per_message_and_channel(pool):
    calls = []

    async def first(conn, payload, channel, pid):
        if int(payload) % 3 == 0:
            await asyncio.sleep(0)          # suspends: the rest waits for it
        calls.append(("first", payload))

    async def second(conn, payload, channel, pid):
        if int(payload) % 5 == 0:
            await asyncio.sleep(0.001)
        calls.append(("second", payload))

    listener = await _started(pool, "mix", first, second)
    try:
        await _notify_many(pool, "mix", 500)
        await _wait_for(lambda: len(calls) == 1000)
        assert calls == [(who, str(i)) for i in range(1, 501) for who in ("first", "second")]
        assert listener.buffered == 0
    finally:
        await listener.shutdown()


async def test_callbacks_run_inside_a_task_whether_or_not_they_suspend(pool):
    seen = []

    async def cb(conn, payload, channel, pid):
        task = asyncio.current_task()
        if payload == "2":
            await asyncio.sleep(0)
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(5):   # needs a current task
                await asyncio.sleep(0)
        seen.append((payload, task is not None, task is asyncio.current_task()))

    listener = await _started(pool, "intask", cb)
    try:
        await _notify_many(pool, "intask", 3)
        await _wait_for(lambda: len(seen) == 3)
        assert seen == [("1", True, True), ("2", True, True), ("3", True, True)]
    finally:
        await listener.shutdown()


async def test_errors_before_and_after_suspending_are_logged_and_delivery_continues(pool, caplog):
    got = []

    async def cb(conn, payload, channel, pid):
        if payload == "2":
            raise ValueError("sync failure")
        if payload == "4":
            await asyncio.sleep(0)
            raise KeyError("async failure")
        got.append(payload)

    listener = await _started(pool, "errs", cb)
    try:
        with caplog.at_level(logging.ERROR, logger="psqlpy.listener"):
            await _notify_many(pool, "errs", 6)
            await _wait_for(lambda: len(got) == 4)
        assert got == ["1", "3", "5", "6"]
        texts = [r.exc_text or "" for r in caplog.records if r.name == "psqlpy.listener"]
        assert any("sync failure" in t for t in texts)
        assert any("async failure" in t for t in texts)
        assert listener.buffered == 0
    finally:
        await listener.shutdown()


async def test_abort_listen_while_a_callback_is_suspended_keeps_the_rest(pool):
    got = []
    gate = asyncio.Event()

    async def cb(conn, payload, channel, pid):
        if payload == "3":
            await gate.wait()
        got.append(payload)

    listener = await _started(pool, "abort", cb)
    try:
        await _notify_many(pool, "abort", 10)
        await _wait_for(lambda: got == ["1", "2"])
        listener.abort_listen()
        gate.set()
        await _wait_for(lambda: got == ["1", "2", "3"])
        await asyncio.sleep(0.05)
        assert got == ["1", "2", "3"]            # nothing after abort_listen
        assert listener.buffered == 7
        rest = []
        async for msg in listener:
            rest.append(msg.payload)
            if len(rest) == 7:
                break
        assert rest == [str(i) for i in range(4, 11)]
    finally:
        await listener.shutdown()


@pytest.mark.parametrize("max_buffered,suspend_every", [(64, 50), (8, None)])
async def test_callback_mode_backpressure_pauses_and_resumes(pool, max_buffered, suspend_every):
    # suspend_every=None: every callback finishes inside the read, so the
    # router fills, parsing stops, and reading resumes once that read's
    # notifications are delivered.
    got: list[int] = []
    peak = 0

    async def cb(conn, payload, channel, pid):
        nonlocal peak
        peak = max(peak, listener.buffered)
        if suspend_every and int(payload) % suspend_every == 0:
            await asyncio.sleep(0.001)     # a slow consumer now and then
        got.append(int(payload))

    listener = await _started(pool, "bpcb", cb, max_buffered=max_buffered)
    try:
        await _notify_many(pool, "bpcb", 1)       # the worker exists and is idle
        await _wait_for(lambda: got == [1])
        await asyncio.sleep(0.02)
        await _notify_many(pool, "bpcb", 3000)
        await _wait_for(lambda: len(got) == 3001, timeout=30)
        assert got == [1] + list(range(1, 3001))
        assert peak <= max_buffered
        await asyncio.sleep(0.02)
        assert not listener._reading.paused and listener.buffered == 0
    finally:
        await listener.shutdown()


# ---- the router alone -------------------------------------------------------------------

def _notification(pid, channel, payload):
    body = pid.to_bytes(4, "big") + channel.encode() + b"\0" + payload.encode() + b"\0"
    return b"A" + (len(body) + 4).to_bytes(4, "big") + body


class _Recorder(ChannelCore):
    """A channel whose deliveries are only recorded (sans-IO)."""

    def __init__(self, router, name, started, fail_first=False):
        super().__init__(router, name)
        self.started = started
        self.fail_first = fail_first
        self.failed: list[str] = []

    def callback_failed(self, callback, exc):
        self.failed.append(str(exc))

    def start_delivery(self, eager):
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("cannot start")
        self.started.append((self.name, eager))


def test_router_routes_by_channel_and_reuses_the_channel_name():
    core = CoreProtocol()
    router = NotificationRouter(max_buffered=5)
    started: list = []
    a = _Recorder(router, "a", started)
    router.add_channel(a)
    router.callbacks_enabled = True
    resumes: list[int] = []
    router.on_resume = lambda: resumes.append(router.buffered)
    core.router = router
    core.end_startup()
    core.feed(_notification(7, "a", "1") + _notification(7, "a", "2") + _notification(8, "b", "3"))
    assert router.channel("a") is a and router.channel("b") is None
    assert [m.payload for m in a.queue] == ["1", "2"]
    assert a.queue[0].channel is a.queue[1].channel     # decoded once for the burst
    assert started == [("a", True)]                      # one start, eager: from a read
    assert a.state == "delivering"
    assert [(m.process_id, m.channel, m.payload) for m in router.backlog] == [(8, "b", "3")]
    assert router.buffered == 3 and core.notifications_received == 3
    # Full: the core stops parsing and says so once.
    limits = []
    core.on_notification_limit = lambda: limits.append(1)
    core.feed(_notification(7, "a", "4") + _notification(7, "a", "5") + _notification(7, "a", "6"))
    assert router.buffered == 5 and core.paused and limits == [1]
    assert [m.payload for m in a.queue] == ["1", "2", "4", "5"]
    assert started == [("a", True)]                      # still delivering: no second start
    # Callbacks off, the delivery stopped: its queue goes back to the
    # backlog, in front.  Taken down to resume_at (2): told once.
    router.callbacks_enabled = False
    a.stop()
    assert a.idle and not a.queue
    assert [m.payload for m in router.backlog] == ["1", "2", "4", "5", "3"]
    taken = [_payload(router.take()) for _ in range(4)]
    assert taken == ["1", "2", "4", "5"] and router.buffered == 1
    assert resumes == [2]
    core.resume()
    assert [m.payload for m in router.backlog] == ["3", "6"]


def _payload(msg):
    assert msg is not None
    return msg.payload


def _msgs(*payloads, channel="c"):
    return [ListenerNotificationMsg(1, channel, p) for p in payloads]


async def test_channel_core_delivers_in_order_and_stops_when_asked():
    router = NotificationRouter()
    router.callbacks_enabled = True
    ch = _Recorder(router, "c", [])
    router.add_channel(ch)
    calls = []

    async def sync_cb(conn, payload, channel, pid):
        calls.append(("sync", payload))

    async def suspending_cb(conn, payload, channel, pid):
        if payload == "2":
            await asyncio.sleep(0)
        if payload == "4":
            raise ValueError("reported, not raised")
        calls.append(("susp", payload))

    ch.callbacks = (sync_cb, suspending_cb)
    for m in _msgs("1", "2", "3", "4"):
        router.route(m)
    generation = ch.begin()
    assert await ch.deliver(generation) is None
    assert calls == [(w, p) for p in "123" for w in ("sync", "susp")] + [("sync", "4")]
    assert ch.failed == ["reported, not raised"]
    assert router.buffered == 0 and not ch.queue
    # Stopped from outside while a callback runs: the rest is not its to deliver.
    for m in _msgs("5", "6"):
        router.route(m)

    async def stopper(conn, payload, channel, pid):
        ch.stop()
        calls.append(("stopper", payload))

    ch.callbacks = (stopper, sync_cb)
    generation = ch.begin()
    assert await ch.deliver(generation) is None
    assert calls[-1] == ("stopper", "5")                 # not sync_cb, not "6"
    assert [m.payload for m in router.backlog] == ["6"] and ch.idle


async def test_channel_core_returns_where_an_invocation_changed_its_context():
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="clean")
    router = NotificationRouter()
    router.callbacks_enabled = True
    ch = _Recorder(router, "c", [])
    router.add_channel(ch)
    seen = []

    async def setter(conn, payload, channel, pid):
        seen.append(("setter", payload, var.get()))
        if payload == "2":
            var.set("dirty")

    async def reader(conn, payload, channel, pid):
        seen.append(("reader", payload, var.get()))

    async def set_and_reset(conn, payload, channel, pid):
        var.reset(var.set("passing"))       # leaves the context as it was

    ch.callbacks = (set_and_reset, setter, reader)
    for m in _msgs("1", "2", "3"):
        router.route(m)

    async def run(resume):
        return await ch.deliver(ch.begin(), resume)

    def in_a_fresh_context(coro):   # (3.10 has no create_task(context=))
        return contextvars.Context().run(asyncio.ensure_future, coro)

    resume = await in_a_fresh_context(run(None))
    assert resume is not None
    msg, cbs, nxt = resume
    assert (msg.payload, cbs, nxt) == ("2", ch.callbacks, 2)   # the reader of "2" is next
    resume = await in_a_fresh_context(run(resume))
    assert resume is None
    assert seen == [("setter", "1", "clean"), ("reader", "1", "clean"),
                    ("setter", "2", "clean"), ("reader", "2", "clean"),
                    ("setter", "3", "clean"), ("reader", "3", "clean")]


def test_router_reroutes_backlog_in_order_on_enable():
    router = NotificationRouter()
    started: list = []
    x = _Recorder(router, "x", started)
    router.add_channel(x)
    for i, ch in enumerate(["x", "y", "x"]):
        router.route(ListenerNotificationMsg(1, ch, str(i)))
    assert [m.payload for m in router.backlog] == ["0", "1", "2"]
    router.callbacks_enabled = True
    router.reroute_backlog()
    assert [m.payload for m in x.queue] == ["0", "2"]
    assert [m.payload for m in router.backlog] == ["1"]
    assert started == [("x", False)]         # scheduled, not eager: not in a read
    # A stopped delivery puts its leftovers back in front, in order.
    router.callbacks_enabled = False
    x.stop()
    assert [m.payload for m in router.backlog] == ["0", "2", "1"]
    assert x.idle and not x.queue


def test_router_keeps_only_the_newest_strays_while_callbacks_run_and_nothing_iterates():
    router = NotificationRouter(max_buffered=8)
    assert router.stray_limit == 2 and router.resume_at == 4
    dropped: list[int] = []
    router.on_strays_dropped = dropped.append
    x = _Recorder(router, "x", [])
    router.add_channel(x)
    # Iterator mode (callbacks off): everything waits for the iterator.
    for i in range(5):
        router.route(ListenerNotificationMsg(1, "stray", str(i)))
    assert [m.payload for m in router.backlog] == ["0", "1", "2", "3", "4"]
    assert router.buffered == 5 and dropped == []
    # Callbacks on: the backlog holds only strays; the newest two stay.
    router.callbacks_enabled = True
    router.reroute_backlog()
    assert [m.payload for m in router.backlog] == ["3", "4"]
    assert router.buffered == 2 and sum(dropped) == 3
    router.route(ListenerNotificationMsg(1, "stray", "5"))
    router.route(ListenerNotificationMsg(1, "x", "6"))      # routed, not a stray
    assert [m.payload for m in router.backlog] == ["4", "5"]
    assert router.buffered == 3 and sum(dropped) == 4
    # A cleared channel's leftovers are strays too: the oldest go first.
    gone = _Recorder(router, "gone", [])
    router.add_channel(gone)
    router.route(ListenerNotificationMsg(1, "gone", "a"))
    assert router.buffered == 4
    router.remove_channel("gone")
    gone.delivery_ended()
    assert [m.payload for m in router.backlog] == ["4", "5"] and sum(dropped) == 5
    assert router.buffered == 3
    # While an `async for` runs the strays are its: kept, and counted.
    router.iterating = 1
    for i in range(7, 10):
        router.route(ListenerNotificationMsg(1, "stray", str(i)))
    assert [m.payload for m in router.backlog] == ["4", "5", "7", "8", "9"]
    assert sum(dropped) == 5 and router.buffered == 6
    router.iterating = 0
    router.trim_strays()                                    # the last one ended
    assert [m.payload for m in router.backlog] == ["8", "9"] and sum(dropped) == 8


def test_router_flush_starts_every_delivery_when_one_fails():
    router = NotificationRouter()
    started: list = []
    bad = _Recorder(router, "bad", started, fail_first=True)
    router.add_channel(bad)
    router.add_channel(_Recorder(router, "good", started))
    router.callbacks_enabled = True
    core = CoreProtocol()
    core.router = router
    core.end_startup()
    fatal: list[BaseException] = []
    core.fatal_handler = fatal.append
    core.feed(_notification(1, "bad", "1") + _notification(1, "good", "2"))
    assert started == [("good", True)]               # the failure did not stop "good"
    assert len(fatal) == 1 and "cannot start" in str(fatal[0])
    # "bad" is not left delivering: its next notification starts one.
    assert bad.idle
    router.route(ListenerNotificationMsg(1, "bad", "3"))
    assert started[-1] == ("bad", True)
    assert [m.payload for m in bad.queue] == ["1", "3"]


async def test_a_channel_s_worker_ends_or_waits_between_bursts(pool):
    # Eager tasks: a worker per burst, ended once the queue is empty (an
    # idle channel has no task).  Without: the worker waits, and the next
    # burst wakes it.
    eager = channel_module.EAGER_START
    tasks: list[tuple[str, asyncio.Task]] = []

    async def cb(conn, payload, channel, pid):
        task = asyncio.current_task()
        assert task is not None
        tasks.append((payload, task))

    async with _listening(pool, "idle", cb) as (listener, conn):
        await conn.execute("SELECT pg_notify('idle', '1'), pg_notify('idle', '2')")
        await _wait_for(lambda: len(tasks) == 2)
        first = tasks[0][1]
        assert tasks[1][1] is first                # one task per burst, not per notification
        await asyncio.sleep(0.05)
        channel = listener._channels["idle"]
        assert channel.idle
        if eager:
            assert first.done() and channel.worker is None
        else:
            assert not first.done() and channel.worker is first
        await conn.execute("SELECT pg_notify('idle', '3')")
        await _wait_for(lambda: len(tasks) == 3)
        assert (tasks[2][1] is first) is not eager
        # Cleared: a waiting worker ends (no burst would wake it) ...
        await listener.clear_channel_callbacks("idle")
        await _wait_for(tasks[2][1].done)
        assert "idle" not in listener._channels
        # ... and added again, stopped and started again: delivery goes on.
        await listener.add_callback("idle", cb)
        listener.abort_listen()
        listener.listen()
        await conn.execute("SELECT pg_notify('idle', '4')")
        await _wait_for(lambda: len(tasks) == 4)
        last = tasks[3][1]
        assert last is not first
    await _wait_for(last.done)
    assert [p for p, _ in tasks] == ["1", "2", "3", "4"]
    assert not listener._tasks and not listener._deliveries.tasks   # nothing left running


async def test_buffered_notifications_survive_a_reconnect_in_callback_mode(pool, dsn):
    got = []
    gate = asyncio.Event()

    async def cb(conn, payload, channel, pid):
        if payload == "1":
            await gate.wait()          # hold the burst in the buffer
        got.append(payload)

    async with _listening(pool, "rc_buf", cb, reconnect_delay=0.05) as (listener, conn):
        await conn.execute("SELECT pg_notify('rc_buf', g::text) FROM generate_series(1, 5) g")
        await _wait_for(lambda: listener.buffered == 4)
        old_pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        await conn.execute("SELECT pg_terminate_backend($1)", [old_pid])
        await _wait_for(lambda: listener.reconnect_count == 1)
        gate.set()
        await _wait_for(lambda: len(got) == 5)
        assert got == ["1", "2", "3", "4", "5"]   # received before the cut: still delivered
        await conn.execute("SELECT pg_notify('rc_buf', 'after')")
        await _wait_for(lambda: len(got) == 6)
        assert got[-1] == "after"
        assert listener.buffered == 0


async def test_notifications_buffered_across_a_reconnect_get_a_working_connection(pool):
    # Held back by a slow callback when the connection drops, they are
    # delivered after the reconnect: the connection they come with must be
    # the listener's live one, not the dead socket they were read from.
    got = []
    gate = asyncio.Event()

    async def cb(conn, payload, channel, pid):
        if payload == "1":
            await gate.wait()
        try:
            got.append((payload, await conn.fetch_val("SELECT $1::text || '!'", [payload])))
        except Exception as e:
            got.append((payload, type(e).__name__))

    async with _listening(pool, "rc_conn", cb, reconnect_delay=0.05) as (listener, conn):
        await conn.execute("SELECT pg_notify('rc_conn', g::text) FROM generate_series(1, 3) g")
        await _wait_for(lambda: listener.buffered == 2)
        old_pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        await conn.execute("SELECT pg_terminate_backend($1)", [old_pid])
        await _wait_for(lambda: listener.reconnect_count == 1)
        gate.set()
        await _wait_for(lambda: len(got) == 3)
        assert got == [("1", "1!"), ("2", "2!"), ("3", "3!")]
        new_pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        assert new_pid != old_pid


# ---- delivery inside the read ------------------------------------------------------------

async def test_an_idle_channel_runs_its_callbacks_inside_the_read(pool):
    if not _in_read():
        pytest.skip("the delivery task is scheduled instead")
    seen = []

    async def cb(conn, payload, channel, pid):
        seen.append((payload, asyncio.current_task()))

    async with _listening(pool, "inread", cb) as (listener, conn):
        await conn.execute("SELECT pg_notify('inread', 'first')")
        await _wait_for(lambda: len(seen) == 1)
        core = listener._pg.core
        after_feed = []

        def read():   # what the transport does with a read, outside any task
            core.feed(_notification(1, "inread", "fed"))
            after_feed.append(list(seen))

        asyncio.get_running_loop().call_soon(read)
        await _wait_for(lambda: after_feed)
        assert [p for p, _ in after_feed[0]] == ["first", "fed"]     # ran inside feed()
        task = seen[1][1]
        assert task is not None and task.done()                     # ... in a task of its own
        assert listener.buffered == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
@pytest.mark.parametrize("delay", [0, 0.01])
async def test_asyncio_timeout_in_a_callback_run_inside_the_read(pool, delay):
    outcomes: list[tuple[str, str, int]] = []

    async def cb(conn, payload, channel, pid):
        if sys.version_info >= (3, 11):
            task = asyncio.current_task()
            assert task is not None
            try:
                async with asyncio.timeout(delay):   # 0: expires before the task suspends
                    await asyncio.sleep(5)
                outcomes.append((payload, "slept", task.cancelling()))
            except TimeoutError:
                outcomes.append((payload, "timeout", task.cancelling()))

    async with _listening(pool, "tmo", cb) as (listener, conn):
        for i in range(3):
            await conn.execute(f"SELECT pg_notify('tmo', '{i}')")
            await _wait_for(lambda: len(outcomes) == i + 1)
        assert outcomes == [("0", "timeout", 0), ("1", "timeout", 0), ("2", "timeout", 0)]


async def test_abort_listen_from_a_suspending_callback_finishes_that_message(pool):
    got = []

    async def first(conn, payload, channel, pid):
        if payload == "2":
            listener.abort_listen()
            await asyncio.sleep(0)
        got.append(("first", payload))

    async def second(conn, payload, channel, pid):
        got.append(("second", payload))

    listener = await _started(pool, "abort2", first, second)
    try:
        await _notify_many(pool, "abort2", 4)
        await _wait_for(lambda: listener.buffered == 2 and len(got) == 4)
        await asyncio.sleep(0.05)
        # The message whose delivery began gets all its callbacks; the rest wait.
        assert got == [("first", "1"), ("second", "1"), ("first", "2"), ("second", "2")]
        rest = []
        async for msg in listener:
            rest.append(msg.payload)
            if len(rest) == 2:
                break
        assert rest == ["3", "4"]
    finally:
        await listener.shutdown()


async def test_a_query_from_a_callback_run_inside_the_read(pool):
    got = []

    async def cb(connection, payload, channel, pid):
        # Sent from inside the read; the reply comes in a later one.
        got.append((payload, await connection.fetch_val("SELECT $1::text || '!'", [payload])))

    async with _listening(pool, "qread", cb) as (listener, conn):
        for i in range(20):   # one at a time: the worker is idle for each but the first
            await conn.execute(f"SELECT pg_notify('qread', '{i}')")
            await _wait_for(lambda: len(got) == i + 1)
        await conn.execute("SELECT pg_notify('qread', 'b' || g) FROM generate_series(1, 50) g")
        await _wait_for(lambda: len(got) == 70)
        assert got == ([(str(i), f"{i}!") for i in range(20)]
                       + [(f"b{i}", f"b{i}!") for i in range(1, 51)])
        assert listener.buffered == 0


# ---- what a callback may do to its own task ------------------------------------------

async def test_a_future_a_callback_awaits_can_be_awaited_by_another_task(pool):
    loop = asyncio.get_running_loop()
    got = []
    others = []

    async def also_wait(fut):
        return await fut

    async def cb(conn, payload, channel, pid):
        shared = loop.create_future()
        loop.call_later(0.02, shared.set_result, "ok-" + payload)
        others.append(loop.create_task(also_wait(shared)))   # a second awaiter, at once
        got.append(await shared)

    async with _listening(pool, "shared", cb) as (listener, conn):
        for p in ("1", "2", "3"):   # the first starts the worker; the rest run inside the read
            await conn.execute(f"SELECT pg_notify('shared', '{p}')")
            await _wait_for(lambda: len(got) == int(p))
        assert got == ["ok-1", "ok-2", "ok-3"]
        assert [await t for t in others] == ["ok-1", "ok-2", "ok-3"]


async def test_a_callback_that_cancels_its_task_gets_the_cancellation(pool):
    log = []

    async def cb(conn, payload, channel, pid):
        try:
            if payload == "2":
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                await asyncio.sleep(0)
            log.append(("done", payload))
        except asyncio.CancelledError:
            log.append(("cancelled", payload))
            raise

    async with _listening(pool, "selfcancel", cb) as (listener, conn):
        for p in ("1", "2", "3"):
            await conn.execute(f"SELECT pg_notify('selfcancel', '{p}')")
            await _wait_for(lambda: len(log) == int(p))
            await asyncio.sleep(0.02)
        assert log == [("done", "1"), ("cancelled", "2"), ("done", "3")]
        assert listener.reconnect_count == 0 and listener.buffered == 0


async def test_shutdown_from_a_callback_completes(pool):
    log = []

    async def cb(conn, payload, channel, pid):
        log.append(("start", payload))
        if payload == "2":
            await listener.shutdown()
            log.append(("shut down", payload))

    async with _listening(pool, "sdcb", cb) as (listener, conn):
        for p in ("1", "2"):
            await conn.execute(f"SELECT pg_notify('sdcb', '{p}')")
            await _wait_for(lambda: len(log) >= int(p))
            await asyncio.sleep(0.02)
        await _wait_for(lambda: len(log) == 3)
        assert log == [("start", "1"), ("start", "2"), ("shut down", "2")]
        assert not listener.is_started
        await _wait_for(lambda: not [t for t in listener._tasks if not t.done()])
        # ... and it starts again.
        await listener.startup()
        listener.listen()
        await conn.execute("SELECT pg_notify('sdcb', '3')")
        await _wait_for(lambda: len(log) == 4)
        assert log[-1] == ("start", "3")


async def test_a_query_from_a_callback_with_the_router_full(pool):
    # The query's reply is behind the buffered notifications: the listener
    # must read past its limit while the query waits for it.
    got = []

    async def cb(conn, payload, channel, pid):
        if int(payload) % 7 == 0:
            payload = await conn.fetch_val("SELECT $1::text || '!'", [payload])
        got.append(payload)

    listener = await _started(pool, "bpq", cb, max_buffered=4)
    try:
        await _notify_many(pool, "bpq", 1)
        await _wait_for(lambda: len(got) == 1)
        await asyncio.sleep(0.02)
        await _notify_many(pool, "bpq", 2000)
        await _wait_for(lambda: len(got) == 2001, timeout=30)
        assert got[1:] == [f"{i}!" if i % 7 == 0 else str(i) for i in range(1, 2001)]
        await asyncio.sleep(0.02)
        assert listener.buffered == 0 and not listener._reading.paused
    finally:
        await listener.shutdown()


async def test_a_callback_raising_cancelled_with_the_router_full_leaves_reading_on(pool):
    got = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)
        if payload == "4":
            raise asyncio.CancelledError()   # ends that channel's worker

    async with _listening(pool, "bpx", cb, max_buffered=4) as (listener, conn):
        await conn.execute("SELECT pg_notify('bpx', '0')")
        await _wait_for(lambda: got == ["0"])
        await asyncio.sleep(0.02)
        await conn.execute("SELECT pg_notify('bpx', g::text) FROM generate_series(1, 4) g")
        await _wait_for(lambda: len(got) == 5)
        await asyncio.sleep(0.05)
        await conn.execute("SELECT pg_notify('bpx', 'after')")
        await _wait_for(lambda: len(got) == 6)
        assert got == ["0", "1", "2", "3", "4", "after"]
        assert not listener._reading.paused and listener.buffered == 0


async def test_shutdown_cancels_a_callback_handed_over_in_the_same_read(pool):
    log = []

    async def slow(conn, payload, channel, pid):
        try:
            await asyncio.sleep(5 if payload == "x" else 0)
            log.append(("slow done", payload))
        except asyncio.CancelledError:
            log.append(("slow cancelled", payload))
            raise

    async def stopper(conn, payload, channel, pid):
        if payload == "x":
            await listener.shutdown()
        log.append(("stopper", payload))

    listener = pool.listener()
    await listener.add_callback("sd_slow", slow)
    await listener.add_callback("sd_stop", stopper)
    await listener.startup()
    listener.listen()
    conn = await pool.connection()
    try:
        await conn.execute("SELECT pg_notify('sd_slow', 'w'), pg_notify('sd_stop', 'w')")
        await _wait_for(lambda: len(log) == 2)
        await asyncio.sleep(0.02)           # both workers idle
        # One transaction: both notifications come in one read.
        await conn.execute("SELECT pg_notify('sd_slow', 'x'), pg_notify('sd_stop', 'x')")
        await _wait_for(lambda: len(log) == 4)
        assert sorted(log[2:]) == [("slow cancelled", "x"), ("stopper", "x")]
        assert not listener.is_started
    finally:
        conn.close()
        await listener.shutdown()


async def test_cancelling_a_callback_cancels_what_it_awaits(pool):
    inner_tasks: list[asyncio.Task] = []
    log = []

    async def inner():
        await asyncio.sleep(0.2)
        log.append("inner finished")

    async def cb(conn, payload, channel, pid):
        if payload != "go":
            return
        inner_tasks.append(asyncio.get_running_loop().create_task(inner()))
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await inner_tasks[0]
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    async with _listening(pool, "cinner", cb) as (listener, conn):
        await conn.execute("SELECT pg_notify('cinner', 'warm')")
        await asyncio.sleep(0.05)
        await conn.execute("SELECT pg_notify('cinner', 'go')")
        await _wait_for(lambda: log == ["cancelled"])
        await asyncio.sleep(0.3)
        assert log == ["cancelled"]           # the inner task did not run on
        assert inner_tasks[0].cancelled()


class _Boom(BaseException):
    pass


async def test_a_base_exception_after_cancelling_its_task_leaves_nothing_behind(pool):
    got = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)
        if payload == "boom":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            raise _Boom()     # ends that channel's worker, as in any task

    async with _listening(pool, "boom", cb) as (listener, conn):
        for p in ("warm", "boom", "after", "again"):
            await conn.execute(f"SELECT pg_notify('boom', '{p}')")
            await _wait_for(lambda: got[-1:] == [p])
            await asyncio.sleep(0.02)
        assert got == ["warm", "boom", "after", "again"]
        channel = listener._channels["boom"]
        assert channel.idle and listener._deliveries.tasks <= {channel.worker}


async def test_a_listener_shut_down_while_full_starts_again_unpaused(pool):
    listener = pool.listener(max_buffered=4)

    async def cb(conn, payload, channel, pid):
        pass

    await listener.add_callback("fullstop", cb)
    await listener.startup()                      # no listen(): the backlog fills
    try:
        await _notify_many(pool, "fullstop", 50)
        await _wait_for(lambda: listener._reading.paused)
        await listener.shutdown()
        assert not listener._reading.paused
        await listener.startup()
        assert not listener._reading.paused
        got = []
        async for msg in listener:                # the buffered ones, then new ones
            got.append(msg.payload)
            if len(got) == 4:
                await _notify_many(pool, "fullstop", 1)
            if len(got) == 5:
                break
        assert got == ["1", "2", "3", "4", "1"]
    finally:
        await listener.shutdown()


def _notify_from_another_thread(dsn: str, sql: str) -> None:
    """Send ``sql`` on a connection of its own, synchronously (while the test's
    event loop is blocked)."""
    async def send() -> None:
        async with await psqlpy.connect(dsn=dsn) as c:   # closed before its loop ends
            await c.execute(sql)

    t = threading.Thread(target=asyncio.run, args=(send(),))
    t.start()
    t.join()


async def test_a_notification_with_the_listen_reply_filling_the_buffer_at_startup(pool, dsn):
    # Restarted with the buffer one short of full; a notification comes in
    # the same read as the reply to startup()'s LISTEN and fills it.  The
    # listener must pause and resume reading as usual: before, the core
    # stayed paused for good (nothing more parsed, queries on
    # listener.connection hung).
    listener = pool.listener(max_buffered=2)

    async def cb(conn, payload, channel, pid):
        pass

    await listener.add_callback("full_at_start", cb)
    await listener.startup()                       # no listen(): the backlog keeps them
    await _notify_many(pool, "full_at_start", 1)
    await _wait_for(lambda: listener.buffered == 1)
    await listener.shutdown()

    original = listener._before_request
    held: list[int] = []

    def hold_the_reply(pg) -> None:
        # Called right after the LISTEN is written: block the loop until the
        # reply and a notification sent after it both wait in the socket.
        if not held:
            held.append(1)
            time.sleep(0.1)
            _notify_from_another_thread(dsn, "SELECT pg_notify('full_at_start', '2')")
            time.sleep(0.1)
        original(pg)

    setattr(listener, "_before_request", hold_the_reply)
    await listener.startup()
    sender = await pool.connection()
    try:
        assert held and listener.buffered == 2
        got = []

        async def consume() -> None:
            async for msg in listener:
                got.append(msg.payload)
                if len(got) == 2:
                    await sender.execute("SELECT pg_notify('full_at_start', '3')")
                if len(got) == 3:
                    return

        await asyncio.wait_for(consume(), 5)
        assert got == ["1", "2", "3"]
        assert await asyncio.wait_for(listener.connection.fetch_val("SELECT 7"), 5) == 7
        assert not listener._reading.paused and not listener._pg.core.paused
    finally:
        sender.close()
        await listener.shutdown()


async def test_clearing_a_channel_from_its_callback_hands_the_rest_to_the_iterator(pool):
    # Received before the UNLISTEN, the rest of the burst was dropped without
    # a trace (taken from the queue, no callback, not counted anywhere).  It
    # goes to the iterator, in order, and an iterator already waiting wakes.
    got = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)
        if payload == "1":
            await listener.clear_channel_callbacks("clr_cb")

    listener = await _started(pool, "clr_cb", cb)
    rest: list[str] = []
    try:
        consumer = _consuming(listener, 3, rest)
        await asyncio.sleep(0.02)               # waiting on the empty backlog
        await _notify_many(pool, "clr_cb", 4)
        await asyncio.wait_for(consumer, 5)
        assert got == ["1"]
        assert rest == ["2", "3", "4"]
        assert listener.buffered == 0 and listener.channels == ()
    finally:
        await listener.shutdown()


async def test_abort_listen_wakes_an_iterator_waiting_for_what_the_worker_leaves(pool):
    gate = asyncio.Event()

    async def cb(conn, payload, channel, pid):
        if payload == "1":
            await gate.wait()

    listener = await _started(pool, "abort_wake", cb)
    rest: list[str] = []
    try:
        consumer = _consuming(listener, 2, rest)
        await _notify_many(pool, "abort_wake", 3)
        await _wait_for(lambda: listener.buffered == 2)
        listener.abort_listen()
        gate.set()                              # "1" finishes; "2", "3" go to the backlog
        await asyncio.wait_for(consumer, 5)
        assert rest == ["2", "3"]
    finally:
        await listener.shutdown()


async def test_a_cleared_channel_s_leftovers_do_not_stop_the_other_channels(pool, caplog):
    # Callback mode, small buffer: a callback clears its channel at the start
    # of a burst that fills the buffer.  Its leftovers (nobody iterates) used
    # to hold the buffer over resume_at for good: reading never resumed and
    # the other channel's callbacks starved.  Now they are dropped, logged.
    got: dict[str, list[str]] = {"lo_a": [], "lo_b": []}

    async def cb(conn, payload, channel, pid):
        got[channel].append(payload)
        if channel == "lo_a" and payload == "1":
            await listener.clear_channel_callbacks("lo_a")

    listener = pool.listener(max_buffered=8)
    await listener.add_callback("lo_a", cb)
    await listener.add_callback("lo_b", cb)
    await listener.startup()
    listener.listen()
    try:
        with caplog.at_level(logging.WARNING, logger="psqlpy.listener"):
            await _notify_many(pool, "lo_a", 50)
            await _notify_many(pool, "lo_b", 30)
            await _wait_for(lambda: len(got["lo_b"]) == 30)
            # lo_a's worker hands its leftovers over once its callback (awaiting
            # the UNLISTEN's reply) returns: possibly after lo_b's last delivery
            await _wait_for(lambda: listener.buffered <= 2)
        assert got["lo_a"] == ["1"]
        assert got["lo_b"] == [str(i) for i in range(1, 31)]
        assert any("dropped notifications on channels with no callback" in r.getMessage()
                   for r in caplog.records)
    finally:
        await listener.shutdown()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is 3.11+")
async def test_a_cancelled_error_a_callback_meets_is_that_callback_s_error(pool, caplog):
    # A callback awaiting something another task cancels (or raising the
    # CancelledError it got) ended the channel's task: that message's later
    # callbacks never ran and nothing was logged.  As with a task per
    # callback (asyncpg), it is now that callback's error: logged, and the
    # rest goes on.  The channel's task itself was not cancelled.
    loop = asyncio.get_running_loop()
    seen = []
    tasks: set[asyncio.Task] = set()

    async def first(conn, payload, channel, pid):
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        if payload == "1":                  # suspends; then what it awaits is cancelled
            fut = loop.create_future()
            loop.call_later(0.01, fut.cancel)
            await fut
        if payload == "2":                  # raises without suspending
            raise asyncio.CancelledError()
        seen.append(("first", payload))

    async def second(conn, payload, channel, pid):
        seen.append(("second", payload))

    with caplog.at_level(logging.ERROR, logger="psqlpy.listener"):
        async with _listening(pool, "own_cancel", first, second) as (listener, conn):
            await conn.execute("SELECT pg_notify('own_cancel', g::text) FROM generate_series(1, 3) g")
            await _wait_for(lambda: len(seen) == 4)
            assert seen == [("second", "1"), ("second", "2"), ("first", "3"), ("second", "3")]
            assert len(tasks) == 1                      # one task delivered all three
            (task,) = tasks
            await asyncio.sleep(0.02)
            if task.done():                             # (a worker per burst)
                assert not task.cancelled() and task.exception() is None
            else:                                       # (a worker that waits for the next)
                assert getattr(task, "cancelling")() == 0   # (3.11+)
            assert listener.buffered == 0
            await conn.execute("SELECT pg_notify('own_cancel', '4')")
            await _wait_for(lambda: len(seen) == 6)
    errors = [r for r in caplog.records if r.name == "psqlpy.listener" and r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all(r.exc_info and r.exc_info[0] is asyncio.CancelledError for r in errors)


async def test_a_connection_lost_with_reconnect_off_leaves_no_worker_waiting(pool):
    # Without eager tasks a channel's worker waits between bursts; once the
    # connection is gone for good no burst comes, so it must not wait on.
    got = []

    async def cb(conn, payload, channel, pid):
        got.append(payload)

    listener = await _started(pool, "lost_idle", cb, reconnect=False)
    conn = await pool.connection()
    try:
        await conn.execute("SELECT pg_notify('lost_idle', '1')")
        await _wait_for(lambda: got == ["1"])
        await asyncio.sleep(0.02)
        pid = await listener.connection.fetch_val("SELECT pg_backend_pid()")
        await conn.execute("SELECT pg_terminate_backend($1)", [pid])
        await _wait_for(lambda: listener.state is psqlpy.listener.ListenerState.LOST)
        await _wait_for(lambda: not listener._deliveries.tasks)
        with pytest.raises(psqlpy.exceptions.ListenerClosedError):
            await listener.__anext__()
        async with listener:                  # what is left is let go on exit
            pass
        assert listener.state is psqlpy.listener.ListenerState.SHUT_DOWN
        assert not listener._tasks and not listener._deliveries.tasks
    finally:
        conn.close()
        await listener.shutdown()
