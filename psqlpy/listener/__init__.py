"""LISTEN/NOTIFY: the Listener, on a connection of its own.

* ``listener.py``: the Listener (its API, connecting, reconnecting, iteration)
* ``lifecycle.py``: its one explicit state, from NEW to SHUT_DOWN
* ``channel.py``: one object per channel, owning its callbacks, queue and
  delivery task
* ``reading.py``: backpressure on the socket

Routing by channel and the count behind backpressure are in Cython
(``protocol/notify.pyx``: ``NotificationRouter``, ``ChannelCore``).
"""
from ..protocol import ListenerNotificationMsg
from .lifecycle import ListenerGap, ListenerState
from .listener import Listener, ListenerIterator

__all__ = ["Listener", "ListenerNotificationMsg", "ListenerGap", "ListenerIterator",
           "ListenerState"]
