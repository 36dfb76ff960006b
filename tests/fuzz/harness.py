"""Fuzz targets for the Cython protocol core, usable without atheris.

Two targets, each a function of one ``bytes`` input, so the same code runs
under the coverage-guided fuzzer (``fuzz_parser.py``) and in the regression
suite (``tests/test_fuzz_regressions.py`` replays ``corpus/``):

``check_reader(data)``
    ``psqlpy.protocol.MessageReader``: the input is split at a fuzzer-chosen
    point and fed in two chunks (through ``feed`` or, alternately, through
    ``get_buffer``/``buffer_updated``).  The only exceptions allowed out are
    ``psqlpy.exceptions.Error`` subclasses, and a reader that raised must stay
    poisoned (raise again on the next feed).

``check_core(data)``
    ``psqlpy.protocol.CoreProtocol``: a fuzzer-chosen prefix is fed during
    startup, then ``end_startup()``, then one or two Requests (kind, and for
    the extended kind a Statement whose result columns have fuzzer-chosen
    type OIDs, so the binary codecs, user-defined types' TypeCodecs included, decode
    hostile bytes; or an unprepared one, described by the fuzzer's RowDescription,
    so the text decoders do) are pushed with a
    dummy waiter and the rest is fed.  The core never raises out of ``feed``
    (it records the failure in ``core.error`` and fails the waiters); every
    recorded exception, every waiter exception and every ``decode_error``
    must be a ``psqlpy.exceptions.Error``.  Rows of an extended request must
    have as many values as the statement has columns.

``check_replication(data)``
    ``psqlpy.protocol.LogicalDecoder``: the input is cut into CopyData bodies
    (each prefixed by a 16-bit length) and fed one by one, with a
    fuzzer-chosen ``max_buffered``, ``skip_through`` and pops in between.
    Only ``psqlpy.exceptions.Error`` may come out; a delivered transaction's
    ``decode_error`` is typed too; ``buffered`` always equals the changes
    waiting in ``ready`` (an empty transaction counts one).  The same bodies
    go to the pure-Python reference, which must agree on every result.

A violation raises ``AssertionError`` (with the offending exception chained),
which the fuzzer reports as a crash and saves the input.

Input layout: the first bytes steer the harness (via ``_Steer``, a tiny
stand-in for atheris' FuzzedDataProvider so replays need no atheris); the rest
is the byte stream the server "sent".
"""
from __future__ import annotations

from psqlpy import exceptions as _exc
from psqlpy import protocol as _proto
from psqlpy._messages import BackendMessage, FieldDescription
from psqlpy.types import TypeInfo, TypeRegistry

Error = _exc.Error

# Result column types the Statement may declare (all binary codecs, their
# arrays, and a few text/unknown ones).
COLUMN_OIDS = (
    16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 142, 700, 701, 705, 1042, 1043, 1082,
    1083, 1114, 1184, 1186, 1266, 1700, 2950, 3802,
    1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028,
    1115, 1182, 1183, 1185, 1187, 1231, 2951, 3807, 199,
    869, 650, 829,  # inet, cidr, macaddr (text fallback if no binary codec)
    90001, 90002, 90003, 90004,  # user-defined types (_USER_TYPES below)
    # (appended: seeds name columns by index)
    3904, 3906, 3910, 3912, 3926, 4451, 4532, 4534, 3905, 6150,   # ranges, multiranges
    90005, 90006, 90007, 90008, 90009,   # hstore, vector, a float8 range, its multirange, hstore[]
)

# What type introspection might have found: an enum, a composite holding it, an array of
# that composite and a domain over it, hstore, vector, a range and a multirange; their
# columns decode through TypeCodecs.
_USER_TYPES = TypeRegistry()
_USER_TYPES.learn([
    TypeInfo(90001, "public", "mood", "enum"),
    TypeInfo(90002, "public", "pair", "composite",
             attributes=(("a", 23), ("m", 90001), ("tags", 1009))),
    TypeInfo(90003, "public", "_pair", "array", element=90002),
    TypeInfo(90004, "public", "pairs", "domain", base=90003),
    TypeInfo(90005, "public", "hstore", "base"),
    TypeInfo(90006, "public", "vector", "base"),
    TypeInfo(90007, "public", "frange", "range", subtype=701),
    TypeInfo(90008, "public", "fmultirange", "multirange", range=90007),
    TypeInfo(90009, "public", "_hstore", "array", element=90005),
])

MAX_SIZES = (0x40000000, 64, 4096, 1 << 20)


