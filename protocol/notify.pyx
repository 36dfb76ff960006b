# NotificationResponse delivery: the message type, and routing by channel.
#
# A listener receives notifications in bursts (a transaction that sends 100k
# NOTIFYs arrives as one stream), so the per-message path must not enter the
# interpreter.  The core builds each ListenerNotificationMsg and hands it to
# NotificationRouter.route(), which appends it to its channel's queue (callback
# mode) or to the backlog the async iterator reads, and counts it against the
# backpressure limit.  Python is called only to wake something up: a channel
# whose queue has no drain running, or an iterator waiting on an empty
# backlog; in a burst that is once per socket read, not once per message.
# The channel wake-ups wait until the core has parsed the whole read
# (``flush``), so what they run (the Listener delivers right there when it
# can) never re-enters a half-parsed buffer.
#
# Delivery to callbacks is here too (``deliver``): it calls each callback and
# drives the coroutine it returns with PyIter_Send, so a callback that
# finishes without suspending (the common case) costs no interpreter frame
# of ours; one that suspends is handed back to the caller's task to await.
#
# No asyncio here: the wake-ups are plain callables the Listener provides,
# and coroutines are driven through the generic send protocol.

from collections import deque
cimport cython
from libc.string cimport memcmp, memcpy
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_XDECREF


cdef extern from "Python.h":
    # PYGEN_ERROR (-1) raises; PYGEN_RETURN is 0, PYGEN_NEXT 1.
    int PyIter_Send(object iter, object arg, PyObject** presult) except -1


@cython.final
@cython.freelist(256)
cdef class ListenerNotificationMsg:
    """One NOTIFY, as a Listener delivers it."""
    cdef readonly int process_id
    cdef readonly str channel
    cdef readonly str payload
    cdef readonly object connection

    def __init__(self, int process_id, str channel, str payload, connection=None):
        self.process_id = process_id
        self.channel = channel
        self.payload = payload
        self.connection = connection

    def __repr__(self):
        return (f"ListenerNotificationMsg(process_id={self.process_id}, "
                f"channel={self.channel!r}, payload={self.payload!r})")

    def __eq__(self, other):
        if not isinstance(other, ListenerNotificationMsg):
            return NotImplemented
        o = <ListenerNotificationMsg>other
        return (self.process_id == o.process_id and self.channel == o.channel
                and self.payload == o.payload)

    def __hash__(self):
        return hash((self.process_id, self.channel, self.payload))


# Channel names are identifiers: at most NAMEDATALEN - 1 = 63 bytes.  A longer
# one (a server built with a bigger NAMEDATALEN) is simply not cached.
cdef enum:
    CHANNEL_CACHE_BYTES = 64


