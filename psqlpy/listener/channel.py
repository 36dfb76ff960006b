"""One channel of a Listener: its callbacks, its queue and its delivery task.

The router (Cython) appends each notification to its channel's queue and,
when the channel is idle, marks it ready; once the read is parsed it calls
``start_delivery``, which starts a task awaiting ``ChannelCore.deliver``.  The
task ends when the queue is empty: an idle channel has no task.  At most one
delivery task is the channel's at a time, so its callbacks never run two at
once and notifications reach them in send order.

Where the running Python has eager tasks (3.12+), the task of a burst read
from the socket starts eagerly: callbacks that do not suspend run right in
the read that brought the notification, with no trip through the event
loop's ready queue (behind whatever else is ready).  Elsewhere the task is
scheduled like any other.  Either way it is a plain asyncio task, so
``asyncio.current_task()``, ``asyncio.timeout()`` and cancellation behave
in a callback as in any task.

Each callback invocation starts from a fresh copy of the context
``listen()`` was called in: a task runs in a copy of it, and an invocation
that changes it (sets a context variable) ends that task, so the next
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

#: Start the delivery task of a burst eagerly (3.12+: ``asyncio.eager_task_factory``).
EAGER_START = _eager_task_factory is not None


class Deliveries:
    """What the channels of one listener share: the context their callbacks
    start from, and their delivery tasks that are running."""

    def __init__(self) -> None:
        self.context = contextvars.copy_context()   # listen() sets its own
        self.tasks: set[asyncio.Task] = set()

    def start(self, coro, eager: bool) -> asyncio.Task:
        loop = asyncio.get_running_loop()
        context = self.context.copy()
        if eager and EAGER_START and _eager_task_factory is not None:
            return _eager_task_factory(loop, coro, context=context)
        if sys.version_info >= (3, 11):
            return loop.create_task(coro, context=context)
        return context.run(loop.create_task, coro)   # the task copies the current context


class Channel(ChannelCore):
    def __init__(self, router: NotificationRouter, name: str, deliveries: Deliveries,
                 on_idle: Callable[[Channel], None]) -> None:
        super().__init__(router, name)
        self.worker: asyncio.Task | None = None
        self._deliveries = deliveries
        self._on_idle = on_idle

    # ---- starting and ending a delivery -------------------------------------------

    def start_delivery(self, eager: bool) -> None:
        self._start(None, eager)

    def _start(self, resume, eager: bool) -> None:
        generation = self.begin()
        task = self._deliveries.start(self.deliver(generation, resume), eager)
        if task.done():
            # Ran to its end eagerly: delivery_done has settled the state.
            _report(self.name, task)
            return
        if self.generation == generation:   # (else it was stopped while it ran eagerly)
            self.worker = task
        self._deliveries.tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, generation))

    def delivery_done(self, resume) -> None:
        self.worker = None
        if resume is not None or (self.queue and self.callbacks and self.router.callbacks_enabled):
            # A callback changed its context (the rest starts from a clean
            # copy), or the task ended with an exception: a new task goes on.
            self._start(resume, False)
            return
        self.delivery_ended()
        if not self.callbacks:
            self._on_idle(self)

    def _task_done(self, generation: int, task: asyncio.Task) -> None:
        self._deliveries.tasks.discard(task)
        _report(self.name, task)
        if self.worker is task and self.generation == generation:
            # Cancelled before its first step: deliver's finally never ran.
            self.delivery_done(None)

    def stop(self) -> asyncio.Task | None:
        """Stop delivery from outside (shutdown): the task is cancelled
        (unless it is the caller's own: it ends once its callback returns)
        and what is queued goes to the iterator backlog.  Returns the task."""
        task, self.worker = self.worker, None
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
        ends the task, and a new one goes on with the next notification."""
        if not isinstance(exc, asyncio.CancelledError):
            return False
        cancelling = getattr(asyncio.current_task(), "cancelling", None)
        if cancelling is None or cancelling():
            return False
        self.callback_failed(callback, exc)
        return True


def _report(channel: str, task: asyncio.Task) -> None:
    """Log how a delivery task ended, when not normally (a callback raised a
    BaseException, say); that also marks its exception retrieved."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("listener delivery for channel %r ended with %r", channel, exc, exc_info=exc)
