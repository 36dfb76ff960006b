"""The request pipeline: one connection's wire, shared by any number of tasks.

Units
-----
Everything that must reach the server together is one *unit*: a simple Query;
extended-protocol messages closed by one Sync (an unnamed Parse with its Bind
and Execute, a cursor's portal set-up, every batch of an ``execute_many``); a
COPY ... FROM STDIN with all its data.  A unit ends in exactly one
ReadyForQuery, and the core (``protocol/core.pyx``) attributes the server's
messages to the unit at the head of its queue.

The interface (what connection, transaction, cursor, pool and listener use)::

    await request(kind, data, statement)   send a unit, await its Request
    await open_stream(...) / end_stream()  a unit written in pieces
    run_first(fn, *args) + send_now(...)   clean-up that needs the wire alone
    await wait_idle() / is_idle            every unit sent so far has completed

Sending
-------
The wire is *free* or *held*.  While it is free a unit is written the moment it
is sent: tasks pipeline their queries and never wait for each other's replies.
It is held by a unit still being written (a COPY until its CopyDone or CopyFail,
``execute_many`` batches until their Sync), by a background step
(:meth:`run_first`: a cursor's Close and COMMIT, the ROLLBACK after a cancelled
BEGIN), or by a cancellation in progress.  Units sent meanwhile wait, in order,
and are written when the wire is free again.

Cancellation
------------
A cancellation (or a timeout) affects only the unit it belongs to, and the
cancelled task gets its ``CancelledError`` at once; whatever needs the server
goes on in the background, and the connection is not reused until it is done
(a later unit waits; the pool does not hand the connection out).

* Not yet written: it is never written.
* Written, not complete: it is *abandoned*.  The core still consumes its
  messages up to its ReadyForQuery and drops its result.
* The server is told to stop (a CancelRequest) only when the unit at the head
  of the queue and every unit written after it are abandoned: whichever of
  them the server runs, nobody waits for it.  An abandoned unit with another
  task's unit written behind it is never cancelled on the server; it runs to
  its end and only its result is skipped.
* While the last unit written is abandoned the wire is held, so nothing new is
  written behind it and it can be cancelled once it reaches the head.

Why a CancelRequest never lands on a later unit: PostgreSQL's CancelRequest
makes the postmaster signal the backend, which cancels whatever statement it
is running then; a signal that arrives while the backend waits for its next
command is discarded (``PostgresMain`` checks for interrupts before it leaves
the command read).  We write the next unit only after (a) the postmaster has
closed the cancel connection, which it does after signalling, and (b) the
cancelled unit's ReadyForQuery has arrived.  The signal is therefore pending
before the backend can read the next unit's first byte, and it is discarded.
When the CancelRequest cannot be confirmed (no connection to the server within
10 s) the connection is closed, since a late one could hit the next unit; so
is a connection whose cancelled unit has not ended 30 s after its cancel.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import socket

from . import protocol as _proto
from .exceptions import BaseConnectionError, ConnectionClosedError, make_server_error

log = logging.getLogger("psqlpy.connection")

#: The wire of a closed connection.
_CLOSED = object()

#: A CancelRequest is confirmed within this many seconds, or the connection is closed.
CANCEL_CONFIRM_TIMEOUT = 10.0
#: A cancelled unit ends within this many seconds of its CancelRequest, or the
#: connection is closed.
CANCEL_END_TIMEOUT = 30.0


class RequestPipeline:
    """The wire of one connection: units in, Requests out (see the module doc)."""

    __slots__ = (
        "loop", "core", "protocol", "transport", "host", "port", "tls", "before_request",
        "_gate", "_owner", "_cancelling", "_cancel_wake", "_held", "_closed", "_tasks",
        "_lost_callbacks",
    )

    def __init__(self, loop, core, protocol, transport, host, port, tls=False):
        self.loop = loop
        self.core = core
        self.protocol = protocol
        self.transport = transport
        self.host = host
        self.port = port
        self.tls = tls
        # Called after each unit is written (a listener resumes reading).
        self.before_request = None
        # None while the wire is free; else what holds it (_CLOSED, the owner,
        # or the cancellation in progress).  One attribute for the hot path.
        self._gate = None
        self._owner = None               # a stream's token or a _Step
        self._cancelling: asyncio.Future | None = None   # done when the cancellation ends
        self._cancel_wake: asyncio.Future | None = None
        self._held: collections.deque = collections.deque()
        self._closed = False
        self._tasks: set[asyncio.Task] = set()
        self._lost_callbacks: list = []
        core.writer = transport.write
        core.fatal_handler = self._on_fatal
        core.async_error_handler = self._on_async_error
        core.notice_handler = self._on_notice

    # ---- state -------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed or self.core.is_closed

    @property
    def is_idle(self) -> bool:
        """Nothing in flight, nothing waiting, no clean-up running."""
        return self._gate is None and not self.core.pending_requests

    @property
    def transaction_status(self) -> str:
        return self.core.transaction_status

    @property
    def backend_pid(self) -> int:
        return self.core.backend_pid

    def add_lost_callback(self, cb) -> None:
        self._lost_callbacks.append(cb)

    def clear_lost_callbacks(self) -> None:
        self._lost_callbacks.clear()

    def spawn(self, coro) -> asyncio.Task:
        """A task we keep a strong reference to until it ends."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_fatal(self, exc) -> None:
        log.error("protocol failure, closing the connection: %s", exc)
        self._set_closed()
        self.transport.abort()

    def _on_async_error(self, fields) -> None:
        err = make_server_error(fields, ConnectionClosedError)
        log.warning("server error outside a query: %s", err)
        if fields.get("S") in ("FATAL", "PANIC"):
            self._set_closed()

    def _on_notice(self, fields) -> None:
        log.info("NOTICE from server: %s", fields.get("M"))

    def connection_lost(self, err) -> None:
        """The transport lost the socket (``PgTransportProtocol.on_lost``)."""
        self._set_closed()
        for cb in list(self._lost_callbacks):
            try:
                cb(err)
            except Exception:  # a broken callback must not hide the loss
                log.exception("connection-lost callback failed")

    def _set_closed(self) -> None:
        """No unit is written from now on; the waiting ones fail, and the
        background work (cancellation, clean-up steps) stops: nothing of it
        can reach the server any more."""
        self._closed = True
        self._gate = _CLOSED
        held, self._held = self._held, collections.deque()
        for item in held:
            item.fail(self)
        if self._tasks and not self.loop.is_closed():
            me = asyncio.current_task(self.loop) if self.loop.is_running() else None
            for t in list(self._tasks):
                if t is not me:
                    t.cancel()

    def closed_error(self) -> BaseException:
        """A new exception for a call on this closed connection: the error that
        broke it (a fresh copy, never the stored object) or ConnectionClosedError."""
        err = self.core.error
        if isinstance(err, BaseConnectionError):
            return _proto.fresh_error(err)
        new = ConnectionClosedError("the connection is closed")
        if err is not None:
            new.__cause__ = err
        return new

    def _check_open(self) -> None:
        if self._closed or self.core.is_closed:
            raise self.closed_error()

    # ---- sending units -------------------------------------------------------

    async def request(self, kind: int, data: bytes, statement=None):
        """Send one unit (``data`` ends in Sync, or is a simple Query) and await
        its ReadyForQuery.  Returns the Request; server errors stay on it.  A
        cancellation of the awaiting task cancels the unit (module doc)."""
        fut = self.loop.create_future()
        req = _proto.Request(kind, fut, statement)
        if self._gate is None:
            self.core.push_request(req)
            self.transport.write(data)
            if self.before_request is not None:
                self.before_request()
        else:
            self._hold(_HeldUnit(req, data))
        try:
            return await fut
        except asyncio.CancelledError:
            self._cancelled(req)
            raise

    def _hold(self, item) -> None:
        if self._gate is _CLOSED:
            raise self.closed_error()
        self._held.append(item)

    def _write(self, req, data) -> None:
        self.core.push_request(req)
        self.transport.write(data)
        if self.before_request is not None:
            # After the push: what it parses must see a request in flight (a
            # listener's core then keeps reading past a full router); after
            # the write: what it wakes may send queries of its own.
            self.before_request()

    def _gate_changed(self) -> None:
        if self._closed or self.core.is_closed:
            # (The core fails its requests, and runs their completion hooks,
            # before it tells us it is closed.)
            self._set_closed()
            return
        gate = self._owner if self._owner is not None else self._cancelling
        self._gate = gate
        held = self._held
        while gate is None and held:
            held.popleft().start(self)
            gate = self._gate

    async def open_stream(self, kind: int, data: bytes, statement=None, token=None,
                          copy_in_handler=None, on_complete=None):
        """Start a unit written in pieces: wait for the wire, write ``data``
        (its first piece) and hold the wire until :meth:`end_stream(token)
        <end_stream>` (``token`` defaults to the Request), so no other unit
        lands between its pieces.  ``on_complete(request)`` runs when the unit
        completes (a COPY the server refused or cut short).  Returns
        ``(request, future)``; await it with :meth:`result`.  Cancelled while
        waiting for the wire: nothing was written."""
        fut = self.loop.create_future()
        req = _proto.Request(kind, fut, statement)
        if token is None:
            token = req
        if copy_in_handler is not None:
            req.copy_in_handler = copy_in_handler
        if on_complete is not None:
            req.on_complete = on_complete
        if self._gate is not None:
            if self._gate is _CLOSED:
                raise self.closed_error()
            ready = self.loop.create_future()
            self._held.append(_HeldStream(token, ready))
            try:
                await ready
            except BaseException:
                if ready.done() and not ready.cancelled() and ready.exception() is None:
                    self.end_stream(token)   # handed the wire as we were cancelled
                raise
        else:
            self._owner = token
            self._gate = token
        try:
            self._write(req, data)
        except BaseException:
            self.end_stream(token)
            raise
        return req, fut

    def end_stream(self, token) -> None:
        """The stream ``token`` has written its last piece: free the wire."""
        if self._owner is token:
            self._owner = None
            self._gate_changed()

    async def result(self, req, fut):
        """Await the unit ``req`` sent by :meth:`open_stream`."""
        try:
            return await fut
        except asyncio.CancelledError:
            self._cancelled(req)
            raise

    def abandon(self, req) -> None:
        """Nobody will await ``req``'s result (its writer gave up mid-way)."""
        fut = req.waiter
        if fut is not None:
            fut.add_done_callback(_retrieve)
        self._cancelled(req)

    # ---- idle ------------------------------------------------------------------

    async def wait_idle(self) -> None:
        """Return once every unit sent before this call has completed and the
        clean-up queued before it has run: a Sync, queued like any unit, and
        its ReadyForQuery (it comes after every earlier unit's).  Returns at
        once on an idle or closed connection.  Not for the body of a
        :meth:`run_first` step (it would wait for itself)."""
        if self._gate is None and not self.core.pending_requests or self._gate is _CLOSED:
            return
        try:
            await self.request(_proto.REQUEST_SYNC, _proto.build_sync())
        except BaseConnectionError:
            pass    # closed meanwhile: nothing is in flight any more

    # ---- background steps --------------------------------------------------------

    def run_first(self, fn, *args) -> asyncio.Future:
        """Run ``fn(*args)`` in the background, alone on the wire, once every
        unit sent so far has completed and before any unit sent later is
        written, whoever sends it (the pool's reset after the connection is
        handed back included).  ``fn`` sends with :meth:`send_now`.  Returns
        a future done when it has run (or the connection closed first)."""
        step = _Step(fn, args, self.loop.create_future())
        if self._gate is None:
            step.start(self)
        elif self._gate is _CLOSED:
            step.done.set_result(None)
        else:
            self._held.append(step)
        return step.done

    async def _run_step(self, step) -> None:
        if self.core.pending_requests:
            await self.send_now(_proto.REQUEST_SYNC, _proto.build_sync())
        await step.fn(*step.args)

    def _step_ended(self, step, task) -> None:
        # A done callback, not a finally: it also runs for a task cancelled
        # (by close()) before its first step.
        if not task.cancelled() and task.exception() is not None:
            log.warning("background step failed: %r", task.exception())
        if not step.done.done():
            step.done.set_result(None)
        if self._owner is step:
            self._owner = None
            self._gate_changed()

    async def send_now(self, kind: int, data: bytes, statement=None):
        """A unit written at once, for the body of a :meth:`run_first` step
        (which holds the wire; a plain request() there would wait for itself).
        Waits for a cancellation in progress first."""
        while self._cancelling is not None:
            await asyncio.shield(self._cancelling)
        self._check_open()
        fut = self.loop.create_future()
        req = _proto.Request(kind, fut, statement)
        self._write(req, data)
        return await self.result(req, fut)

    # ---- cancellation ---------------------------------------------------------------

    def _cancelled(self, req) -> None:
        # The task awaiting ``req`` was cancelled (or timed out).
        if req.transaction_status is not None or not req.sent or self._gate is _CLOSED:
            return   # complete, never written (it never will be), or nothing to save
        req.abandoned = True
        if self._cancelling is not None:
            wake = self._cancel_wake
            if wake is not None and not wake.done():
                wake.set_result(None)
            return
        units = self.core.in_flight()
        if units and units[-1] is req:
            self._start_cancelling()

    def _start_cancelling(self) -> None:
        done = self.loop.create_future()
        self._cancelling = done
        self._gate_changed()
        self.spawn(self._cancel_abandoned()).add_done_callback(
            lambda task: self._cancelling_ended(task, done))

    def _cancelling_ended(self, task, done) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("cancellation failed: %r", task.exception())
            self.terminate()
        self._cancel_wake = None
        self._cancelling = None
        done.set_result(None)
        self._gate_changed()

    async def _cancel_abandoned(self) -> None:
        """While the last unit written is abandoned: send one CancelRequest per
        head unit when it and every unit behind it are abandoned, and wait for
        them all to complete.  Nothing new is written meanwhile."""
        signalled = None
        while not self.is_closed:
            units = self.core.in_flight()
            if not units:
                return
            head = units[0]
            wake = self._cancel_wake = self.loop.create_future()
            _on_complete(head, lambda _r, w=wake: w.done() or w.set_result(None))
            if head is not signalled and all(u.abandoned for u in units):
                signalled = head
                try:
                    await asyncio.wait_for(self.send_cancel(), CANCEL_CONFIRM_TIMEOUT)
                except Exception as e:
                    log.error("could not confirm a CancelRequest (%r); closing the connection, "
                              "since a late one could cancel the next query", e)
                    self.terminate()
                    return
            try:
                await asyncio.wait_for(wake, CANCEL_END_TIMEOUT if head is signalled else None)
            except asyncio.TimeoutError:
                log.error("a cancelled query did not end in %s s; closing the connection",
                          CANCEL_END_TIMEOUT)
                self.terminate()
                return

    async def send_cancel(self) -> None:
        """CancelRequest over a new connection; returns when the server has
        processed it (the postmaster closes that connection after signalling
        the backend)."""
        data = _proto.build_cancel_request(self.core.backend_pid, self.core.backend_secret)
        reader, writer = await self._open_cancel_connection()
        try:
            writer.write(data)
            await writer.drain()
            await reader.read()  # EOF once the postmaster has signalled the backend
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:
                pass

    async def _open_cancel_connection(self):
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.port}")
        # The address we are connected to, not the host name again: a name may
        # resolve to several servers (DNS round robin, a headless service), and
        # a server ignores a CancelRequest for a backend it does not have.
        peer = self.transport.get_extra_info("peername")
        sock = self.transport.get_extra_info("socket")
        if peer is None or sock is None:
            return await asyncio.open_connection(self.host, self.port)
        s = socket.socket(sock.family, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            await self.loop.sock_connect(s, peer)
            return await asyncio.open_connection(sock=s)
        except BaseException:
            s.close()
            raise

    # ---- closing -------------------------------------------------------------

    def terminate(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        self._set_closed()

    def terminate_soon(self) -> None:
        """Send Terminate and close without waiting (for sync close paths)."""
        if self._closed:
            return
        self._set_closed()
        try:
            if not self.transport.is_closing():
                self.transport.write(_proto.build_terminate())
                self.transport.close()
        except Exception:
            self.transport.abort()

    def mark_closed(self) -> None:
        """The event loop is gone: nothing can run on this connection any more."""
        self._set_closed()

    async def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._set_closed()
        try:
            if not self.transport.is_closing():
                self.transport.write(_proto.build_terminate())
                self.transport.close()
            await asyncio.wait_for(asyncio.shield(self.protocol.closed), timeout)
        except Exception:
            self.transport.abort()


class _HeldUnit:
    __slots__ = ("req", "data")

    def __init__(self, req, data):
        self.req = req
        self.data = data

    def start(self, pl) -> None:
        # A waiter already done: its task was cancelled while the unit waited.
        if not self.req.waiter.done():
            pl._write(self.req, self.data)

    def fail(self, pl) -> None:
        fut = self.req.waiter
        if fut is not None and not fut.done():
            fut.set_exception(pl.closed_error())


class _HeldStream:
    __slots__ = ("token", "ready")

    def __init__(self, token, ready):
        self.token = token
        self.ready = ready

    def start(self, pl) -> None:
        if not self.ready.done():
            pl._owner = pl._gate = self.token
            self.ready.set_result(None)

    def fail(self, pl) -> None:
        if not self.ready.done():
            self.ready.set_exception(pl.closed_error())


class _Step:
    __slots__ = ("fn", "args", "done")

    def __init__(self, fn, args, done):
        self.fn = fn
        self.args = args
        self.done = done

    def start(self, pl) -> None:
        pl._owner = pl._gate = self
        pl.spawn(pl._run_step(self)).add_done_callback(
            lambda task: pl._step_ended(self, task))

    def fail(self, pl) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _on_complete(req, cb) -> None:
    """Add ``cb`` to what runs when ``req`` completes."""
    prev = req.on_complete
    if prev is None:
        req.on_complete = cb
    else:
        def both(r, prev=prev, cb=cb):
            prev(r)
            cb(r)
        req.on_complete = both


def _retrieve(fut) -> None:
    # For a future nobody may await any more: mark its exception seen, or
    # asyncio logs "Future exception was never retrieved" at ERROR when it is
    # collected.
    if not fut.cancelled():
        fut.exception()
