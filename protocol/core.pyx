# The protocol state machine.
#
# The connection pushes a Request for every unit of work that ends in a
# ReadyForQuery (a simple Query, or extended-protocol messages closed by
# Sync), writes its bytes, and awaits the request's waiter.  The core
# consumes backend messages in arrival order and attributes them to the
# request at the head of the queue; a request whose waiter was cancelled
# still consumes its messages up to its ReadyForQuery, so the next request
# never sees stale results.  What is sent when, and what a cancellation
# does, is the connection's request pipeline (psqlpy/_pipeline.py): the
# core only records, per request, that it was sent and whether anybody
# still wants its result.
#
# ParameterStatus 'S', NoticeResponse 'N' and NotificationResponse 'A' are
# legal in every state and are handled before the per-request switch.

import copy as _copy
from collections import deque
cimport cython
from cpython.dict cimport PyDict_Copy, PyDict_SetItem
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.list cimport PyList_Append
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int16_t, int32_t, uint32_t, uint8_t


cdef extern from "Python.h":
    # Rows of scalars hold no reference cycles: untracking them keeps the
    # cyclic GC from traversing every fetched row in its young generation.
    void PyObject_GC_UnTrack(void* op)
    bint PyObject_IS_GC(object o)
    bint PyObject_GC_IsTracked(object o)


cdef enum RequestKind:
    REQ_SIMPLE = 1        # Query: any number of result sets, text format
    REQ_EXTENDED = 2      # Bind/Execute.../Sync against a described Statement
    REQ_PREPARE = 3       # Parse/Describe(S)/Sync
    REQ_SYNC = 4          # bare Sync or Close/Sync: no results expected


cdef enum CoreState:
    ST_NEW = 0
    ST_STARTUP = 1        # every message goes to the startup sink as an object
    ST_READY = 2
    ST_CLOSED = 3


@cython.final
@cython.freelist(32)
cdef class Request:
    """One round of work ending in ReadyForQuery, and what it produced."""
    cdef:
        readonly int kind
        public object waiter          # until the request completes (then None)
        public Statement statement
        readonly list rows            # rows of the current/last result set
        readonly list results         # REQ_SIMPLE: [(column_names, rows, tag), ...]
        object _tag                    # the last CommandComplete tag
        readonly Py_ssize_t commands_completed
        readonly object error_fields  # first ErrorResponse's fields, or None
        readonly object param_oids    # REQ_PREPARE: ParameterDescription
        readonly object columns       # REQ_PREPARE / SIMPLE: RowDescription fields
        readonly bint suspended       # PortalSuspended seen (cursor has more rows)
        readonly bint empty_query
        readonly list copy_data       # CopyData received in copy-out
        public object copy_in_handler  # called on CopyInResponse; else CopyFail
        tuple _simple_names
        readonly object transaction_status
        readonly object decode_error  # first value that failed to decode
        readonly bint sent            # pushed to the core (its bytes are written)
        public bint abandoned         # nobody awaits its result any more
        public object on_complete     # callable(request) once, when it completes or fails

    def __cinit__(self, int kind, waiter, Statement statement=None):
        self.kind = kind
        self.waiter = waiter
        self.statement = statement
        self.rows = []
        self.results = []
        self._tag = None
        self.commands_completed = 0
        self.error_fields = None
        self.param_oids = None
        self.columns = None
        self.suspended = False
        self.empty_query = False
        self.copy_data = None
        self.copy_in_handler = None
        self._simple_names = None
        self.transaction_status = None
        self.decode_error = None
        self.sent = False
        self.abandoned = False
        self.on_complete = None

    @property
    def tag(self):
        return self._tag

    @property
    def tags(self):
        """The last tag, as a list (execute_many completes one command per
        row: keeping them all would cost a string per row)."""
        return [self._tag] if self._tag is not None else []

    def __repr__(self):
        return f"<Request kind={self.kind} rows={len(self.rows)} tag={self._tag!r}>"


