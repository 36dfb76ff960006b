"""The Listener's lifecycle: one explicit state, and the gap report.

::

    NEW --startup()--> STARTING --connected--> RUNNING --lost--> RECONNECTING
     ^                   |  (failed: back         |  ^              |
     |                   |   to where it was)     |  +--reconnected-+
    SHUT_DOWN <--shutdown() from any state        +--lost, reconnect off--> LOST

``startup()`` is allowed from NEW, LOST and SHUT_DOWN.  Each one begins a new
*run*; a connection attempt of an older run (a ``startup()`` that a
``shutdown()`` overtook, a reconnect loop) sees that it is no longer wanted
and gives its connection up.
"""
from __future__ import annotations

import dataclasses
import enum

from ..exceptions import ListenerStartError

__all__ = ["ListenerState", "Lifecycle", "ListenerGap"]


class ListenerState(enum.Enum):
    NEW = "new"                     # never started
    STARTING = "starting"           # startup() is connecting
    RUNNING = "running"             # connected; the session LISTENs to every channel
    RECONNECTING = "reconnecting"   # the connection was lost; reconnecting
    LOST = "lost"                   # the connection was lost and reconnect is off
    SHUT_DOWN = "shut down"         # shutdown() ran


_STARTABLE = (ListenerState.NEW, ListenerState.LOST, ListenerState.SHUT_DOWN)


class Lifecycle:
    """The state, the current run, and the error that ended the last one."""

    __slots__ = ("state", "run", "error", "_before_start")

    def __init__(self) -> None:
        self.state = ListenerState.NEW
        self.run = 0
        # LOST: what broke the connection.
        self.error: BaseException | None = None
        self._before_start = ListenerState.NEW

    @property
    def started(self) -> bool:
        """Connected, or reconnecting after a loss."""
        return self.state in (ListenerState.RUNNING, ListenerState.RECONNECTING)

    def begin_start(self) -> int:
        """startup(): returns the new run.  ListenerStartError when started
        or starting already."""
        if self.state not in _STARTABLE:
            raise ListenerStartError("the listener is already started")
        self._before_start = self.state
        self.state = ListenerState.STARTING
        self.run += 1
        return self.run

    def is_current(self, run: int) -> bool:
        return run == self.run

    def connected(self, run: int) -> None:
        """A connection attempt of ``run`` succeeded (startup or reconnect)."""
        if run == self.run and self.state in (ListenerState.STARTING, ListenerState.RECONNECTING):
            self.state = ListenerState.RUNNING
            self.error = None

    def start_failed(self, run: int) -> None:
        if run == self.run and self.state is ListenerState.STARTING:
            self.state = self._before_start

    def lost(self, reconnect: bool, error: BaseException | None) -> None:
        """The connection of a RUNNING listener was lost."""
        if reconnect:
            self.state = ListenerState.RECONNECTING
        else:
            self.state = ListenerState.LOST
            self.error = error

    def shut_down(self) -> None:
        self.state = ListenerState.SHUT_DOWN
        self.run += 1       # whatever is still connecting gives up
        self.error = None


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
