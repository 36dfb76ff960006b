"""Listener: LISTEN/NOTIFY on a dedicated connection.

How a notification travels: the Cython core parses NotificationResponse
straight out of the socket buffer into a ``ListenerNotificationMsg`` and hands
it to the listener's ``NotificationRouter`` (also Cython), which appends it to
one of two bounded places without entering the interpreter:

* callback mode (``listen()`` active): the channel's queue, drained in order
  by that channel's worker task, which awaits each registered callback in
  registration order.  Channels run concurrently; within a channel, delivery
  order is send order.  The router calls ``_start_worker`` only when a
  channel's queue has no drain running: once per read, not once per message.
  When the channel's worker is idle, the callbacks run right there, in the
  read that brought the notification, on the worker's behalf (its context,
  and it is the current task); only a callback that suspends is handed to
  the worker to await.  That skips a trip through the event loop's ready
  queue, behind whatever else is ready: the NOTIFY-to-callback latency.
* otherwise: the backlog that ``async for msg in listener`` reads.
  Notifications that arrive before the first ``__anext__`` (or while
  ``abort_listen()`` has stopped callbacks) wait there, and are handed to the
  callbacks when ``listen()`` starts again.

Backpressure: when ``max_buffered`` notifications are waiting, the core stops
parsing and the transport stops reading the socket, so the backlog stays in
the kernel and the server's notification queue; reading resumes when half of
the backlog is drained.  Nothing is dropped.  While a query runs on
``listener.connection`` the listener keeps reading (the query's reply is
behind the notifications in the stream), so the bound may be overshot by
what arrives meanwhile.

Connection loss is detected by the transport (EOF, reset), by TCP keepalives
(on by default) and, with ``liveness_interval``, by a periodic ``SELECT 1``.
With ``reconnect=True`` (the default) the listener reconnects with
exponential backoff, LISTENs every channel again and reports the gap to every
callback added with ``add_gap_callback``: the server does not keep
notifications for a disconnected session, so the application must resync.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import inspect
import logging
import random
import sys
import time
import types

from ._connect import open_connection
from ._ident import quote_ident
from .connection import Connection, rebind
from .exceptions import (
    ListenerCallbackError,
    ListenerClosedError,
    ListenerStartError,
)
from .protocol import ListenerNotificationMsg, NotificationRouter, fresh_error

log = logging.getLogger("psqlpy.listener")

# Running a callback on an idle worker's behalf needs the worker's own
# context, which only a task created with ``context=`` (3.11) lets us hold,
# and asyncio's hooks that make a task the current one (what Task does
# around each step).  Without them the worker is woken instead.
_enter_task = getattr(asyncio.tasks, "_enter_task", None)
_leave_task = getattr(asyncio.tasks, "_leave_task", None)
_DELIVER_IN_READ = (sys.version_info >= (3, 11) and _enter_task is not None
                    and _leave_task is not None)

__all__ = ["Listener", "ListenerNotificationMsg", "ListenerGap"]


@dataclasses.dataclass(frozen=True)
class ListenerGap:
    """A period in which the listener was not connected: notifications sent
    then were lost by the server.  ``reconnected_at`` is None when the
    listener gave up (reconnect off)."""
    disconnected_at: float
    reconnected_at: float | None
    error: BaseException | None
    channels: tuple[str, ...]

    @property
    def duration(self) -> float | None:
        if self.reconnected_at is None:
            return None
        return self.reconnected_at - self.disconnected_at


@types.coroutine
def _finish(coro, yielded, thrown=None):
    """Await the rest of a coroutine that already ran up to its first
    suspension, where it yielded ``yielded`` (a hand-written ``yield from``:
    what is sent or thrown in goes to the coroutine).  With ``thrown``, that
    is thrown into it first."""
    while True:
        if thrown is None:
            try:
                sent = yield yielded
            except BaseException as e:   # thrown in: CancelledError, GeneratorExit
                thrown = e
                continue
            step, arg = coro.send, sent
        else:
            step, arg, thrown = coro.throw, thrown, None
        try:
            yielded = step(arg)
        except StopIteration as stop:
            return stop.value


class _ListenerConnection(Connection):
    """listener.connection: queries run on the listener's own socket."""

    def close(self) -> None:  # the listener owns this connection
        pass


