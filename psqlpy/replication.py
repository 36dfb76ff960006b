"""LogicalReplication: a durable change stream from a logical replication slot.

LISTEN/NOTIFY forgets what is sent while a listener is away.  A logical
replication slot keeps every committed change until the client confirms it,
so a consumer that crashes, loses its connection or meets a server restart
resumes where it confirmed, and loses nothing::

    stream = pool.replication("orders_slot", "orders_pub", create_slot=True)
    await stream.startup()
    async for tx in stream:                 # one committed transaction at a time
        for change in tx.changes:           # kind, schema, table, new, old
            handle(change)
        await stream.ack(tx)                # processed: the server may forget it

How it works:

* Its own connection, opened with ``replication=database`` (never a pooled
  one).  ``startup()`` runs IDENTIFY_SYSTEM, creates the slot when asked
  (``CREATE_REPLICATION_SLOT ... LOGICAL pgoutput``, temporary or not), then
  ``START_REPLICATION SLOT ... LOGICAL`` with the highest ``proto_version``
  the server supports (1 before PostgreSQL 14, 2 on 14, 3 on 15, 4 from 16),
  ``publication_names``, ``binary 'true'``, ``messages 'true'`` and
  ``streaming 'on'`` (from 14 on: 13 and older lack those options).
* The server's CopyData messages are decoded in C (``psqlpy.protocol.
  LogicalDecoder``) straight from the socket buffer: pgoutput messages are
  assembled into ``ReplicationTransaction``s whose rows are dicts of values
  decoded by the same binary codecs as query results (values of a type with
  no binary codec are ``bytes``).  Large transactions the server streams
  before they commit are assembled and delivered at their commit.
* Acknowledgement: ``ack(tx)`` marks everything up to ``tx.end_lsn`` as
  processed.  The stream reports it as flushed in its next Standby Status
  Update: every ``status_interval`` seconds, at once when a keepalive asks
  for a reply, and on ``shutdown()``.  The slot's ``confirmed_flush_lsn``
  follows; ``confirmed_lsn`` is the last position the server was told.
  One addition: when the server asks for a reply (it does after
  ``wal_sender_timeout / 2`` without one, and when it shuts down, where it
  waits until the client confirms everything it sent) while every
  transaction delivered is acknowledged and none is buffered or in
  progress, the stream confirms the keepalive's position: nothing before
  it is left to process, and without that a server shutdown would wait
  for the client for ever.
  Keep ``status_interval`` below the server's ``wal_sender_timeout`` (60 s
  by default): the updates are what keep a paused stream alive.
* Delivery is at least once, never lossy: after a cut connection or a
  server restart (``reconnect=True``: exponential backoff from
  ``reconnect_delay`` up to ``max_reconnect_delay``) streaming resumes from
  the last acknowledged position; every transaction committed after it
  arrives again (also one that was delivered but not acknowledged), none at
  or before it does (the stream drops what the server sends again of those).
* Backpressure: once ``max_buffered`` changes are decoded and not yet
  consumed, the stream stops reading the socket (the server then waits);
  reading resumes when half of them are consumed.  A transaction is
  delivered whole, so one larger than ``max_buffered`` is held whole.
* A value the codecs cannot decode does not stop the stream:
  ``async for`` raises that error with the transaction attached as its
  ``transaction`` attribute (the value is None there); ``ack`` it to skip it.
* A temporary slot is dropped by the server with its connection: a stream
  on one cannot resume after a lost connection, and says so
  (``ReplicationClosedError``).

Otherwise only positions acknowledged with ``ack`` are confirmed: a slot
whose tables see no changes keeps its position (and the WAL after it) until
a transaction is acknowledged.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
import time

from . import protocol as _proto
from ._connect import open_connection
from ._ident import quote_ident, quote_literal
from .exceptions import (
    BaseConnectionError,
    ReplicationClosedError,
    ReplicationStartError,
    make_server_error,
)
from .protocol import (
    UNCHANGED_TOAST,
    Change,
    LogicalDecoder,
    ReplicationTransaction,
    format_lsn,
    parse_lsn,
)

log = logging.getLogger("psqlpy.replication")

__all__ = [
    "LogicalReplication", "ReplicationTransaction", "Change", "UNCHANGED_TOAST", "SystemIdentity",
    "format_lsn", "parse_lsn",
]

# Slot names the server accepts: lower-case letters, digits, underscore, at most 63.
_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")

# SQLSTATE classes after which a new connection may succeed: connection
# exceptions, insufficient resources, operator intervention (shutdown,
# restart), and "object in use" (the slot is still held by the server
# process of a connection that was just cut).
_RETRYABLE_CLASSES = ("08", "53", "57")
_RETRYABLE_CODES = ("55006",)


@dataclasses.dataclass(frozen=True)
class SystemIdentity:
    """What IDENTIFY_SYSTEM answered."""
    system_id: str
    timeline: int
    xlogpos: int
    dbname: str | None


def _proto_version(server_version: int) -> int:
    """The highest pgoutput protocol version of a server (``major * 10000 + minor``)."""
    if server_version >= 160000:
        return 4
    if server_version >= 150000:
        return 3
    if server_version >= 140000:
        return 2
    return 1


def _retryable(exc: BaseException) -> bool:
    code = getattr(exc, "sqlstate", None)
    if code is None:
        # No SQLSTATE: the socket, TLS or the protocol failed: try again.
        return isinstance(exc, (OSError, BaseConnectionError, _proto.ProtocolError,
                                asyncio.TimeoutError))
    return code[:2] in _RETRYABLE_CLASSES or code in _RETRYABLE_CODES


class LogicalReplication:
    """A logical replication stream; see the module documentation.

    Made by ``ConnectionPool.replication(slot_name, publications, ...)``."""

    def __init__(self, config, slot_name: str, publications, *, create_slot: bool = False,
                 temporary: bool = False, start_lsn: int | str | None = None,
                 max_buffered: int = 10_000, status_interval: float = 10.0,
                 reconnect: bool = True, reconnect_delay: float = 0.1,
                 max_reconnect_delay: float = 30.0):
        if not isinstance(slot_name, str) or not _SLOT_NAME.fullmatch(slot_name):
            raise ValueError(f"invalid slot name {slot_name!r}: lower-case letters, digits "
                             "and underscores, at most 63")
        if isinstance(publications, str):
            publications = (publications,)
        publications = tuple(publications)
        if not publications:
            raise ValueError("at least one publication is needed")
        for p in publications:
            quote_ident(p, "publication name")
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        if status_interval <= 0:
            raise ValueError("status_interval must be positive")
        self._config = dataclasses.replace(
            config, statement_cache_size=0,
            server_settings=tuple(kv for kv in config.server_settings if kv[0] != "replication")
            + (("replication", "database"),))
        self._slot = slot_name
        self._publications = publications
        self._create_slot = create_slot
        self._temporary = temporary
        self._start_lsn = parse_lsn(start_lsn) if isinstance(start_lsn, str) else start_lsn
        self._status_interval = status_interval
        self._reconnect = reconnect
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay

        dec = self._decoder = LogicalDecoder(max_buffered)
        dec.on_ready = self._wake
        dec.on_full = self._pause_reading
        dec.on_reply_requested = self._answer_keepalive

        self._pg = None               # the connection while streaming
        self._stream_task: asyncio.Task | None = None   # START_REPLICATION, until it ends
        self._status_task: asyncio.Task | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._waiters: set[asyncio.Future] = set()
        self._started = False
        self._starting = False
        self._stopping = False
        self._error: BaseException | None = None
        self._reading_paused = False
        self._acked = 0                 # the highest position acknowledged
        self._delivered = 0             # the highest end_lsn handed to the consumer
        self._confirmed = 0             # the last flush position sent
        self._ever_started = False
        self.proto_version: int | None = None
        self.system: SystemIdentity | None = None
        self.reconnect_count = 0

    # ---- properties --------------------------------------------------------------

    @property
    def slot_name(self) -> str:
        return self._slot

    @property
    def publications(self) -> tuple[str, ...]:
        return self._publications

    @property
    def is_started(self) -> bool:
        return self._started

    @property
    def confirmed_lsn(self) -> int:
        """The last position reported to the server as flushed."""
        return self._confirmed

    @property
    def acked_lsn(self) -> int:
        """The highest position acknowledged with ``ack`` (or where streaming started)."""
        return self._acked

    @property
    def received_lsn(self) -> int:
        """The highest WAL position the server said it sent."""
        return self._decoder.received_lsn

    @property
    def buffered(self) -> int:
        """Changes decoded and not yet consumed."""
        return self._decoder.buffered

    # ---- lifecycle -----------------------------------------------------------------

    async def startup(self) -> None:
        """Connect, create the slot when asked, and start streaming."""
        if self._started or self._starting:
            raise ReplicationStartError("the replication stream is already started")
        self._starting = True
        try:
            # A permanent slot this object created is there on a second
            # startup(); a temporary one went with the last connection.
            create = self._create_slot and (self._temporary or not self._ever_started)
            await self._connect(create=create, fresh=True)
        except (ReplicationStartError, ReplicationClosedError):
            raise
        except Exception as e:
            raise ReplicationStartError(f"could not start replication from slot "
                                        f"{self._slot!r}: {e}") from e
        finally:
            self._starting = False
        self._started = True
        self._ever_started = True
        self._error = None
        self._status_task = self._spawn(self._status_loop())

    async def shutdown(self) -> None:
        """Stop streaming: tell the server what was acknowledged, end the
        copy, close the connection.  A buffered transaction not yet consumed
        is dropped (the slot sends it again next time, as it was not acknowledged)."""
        self._started = False
        self._stopping = True
        try:
            for t in (self._status_task, self._reconnect_task):
                if t is not None:
                    t.cancel()
            self._status_task = self._reconnect_task = None
            pg, self._pg = self._pg, None
            if pg is not None:
                await self._stop_streaming(pg)
                await pg.close()
            self._decoder.reset()
            self._reading_paused = False
            self._wake()
        finally:
            self._stopping = False

    async def _stop_streaming(self, pg) -> None:
        task = self._stream_task
        self._stream_task = None
        if pg.is_closed:
            return
        dec = self._decoder
        try:
            pg.transport.write(self._status_message())
            self._confirmed = self._acked
            pg.transport.write(_proto.build_copy_done())
            # Read on to the end of the copy, which is behind whatever the
            # server still sends: nothing of it is kept (or fills the buffer).
            dec.skip_through = 0xFFFFFFFFFFFFFFFF
            dec.reset()
            if self._reading_paused:
                self._reading_paused = False
                pg.transport.resume_reading()
            if pg.core.paused:
                pg.core.resume()
            if task is not None:
                await asyncio.wait_for(asyncio.shield(task), 5)
        except Exception as e:   # the connection goes anyway
            log.debug("replication stream did not end cleanly: %r", e)

    async def drop_slot(self) -> None:
        """Drop the slot (after stopping the stream if it runs).  The slot's
        server process may take a moment to let go of it: retried for up to
        10 seconds while the server says it is in use."""
        if self._started or self._pg is not None:
            await self.shutdown()
        pg = await open_connection(self._config)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    await pg.simple_query("DROP_REPLICATION_SLOT " + quote_ident(self._slot))
                    return
                except Exception as e:
                    if getattr(e, "sqlstate", None) != "55006" or time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.05)
        finally:
            await pg.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if self._started or self._reconnect_task is not None:
            await self.shutdown()

    # ---- connecting ----------------------------------------------------------------

    async def _connect(self, create: bool, fresh: bool) -> None:
        """Open the connection and start streaming.  ``fresh`` (startup()):
        start from ``start_lsn`` or the slot's position; else (a reconnect)
        from the last acknowledged position."""
        pg = await open_connection(self._config)
        try:
            pg.add_lost_callback(lambda err, pg=pg: self._on_lost(pg, err))
            req = await pg.simple_query("IDENTIFY_SYSTEM", ReplicationStartError)
            names, rows, _ = req.results[0]
            row = dict(zip(names, rows[0]))
            self.system = SystemIdentity(row["systemid"], int(row["timeline"]),
                                         parse_lsn(row["xlogpos"]), row.get("dbname"))
            self.proto_version = _proto_version(pg.server_version)
            if create:
                start = await self._create(pg)
            else:
                start = await self._slot_position(pg, fresh)
            if fresh:
                self._acked = max(start, self._start_lsn or 0)
                self._confirmed = self._acked
            dec = self._decoder
            dec.reset()
            dec.skip_through = self._acked
            await self._start_streaming(pg)
        except BaseException:
            pg.terminate()
            raise
        self._pg = pg

    async def _create(self, pg) -> int:
        kind = " TEMPORARY" if self._temporary else ""
        # PostgreSQL 15 took the options into parentheses; the old keyword stays accepted.
        snapshot = " (SNAPSHOT 'nothing')" if pg.server_version >= 150000 else " NOEXPORT_SNAPSHOT"
        req = await pg.simple_query(
            f"CREATE_REPLICATION_SLOT {quote_ident(self._slot)}{kind} LOGICAL pgoutput{snapshot}",
            ReplicationStartError)
        names, rows, _ = req.results[0]
        return parse_lsn(dict(zip(names, rows[0]))["consistent_point"])

    async def _slot_position(self, pg, fresh: bool) -> int:
        req = await pg.simple_query(
            "SELECT slot_type, plugin, confirmed_flush_lsn, database = current_database() "
            "FROM pg_replication_slots WHERE slot_name = " + quote_literal(self._slot),
            ReplicationStartError)
        rows = req.results[0][1]
        if not rows:
            if self._temporary and not fresh:
                raise ReplicationClosedError(
                    f"the temporary slot {self._slot!r} ended with its connection; "
                    "its changes cannot be resumed")
            raise ReplicationStartError(f"replication slot {self._slot!r} does not exist "
                                        "(create_slot=True creates it)")
        slot_type, plugin, confirmed, same_db = rows[0]
        if slot_type != "logical" or plugin != "pgoutput":
            raise ReplicationStartError(
                f"replication slot {self._slot!r} is a {slot_type} slot with plugin "
                f"{plugin!r}, not a logical pgoutput slot")
        if same_db != "t":
            raise ReplicationStartError(
                f"replication slot {self._slot!r} belongs to another database")
        return parse_lsn(confirmed) if confirmed else 0

    def _start_command(self) -> str:
        v = self.proto_version or 1
        pubs = ",".join(quote_ident(p) for p in self._publications)
        options = [f"proto_version '{v}'", "publication_names " + quote_literal(pubs)]
        if v >= 2:
            options += ["binary 'true'", "messages 'true'", "streaming 'on'"]
        return (f"START_REPLICATION SLOT {quote_ident(self._slot)} LOGICAL "
                f"{format_lsn(self._acked)} ({', '.join(options)})")

    async def _start_streaming(self, pg) -> None:
        loop = asyncio.get_running_loop()
        started = loop.create_future()
        dec = self._decoder

        def on_started():
            if not started.done():
                started.set_result(None)

        dec.on_started = on_started
        pg.core.copy_both_sink = dec
        self._reading_paused = False
        task = self._stream_task = loop.create_task(
            pg.request(_proto.REQUEST_SIMPLE, _proto.build_query(self._start_command())))
        task.add_done_callback(lambda t, pg=pg: self._on_stream_end(pg, t))
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            req = task.result()            # a lost connection raises here
            pg.raise_for(req, ReplicationStartError)
            raise ReplicationStartError("START_REPLICATION ended without streaming")
        # The server may have sent data in the read that brought CopyBothResponse.
        if dec.ready:
            self._wake()

    # ---- the stream ends -------------------------------------------------------------

    def _on_stream_end(self, pg, task: asyncio.Task) -> None:
        # START_REPLICATION completed: we ended the copy (shutdown), the
        # server reported an error, or the connection went.
        exc = None if task.cancelled() else task.exception()   # (retrieved in every case)
        if pg is not self._pg or self._stopping or task.cancelled():
            return
        if exc is None:
            req = task.result()
            if req.error_fields is not None:
                exc = make_server_error(req.error_fields, ReplicationClosedError)
            else:
                exc = ReplicationClosedError("the server ended the replication stream")
        self._lost(pg, exc)

    def _on_lost(self, pg, err) -> None:
        if pg is self._pg:
            self._lost(pg, err)

    def _lost(self, pg, err) -> None:
        if pg is not self._pg or not self._started:
            return
        self._pg = None
        self._stream_task = None
        self._reading_paused = False
        pg.terminate()
        self._decoder.reset()       # the server sends everything not acknowledged again
        if self._temporary:
            self._fail(ReplicationClosedError(
                f"the connection of the temporary slot {self._slot!r} was lost ({err}); "
                "the server dropped the slot with it"), err)
            return
        if not self._reconnect or not _retryable(err):
            self._fail(ReplicationClosedError(f"the replication stream ended: {err}"), err)
            return
        log.warning("replication connection lost (%s); reconnecting", err)
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = self._spawn(self._reconnect_loop())

    def _fail(self, exc: BaseException, cause) -> None:
        self._started = False
        exc.__cause__ = cause if isinstance(cause, BaseException) else None
        self._error = exc
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
        log.error("%s", exc)
        self._wake()

    async def _reconnect_loop(self) -> None:
        delay = self._reconnect_delay
        while self._started:
            try:
                await self._connect(create=False, fresh=False)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if not _retryable(e) and not isinstance(e.__cause__, OSError):
                    self._reconnect_task = None
                    self._fail(e if isinstance(e, ReplicationClosedError) else
                               ReplicationClosedError(f"could not resume replication: {e}"), e)
                    return
                log.warning("replication reconnect failed (%s); next try in %.1f s", e, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._max_reconnect_delay)
                continue
            if not self._started:       # shut down meanwhile
                pg, self._pg = self._pg, None
                if pg is not None:
                    await pg.close()
                return
            self.reconnect_count += 1
            log.warning("replication resumed from %s after a reconnect", format_lsn(self._acked))
            self._reconnect_task = None
            return

    # ---- consuming -------------------------------------------------------------------

    def __aiter__(self):
        return self

    async def __anext__(self) -> ReplicationTransaction:
        dec = self._decoder
        while True:
            tx = dec.pop()
            if tx is not None:
                if tx.end_lsn > self._delivered:
                    self._delivered = tx.end_lsn
                if self._reading_paused and not dec.full:
                    self._resume_reading()
                if tx.decode_error is not None:
                    err = tx.decode_error
                    err.transaction = tx
                    raise err
                return tx
            if self._error is not None:
                raise self._error
            if not self._started and self._reconnect_task is None:
                if self._ever_started:
                    raise StopAsyncIteration
                raise ReplicationStartError("the replication stream is not started; "
                                            "call startup() first")
            w = asyncio.get_running_loop().create_future()
            self._waiters.add(w)
            dec.waiting = True
            try:
                await w
            finally:
                self._waiters.discard(w)
                if not self._waiters:
                    dec.waiting = False

    def _wake(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, set()
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def ack(self, tx_or_lsn) -> None:
        """Everything up to ``tx_or_lsn`` is processed: a transaction means its
        ``end_lsn``; an int (or ``'X/Y'`` text) is an LSN.  Reported to the
        server in the next status update; never moves back."""
        if isinstance(tx_or_lsn, ReplicationTransaction):
            lsn = tx_or_lsn.end_lsn
        elif isinstance(tx_or_lsn, str):
            lsn = parse_lsn(tx_or_lsn)
        elif isinstance(tx_or_lsn, int) and not isinstance(tx_or_lsn, bool):
            lsn = tx_or_lsn
        else:
            raise TypeError(f"ack() takes a ReplicationTransaction or an LSN, "
                            f"not {type(tx_or_lsn).__name__}")
        if lsn < 0:
            raise ValueError(f"invalid LSN {lsn}")
        if lsn > max(self._decoder.received_lsn, self._acked):
            raise ValueError(f"cannot acknowledge {format_lsn(lsn)}: nothing was received "
                             f"beyond {format_lsn(max(self._decoder.received_lsn, self._acked))}")
        if lsn > self._acked:
            self._acked = lsn
            self._decoder.skip_through = lsn

    # ---- status updates and backpressure -------------------------------------------

    def _status_message(self) -> bytes:
        acked = self._acked
        return _proto.build_standby_status_update(
            max(self._decoder.received_lsn, acked), acked, acked)

    def _send_status(self) -> None:
        pg = self._pg
        if pg is None or pg.is_closed or pg.transport.is_closing():
            return
        pg.transport.write(self._status_message())
        self._confirmed = self._acked

    def _answer_keepalive(self) -> None:
        # The server asks for a reply: after wal_sender_timeout / 2 without
        # one, and when it shuts down, where its WAL sender waits until the
        # client confirms everything sent (up to the shutdown checkpoint).
        # When every transaction delivered is acknowledged and none is
        # buffered or in progress, nothing before the keepalive's position
        # is left to process: confirm up to it, or the server would never
        # finish shutting down (and a quiet slot would keep its WAL).
        dec = self._decoder
        if (not dec.ready and not dec.in_transaction and self._delivered <= self._acked
                and dec.keepalive_lsn > self._acked):
            self._acked = dec.keepalive_lsn
            dec.skip_through = self._acked
        self._send_status()

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self._status_interval)
            self._send_status()

    def _pause_reading(self) -> None:
        pg = self._pg
        if self._reading_paused or pg is None:
            return
        self._reading_paused = True
        try:
            pg.transport.pause_reading()
        except Exception:
            pass

    def _resume_reading(self) -> None:
        self._reading_paused = False
        pg = self._pg
        if pg is None:
            return
        try:
            pg.transport.resume_reading()
        except Exception:
            pass
        if pg.core.paused:
            pg.core.resume()          # may fill the buffer again: on_full pauses again

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __repr__(self) -> str:
        state = "started" if self._started else "stopped"
        return (f"<LogicalReplication slot={self._slot!r} publications={self._publications!r} "
                f"{state} acked={format_lsn(self._acked)}>")
