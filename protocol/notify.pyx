# NotificationResponse routing and delivery: the message type, the
# router, and the part of a channel that the router and the delivery loop use.
#
# A listener receives notifications in bursts (a transaction that sends 100k
# NOTIFYs arrives as one stream), so the per-message path must not enter the
# interpreter.  The core builds each ListenerNotificationMsg and hands it to
# NotificationRouter.route_msg(), which appends it to its channel's queue
# (callback mode) or to the backlog the async iterator reads, and counts it
# against the backpressure limit.  Python is called only to start something:
# the delivery of a channel that has none running, or an iterator waiting on
# an empty backlog; in a burst that is once per socket read, not once per
# message.  Deliveries start once the core has parsed the whole read
# (``flush``), so what they run (a delivery task may start eagerly, right
# there) never re-enters a half-parsed buffer.
#
# The delivery loop is here too (``ChannelCore.deliver``): a coroutine that a
# channel's task runs, awaiting each callback in turn.  Compiled, its loop
# costs no interpreter frame per notification.  It only awaits: the task that
# runs it is a plain asyncio task, and nothing here knows of asyncio.

cimport cython
from libc.string cimport memcmp, memcpy
from cpython.contextvars cimport PyContext_CopyCurrent


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


@cython.final
cdef class NotificationQueue:
    """Notifications in arrival order: a list and the index of its head.
    Appending and taking are plain C calls (a deque's are method calls),
    on the path of every notification."""
    cdef list _items
    cdef Py_ssize_t _head

    def __cinit__(self):
        self._items = []
        self._head = 0

    cdef inline Py_ssize_t size(self):
        return len(self._items) - self._head

    cdef inline int push(self, ListenerNotificationMsg msg) except -1:
        self._items.append(msg)
        return 0

    cdef ListenerNotificationMsg take(self):
        """The head (the caller checked there is one)."""
        cdef ListenerNotificationMsg msg = <ListenerNotificationMsg>self._items[self._head]
        self._items[self._head] = None
        self._head += 1
        if self._head == len(self._items):
            self._items = []
            self._head = 0
        elif self._head >= 4096 and self._head * 2 >= len(self._items):
            del self._items[:self._head]     # taken slots: not kept forever
            self._head = 0
        return msg

    cdef int drop(self, Py_ssize_t n) except -1:
        """Take the ``n`` oldest (at most all)."""
        n = min(n, self.size())
        del self._items[self._head:self._head + n]
        if self._head == len(self._items):
            self._items = []
            self._head = 0
        return 0

    cdef Py_ssize_t move_channel_to(self, str name, NotificationQueue other) except -1:
        """Move the notifications on channel ``name`` to the end of
        ``other``, in order; the rest stay, in order.  Returns how many moved."""
        cdef ListenerNotificationMsg msg
        cdef list kept = []
        cdef Py_ssize_t moved = 0
        cdef Py_ssize_t i
        for i in range(self._head, len(self._items)):
            msg = <ListenerNotificationMsg>self._items[i]
            if msg.channel == name:
                other._items.append(msg)
                moved += 1
            else:
                kept.append(msg)
        if moved:
            self._items = kept
            self._head = 0
        return moved

    cdef int move_to_front_of(self, NotificationQueue other) except -1:
        """Put everything here in front of ``other``'s, in order; empty this."""
        if self.size():
            other._items[other._head:other._head] = self._items[self._head:]
            self._items = []
            self._head = 0
        return 0

    def __len__(self):
        return self.size()

    def __bool__(self):
        return self.size() != 0

    def __iter__(self):
        return iter(self._items[self._head:])

    def __getitem__(self, Py_ssize_t i):
        if not 0 <= i < self.size():
            raise IndexError("notification queue index out of range")
        return self._items[self._head + i]

    def __repr__(self):
        return f"NotificationQueue({self._items[self._head:]!r})"

    def append(self, ListenerNotificationMsg msg not None):
        self.push(msg)

    def popleft(self):
        if not self.size():
            raise IndexError("pop from an empty notification queue")
        return self.take()

    def clear(self):
        self._items = []
        self._head = 0