@cython.final
cdef class NotificationRouter:
    """Routes notifications to per-channel queues or to the iterator backlog.

    ``add_channel``/``remove_channel`` declare the channels that have
    callbacks.  While ``callbacks_enabled`` is true, a notification on such a
    channel goes to that channel's deque and, when no drain is running for
    it, ``on_channel(channel, deque)`` is called once to start one, by
    ``flush()`` (the core calls it after each read it parsed; ``route()``
    and ``reroute_backlog()`` call it themselves); the drain reports
    ``drained(channel)`` when it stops.  Every other notification
    goes to ``backlog``; ``on_backlog()`` is called when ``backlog_waiter``
    is set (an iterator is waiting), which clears it.

    While ``callbacks_enabled`` is true the backlog holds only strays
    (channels with no callback: cleared mid-burst, or LISTENed by hand).
    Nothing may ever iterate them, and held they would keep ``buffered`` up
    and stop reading for every channel, so only the newest ``stray_limit``
    are kept; ``on_strays_dropped(n)`` is told of the rest.

    ``buffered`` counts notifications routed and not yet reported
    ``delivered()``; ``route()`` returns True once it reaches
    ``max_buffered`` (the caller stops reading) and ``delivered()`` returns
    True when it has fallen to ``resume_at`` (the caller may read again)."""
    cdef:
        dict _queues
        set _draining
        list _ready                   # (channel, deque): drains flush() starts
        set _warned
        readonly object backlog
        public bint callbacks_enabled
        public bint backlog_waiter
        public object on_channel
        public object on_backlog
        public object on_unrouted
        public dict callbacks         # channel -> tuple of callbacks (deliver)
        public object on_callback_error   # callable(callback, channel, exception)
        # callable(callback, channel, base_exception) -> True when that
        # BaseException (a CancelledError the callback met, say) was the
        # callback's own and was reported: delivery goes on.  Else it propagates.
        public object on_callback_base_error
        public object on_strays_dropped   # callable(n)
        readonly Py_ssize_t buffered
        readonly Py_ssize_t stray_limit
        readonly Py_ssize_t max_buffered
        readonly Py_ssize_t resume_at
        # The last channel name decoded, to reuse its str (and cached hash)
        # while a burst keeps arriving on the same channel.
        str _last_channel
        Py_ssize_t _last_len
        char _last_raw[CHANNEL_CACHE_BYTES]

    def __cinit__(self, Py_ssize_t max_buffered=10_000, Py_ssize_t resume_at=-1):
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self._queues = {}
        self._draining = set()
        self._ready = []
        self._warned = set()
        self.backlog = deque()
        self.max_buffered = max_buffered
        self.resume_at = resume_at if resume_at >= 0 else max(1, max_buffered // 2)
        # Below resume_at, so kept strays alone never hold reading paused.
        self.stray_limit = min(max(1, max_buffered // 4), self.resume_at)
        self._last_len = -1

    # ---- registry ----------------------------------------------------------------

    def add_channel(self, str channel):
        """Give ``channel`` a queue; its notifications are routed there."""
        if channel not in self._queues:
            self._queues[channel] = deque()
        self._warned.discard(channel)

    def remove_channel(self, str channel):
        """Stop routing ``channel``; a running drain keeps the queue it has."""
        self._queues.pop(channel, None)

    def clear_channels(self):
        self._queues.clear()

    def queue(self, str channel):
        """The channel's deque, or None."""
        return self._queues.get(channel)

    # ---- the hot path --------------------------------------------------------------

    cdef str channel_name(self, const char* p, Py_ssize_t n):
        if n == self._last_len and memcmp(p, self._last_raw, <size_t>n) == 0:
            return self._last_channel
        name = decode_utf8(p, n)
        if n < CHANNEL_CACHE_BYTES:
            memcpy(self._last_raw, p, <size_t>n)
            self._last_len = n
            self._last_channel = name
        return name

    cdef bint route_msg(self, ListenerNotificationMsg msg) except -1:
        self.buffered += 1
        self._route(msg)
        return self.buffered >= self.max_buffered

    cdef int _route(self, ListenerNotificationMsg msg) except -1:
        cdef str ch = msg.channel
        cdef object q
        if self.callbacks_enabled:
            q = self._queues.get(ch)
            if q is not None:
                q.append(msg)
                if ch not in self._draining:
                    self._draining.add(ch)
                    self._ready.append((ch, q))
                return 0
            if ch not in self._warned:
                self._warned.add(ch)
                if self.on_unrouted is not None:
                    self.on_unrouted(ch)
        self.backlog.append(msg)
        if self.callbacks_enabled:
            self._trim_strays()
        if self.backlog_waiter:
            self.backlog_waiter = False
            if self.on_backlog is not None:
                self.on_backlog()
        return 0

    cdef int _trim_strays(self) except -1:
        cdef Py_ssize_t i, n = len(self.backlog) - self.stray_limit
        if n <= 0 or not self.callbacks_enabled:
            return 0
        for i in range(n):
            self.backlog.popleft()
        self.buffered -= n
        if self.on_strays_dropped is not None:
            self.on_strays_dropped(n)
        return 0

    def route(self, ListenerNotificationMsg msg):
        """Route one message (counts it) and flush; True when the limit is reached."""
        full = self.route_msg(msg)
        self.flush()
        return full

    cdef inline bint has_ready(self):
        return len(self._ready) != 0

    def flush(self):
        """Start the drains that routing asked for: ``on_channel`` once per
        channel, in the order their first notification came.  When one
        raises, the others still start, that channel is left undrained (its
        next notification tries again) and the first error is raised."""
        cdef tuple item
        error = None
        while self._ready:
            # Swapped out first: a drain run from on_channel may route (and
            # flush) again.
            ready = self._ready
            self._ready = []
            for item in ready:
                try:
                    self.on_channel(item[0], item[1])
                except BaseException as e:
                    self._draining.discard(item[0])
                    if error is None:
                        error = e
        if error is not None:
            raise error

    # ---- the consumers' side ----------------------------------------------------

    def delivered(self, Py_ssize_t n=1):
        """``n`` routed messages were consumed; True when reading may resume."""
        self.buffered -= n
        return self.buffered <= self.resume_at

    def drained(self, str channel):
        """A channel's drain stopped.  True when it must start again (its queue
        got messages meanwhile and callbacks are on): the drain stays marked."""
        q = self._queues.get(channel)
        if q and self.callbacks_enabled:
            return True
        self._draining.discard(channel)
        return False

    def reroute_backlog(self):
        """Route the backlog again (after ``callbacks_enabled`` was set), in
        order: channels with callbacks get theirs, the rest stays."""
        cdef ListenerNotificationMsg msg
        pending = self.backlog
        self.backlog = deque()
        for msg in pending:
            self._route(msg)
        self._trim_strays()
        self.flush()

    def deliver(self, str channel, q, ListenerNotificationMsg msg=None, Py_ssize_t start=0):
        """Run the callbacks of ``channel`` for the messages queued in ``q``
        now (each message's callbacks in order, one at a time), counting each
        message delivered as it is taken.  With ``msg``, first finish that
        message's callbacks from index ``start``.

        Returns None when done (the queue is empty, callbacks were
        disabled, or the channel has no callbacks left: the rest stays in
        ``q``), or ``(coroutine, yielded, msg, next_index)`` when a
        callback suspended: the caller awaits the coroutine's completion
        (``yielded`` is what it yielded to the event loop), then calls
        ``deliver`` again with ``msg`` and ``next_index``."""
        cdef Py_ssize_t todo = len(q)
        cdef Py_ssize_t i = start
        cdef tuple cbs
        cdef PyObject* res = NULL
        cdef int r
        while True:
            # One look-up per message: this message's callbacks, as they are
            # when it is taken.
            cbs = self.callbacks.get(channel, ()) if self.callbacks is not None else ()
            if msg is None:
                if todo == 0 or not cbs:
                    # No callbacks left (a callback cleared the channel):
                    # the rest is not ours to drop; the caller hands it to
                    # the iterator.
                    return None
                msg = q.popleft()
                self.buffered -= 1
                todo -= 1
                i = 0
            while i < len(cbs):
                cb = cbs[i]
                i += 1
                try:
                    coro = cb(msg.connection, msg.payload, channel, msg.process_id)
                    r = PyIter_Send(coro, None, &res)
                except Exception as e:
                    self._callback_error(cb, channel, e)
                    continue
                except BaseException as e:
                    if (self.on_callback_base_error is not None
                            and self.on_callback_base_error(cb, channel, e)):
                        continue
                    raise
                if r == 1:     # suspended
                    yielded = <object>res   # PyIter_Send gave a new reference;
                    Py_DECREF(yielded)      # the cast took another one
                    return (coro, yielded, msg, i)
                # returned: drop its result
                Py_XDECREF(res)
                res = NULL
            if todo == 0 or not self.callbacks_enabled or not q:
                return None
            msg = None

    cdef int _callback_error(self, cb, str channel, exc) except -1:
        if self.on_callback_error is not None:
            self.on_callback_error(cb, channel, exc)
        return 0

    def requeue_front(self, q):
        """Put what a stopped drain left back at the head of the backlog
        (while callbacks run, only strays: trimmed as ``stray_limit`` says)."""
        while q:
            self.backlog.appendleft(q.pop())
        self._trim_strays()
