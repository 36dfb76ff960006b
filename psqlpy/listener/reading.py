"""Backpressure on the listener's socket: stop reading while the buffer is full.

The router (Cython) decides when: once ``max_buffered`` notifications wait,
the core stops parsing and calls ``pause``; when what waits has fallen to
``resume_at`` the router calls ``resume_soon``.  This module does it to the
transport, so the backlog stays in the kernel and the server's queue.
"""
from __future__ import annotations


class Reading:
    """Reading of the listener's current connection, paused or not."""

    __slots__ = ("current", "_paused", "_resume_scheduled", "_router")

    def __init__(self, router) -> None:
        self._router = router
        self.current = None     # the listener's connection (PgConnection), or None
        self._paused = None     # the connection whose reading we paused
        self._resume_scheduled = False

    @property
    def paused(self) -> bool:
        return self._paused is not None

    def pause(self, pg) -> None:
        """``pg``'s core stopped parsing: the router is full.  Also while
        ``pg`` is still connecting (notifications in the read with the
        LISTEN's reply): ``install`` takes it from there."""
        self._paused = pg
        try:
            pg.transport.pause_reading()
        except Exception:   # a transport being closed: nothing left to pause
            pass

    def install(self, pg) -> None:
        """``pg`` becomes the listener's connection."""
        self.current = pg
        if self._paused is not None and self._paused is not pg:
            self._paused = None          # a connection that is gone
        if self._paused is pg and self._router.buffered <= self._router.resume_at:
            self.resume_soon()           # drained while it connected

    def reset(self) -> None:
        """The listener let its connection go (shutdown)."""
        self.current = self._paused = None

    def resume_soon(self) -> None:
        """The router fell to ``resume_at``.  Not from here: this may run at
        the end of parsing a read, and resuming parses the rest of it."""
        pg = self._paused
        if pg is None or self._resume_scheduled:
            return
        self._resume_scheduled = True
        pg.loop.call_soon(self._resume_scheduled_now)

    def _resume_scheduled_now(self) -> None:
        self._resume_scheduled = False
        self.resume()

    def resume(self, pg=None) -> None:
        """Read ``pg`` (default: the current connection) again now, if we
        paused it.  Also before a query on it, connecting or not: the reply
        is behind the buffered notifications, and the core reads past the
        limit while a query waits."""
        if pg is None:
            pg = self.current
        if pg is None or pg is not self._paused:
            return
        self._paused = None
        try:
            pg.transport.resume_reading()
        except Exception:
            pass
        if pg.core.paused:
            pg.core.resume()     # parses what was held; may pause again
