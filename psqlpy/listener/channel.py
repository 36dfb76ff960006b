"""One channel of a Listener: its callbacks, its queue and its delivery task.

The router (Cython) appends each notification to its channel's queue and,
when the channel is idle, marks it ready; once the read is parsed it calls
``start_delivery``.  The channel's worker task awaits ``ChannelCore.deliver``
until the queue is empty.  At most one worker is the channel's at a time, so
its callbacks never run two at once and notifications reach them in send
order.

Where the running Python has eager tasks (3.12+), the worker of a burst read
from the socket starts eagerly: callbacks that do not suspend run right in
the read that brought the notification, with no trip through the event
loop's ready queue (behind whatever else is ready); the worker ends when
the queue is empty, so an idle channel has no task.  Elsewhere the worker
stays, idle, waiting on a future, and the next burst wakes it (cheaper than
a new task, and it runs at the loop's next turn either way).  It is a plain
asyncio task throughout: ``asyncio.current_task()``, ``asyncio.timeout()``
and cancellation behave in a callback as in any task.

Each callback invocation starts from a fresh copy of the context
``listen()`` was called in: a worker runs in a copy of it, and an invocation
that changes it (sets a context variable) ends that worker, so the next
invocation starts from a clean copy in a new one.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
from typing import Callable

from ..protocol import ChannelCore, NotificationRouter

log = logging.getLogger("psqlpy.listener")

_eager_task_factory = getattr(asyncio, "eager_task_factory", None)

#: Start the worker of a burst eagerly (3.12+: ``asyncio.eager_task_factory``);
#: else workers stay between bursts and are woken.
EAGER_START = _eager_task_factory is not None


class Deliveries:
    """What the channels of one listener share: the context their callbacks
    start from, and their worker tasks that have not ended."""

    def __init__(self) -> None:
        self.context = contextvars.copy_context()   # listen() sets its own
        self.tasks: set[asyncio.Task] = set()


class Channel(ChannelCore):
    def __init__(self, router: NotificationRouter, name: str, deliveries: Deliveries,
                 on_idle: Callable[[Channel], None]) -> None:
        super().__init__(router, name)
        self.worker: asyncio.Task | None = None
        self._wakeup: asyncio.Future | None = None   # what an idle worker waits on
        self._deliveries = deliveries
        self._on_idle = on_idle

    # ---- the worker -------------------------------------------------------------------

    def start_delivery(self, eager: bool, resume=None) -> None:
        """The channel became ready (``flush()``): wake its idle worker, or
        start one (``eager``: from a read, so it may run right here)."""
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
            return
        # (A worker cancelled while idle is not the channel's any more.)
        generation = self.begin()
        coro = self._work(generation, resume)
        loop = asyncio.get_running_loop()
        context = self._deliveries.context.copy()
        if eager and EAGER_START and _eager_task_factory is not None:
            task = _eager_task_factory(loop, coro, context=context)
        elif sys.version_info >= (3, 11):
            task = loop.create_task(coro, context=context)
        else:
            task = context.run(loop.create_task, coro)   # (a task copies the current context)
        if task.done():
            # Ran to its end eagerly: its finally has settled the state.
            if task.cancelled() or task.exception() is not None:
                _report(self.name, task)
            return
        if self.generation == generation:   # (else it was stopped while it ran eagerly)
            self.worker = task
        self._deliveries.tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, generation))

    async def _work(self, generation: int, resume) -> None:
        try:
            while True:
                resume = await self.deliver(generation, resume)
                if (resume is not None or EAGER_START or self.generation != generation
                        or self.queue or not self.callbacks
                        or not self.router.callbacks_enabled):
                    return
                # Idle until start_delivery() wakes it for the next burst.
                self.delivery_ended()
                wakeup = self._wakeup = asyncio.get_running_loop().create_future()
                await wakeup
                if self.generation != generation:
                    return
        finally:
            if self.generation == generation:    # still this channel's worker
                self._ended(resume)

    def _ended(self, resume) -> None:
        self.worker = None
        self._wakeup = None
        if resume is not None or (self.queue and self.callbacks and self.router.callbacks_enabled):
            # A callback changed its context (the rest starts from a clean
            # copy), or the worker ended with an exception: a new one goes on.
            self.start_delivery(False, resume)
            return
        self.delivery_ended()
        if not self.callbacks:
            self._on_idle(self)

    def _task_done(self, generation: int, task: asyncio.Task) -> None:
        self._deliveries.tasks.discard(task)
        _report(self.name, task)
        if self.worker is task and self.generation == generation:
            # Cancelled before its first step: its finally never ran.
            self._ended(None)

    def stop(self) -> asyncio.Task | None:
        """Stop delivery from outside (shutdown, or an idle channel that lost
        its callbacks): the worker is cancelled (unless it is the caller's
        own: it ends once its callback returns) and what is queued goes to
        the iterator backlog.  Returns the worker."""
        task, self.worker = self.worker, None
        self._wakeup = None
        super().stop()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        return task

    # ---- callbacks' errors ---------------------------------------------------------

    def callback_failed(self, callback, exc: BaseException) -> None:
        log.error("listener callback %r for channel %r raised; delivery continues",
                  callback, self.name, exc_info=exc)

    def callback_base_error(self, callback, exc: BaseException) -> bool:
        """A CancelledError out of a callback while its task is not being
        cancelled (it awaited something another task cancelled) is that
        callback's error: logged, and the other callbacks and notifications
        go on.  Python 3.10 cannot tell (no ``Task.cancelling()``): there it
        ends the worker, and a new one goes on with the next notification."""
        if not isinstance(exc, asyncio.CancelledError):
            return False
        cancelling = getattr(asyncio.current_task(), "cancelling", None)
        if cancelling is None or cancelling():
            return False
        self.callback_failed(callback, exc)
        return True


def _report(channel: str, task: asyncio.Task) -> None:
    """Log how a worker ended, when not normally (a callback raised a
    BaseException, say); that also marks its exception retrieved."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("listener delivery for channel %r ended with %r", channel, exc, exc_info=exc)
