"""The Listener as a state machine (hypothesis), against the real server.

Random sequences of add_callback, clear_channel_callbacks, clear_all_channels,
listen, abort_listen, shutdown, startup, NOTIFY bursts over several channels
(waited for or not, so that the next step races the delivery), a cut
connection and iteration, checked after every step:

* every notification reaches each callback of its channel at most once and
  in send order (the payloads are increasing ids);
* two callbacks of one channel never run at once;
* every callback invocation starts from a clean copy of the context
  ``listen()`` was called in;
* a notification taken by the iterator reaches no callback, and the other
  way round;
* a NOTIFY sent while listening reaches every callback of its channel
  (the step waits for it), and once delivery runs, nothing stays buffered
  for a channel that has callbacks;
* no task of the listener is left after ``shutdown()``.

Bounded by time, not count: ``PSQLPY_STATEFUL_SECONDS`` per event loop
(default 12), in batches of a few examples each.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
import time
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import psqlpy
from psqlpy.listener import ListenerState

uvloop: types.ModuleType | None
try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

CHANNELS = ("sm_a", "sm_b", "sm_c")
SUSPEND = st.sampled_from(["never", "sometimes", "always"])
SECONDS = float(os.environ.get("PSQLPY_STATEFUL_SECONDS", "12"))
STEP_TIMEOUT = 20.0          # a step that takes longer is stuck
DELIVERY_TIMEOUT = 3.0       # waiting for notifications to arrive

var: contextvars.ContextVar[str] = contextvars.ContextVar("stateful_var", default="unset")

_loops = {"asyncio": asyncio.new_event_loop}
if uvloop is not None:
    _loops["uvloop"] = uvloop.new_event_loop
_wanted = [n.strip() for n in os.environ.get("PSQLPY_TEST_LOOPS", "").split(",") if n.strip()]
LOOPS = {n: f for n, f in _loops.items() if not _wanted or n in _wanted} or _loops


def _inside(listener, name: str) -> Any:
    """A part of the listener this white-box test looks at."""
    return getattr(listener, name)


class _Callback:
    """A recording callback; ``suspend`` says when it awaits the loop."""

    def __init__(self, machine: ListenerMachine, ident: int, channel: str, suspend: str):
        self.machine, self.ident, self.channel, self.suspend = machine, ident, channel, suspend
        self.got: list[int] = []

    async def __call__(self, connection, payload, channel, process_id):
        m = self.machine
        if channel != self.channel:
            m.violations.append(f"cb{self.ident} of {self.channel} got {channel}")
        if m.running[channel]:
            m.violations.append(f"two callbacks of {channel} at once (cb{self.ident}, {payload})")
        if var.get() != "listen":
            m.violations.append(f"cb{self.ident} started from context value {var.get()!r}")
        var.set(f"cb{self.ident}")
        m.running[channel] += 1
        try:
            n = int(payload)
            if self.suspend == "always" or (self.suspend == "sometimes" and n % 3 == 0):
                await asyncio.sleep(0)
            self.got.append(n)
        finally:
            m.running[channel] -= 1


class ListenerMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    dsn: str
    pool: psqlpy.ConnectionPool
    sender: psqlpy.Connection
    listener: psqlpy.Listener

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[str] = []
        self.running = {ch: 0 for ch in CHANNELS}
        self.registered: dict[str, list[_Callback]] = {ch: [] for ch in CHANNELS}
        self.callbacks: list[_Callback] = []
        self.required: dict[int, set[int]] = {}      # callback -> ids it must get
        self.iterated: list[tuple[str, int]] = []
        # Cleared since delivery last started, and not given a callback
        # since: what a running delivery of theirs left went to the iterator
        # backlog, and stays there.
        self.cleared: set[str] = set()
        self.next_id = 0
        self.open = False

    def run(self, coro, timeout: float = STEP_TIMEOUT):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    # ---- set-up and tear-down --------------------------------------------------------

    @initialize(max_buffered=st.sampled_from([4, 10_000]),
                callbacks=st.lists(st.tuples(st.sampled_from(CHANNELS), SUSPEND), max_size=4))
    def start(self, max_buffered: int, callbacks) -> None:
        """Most sequences start listening, with some callbacks."""
        async def setup():
            self.pool = psqlpy.ConnectionPool(dsn=self.dsn, max_db_pool_size=2)
            self.sender = await self.pool.connection()
            self.listener = self.pool.listener(max_buffered=max_buffered, reconnect_delay=0.02)
        self.run(setup())
        self.open = True
        for channel, suspend in callbacks:
            self.add_callback(channel, suspend)
        self.startup()
        self.listen()

    def teardown(self) -> None:
        if not self.open:
            return

        async def close():
            await self.listener.shutdown()
            self.sender.close()
            self.pool.close()
            await self.pool.wait_closed()
        try:
            self.run(close())
            self._check_no_task_left()
        finally:
            self.open = False

    # ---- helpers ---------------------------------------------------------------------

    @property
    def state(self) -> ListenerState:
        return self.listener.state

    def _forgive(self, callbacks=None) -> None:
        """What these callbacks (default: all) were owed may now be lost or
        delayed (the step raced the delivery): no longer required."""
        for cb in callbacks if callbacks is not None else self.callbacks:
            self.required[cb.ident] = set()

    def _wait(self, cond, what: str) -> None:
        async def poll():
            deadline = asyncio.get_running_loop().time() + DELIVERY_TIMEOUT
            while not cond():
                if asyncio.get_running_loop().time() > deadline:
                    return False
                await asyncio.sleep(0.002)
            return True
        if not self.run(poll()):
            self.violations.append(f"stuck: {what} (buffered {self.listener.buffered}, "
                                   f"channels {self._channel_states()})")

    def _channel_states(self):
        return {n: (ch.state, len(ch.queue)) for n, ch in _inside(self.listener, "_channels").items()}

    def _check_no_task_left(self) -> None:
        left = [t for t in asyncio.all_tasks(self.loop) if not t.done()
                and getattr(t.get_coro(), "__qualname__", "").startswith(("Channel.", "Listener."))]
        assert not left, f"tasks left after shutdown(): {left}"

    # ---- rules -------------------------------------------------------------------------

    @rule(channel=st.sampled_from(CHANNELS), suspend=SUSPEND)
    def add_callback(self, channel: str, suspend: str) -> None:
        cb = _Callback(self, len(self.callbacks), channel, suspend)
        self.callbacks.append(cb)
        self.required[cb.ident] = set()
        self.run(self.listener.add_callback(channel, cb))
        self.registered[channel].append(cb)
        self.cleared.discard(channel)   # what waits for it in the backlog is its now

    @rule(channel=st.sampled_from(CHANNELS))
    def clear_channel_callbacks(self, channel: str) -> None:
        self.run(self.listener.clear_channel_callbacks(channel))
        self._forgive(self.registered[channel])
        self.registered[channel] = []
        self.cleared.add(channel)

    @rule()
    def clear_all_channels(self) -> None:
        self.run(self.listener.clear_all_channels())
        self._forgive()
        self.registered = {ch: [] for ch in CHANNELS}
        self.cleared.update(CHANNELS)

    @precondition(lambda self: self.listener.is_started)
    @rule()
    def listen(self) -> None:
        async def listen():
            var.set("listen")           # every invocation starts from this
            self.listener.listen()
        if not self.listener.is_listening:
            self.cleared = set()        # the backlog goes to the callbacks again
        self.run(listen())

    @rule()
    def abort_listen(self) -> None:
        self.listener.abort_listen()
        self._forgive()                 # (what waits is delivered after listen())

    @rule()
    def shutdown(self) -> None:
        self.run(self.listener.shutdown())
        self._forgive()
        self._check_no_task_left()
        assert not self.listener.is_started and not self.listener.is_listening

    @precondition(lambda self: not self.listener.is_started)
    @rule()
    def startup(self) -> None:
        self.run(self.listener.startup())
        assert self.state is ListenerState.RUNNING

    @precondition(lambda self: self.state is ListenerState.RUNNING)
    @rule(channels=st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=30), wait=st.booleans())
    def notify(self, channels: list[str], wait: bool) -> None:
        ids = []
        for ch in channels:
            ids.append((ch, self.next_id))
            self.next_id += 1
        sql = "SELECT " + ", ".join(f"pg_notify('{ch}', '{i}')" for ch, i in ids)
        self.run(self.sender.execute(sql))
        if not self.listener.is_listening:
            return
        owed = []
        for ch, i in ids:
            for cb in self.registered[ch]:
                self.required[cb.ident].add(i)
                owed.append((cb, i))
        if wait:
            self._wait(lambda: all(i in cb.got for cb, i in owed), "a burst sent while listening")
        else:
            self._forgive([cb for cb, _ in owed])   # the next step races it

    @precondition(lambda self: self.state is ListenerState.RUNNING)
    @rule()
    def cut_connection(self) -> None:
        async def cut():
            pid = await self.listener.connection.fetch_val("SELECT pg_backend_pid()")
            await self.sender.execute("SELECT pg_terminate_backend($1)", [pid])
            while self.listener.reconnect_count == count or self.state is not ListenerState.RUNNING:
                await asyncio.sleep(0.005)
        count = self.listener.reconnect_count
        self.run(cut())
        assert self.listener.reconnect_count == count + 1
        self._forgive()

    @precondition(lambda self: self.listener.is_started)
    @rule()
    def iterate(self) -> None:
        backlog = _inside(self.listener, "_router").backlog

        async def drain():
            if not backlog:
                return
            async for msg in self.listener:
                self.iterated.append((msg.channel, int(msg.payload)))
                if not backlog:
                    break
        self.run(drain())

    @precondition(lambda self: self.state is ListenerState.RUNNING and self.listener.is_listening)
    @rule()
    def settle(self) -> None:
        """Once delivery runs, nothing stays queued for a channel with callbacks."""
        listener = self.listener

        def settled():
            with_callbacks = set(listener.channels) - self.cleared
            return (all(ch.idle and not ch.queue for ch in _inside(listener, "_channels").values())
                    and not any(m.channel in with_callbacks for m in _inside(listener, "_router").backlog))
        self._wait(settled, "delivery while listening")

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def no_violation(self) -> None:
        assert not self.violations, self.violations

    @invariant()
    def each_callback_gets_its_channel_in_order_at_most_once(self) -> None:
        for cb in self.callbacks:
            assert cb.got == sorted(set(cb.got)), (cb.ident, cb.got)

    @invariant()
    def what_is_required_arrived(self) -> None:
        for cb in self.callbacks:
            missing = self.required[cb.ident] - set(cb.got)
            assert not missing, (cb.ident, sorted(missing))

    @invariant()
    def iterated_and_delivered_are_apart(self) -> None:
        ids = [i for _, i in self.iterated]
        assert len(ids) == len(set(ids)), ids
        delivered = {i for cb in self.callbacks for i in cb.got}
        assert not delivered.intersection(ids)


@pytest.mark.parametrize("loop_name", list(LOOPS))
def test_listener_state_machine(pg_cluster, loop_name: str) -> None:
    loop = LOOPS[loop_name]()
    ListenerMachine.loop = loop
    ListenerMachine.dsn = pg_cluster.dsn()
    batch = settings(max_examples=4, stateful_step_count=30, deadline=None,
                     suppress_health_check=list(HealthCheck))
    try:
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            run_state_machine_as_test(ListenerMachine, settings=batch)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