REQUEST_SIMPLE = REQ_SIMPLE
REQUEST_EXTENDED = REQ_EXTENDED
REQUEST_PREPARE = REQ_PREPARE
REQUEST_SYNC = REQ_SYNC


cdef class CoreProtocol:
    """Sans-IO protocol state for one connection.

    Feed it with ``get_buffer``/``buffer_updated`` (asyncio BufferedProtocol
    style) or ``feed(bytes)``.  It never does I/O itself: replies it must make
    on its own (CopyFail for an unexpected COPY FROM STDIN) go through the
    ``writer`` callable."""
    cdef:
        ReadBuffer _rb
        object _requests              # deque[Request]
        Request _current              # the queue's head, cached: looked up per message
        int _state
        readonly dict parameters      # ParameterStatus values
        readonly int backend_pid
        readonly int backend_secret
        readonly str transaction_status   # 'I', 'T', 'E'
        public object startup_sink    # callable(msg) during startup
        public NotificationRouter router    # a Listener's: notifications routed in C
        public object notification_handler  # else callable(ListenerNotificationMsg) -> bool pause
        public object on_notification_limit # callable(): the router is full and reading stops
        public object notice_handler  # callable(fields dict)
        public object fatal_handler   # callable(exception): the stream is unusable
        public object async_error_handler  # callable(fields): ErrorResponse with no request
        public object writer          # callable(bytes)
        public object owner           # the Connection given to notifications
        public LogicalDecoder copy_both_sink  # a replication stream's: CopyBoth data goes there
        bint _copy_both               # between CopyBothResponse and the server's CopyDone
        bint _paused
        readonly object error         # the exception that broke the stream, if any
        readonly unsigned long long notifications_received

    def __cinit__(self, Py_ssize_t max_message_size=0x40000000):
        self._rb = ReadBuffer(max_message_size)
        self._requests = deque()
        self._state = ST_NEW
        self.parameters = {}
        self.backend_pid = 0
        self.backend_secret = 0
        self.transaction_status = 'I'
        self._paused = False
        self.error = None
        self.notifications_received = 0

    # ---- feeding ---------------------------------------------------------

    def get_buffer(self, Py_ssize_t sizehint=-1):
        return self._rb.get_buffer(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        self._rb.buffer_updated(nbytes)
        if not self._paused:
            self._process()

    def feed(self, data):
        """Append received bytes and process every complete message."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._rb.append(<const char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        if not self._paused:
            self._process()

    @property
    def paused(self):
        return self._paused

    def resume(self):
        """Continue with buffered messages after the notification handler paused us."""
        self._paused = False
        self._process()
        return self._paused

    @property
    def buffered_bytes(self):
        return self._rb.size()

    @property
    def message_limit(self):
        """The largest message body accepted; a header claiming more is a ProtocolError
        before any of the body is buffered.  Lowered during the startup (a server that
        has not authenticated itself gets a few kilobytes, as with libpq)."""
        return self._rb.max_message_size

    @message_limit.setter
    def message_limit(self, Py_ssize_t limit):
        if limit < 5:
            raise ValueError("message_limit must be at least 5")
        self._rb.max_message_size = limit

    cdef void _process(self):
        cdef Py_ssize_t k
        cdef char mtype
        cdef Frame body
        if self._state == ST_CLOSED:
            return
        try:
            while not self._paused:
                k = next_frame(self._rb.data(), self._rb.size(), self._rb.max_message_size,
                               &mtype, &body)
                if k == 0:
                    break
                # Consume first: a handler may re-enter (resume) or raise.
                self._rb.consume(k)
                self._dispatch(mtype, &body)
        except BaseException as e:
            self._fatal(e)
        # Notification drains start once the read is parsed (they may run
        # callbacks right away); also after a fatal error, for what was
        # routed before it.
        if self.router is not None and self.router.has_ready():
            try:
                self.router.flush()
            except BaseException as e:
                self._fatal(e)

    cdef int _fatal(self, object exc) except -1:
        if self._state == ST_CLOSED:
            return 0
        self._state = ST_CLOSED
        self.error = exc
        self._fail_all(exc)
        if self.fatal_handler is not None:
            self.fatal_handler(exc)
        return 0

    cdef int _fail_all(self, object exc) except -1:
        cdef Request req
        self._current = None
        while self._requests:
            req = self._requests.popleft()
            waiter = req.waiter
            req.waiter = None
            if not waiter.done():
                # One exception object per waiter: a shared one would grow
                # its traceback with every task that re-raises it.
                waiter.set_exception(fresh_error(exc))
            _completed(req)
        return 0

    def connection_lost(self, exc):
        """The transport is gone: fail every pending request with ``exc``."""
        if self._state != ST_CLOSED:
            self._state = ST_CLOSED
            self.error = exc
            self._fail_all(exc)

    # ---- requests --------------------------------------------------------

    def start_startup(self, sink):
        self._state = ST_STARTUP
        self.startup_sink = sink

    def end_startup(self):
        self.startup_sink = None
        if self._state == ST_STARTUP:
            self._state = ST_READY

    def push_request(self, Request req):
        if self._state == ST_CLOSED:
            if self.error is not None:
                raise fresh_error(self.error)
            raise ConnectionError("connection closed")
        self._requests.append(req)
        req.sent = True
        if self._current is None:
            self._current = req

    def in_flight(self):
        """The requests pushed and not yet complete, oldest first."""
        return tuple(self._requests)

    @property
    def pending_requests(self):
        return len(self._requests)

    @property
    def is_closed(self):
        return self._state == ST_CLOSED

    # ---- dispatch --------------------------------------------------------

    cdef int _dispatch(self, char mtype, Frame* f) except -1:
        cdef Request req
        if mtype == b'A':
            return self._on_notification(f)
        if mtype == b'S':
            msg = parse_message(mtype, f)
            self.parameters[msg.name] = msg.value
            if self._state == ST_STARTUP and self.startup_sink is not None:
                self.startup_sink(msg)
            return 0
        if mtype == b'N':
            fields = parse_error_fields(f)
            frame_done(f, mtype)
            if self.notice_handler is not None:
                try:
                    self.notice_handler(fields)
                except Exception:
                    pass
            return 0
        if self._state == ST_STARTUP:
            msg = parse_message(mtype, f)
            if mtype == b'K':
                self.backend_pid = msg.process_id
                self.backend_secret = msg.secret_key
            elif mtype == b'Z':
                # Startup ends here, so whatever follows in the same chunk is
                # judged by the normal rules (an unsolicited DataRow is an error).
                self.transaction_status = msg.status
                sink = self.startup_sink
                self._state = ST_READY
                self.startup_sink = None
                sink(msg)
                return 0
            self.startup_sink(msg)
            return 0
        if self._current is None:
            return self._on_unsolicited(mtype, f)
        req = self._current
        if mtype == b'd' and self._copy_both:
            # A replication stream: decoded in C; 1 means its buffer is full.
            if self.copy_both_sink.copy_data(f.p, f.n):
                self._paused = True
            return 0
        if mtype == b'D':
            return self._on_data_row(req, f)
        if mtype == b'C':
            tag = frame_cstr_str(f)
            frame_done(f, mtype)
            req._tag = tag
            req.commands_completed += 1
            if req.kind == REQ_SIMPLE:
                req.results.append((req._simple_names, req.rows, tag))
                req.rows = []
                req._simple_names = None
            return 0
        if mtype == b'Z':
            status = frame_byte(f)
            frame_done(f, mtype)
            if status != 73 and status != 84 and status != 69:
                raise ProtocolError(f"invalid transaction status {status} in ReadyForQuery")
            self.transaction_status = chr(status)
            req.transaction_status = self.transaction_status
            self._requests.popleft()
            self._current = <Request>self._requests[0] if self._requests else None
            # The waiter's result is the request: drop the request's link to
            # the waiter, or every query would leave a cycle for the GC.
            waiter = req.waiter
            req.waiter = None
            if not waiter.done():
                waiter.set_result(req)
            if req.on_complete is not None:
                _completed(req)
            return 0
        if mtype == b'E':
            fields = parse_error_fields(f)
            frame_done(f, mtype)
            if req.error_fields is None:
                req.error_fields = fields
            return 0
        if mtype == b'T':
            cols = parse_row_description_fields(f)
            if req.kind == REQ_SIMPLE:
                req._simple_names = tuple([c.name for c in cols])
                req.columns = cols
            else:
                req.columns = cols
                if req.statement is not None and req.statement.text_results:
                    # unprepared: the rows that follow are decoded by these types
                    req.statement.describe_text(cols)
            return 0
        if mtype == b'2' or mtype == b'1' or mtype == b'3':
            frame_done(f, mtype)
            return 0
        if mtype == b't':
            req.param_oids = parse_message(mtype, f).type_oids
            return 0
        if mtype == b'n':
            frame_done(f, mtype)
            req.columns = ()
            return 0
        if mtype == b's':
            frame_done(f, mtype)
            req.suspended = True
            return 0
        if mtype == b'I':
            frame_done(f, mtype)
            req.empty_query = True
            if req.kind == REQ_SIMPLE:
                req.results.append((None, [], None))
            return 0
        if mtype == b'G':
            parse_copy_response(f, mtype)
            return self._on_copy_in(req)
        if mtype == b'H':
            parse_copy_response(f, mtype)
            req.copy_data = []
            return 0
        if mtype == b'W':
            parse_copy_response(f, mtype)
            if self.copy_both_sink is None:
                raise ProtocolError("CopyBothResponse (replication) on a connection with no "
                                    "replication stream")
            self._copy_both = True
            self.copy_both_sink.copy_both_started()
            return 0
        if mtype == b'd':
            if req.copy_data is None:
                raise ProtocolError("CopyData outside of COPY")
            req.copy_data.append(frame_bytes(f, f.n))
            return 0
        if mtype == b'c':
            frame_done(f, mtype)
            self._copy_both = False
            return 0
        raise ProtocolError(f"unexpected message {chr(<uint8_t>mtype)!r} while a query runs",
                            msg_type=bytes([<uint8_t>mtype]))

    cdef int _on_copy_in(self, Request req) except -1:
        if req.copy_in_handler is not None:
            req.copy_in_handler()
            return 0
        # COPY FROM STDIN issued through a plain query: refuse instead of hanging.
        if self.writer is not None:
            b = WriteBuffer()
            write_copy_fail(b, "COPY FROM STDIN is not supported by execute(); "
                               "use binary_copy_to_table() or copy_records_to_table()")
            self.writer(b.to_bytes())
        return 0

    cdef int _on_unsolicited(self, char mtype, Frame* f) except -1:
        if mtype == b'E':
            # e.g. FATAL terminating connection due to administrator command
            fields = parse_error_fields(f)
            frame_done(f, mtype)
            if self.async_error_handler is not None:
                self.async_error_handler(fields)
            return 0
        raise ProtocolError(
            f"unexpected message {chr(<uint8_t>mtype)!r} with no request in flight",
            msg_type=bytes([<uint8_t>mtype]))

    cdef int _on_notification(self, Frame* f) except -1:
        cdef int32_t pid = frame_int32(f)
        cdef Py_ssize_t n1, n2
        cdef const char* ch = frame_cstr(f, &n1)
        cdef const char* pl = frame_cstr(f, &n2)
        cdef ListenerNotificationMsg msg
        cdef NotificationRouter router = self.router
        frame_done(f, b'A')
        msg = ListenerNotificationMsg.__new__(ListenerNotificationMsg)
        msg.process_id = pid
        msg.channel = router.channel_name(ch, n1) if router is not None else decode_utf8(ch, n1)
        msg.payload = decode_utf8(pl, n2)
        msg.connection = self.owner
        self.notifications_received += 1
        if router is not None:
            # Full: stop parsing, unless a query waits for its reply behind
            # these notifications in the stream.
            if router.route_msg(msg) and self._current is None:
                self._paused = True
                if self.on_notification_limit is not None:
                    self.on_notification_limit()
        elif self.notification_handler is not None:
            if self.notification_handler(msg):
                self._paused = True
        return 0

    cdef int _on_data_row(self, Request req, Frame* f) except -1:
        cdef int16_t ncols = frame_int16(f)
        cdef int16_t i
        cdef int32_t vlen
        cdef tuple row
        cdef object val
        cdef Statement st = req.statement
        cdef decode_func* decs = NULL
        cdef tuple codecs = None
        cdef bint atomic = True
        if ncols < 0:
            raise ProtocolError(f"negative column count {ncols} in DataRow", msg_type=b"D")
        if st is not None and req.kind == REQ_EXTENDED:
            if ncols != st.ncols:
                raise ProtocolError(
                    f"DataRow has {ncols} columns, RowDescription said {st.ncols}", msg_type=b"D")
            decs = st.decoders
            codecs = st.codecs
        frame_need(f, <Py_ssize_t>ncols * 4)
        row = PyTuple_New(ncols)
        for i in range(ncols):
            vlen = frame_int32(f)
            if vlen == -1:
                val = None
            elif vlen < 0:
                raise ProtocolError(f"invalid value length {vlen} in DataRow", msg_type=b"D")
            else:
                frame_need(f, vlen)
                # A value we cannot decode fails this request, not the
                # connection: the framing is intact.
                try:
                    if decs != NULL and decs[i] != NULL:
                        val = decs[i](f.p, vlen)
                    elif codecs is not None and codecs[i] is not None:
                        val = (<TypeCodec>codecs[i]).decode(f.p, vlen)
                    else:
                        val = decode_text_value(f.p, vlen)
                except Exception as e:
                    if req.decode_error is None:
                        req.decode_error = e
                    val = None
                f.p += vlen
                f.n -= vlen
                if atomic and PyObject_IS_GC(val) and PyObject_GC_IsTracked(val):
                    atomic = False
            Py_INCREF(val)
            PyTuple_SET_ITEM(row, i, val)
        frame_done(f, b'D')
        if atomic:
            PyObject_GC_UnTrack(<void*>row)
        PyList_Append(req.rows, row)
        return 0


cdef int _completed(Request req) except -1:
    cb = req.on_complete
    if cb is not None:
        req.on_complete = None
        cb(req)
    return 0


def fresh_error(exc):
    """A new exception object like ``exc`` (same class and arguments, no
    traceback) with ``exc`` as its ``__cause__``: what to raise, each time,
    for an error stored once (the one that broke a connection), so that no
    traceback grows with every caller that raises it."""
    try:
        new = _copy.copy(exc)
    except Exception:
        new = None
    if new is None or new is exc or type(new) is not type(exc):
        new = ConnectionClosedError(str(exc))
    new.__traceback__ = None
    new.__cause__ = exc
    return new


def rows_to_dicts(tuple names, list rows):
    """Rows (tuples) to dicts keyed by column name, in C: this is what
    ``QueryResult.result()`` costs per row."""
    cdef Py_ssize_t i, j, n = len(names)
    cdef list out = [None] * len(rows)
    cdef tuple row
    cdef dict d
    # Copying a dict that already has every key and then replacing the
    # values is cheaper than inserting into an empty dict, which also has to
    # grow its table on the way (measured: about 15% per row at 8 columns).
    cdef dict template = dict.fromkeys(names)
    if len(template) != n:   # duplicate column names: the last value wins, as dict(zip()) does
        template = {}
    for i in range(len(rows)):
        row = rows[i]   # type-checked: a non-tuple raises TypeError
        if len(row) != n:
            raise ValueError("row width does not match the column names")
        d = PyDict_Copy(template)
        for j in range(n):
            PyDict_SetItem(d, names[j], row[j])
        out[i] = d
    return out