# Channel names are identifiers: at most NAMEDATALEN - 1 = 63 bytes.  A longer
# one (a server built with a bigger NAMEDATALEN) is simply not cached.
cdef enum:
    CHANNEL_CACHE_BYTES = 64

# A channel's delivery state (ChannelCore.state).
cdef enum:
    IDLE = 0          # nothing queued, no delivery task
    READY = 1         # routed to while idle: flush() starts its delivery
    DELIVERING = 2    # its delivery task runs (or is about to)

_STATE_NAMES = ("idle", "ready", "delivering")


cdef class NotificationRouter


cdef class ChannelCore:
    """One channel, as the router and the delivery loop see it: its queue
    (send order), its callbacks and its delivery state.  The Listener's
    ``Channel`` extends it with the task that runs ``deliver``.

    States: idle -> ready (the router queued a notification; ``flush()``
    will call ``start_delivery``) -> delivering (``start_delivery`` runs the
    task) -> idle (``delivery_ended()``).  ``stop()`` makes it idle from any
    state.  Only one delivery runs per channel: the router starts
    one only from ready, and ``generation`` tells a task that was stopped
    from outside that it is no longer the channel's."""
    cdef:
        readonly str name
        readonly NotificationQueue queue  # send order
        public tuple callbacks            # replaced, never mutated
        readonly NotificationRouter router
        readonly Py_ssize_t generation    # bumped by begin() and stop()
        int _state

    def __init__(self, NotificationRouter router not None, str name not None):
        self.router = router
        self.name = name
        self.queue = NotificationQueue()
        self.callbacks = ()
        self._state = IDLE

    @property
    def state(self):
        return _STATE_NAMES[self._state]

    @property
    def idle(self):
        return self._state == IDLE

    # ---- what the subclass provides ---------------------------------------

    def start_delivery(self, bint eager):
        """Called by ``flush()`` when the channel went from ready to
        delivering: start the task that runs ``deliver``."""
        raise NotImplementedError


    def callback_failed(self, callback, exc):
        """An Exception out of a callback: report it; delivery goes on."""

    def callback_base_error(self, callback, exc):
        """A BaseException out of a callback: True when it was the
        callback's own and was reported (delivery goes on), False to end the
        delivery task with it."""
        return False

    # ---- state ----------------------------------------------------------------

    def begin(self):
        """A new delivery task takes over: returns its generation."""
        self._state = DELIVERING
        self.generation += 1
        return self.generation

    def delivery_ended(self):
        """The delivery ended.  What is left in the queue (delivery off, or
        no callbacks) goes to the front of the iterator backlog."""
        self._state = IDLE
        if self.queue.size():
            self.router.requeue_front(self.queue)

    def stop(self):
        """End delivery from outside (shutdown): the running task, if any,
        is no longer this channel's; the queue goes to the backlog."""
        self.generation += 1
        self.delivery_ended()

    # ---- the delivery loop -------------------------------------------------------

    async def deliver(self, Py_ssize_t generation, tuple resume=None):
        """Await the callbacks of the queued notifications: one invocation
        at a time, each notification's callbacks in registration order (as
        they were when it was taken), notifications in send order.

        Returns None when there is nothing more to do here: the queue is
        empty, callbacks are disabled, the channel has no callbacks, or
        ``generation`` is not the channel's any more (it was stopped).
        Returns ``(msg, callbacks, next_index)`` when an invocation changed
        the context it ran in: each invocation must start from a clean copy,
        so the caller goes on from there in a new task."""
        cdef NotificationRouter router = self.router
        cdef NotificationQueue queue = self.queue
        cdef ListenerNotificationMsg msg = None
        cdef tuple cbs = None
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t n
        cdef object context
        if resume is not None:
            msg, cbs, i = resume
        # A copy shares the mapping of the context it copies: compared with
        # a copy taken after each invocation, it is equal at once (same
        # mapping) unless the invocation set a variable.
        context = PyContext_CopyCurrent()
        while True:
            if msg is None:
                cbs = self.callbacks
                if (not queue.size() or not cbs or not router.callbacks_enabled
                        or self.generation != generation):
                    return None
                msg = queue.take()
                router._taken(1)
                i = 0
            n = len(cbs)
            while i < n:
                cb = cbs[i]
                i += 1
                try:
                    await cb(msg.connection, msg.payload, self.name, msg.process_id)
                except Exception as e:
                    self.callback_failed(cb, e)
                except BaseException as e:
                    if not self.callback_base_error(cb, e):
                        raise
                if self.generation != generation:
                    return None
                if PyContext_CopyCurrent() != context:
                    return (msg, cbs, i)
            msg = None