class _Steer:
    """Consume control values from the head of the input (deterministic)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u16(self) -> int:
        return self.byte() << 8 | self.byte()

    def rest(self) -> bytes:
        return self.data[self.pos:]


class _Waiter:
    """What CoreProtocol needs of a future: done(), set_result(), set_exception()."""

    __slots__ = ("_done", "result", "exception")

    def __init__(self):
        self._done = False
        self.result = None
        self.exception = None

    def done(self) -> bool:
        return self._done

    def set_result(self, value) -> None:
        assert not self._done, "waiter resolved twice"
        self._done = True
        self.result = value

    def set_exception(self, exc) -> None:
        assert not self._done, "waiter resolved twice"
        self._done = True
        self.exception = exc


def _typed(exc, where: str) -> None:
    if exc is not None and not isinstance(exc, Error):
        raise AssertionError(
            f"{where}: untyped {type(exc).__name__}: {exc!r}") from exc


def check_reader(data: bytes) -> None:
    s = _Steer(data)
    mode = s.byte()
    max_size = MAX_SIZES[mode & 3]
    use_buffer_api = bool(mode & 4)
    split = s.u16()
    stream = s.rest()
    split = split % (len(stream) + 1)
    chunks = [stream[:split], stream[split:]]
    reader = _proto.MessageReader(max_size)
    raised = None
    got = []
    for chunk in chunks:
        try:
            if use_buffer_api:
                # The BufferedProtocol path: copy into the reader's own buffer,
                # possibly in several get_buffer rounds.
                view_off = 0
                while view_off < len(chunk):
                    buf = reader.get_buffer(len(chunk) - view_off)
                    n = min(len(buf), len(chunk) - view_off)
                    assert n > 0, "get_buffer returned an empty buffer"
                    buf[:n] = chunk[view_off:view_off + n]
                    view_off += n
                    got.extend(reader.buffer_updated(n))
            else:
                got.extend(reader.feed(chunk))
        except Error as e:
            raised = e
            break
        except BaseException as e:  # noqa: BLE001 - the point of the harness
            _typed(e, "MessageReader")
            raise
    for msg in got:
        if not isinstance(msg, BackendMessage):
            raise AssertionError(f"MessageReader returned {type(msg).__name__}")
        repr(msg)
    if raised is not None:
        try:
            reader.feed(b"Z\x00\x00\x00\x05I")
        except Error:
            pass
        except BaseException as e:  # noqa: BLE001
            _typed(e, "poisoned MessageReader")
        else:
            raise AssertionError("MessageReader accepted bytes after a ProtocolError")


def check_core(data: bytes) -> None:
    s = _Steer(data)
    ctl = s.byte()
    kind = (ctl & 3) + 1                       # REQUEST_SIMPLE .. REQUEST_SYNC
    two_requests = bool(ctl & 4)
    pause_notifications = bool(ctl & 8)
    max_size = MAX_SIZES[(ctl >> 4) & 3]
    shape = s.byte()
    ncols = shape % 5
    text_results = bool(shape & 0x80)   # an unprepared query: described by its 'T'
    oids = [COLUMN_OIDS[s.byte() % len(COLUMN_OIDS)] for _ in range(ncols)]
    split = s.u16()
    stream = s.rest()
    split = split % (len(stream) + 1)

    core = _proto.CoreProtocol(max_size)
    written: list[bytes] = []
    startup_msgs: list[BackendMessage] = []
    notes = []
    fatal: list[BaseException] = []
    core.writer = written.append
    core.notice_handler = lambda fields: notes.append(fields)
    core.async_error_handler = lambda fields: notes.append(fields)
    core.fatal_handler = fatal.append
    router = None
    dropped: list[int] = []   # strays over stray_limit while callbacks run (the router's)
    woken: list[str] = []
    consumed: list[int] = []  # taken by drain_all
    if ctl & 64:
        # A Listener's way: notifications routed in C (NotificationRouter).
        router = _proto.NotificationRouter(2 if pause_notifications else 1 << 20)
        channel = _RecordingChannel(router, "a", woken)
        router.add_channel(channel)
        router.callbacks_enabled = bool(ctl & 128)
        router.on_unrouted = lambda ch: None
        router.on_strays_dropped = dropped.append
        core.router = router

        def drain_all() -> None:   # as if every buffered notification was consumed
            n = 0
            while router.take() is not None:
                n += 1
            if channel.state == "delivering":
                before = len(channel.queue)
                _run_to_end(channel.deliver(channel.begin()))
                n += before - len(channel.queue)
                channel.delivery_ended()
            consumed.append(n)
        core.on_notification_limit = drain_all
    else:
        core.notification_handler = lambda msg: pause_notifications

    def feed(chunk):
        try:
            core.feed(chunk)
            guard = 0
            while core.paused and not core.is_closed and guard < 10000:
                core.resume()
                guard += 1
        except BaseException as e:  # noqa: BLE001
            raise AssertionError(f"CoreProtocol.feed raised {type(e).__name__}: {e!r}") from e

    core.start_startup(startup_msgs.append)
    feed(stream[:split])
    core.end_startup()
    _typed(core.error, "CoreProtocol during startup")

    reqs = []
    cols = [FieldDescription(f"c{i}", 0, 0, oid, -1, -1, 1) for i, oid in enumerate(oids)]
    for _ in range(2 if two_requests else 1):
        codecs = [_USER_TYPES.codec(oid) if oid >= 90000 else None for oid in oids]
        if kind != _proto.REQUEST_EXTENDED:
            st = None
        elif text_results:
            st = _proto.Statement.text_results_for("", "q", (), _USER_TYPES.lookup)
        else:
            st = _proto.Statement("s", "q", (), cols, codecs)
        waiter = _Waiter()
        req = _proto.Request(kind, waiter, st)
        try:
            core.push_request(req)
        except Error:
            break                                  # closed during startup: fine
        except BaseException as e:  # noqa: BLE001
            _typed(e, "push_request")
            raise
        reqs.append((req, waiter))
    feed(stream[split:])
    _typed(core.error, "CoreProtocol")
    if fatal:
        _typed(fatal[0], "fatal_handler")
        assert core.is_closed
    for req, waiter in reqs:
        _typed(waiter.exception, "waiter")
        _typed(req.decode_error, "decode_error")
        if kind == _proto.REQUEST_EXTENDED and req.statement is not None:
            want = len(req.statement.columns) if text_results else ncols
            for row in req.rows:
                assert len(row) == want, f"row of {len(row)} values for {want} columns"
        repr(req)
        req.tag  # noqa: B018 - exercises Request.tag
    if router is not None:
        queued = list(channel.queue) + list(router.backlog)
        assert len(queued) + sum(dropped) + sum(consumed) == core.notifications_received, \
            "a routed notification went missing"
        assert router.buffered == len(queued), "buffered does not count what is queued"
        assert len(router.backlog) <= router.stray_limit or not router.callbacks_enabled
        assert all(type(m.channel) is str and type(m.payload) is str for m in queued)
        # One start per time the channel went idle, never two at once.
        assert len(woken) <= len(consumed) + 1, f"channel started too often: {woken}"
    core.connection_lost(_exc.ConnectionLostError("fuzz: connection lost"))
    for req, waiter in reqs:
        assert waiter.done(), "a request was left pending after connection_lost"
        assert waiter.done() == (req.waiter is None), "a finished request keeps its waiter"
        _typed(waiter.exception, "waiter after connection_lost")


class _RecordingChannel(_proto.ChannelCore):
    """Channel "a": its deliveries are recorded, its callback does nothing."""

    def __init__(self, router, name, woken):
        super().__init__(router, name)
        self.woken = woken

        async def nothing(*args):
            pass
        self.callbacks = (nothing,)

    def start_delivery(self, eager):
        self.woken.append(self.name)


def _run_to_end(coro) -> None:
    """Run a coroutine that never suspends (no event loop here)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise AssertionError("the delivery suspended")