class Listener:
    def __init__(self, config, *, max_buffered: int = 10_000, reconnect: bool = True,
                 reconnect_delay: float = 0.1, max_reconnect_delay: float = 30.0,
                 liveness_interval: float | None = None, liveness_timeout: float = 10.0):
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self._config = config
        # Outlives reconnects: what was buffered before a reconnect is still
        # delivered after it.
        router = self._router = NotificationRouter(max_buffered)
        router.on_channel = self._start_worker
        router.on_backlog = self._wake_iterator
        router.on_unrouted = self._warn_unrouted
        router.on_strays_dropped = self._strays_dropped
        self._strays_dropped_total = 0
        self._strays_logged_at = -1e9
        router.on_callback_error = self._callback_error
        router.on_callback_base_error = self._callback_base_error
        self._reconnect = reconnect
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._liveness_interval = liveness_interval
        self._liveness_timeout = liveness_timeout

        # channel -> callbacks; tuples are replaced, never mutated, so the
        # delivery loop can iterate one without copying it per notification.
        self._callbacks: dict[str, tuple] = {}
        self._router.callbacks = self._callbacks   # shared: mutated in place, never rebound
        self._pg = None
        self._conn: _ListenerConnection | None = None   # set while started
        # The one Connection callbacks and messages get: it follows the
        # listener to each new socket, so what was buffered before a
        # reconnect is delivered with a connection that works after it.
        self._connection = _ListenerConnection(None)
        self._started = False
        self._starting = False
        self._epoch = 0     # bumped by shutdown()
        self._closed_error: BaseException | None = None

        self._queue_waiters: set[asyncio.Future] = set()   # one per waiting __anext__
        self._workers: dict[str, asyncio.Task] = {}
        self._contexts: dict[str, contextvars.Context] = {}   # each worker's
        self._handoff: dict[str, tuple] = {}   # channel -> what _deliver_now left to its worker
        self._idle: dict[str, asyncio.Future] = {}    # idle workers wait here
        self._reading_paused = False
        self._tasks: set[asyncio.Task] = set()
        self._gap_callbacks: list = []
        self._reconnect_task: asyncio.Task | None = None
        self._liveness_task: asyncio.Task | None = None
        self.reconnect_count = 0
        self.last_gap: ListenerGap | None = None

    # ---- properties ------------------------------------------------------------------

    @property
    def _listening(self) -> bool:
        # Callback mode lives in the router, which routes by it.
        return self._router.callbacks_enabled

    @_listening.setter
    def _listening(self, on: bool) -> None:
        self._router.callbacks_enabled = on

    @property
    def connection(self) -> Connection:
        if not self._started or self._conn is None:
            raise ListenerStartError("the listener is not started; call startup() first")
        return self._conn

    @property
    def is_started(self) -> bool:
        return self._started

    @property
    def is_listening(self) -> bool:
        return self._listening

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._callbacks)

    @property
    def buffered(self) -> int:
        """Notifications received and not yet delivered."""
        return self._router.buffered

    # ---- lifecycle ---------------------------------------------------------------------

    async def startup(self) -> None:
        if self._started or self._starting:
            raise ListenerStartError("the listener is already started")
        # Until _connect() returns, a second startup() must fail (two
        # connections would both route into the router: every notification
        # twice) and a shutdown() must win (it bumps the epoch).
        self._starting = True
        epoch = self._epoch
        try:
            await self._connect(epoch)
        except ListenerStartError:
            raise
        except Exception as e:
            raise ListenerStartError(f"could not start the listener: {e}") from e
        finally:
            if epoch == self._epoch:
                self._starting = False
        self._started = True
        self._closed_error = None
        if self._liveness_interval:
            self._liveness_task = self._spawn(self._liveness_loop())

    async def _connect(self, epoch: int) -> None:
        pg = await open_connection(self._config)
        try:
            pg.core.owner = conn = self._connection
            pg.core.router = self._router
            pg.core.on_notification_limit = self._pause_reading
            pg.before_request = self._before_request
            pg.add_lost_callback(self._on_connection_lost)
            # Channels may be added or cleared while we wait for the server
            # (during a reconnect, say): repeat until the session listens to
            # exactly the registered channels.
            listened: set = set()
            while True:
                missing = [ch for ch in self._callbacks if ch not in listened]
                extra = [ch for ch in listened if ch not in self._callbacks]
                if not missing and not extra:
                    break
                sql = ";".join(["LISTEN " + quote_ident(ch, "channel name") for ch in missing]
                               + ["UNLISTEN " + quote_ident(ch, "channel name") for ch in extra])
                await pg.simple_query(sql, ListenerStartError)
                listened.update(missing)
                listened.difference_update(extra)
            if epoch != self._epoch:
                raise ListenerStartError("the listener was shut down while it was starting")
        except BaseException:
            pg.terminate()
            raise
        self._pg = pg
        rebind(conn, pg)
        self._conn = conn
        # Notifications that came in the read with the LISTEN's reply may
        # have filled the router and paused this core while self._pg was
        # still None or the lost connection: _pause_reading() could not
        # pause this transport nor note it, and nothing would resume it.
        self._reading_paused = False
        if pg.core.paused:
            self._pause_reading()
            if self._router.buffered <= self._router.resume_at:   # drained meanwhile
                pg.loop.call_soon(self._resume_reading)

    def _live_pg(self):
        """The listener's connection when it is usable now; None while
        stopped or reconnecting (the reconnect LISTENs every channel)."""
        pg = self._pg
        if self._started and pg is not None and not pg.is_closed:
            return pg
        return None

    async def shutdown(self) -> None:
        """Stop listening and close the connection.  Registered callbacks are
        kept: a later ``startup()`` LISTENs to every channel again."""
        self._started = False
        self._starting = False
        self._epoch += 1    # a startup() still connecting gives its connection up
        self._listening = False
        self._reading_paused = False   # that connection's state, gone with it
        for t in (self._reconnect_task, self._liveness_task):
            if t is not None:
                t.cancel()
        self._reconnect_task = self._liveness_task = None
        me = asyncio.current_task()
        for t in list(self._workers.values()):
            if t is not me:   # called from a callback: its worker stops once it returns
                t.cancel()
        self._workers.clear()
        self._contexts.clear()   # a cancelled worker still finishes its _handoff
        self._idle.clear()
        pg, self._pg = self._pg, None
        self._conn = None
        rebind(self._connection, None)
        if pg is not None:
            pg.clear_lost_callbacks()
            await pg.close()
        self._closed_error = ListenerClosedError("the listener was shut down")
        self._wake_iterator()

    # ---- callbacks -------------------------------------------------------------------

    async def add_callback(self, channel: str, callback) -> None:
        if not (inspect.iscoroutinefunction(callback)
                or inspect.iscoroutinefunction(getattr(callback, "__call__", None))):
            raise ListenerCallbackError("callback must be a coroutine function (async def)")
        sql = "LISTEN " + self._quote_channel(channel)
        self._callbacks[channel] = self._callbacks.get(channel, ()) + (callback,)
        self._router.add_channel(channel)
        pg = self._live_pg()
        if pg is not None:
            try:
                # Returns once the server confirmed: a NOTIFY sent after this
                # call is delivered.  Also for a channel that already has a
                # callback: its LISTEN may still be on its way (or fail), and
                # a LISTEN repeated is a no-op for the server.
                await pg.simple_query(sql, ListenerCallbackError)
            except BaseException:
                cbs = list(self._callbacks.get(channel, ()))
                if callback in cbs:
                    cbs.remove(callback)
                    if cbs:
                        self._callbacks[channel] = tuple(cbs)
                    else:
                        del self._callbacks[channel]
                        self._router.remove_channel(channel)
                raise

    @staticmethod
    def _quote_channel(channel) -> str:
        return quote_ident(channel, "channel name", ListenerCallbackError)

    async def clear_channel_callbacks(self, channel: str) -> None:
        sql = "UNLISTEN " + self._quote_channel(channel)
        self._callbacks.pop(channel, None)
        self._router.remove_channel(channel)
        self._stop_idle_workers(channel)
        pg = self._live_pg()
        if pg is not None:
            await pg.simple_query(sql, ListenerCallbackError)

    async def clear_all_channels(self) -> None:
        self._callbacks.clear()
        self._router.clear_channels()
        self._stop_idle_workers()
        pg = self._live_pg()
        if pg is not None:
            await pg.simple_query("UNLISTEN *", ListenerCallbackError)

    def add_gap_callback(self, callback) -> None:
        """``await callback(gap: ListenerGap)`` after every reconnect (and once
        when the listener gives up with reconnect off)."""
        if not inspect.iscoroutinefunction(callback):
            raise ListenerCallbackError("gap callback must be a coroutine function")
        self._gap_callbacks.append(callback)

    def listen(self) -> None:
        """Start delivering notifications to the callbacks (idempotent).  Before
        ``startup()`` it raises ``ListenerStartError``, as the reference driver does."""
        if self._listening:
            return
        if not self._started and self._reconnect_task is None:
            raise ListenerStartError("the listener is not started; call startup() first")
        self._listening = True
        # Hand what waited in the backlog to the callbacks, in order.
        self._router.reroute_backlog()

    def abort_listen(self) -> None:
        """Stop delivering to callbacks; new notifications wait in the buffer."""
        if not self._listening:
            return
        self._listening = False
        self._stop_idle_workers()

    # ---- the notification path -----------------------------------------------------

    def _start_worker(self, channel: str, q: collections.deque) -> None:
        # Called by the router, after the core parsed a read, when a
        # channel's queue has no drain running.  With the channel's worker
        # idle the callbacks run now; else the worker is woken (a future,
        # not a new task: the latency of the next notification on a quiet
        # channel) or started.
        w = self._idle.pop(channel, None)
        if w is not None and not w.done():
            if not self._deliver_now(channel, q, w):
                w.set_result(q)
            return
        coro = self._channel_worker(channel, q)
        loop = asyncio.get_running_loop()
        if _DELIVER_IN_READ:
            ctx = self._contexts[channel] = contextvars.copy_context()
            task = loop.create_task(coro, context=ctx)
        else:
            task = loop.create_task(coro)
        self._workers[channel] = self._track(task)

    def _deliver_now(self, channel: str, q: collections.deque, w: asyncio.Future) -> bool:
        """Run ``channel``'s callbacks for ``q`` as its idle worker would
        (``w`` is the future it waits on): in its context, with it as the
        current task, so ``asyncio.current_task()`` and ``asyncio.timeout()``
        in a callback see the worker.  Anything but a clean drain (a callback
        suspended, delivery was stopped, the channel changed, a callback
        raised a BaseException) is left in ``_handoff`` for the worker, which
        ``w`` wakes (unless a callback cancelled the worker: then it wakes
        with the cancellation and hands it to the suspended callback).  False
        when it cannot run here: the read was fed from inside a task, or the
        worker has no context of ours."""
        ctx = self._contexts.get(channel)
        task = self._workers.get(channel)
        if ctx is None or task is None:
            return False
        loop = task.get_loop()
        try:
            _enter_task(loop, task)
        except RuntimeError:      # another task is running: this read came through it
            return False
        router = self._router
        pending = exc = None
        try:
            pending = ctx.run(router.deliver, channel, q)
        except BaseException as e:   # not an Exception (deliver logs those): the worker raises it
            exc = e
        finally:
            _leave_task(loop, task)
        if (exc is None and pending is None and not q and router.callbacks_enabled
                and router.queue(channel) is q):
            router.drained(channel)    # over: the next notification starts a drain again
            if not w.done():           # else a callback cancelled the worker: it ends
                self._idle[channel] = w
        else:
            if pending is not None and getattr(pending[1], "_asyncio_future_blocking", False):
                # A task's step takes an awaited future over at once (clears
                # this flag and adds its wake-up); the worker will only in
                # its next step.  Until then the future must look like any
                # other, or a task awaiting it meanwhile fails.
                pending[1]._asyncio_future_blocking = False
                rearm = True
            else:
                rearm = False
            self._handoff[channel] = (q, pending, exc, rearm)
            if not w.done():
                w.set_result(q)
        if self._reading_paused and router.buffered <= router.resume_at:
            # Not from here: resuming parses the rest of the buffer, and we
            # are at the end of parsing a read.
            loop.call_soon(self._resume_reading)
        return True

    def _stop_idle_workers(self, channel: str | None = None) -> None:
        for ch in ([channel] if channel is not None else list(self._idle)):
            w = self._idle.pop(ch, None)
            if w is not None and not w.done():
                w.set_result(None)

    @staticmethod
    def _warn_unrouted(channel: str) -> None:
        log.warning("notification on channel %r, which has no callback: it goes to "
                    "the iterator queue", channel)

    def _strays_dropped(self, n: int) -> None:
        # Per notification in the worst case (channels LISTENed by hand, never
        # iterated): one line per 10 s, with the running total.
        self._strays_dropped_total += n
        now = time.monotonic()
        if now - self._strays_logged_at >= 10.0:
            self._strays_logged_at = now
            log.warning(
                "dropped notifications on channels with no callback (%d so far): "
                "nothing iterated them while callbacks ran, and kept they would stop "
                "delivery on every channel; iterate the listener to receive them",
                self._strays_dropped_total)

    async def _channel_worker(self, channel: str, q: collections.deque | None) -> None:
        router = self._router
        loop = asyncio.get_running_loop()
        pending = thrown = None
        try:
            while q is not None:
                # A suspended callback is finished even when abort_listen()
                # came meanwhile: its message's delivery had begun.
                while pending is not None or router.callbacks_enabled:
                    # The router runs every callback that finishes without
                    # suspending; one that suspends comes back here to be
                    # awaited in this task, then delivery goes on where it
                    # stopped.
                    if pending is None:
                        if not q or not self._callbacks.get(channel):
                            break    # (cleared: the finally hands the rest to the iterator)
                        pending = router.deliver(channel, q)
                    else:
                        coro, yielded, msg, nxt = pending
                        t, thrown = thrown, None
                        try:
                            await _finish(coro, yielded, t)
                        except asyncio.CancelledError as e:
                            if not self._callback_base_error(coro, channel, e):
                                raise
                        except Exception as e:
                            self._callback_error(coro, channel, e)
                        pending = router.deliver(channel, q, msg, nxt)
                    if self._reading_paused and router.buffered <= router.resume_at:
                        self._resume_reading()
                if not router.callbacks_enabled:
                    break          # abort_listen(): the finally keeps what is left
                if router.drained(channel):
                    q = router.queue(channel)    # more arrived meanwhile
                    continue
                if router.queue(channel) is None:
                    break          # the channel's callbacks were cleared
                # Idle: wait for the router to hand over the next burst
                # (None: stop), or _deliver_now what it left to do.
                w = self._idle[channel] = loop.create_future()
                cancelled = None
                try:
                    q = await w
                except asyncio.CancelledError as e:
                    cancelled = e
                handoff = self._handoff.pop(channel, None)
                if handoff is not None:
                    q, pending, exc, rearm = handoff
                    if exc is not None:
                        raise exc
                if cancelled is not None:
                    if pending is None:
                        raise cancelled
                    # A callback suspended in _deliver_now (its
                    # asyncio.timeout() expired, it cancelled this task, or
                    # shutdown() did): as a task would, cancel what it
                    # awaits, or throw the cancellation in when that is done.
                    awaited = pending[1]
                    if not (hasattr(awaited, "cancel") and awaited.cancel()):
                        thrown = cancelled
                        rearm = False
                if handoff is not None and rearm:
                    pending[1]._asyncio_future_blocking = True
        finally:
            if self._workers.get(channel) is asyncio.current_task():
                del self._workers[channel]
                self._contexts.pop(channel, None)
            if router.drained(channel):
                # More arrived after the loop ended: a new worker takes over.
                self._start_worker(channel, router.queue(channel))
            elif q:
                # Stopped by abort_listen() (or cancelled), or the channel's
                # callbacks were cleared: keep the rest, in order, for the
                # iterator or a later listen().
                router.requeue_front(q)
                self._wake_iterator()
            if self._reading_paused and router.buffered <= router.resume_at:
                # A callback raised a BaseException with the router full.
                loop.call_soon(self._resume_reading)

    @staticmethod
    def _callback_error(cb, channel: str, exc: BaseException) -> None:
        log.error("listener callback %r for channel %r raised; delivery continues", cb, channel,
                  exc_info=exc)

    @classmethod
    def _callback_base_error(cls, cb, channel: str, exc: BaseException) -> bool:
        """A CancelledError out of a callback while its task is not being
        cancelled (it awaited something another task cancelled) is that
        callback's error, as it would be for a callback with a task of its
        own: logged, and the other callbacks and messages go on.  Python 3.10
        cannot tell (no ``Task.cancelling()``): there it stops the task."""
        if not isinstance(exc, asyncio.CancelledError):
            return False
        cancelling = getattr(asyncio.current_task(), "cancelling", None)
        if cancelling is None or cancelling():
            return False
        cls._callback_error(cb, channel, exc)
        return True

    def _before_request(self) -> None:
        # A query on the listener connection needs the stream read past the
        # buffered notifications to see its reply.
        if self._reading_paused:
            self._resume_reading()

    def _pause_reading(self) -> None:
        # The router is full; the core has stopped parsing.
        if self._reading_paused or self._pg is None:
            return
        self._reading_paused = True
        try:
            self._pg.transport.pause_reading()
        except Exception:
            pass

    def _resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        pg = self._pg
        if pg is None:
            return
        try:
            pg.transport.resume_reading()
        except Exception:
            pass
        if pg.core.paused:
            if pg.core.resume():   # paused again by the backlog
                self._reading_paused = True
                try:
                    pg.transport.pause_reading()
                except Exception:
                    pass

    # ---- iterator ----------------------------------------------------------------------

    def __aiter__(self):
        return self

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        # The reference driver's listener gives its connection up here.
        if self._started or self._reconnect_task is not None:
            await self.shutdown()

    async def __anext__(self) -> ListenerNotificationMsg:
        router = self._router
        backlog = router.backlog
        while True:
            if backlog:
                msg = backlog.popleft()
                if router.delivered(1) and self._reading_paused:
                    self._resume_reading()
                return msg
            if self._closed_error is not None:
                if isinstance(self._closed_error, ListenerClosedError) and not self._started \
                        and str(self._closed_error) == "the listener was shut down":
                    raise StopAsyncIteration
                raise fresh_error(self._closed_error)
            if not self._started and self._reconnect_task is None:
                raise ListenerStartError("the listener is not started; call startup() first")
            # Several tasks may iterate one listener: each waits on its own
            # future, and a wake-up wakes them all (the first takes the message).
            w = asyncio.get_running_loop().create_future()
            self._queue_waiters.add(w)
            router.backlog_waiter = True
            try:
                await w
            finally:
                self._queue_waiters.discard(w)
                if not self._queue_waiters:
                    router.backlog_waiter = False
            backlog = router.backlog   # listen() may have replaced it

    def _wake_iterator(self) -> None:
        if not self._queue_waiters:
            return       # (called after every stopped drain, too: no set to allocate)
        waiters, self._queue_waiters = self._queue_waiters, set()
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # ---- connection loss and reconnect -------------------------------------------

    def _on_connection_lost(self, err) -> None:
        if not self._started:
            return
        self._reading_paused = False
        disconnected_at = time.time()
        if not self._reconnect:
            self._started = False
            self._listening = False
            self._stop_idle_workers()
            self._closed_error = ListenerClosedError(f"the listener's connection was lost: {err}")
            self._closed_error.__cause__ = err
            log.error("listener connection lost and reconnect is off: %s", err)
            self._emit_gap(ListenerGap(disconnected_at, None, err, self.channels))
            self._wake_iterator()
            return
        log.warning("listener connection lost (%s); reconnecting", err)
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = self._spawn(self._reconnect_loop(disconnected_at, err))

    async def _reconnect_loop(self, disconnected_at: float, err) -> None:
        delay = self._reconnect_delay
        epoch = self._epoch
        while self._started:
            try:
                await self._connect(epoch)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("listener reconnect failed (%s); next try in %.1f s", e, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._max_reconnect_delay)
                continue
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

    async def _liveness_loop(self) -> None:
        while self._started:
            await asyncio.sleep(self._liveness_interval)
            pg = self._pg
            if pg is None or pg.is_closed:
                continue
            try:
                await asyncio.wait_for(pg.simple_query("SELECT 1"), self._liveness_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("listener liveness check failed (%s); dropping the connection", e)
                pg.terminate()

    def _spawn(self, coro) -> asyncio.Task:
        return self._track(asyncio.get_running_loop().create_task(coro))

    def _track(self, task: asyncio.Task) -> asyncio.Task:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