@cython.final
cdef class NotificationRouter:
    """Routes notifications to channel queues or to the iterator backlog,
    and counts what is buffered (backpressure).

    ``add_channel``/``remove_channel`` declare the channels that have
    callbacks.  While ``callbacks_enabled`` is true, a notification on such a
    channel goes to that channel's queue; an idle channel becomes ready, and
    ``flush()`` (the core calls it after each read it parsed) starts its
    delivery.  Every other notification goes to ``backlog``;
    ``on_backlog()`` is called when ``backlog_waiter`` is set (an iterator
    is waiting), which clears it.

    While ``callbacks_enabled`` is true and no ``async for`` runs
    (``iterating`` is 0), the backlog holds only strays (channels with no
    callback: cleared mid-burst, or LISTENed by hand) that nothing may ever
    take.  Held, they would keep ``buffered`` up and stop reading for every
    channel, so only the newest ``stray_limit`` are kept;
    ``on_strays_dropped(n)`` is told of the rest.  While an ``async for``
    runs they are its to take, and count like any other notification.

    ``buffered`` counts notifications routed and not yet taken (by a
    delivery, the iterator, or dropped as strays).  ``route_msg`` returns
    True once it reaches ``max_buffered`` (the core stops parsing);
    ``on_resume()`` is called each time it falls to ``resume_at``."""
    cdef:
        dict _channels                # name -> ChannelCore
        list _ready                   # ChannelCores that flush() starts
        set _warned
        readonly NotificationQueue backlog
        public bint callbacks_enabled
        public bint backlog_waiter
        public Py_ssize_t iterating   # running `async for` loops over the listener
        public object on_backlog
        public object on_unrouted     # callable(channel): once per channel with no callback
        public object on_strays_dropped   # callable(n)
        public object on_resume       # callable(): buffered fell to resume_at
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
        self._channels = {}
        self._ready = []
        self._warned = set()
        self.backlog = NotificationQueue()
        self.max_buffered = max_buffered
        self.resume_at = resume_at if 0 <= resume_at < max_buffered else max_buffered // 2
        # At most resume_at, so kept strays alone never hold reading paused.
        self.stray_limit = min(max(1, max_buffered // 4), self.resume_at)
        self._last_len = -1

    # ---- registry ----------------------------------------------------------------

    def add_channel(self, ChannelCore channel not None):
        """Route ``channel.name``'s notifications to ``channel``.  While
        callbacks run, what waits in the backlog on that channel (it came
        while the channel had no callback) goes to it too, ahead of anything
        newer, and its delivery starts as a task: whether a notification
        reaches the callbacks must not depend on whether ``listen()`` came
        before or after ``add_callback()``."""
        self._channels[channel.name] = channel
        self._warned.discard(channel.name)
        if not self.callbacks_enabled or not self.backlog.size():
            return
        if self.backlog.move_channel_to(channel.name, channel.queue) and channel._state == IDLE:
            channel._state = READY
            self._ready.append(channel)
            self.flush(False)

    def remove_channel(self, str name):
        """Stop routing ``name``; a running delivery keeps its queue."""
        self._channels.pop(name, None)

    def clear_channels(self):
        self._channels.clear()

    def channel(self, str name):
        """The ChannelCore ``name`` is routed to, or None."""
        return self._channels.get(name)

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
        cdef str name = msg.channel
        cdef object found
        cdef ChannelCore ch
        if self.callbacks_enabled:
            found = self._channels.get(name)
            if found is not None:
                ch = <ChannelCore>found
                ch.queue.push(msg)
                if ch._state == IDLE:
                    ch._state = READY
                    self._ready.append(ch)
                return 0
            if name not in self._warned:
                self._warned.add(name)
                if self.on_unrouted is not None:
                    self.on_unrouted(name)
        self.backlog.push(msg)
        if self.callbacks_enabled:
            self._trim_strays()
        self._wake_backlog()
        return 0

    cdef inline int _wake_backlog(self) except -1:
        if self.backlog_waiter and self.backlog.size():
            self.backlog_waiter = False
            if self.on_backlog is not None:
                self.on_backlog()
        return 0

    cdef int _trim_strays(self) except -1:
        cdef Py_ssize_t n = self.backlog.size() - self.stray_limit
        if n <= 0 or not self.callbacks_enabled or self.iterating > 0:
            return 0
        self.backlog.drop(n)
        self._taken(n)
        if self.on_strays_dropped is not None:
            self.on_strays_dropped(n)
        return 0

    cdef int _taken(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t before = self.buffered
        self.buffered -= n
        if before > self.resume_at >= self.buffered and self.on_resume is not None:
            self.on_resume()
        return 0

    def route(self, ListenerNotificationMsg msg not None):
        """Route one message (counts it) and flush; True when the limit is reached."""
        full = self.route_msg(msg)
        self.flush()
        return full

    cdef inline bint has_ready(self):
        return len(self._ready) != 0

    def flush(self, bint eager=True):
        """Start the deliveries routing asked for, in the order their
        channels' first notification came (``eager``: the channel may run
        its callbacks right here).  When one raises, the others still start,
        that channel goes back to idle (its next notification tries again)
        and the first error is raised."""
        cdef ChannelCore ch
        error = None
        while self._ready:
            # Swapped out first: a delivery started here may route (and
            # flush) again.
            ready = self._ready
            self._ready = []
            for ch in ready:
                if ch._state != READY:      # stopped meanwhile
                    continue
                ch._state = DELIVERING
                try:
                    ch.start_delivery(eager)
                except BaseException as e:
                    ch._state = IDLE
                    if error is None:
                        error = e
        if error is not None:
            raise error

    # ---- the consumers' side ----------------------------------------------------

    def take(self):
        """The oldest backlog notification (counted as taken), or None."""
        if not self.backlog.size():
            return None
        msg = self.backlog.take()
        self._taken(1)
        return msg

    def reroute_backlog(self):
        """Route the backlog again (after ``callbacks_enabled`` was set), in
        order: channels with callbacks get theirs, the rest stays.  Their
        deliveries start as tasks (not eagerly: this is not a read)."""
        cdef ListenerNotificationMsg msg
        pending = self.backlog
        self.backlog = NotificationQueue()
        for msg in pending:
            self._route(msg)
        self._trim_strays()
        self.flush(False)

    def requeue_front(self, NotificationQueue q not None):
        """Put what a stopped delivery left at the head of the backlog, in
        order (while callbacks run, only strays: trimmed as ``stray_limit``
        says), and wake a waiting iterator."""
        q.move_to_front_of(self.backlog)
        self._trim_strays()
        self._wake_backlog()

    def trim_strays(self):
        """Drop the strays over ``stray_limit`` (the last ``async for`` ended)."""
        self._trim_strays()