def _replication_trace(dec, bodies, pops) -> list:
    trace: list[tuple] = []
    for i, body in enumerate(bodies):
        try:
            full = dec.feed_copy_data(body)
        except Error as e:
            trace.append(("error", i, type(e)))
            break
        except BaseException as e:  # noqa: BLE001
            _typed(e, f"{type(dec).__name__}.feed_copy_data")
            raise
        popped = []
        for _ in range(pops[i % len(pops)]):
            tx = dec.pop()
            if tx is None:
                break
            _typed(tx.decode_error, "decode_error")
            repr(tx)
            popped.append(tx)
        waiting = sum(len(t.changes) or 1 for t in dec.ready)
        assert dec.buffered == waiting, f"buffered {dec.buffered}, {waiting} waiting"
        trace.append((full, dec.buffered, dec.full, dec.received_lsn, dec.in_transaction, popped))
    return trace


def check_replication(data: bytes) -> None:
    from psqlpy._pyreplication import PyLogicalDecoder
    s = _Steer(data)
    max_buffered = 1 + s.byte() % 8
    skip = s.u16() << 8
    pops = [s.byte() % 4 for _ in range(3)]
    bodies = []
    rest = s.rest()
    pos = 0
    while pos < len(rest):
        n = rest[pos] << 8 | (rest[pos + 1] if pos + 1 < len(rest) else 0)
        bodies.append(rest[pos + 2:pos + 2 + n])
        pos += 2 + n
    results = []
    for dec in (_proto.LogicalDecoder(max_buffered), PyLogicalDecoder(max_buffered)):
        dec.skip_through = skip
        results.append(_replication_trace(dec, bodies, pops))
    assert results[0] == results[1], "the Cython decoder and the reference disagree"


TARGETS = {"reader": check_reader, "core": check_core, "replication": check_replication}
