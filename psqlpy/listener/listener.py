"""Listener: LISTEN/NOTIFY on a dedicated connection.

How a notification travels: the Cython core parses NotificationResponse
straight out of the socket buffer into a ``ListenerNotificationMsg`` and hands
it to the listener's ``NotificationRouter`` (also Cython), which appends it to
one of two bounded places without entering the interpreter:

* callback mode (``listen()`` active): its channel's queue, delivered in
  order by that channel's task (``channel.py``), which awaits each
  registered callback in registration order.  Channels run concurrently;
  within a channel, delivery order is send order.
* otherwise: the backlog that ``async for msg in listener`` reads.
  Notifications that arrive before the first ``__anext__`` (or while
  ``abort_listen()`` has stopped callbacks) wait there, and are handed to the
  callbacks when ``listen()`` starts again, or, for a channel that had none,
  when it gets one while listening.

Backpressure (``reading.py``): when ``max_buffered`` notifications are
waiting, the core stops parsing and the transport stops reading the socket;
reading resumes when half of the backlog is taken.  Nothing is dropped.
While a query runs on ``listener.connection`` the listener keeps reading
(the query's reply is behind the notifications in the stream), so the bound
may be overshot by what arrives meanwhile.

Connection loss is detected by the transport (EOF, reset), by TCP keepalives
(on by default) and, with ``liveness_interval``, by a periodic ``SELECT 1``.
With ``reconnect=True`` (the default) the listener reconnects with
exponential backoff, LISTENs every channel again and reports the gap to every
callback added with ``add_gap_callback``: the server does not keep
notifications for a disconnected session, so the application must resync.
The states the listener goes through are in ``lifecycle.py``.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import random
import time

from .._connect import open_connection
from .._ident import quote_ident
from ..connection import Connection, rebind
from ..exceptions import (
    ListenerCallbackError,
    ListenerClosedError,
    ListenerStartError,
)
from ..protocol import ListenerNotificationMsg, NotificationRouter
from .channel import Channel, Deliveries
from .lifecycle import Lifecycle, ListenerGap, ListenerState
from .reading import Reading

log = logging.getLogger("psqlpy.listener")

__all__ = ["Listener", "ListenerIterator"]


class _ListenerConnection(Connection):
    """listener.connection: queries run on the listener's own socket.  The
    one object callbacks and messages get: it follows the listener to each
    new socket (``rebind``), so what was buffered before a reconnect is
    delivered with a connection that works after it."""

    def close(self) -> None:  # the listener owns this connection
        pass


class Listener:
    def __init__(self, config, *, max_buffered: int = 10_000, reconnect: bool = True,
                 reconnect_delay: float = 0.1, max_reconnect_delay: float = 30.0,
                 liveness_interval: float | None = None, liveness_timeout: float = 10.0):
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self._config = config
        self._reconnect = reconnect
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._liveness_interval = liveness_interval
        self._liveness_timeout = liveness_timeout

        # Outlives reconnects: what was buffered before a reconnect is still
        # delivered after it.
        router = self._router = NotificationRouter(max_buffered)
        self._reading = Reading(router)
        router.on_resume = self._reading.resume_soon
        router.on_backlog = self._wake_iterators
        router.on_unrouted = _warn_unrouted
        router.on_strays_dropped = self._strays_dropped
        self._strays_dropped_total = 0
        self._strays_logged_at = -1e9

        self._lifecycle = Lifecycle()
        self._pg = None                 # the connection while started
        self._connection = _ListenerConnection(None)
        self._channels: dict[str, Channel] = {}   # with callbacks, or still delivering
        self._deliveries = Deliveries()
        self._iterator_waiters: set[asyncio.Future] = set()   # one per waiting __anext__
        self._tasks: set[asyncio.Task] = set()   # reconnect, liveness, gap callbacks
        self._reconnect_task: asyncio.Task | None = None
        self._liveness_task: asyncio.Task | None = None
        self._gap_callbacks: list = []
        self.reconnect_count = 0
        self.last_gap: ListenerGap | None = None

    # ---- properties ------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        if not self._lifecycle.started:
            raise ListenerStartError("the listener is not started; call startup() first")
        return self._connection

    @property
    def state(self) -> ListenerState:
        return self._lifecycle.state

    @property
    def is_started(self) -> bool:
        return self._lifecycle.started

    @property
    def is_listening(self) -> bool:
        return self._router.callbacks_enabled

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(name for name, ch in self._channels.items() if ch.callbacks)

    @property
    def buffered(self) -> int:
        """Notifications received and not yet delivered."""
        return self._router.buffered

    def __repr__(self) -> str:
        listening = " listening" if self.is_listening else ""
        return (f"<psqlpy.Listener {self.state.value} {self._config.describe()} "
                f"channels={list(self.channels)}{listening} buffered={self.buffered}>")

    # ---- lifecycle ---------------------------------------------------------------------

    async def startup(self) -> None:
        # A second startup() fails at once (two connections would both route
        # into the router: every notification twice); a shutdown() meanwhile
        # wins (it begins a new run: this one gives its connection up).
        run = self._lifecycle.begin_start()
        try:
            await self._connect(run)
        except ListenerStartError:
            self._lifecycle.start_failed(run)
            raise
        except Exception as e:
            self._lifecycle.start_failed(run)
            raise ListenerStartError(f"could not start the listener: {e}") from e
        except BaseException:
            self._lifecycle.start_failed(run)
            raise
        self._lifecycle.connected(run)
        if self._liveness_interval:
            self._liveness_task = self._spawn(self._liveness_loop(run))

    async def _connect(self, run: int) -> None:
        """Open a connection, LISTEN every channel, and make it the
        listener's, unless ``run`` was overtaken meanwhile."""
        pg = await open_connection(self._config)
        try:
            core = pg.core
            core.owner = self._connection
            core.router = self._router
            core.on_notification_limit = functools.partial(self._reading.pause, pg)
            pg.before_request = functools.partial(self._before_request, pg)
            pg.add_lost_callback(functools.partial(self._on_connection_lost, pg))
            await self._listen_registered(pg)
            if not self._lifecycle.is_current(run):
                raise ListenerStartError("the listener was shut down while it was starting")
        except BaseException:
            pg.terminate()
            raise
        self._pg = pg
        rebind(self._connection, pg)
        self._reading.install(pg)

    def _before_request(self, pg) -> None:
        # A query's reply is behind the buffered notifications in the stream.
        self._reading.resume(pg)

    async def _listen_registered(self, pg) -> None:
        # Channels may be added or cleared while we wait for the server
        # (during a reconnect, say): repeat until the session listens to
        # exactly the registered channels.
        listened: set = set()
        while True:
            wanted = self.channels
            missing = [ch for ch in wanted if ch not in listened]
            extra = [ch for ch in listened if ch not in wanted]
            if not missing and not extra:
                return
            sql = ";".join(["LISTEN " + quote_ident(ch, "channel name") for ch in missing]
                           + ["UNLISTEN " + quote_ident(ch, "channel name") for ch in extra])
            await pg.simple_query(sql, ListenerStartError)
            listened.update(missing)
            listened.difference_update(extra)

    def _live_pg(self):
        """The listener's connection when it is usable now; None while
        stopped or reconnecting (the reconnect LISTENs every channel)."""
        pg = self._pg
        if self._lifecycle.state is ListenerState.RUNNING and pg is not None and not pg.is_closed:
            return pg
        return None

    async def shutdown(self) -> None:
        """Stop listening and close the connection.  Registered callbacks are
        kept: a later ``startup()`` LISTENs to every channel again.  What
        was received and not delivered stays buffered.  No task of the
        listener is left once it returns (but the one calling it)."""
        self._lifecycle.shut_down()
        self._router.callbacks_enabled = False
        for t in (self._reconnect_task, self._liveness_task):
            if t is not None:
                t.cancel()
        self._reconnect_task = self._liveness_task = None
        for ch in list(self._channels.values()):
            ch.stop()
            self._channel_idle(ch)
        # This run's tasks, before anything awaits (a startup() meanwhile
        # begins a run of its own).
        me = asyncio.current_task()
        left = [t for t in self._tasks | self._deliveries.tasks if t is not me and not t.done()]
        for t in left:
            t.cancel()
        pg, self._pg = self._pg, None
        rebind(self._connection, None)
        self._reading.reset()
        self._wake_iterators()
        if pg is not None:
            pg.clear_lost_callbacks()
            await pg.close()
        if left:
            await asyncio.wait(left)

    # ---- callbacks -------------------------------------------------------------------

    async def add_callback(self, channel: str, callback) -> None:
        if not (inspect.iscoroutinefunction(callback)
                or inspect.iscoroutinefunction(getattr(callback, "__call__", None))):
            raise ListenerCallbackError("callback must be a coroutine function (async def)")
        sql = "LISTEN " + _quote_channel(channel)
        ch = self._channels.get(channel)
        if ch is None:
            ch = self._channels[channel] = Channel(self._router, channel, self._deliveries,
                                                  self._channel_idle)
        ch.callbacks = ch.callbacks + (callback,)
        self._router.add_channel(ch)
        pg = self._live_pg()
        if pg is not None:
            try:
                # Returns once the server confirmed: a NOTIFY sent after this
                # call is delivered.  Also for a channel that already has a
                # callback: its LISTEN may still be on its way (or fail), and
                # a LISTEN repeated is a no-op for the server.
                await pg.simple_query(sql, ListenerCallbackError)
            except BaseException:
                cbs = list(ch.callbacks)
                if callback in cbs:
                    cbs.remove(callback)
                    ch.callbacks = tuple(cbs)
                    if not cbs:
                        self._unroute(ch)
                raise

    async def clear_channel_callbacks(self, channel: str) -> None:
        sql = "UNLISTEN " + _quote_channel(channel)
        ch = self._channels.get(channel)
        if ch is not None:
            ch.callbacks = ()
            self._unroute(ch)
        pg = self._live_pg()
        if pg is not None:
            await pg.simple_query(sql, ListenerCallbackError)

    async def clear_all_channels(self) -> None:
        for ch in list(self._channels.values()):
            ch.callbacks = ()
            self._unroute(ch)
        pg = self._live_pg()
        if pg is not None:
            await pg.simple_query("UNLISTEN *", ListenerCallbackError)

    def _unroute(self, ch: Channel) -> None:
        """``ch`` has no callbacks left: its notifications go to the
        iterator.  A delivery still running finishes its callback first,
        then hands the rest over; the channel object stays until then, so
        callbacks added meanwhile join that delivery instead of a second."""
        if self._router.channel(ch.name) is ch:
            self._router.remove_channel(ch.name)
        if ch.idle:
            ch.stop()     # (an idle worker would wait for a burst that never comes)
            self._channel_idle(ch)

    def _channel_idle(self, ch: Channel) -> None:
        if not ch.callbacks and self._channels.get(ch.name) is ch:
            del self._channels[ch.name]

    def add_gap_callback(self, callback) -> None:
        """``await callback(gap: ListenerGap)`` after every reconnect (and once
        when the listener gives up with reconnect off)."""
        if not inspect.iscoroutinefunction(callback):
            raise ListenerCallbackError("gap callback must be a coroutine function")
        self._gap_callbacks.append(callback)

    def listen(self) -> None:
        """Start delivering notifications to the callbacks (idempotent).
        Each callback invocation runs in its own copy of the context this
        is called in."""
        if not self._lifecycle.started:
            raise ListenerStartError("the listener is not started; call startup() first")
        router = self._router
        if router.callbacks_enabled:
            return
        self._deliveries.context = contextvars.copy_context()
        router.callbacks_enabled = True
        # Hand what waited in the backlog to the callbacks, in order.
        router.reroute_backlog()

    def abort_listen(self) -> None:
        """Stop delivering to callbacks; new notifications wait in the
        buffer.  A delivery in progress finishes the notification it is
        at, then hands the rest of its queue to the buffer."""
        self._router.callbacks_enabled = False

    def _strays_dropped(self, n: int) -> None:
        # Per notification in the worst case (channels LISTENed by hand, never
        # iterated): one line per 10 s, with the running total.
        self._strays_dropped_total += n
        now = time.monotonic()
        if now - self._strays_logged_at >= 10.0:
            self._strays_logged_at = now
            log.warning(
                "dropped notifications on channels with no callback (%d so far): no "
                "`async for` iterates the listener while callbacks run, and kept they would "
                "stop delivery on every channel; iterate the listener to receive them",
                self._strays_dropped_total)

    # ---- iterator ----------------------------------------------------------------------

    def __aiter__(self) -> ListenerIterator:
        return ListenerIterator(self)

    async def __aenter__(self) -> Listener:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        # The reference driver's listener gives its connection up here.
        if self._lifecycle.state not in (ListenerState.NEW, ListenerState.SHUT_DOWN):
            await self.shutdown()

    async def __anext__(self) -> ListenerNotificationMsg:
        router = self._router
        lifecycle = self._lifecycle
        while True:
            msg = router.take()
            if msg is not None:
                return msg
            state = lifecycle.state
            if state is ListenerState.SHUT_DOWN:
                raise StopAsyncIteration
            if state is ListenerState.LOST:
                raise ListenerClosedError(
                    f"the listener's connection was lost: {lifecycle.error}") from lifecycle.error
            if not lifecycle.started:
                raise ListenerStartError("the listener is not started; call startup() first")
            # Several tasks may iterate one listener: each waits on its own
            # future, and a wake-up wakes them all (the first takes the message).
            w = asyncio.get_running_loop().create_future()
            self._iterator_waiters.add(w)
            router.backlog_waiter = True
            try:
                await w
            finally:
                self._iterator_waiters.discard(w)
                if not self._iterator_waiters:
                    router.backlog_waiter = False

    def _iteration_begun(self) -> None:
        self._router.iterating += 1

    def _iteration_ended(self) -> None:
        router = self._router
        router.iterating -= 1
        if not router.iterating:
            try:
                router.trim_strays()
            except Exception:    # (from a finalizer: the event loop may be closed by now)
                log.debug("trimming strays after the last iteration failed", exc_info=True)

    def _wake_iterators(self) -> None:
        if not self._iterator_waiters:
            return
        waiters, self._iterator_waiters = self._iterator_waiters, set()
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # ---- connection loss and reconnect -------------------------------------------

    def _on_connection_lost(self, pg, err) -> None:
        if pg is not self._pg:
            return      # a connection the listener already let go
        disconnected_at = time.time()
        if not self._reconnect:
            self._lifecycle.lost(False, err)
            self._pg = None
            rebind(self._connection, None)
            self._reading.reset()
            self._router.callbacks_enabled = False    # (what is buffered goes to the iterator)
            for ch in list(self._channels.values()):
                if ch.idle:
                    ch.stop()          # a worker waiting for a burst: none comes now
            log.error("listener connection lost and reconnect is off: %s", err)
            self._emit_gap(ListenerGap(disconnected_at, None, err, self.channels))
            self._wake_iterators()
            return
        self._lifecycle.lost(True, err)
        log.warning("listener connection lost (%s); reconnecting", err)
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = self._spawn(
                self._reconnect_loop(self._lifecycle.run, disconnected_at, err))

    async def _reconnect_loop(self, run: int, disconnected_at: float, err) -> None:
        delay = self._reconnect_delay
        while self._lifecycle.is_current(run):
            try:
                await self._connect(run)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if not self._lifecycle.is_current(run):
                    return
                log.warning("listener reconnect failed (%s); next try in %.1f s", e, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._max_reconnect_delay)
                continue
            self._lifecycle.connected(run)
            self.reconnect_count += 1
            gap = ListenerGap(disconnected_at, time.time(), err, self.channels)
            log.warning("listener reconnected after %.3f s; notifications sent meanwhile "
                        "are lost", gap.duration)
            self._reconnect_task = None
            self._emit_gap(gap)
            return

    def _emit_gap(self, gap: ListenerGap) -> None:
        self.last_gap = gap
        for cb in self._gap_callbacks:
            self._spawn(self._run_gap_callback(cb, gap))

    async def _run_gap_callback(self, cb, gap) -> None:
        try:
            await cb(gap)
        except Exception:
            log.exception("listener gap callback %r raised", cb)

    async def _liveness_loop(self, run: int) -> None:
        while self._lifecycle.is_current(run):
            await asyncio.sleep(self._liveness_interval)
            pg = self._live_pg()
            if pg is None:
                continue
            try:
                await asyncio.wait_for(pg.simple_query("SELECT 1"), self._liveness_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("listener liveness check failed (%s); dropping the connection", e)
                pg.terminate()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class ListenerIterator:
    """One ``async for`` over a Listener.  While one runs, notifications on
    channels with no callback are kept for it in callback mode (counted
    against ``max_buffered``) instead of trimmed as strays."""

    __slots__ = ("_listener", "_router")

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._router = listener._router
        listener._iteration_begun()

    def __aiter__(self) -> ListenerIterator:
        return self

    async def __anext__(self) -> ListenerNotificationMsg:
        msg = self._router.take()
        if msg is not None:
            return msg
        return await self._listener.__anext__()

    def __del__(self) -> None:
        # The `async for` is over (ended, broken out of, or raised): the
        # interpreter drops its iterator there.
        self._listener._iteration_ended()


def _quote_channel(channel) -> str:
    return quote_ident(channel, "channel name", ListenerCallbackError)


def _warn_unrouted(channel: str) -> None:
    log.warning("notification on channel %r, which has no callback: it goes to "
                "the iterator queue", channel)
