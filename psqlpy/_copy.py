"""COPY ... FROM STDIN (FORMAT binary): ``binary_copy_to_table`` and
``copy_records_to_table``.

The flow (protocol "COPY Operations")::

    client                              server
    Query "COPY ... FROM STDIN"  --->
                                 <---   CopyInResponse      (or ErrorResponse)
    CopyData ... CopyData        --->
    CopyDone | CopyFail          --->
                                 <---   CommandComplete "COPY n" | ErrorResponse
                                 <---   ReadyForQuery

The Query and its data are one unit of the connection's pipeline
(``psqlpy._pipeline``), written in pieces: ``open_stream`` writes the Query and
holds the wire until CopyDone or CopyFail is written (or the server refused
the COPY), so no other task's query lands in the middle of the data, where the
server would read it as part of the COPY.  The core calls our
``copy_in_handler`` when CopyInResponse arrives, and only then a streaming
task (strongly referenced by the connection) starts sending CopyData.  Data
is therefore never on the wire before the server is in copy-in mode, and a
COPY that fails to start (missing table, no privilege) sends nothing.

Failure paths, all of which leave the connection usable:

* the source (or the record encoder) raises: the streaming task sends
  CopyFail, the server answers ErrorResponse + ReadyForQuery and nothing is
  inserted; the source's own exception is re-raised to the caller.
* the caller is cancelled (``asyncio.wait_for`` timeout, task.cancel()): the
  pipeline abandons the unit (the core still consumes its reply) and may
  cancel it on the server; we stop the streaming task, which sends
  CopyFail (or the handler sends it at once if the server was not yet in
  copy-in mode), so the COPY is aborted and rolled back.  Once CopyDone has
  gone out the outcome is the server's: a cancel arriving then may leave the
  COPY committed, as for any statement cancelled in flight.
* the server rejects the data mid-stream (bad value, constraint): it
  answers ErrorResponse + ReadyForQuery at once and drops whatever CopyData
  still arrives; we stop streaming and raise the server's error.

Backpressure: after each CopyData we await the transport's drain, so a
producer faster than the network never buffers more than the transport's
high-water mark plus one batch.
"""
from __future__ import annotations

import asyncio
import inspect

from . import protocol as _proto
from ._ident import quote_ident
from .exceptions import ConnectionExecuteError, PyToRustValueMappingError

#: Bytes per CopyData message (source chunks and encoded record batches).
COPY_CHUNK = 256 * 1024

# Send functions whose binary form is the value's UTF-8 text, so a str can be
# sent with the text encoder even though the type (an enum, citext, ...) has
# no OID of its own in our codec tables.
_TEXT_SEND_FUNCS = frozenset({
    "textsend", "varcharsend", "bpcharsend", "namesend", "enum_send", "citextsend",
    "unknownsend", "xml_send",
})
_TEXT_OID = 25


def _quoted_target(table_name: str, columns=None, schema_name=None) -> tuple[str, list | None]:
    """``"schema"."table"`` and the quoted column names (None: every column)."""
    target = quote_ident(table_name, "table name")
    if schema_name is not None:
        target = quote_ident(schema_name, "schema name") + "." + target
    if columns is None:
        return target, None
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not a str")
    cols = [quote_ident(c, "column name") for c in columns]
    if not cols:
        raise ValueError("columns must not be empty (omit it to copy every column)")
    return target, cols


def copy_target_sql(table_name: str, columns=None, schema_name=None) -> str:
    """``"schema"."table" ("c1", ...)`` with every identifier quoted."""
    target, cols = _quoted_target(table_name, columns, schema_name)
    return target if cols is None else target + " (" + ", ".join(cols) + ")"


def _copy_sql(table_name, columns, schema_name) -> str:
    return f"COPY {copy_target_sql(table_name, columns, schema_name)} FROM STDIN (FORMAT binary)"


def _rows_from_tag(tag) -> int:
    # "COPY n"
    if tag:
        parts = tag.split()
        if len(parts) == 2 and parts[0] == "COPY":
            try:
                return int(parts[1])
            except ValueError:
                pass
    return 0


class _CopyIn:
    """State shared by the caller, the copy-in handler and the streaming task."""

    __slots__ = ("pg", "messages", "task", "aborted", "error", "ended")

    def __init__(self, pg, messages):
        self.pg = pg
        self.messages = messages   # async iterator of ready-to-send protocol bytes
        self.task: asyncio.Task | None = None
        self.aborted = False
        self.error: BaseException | None = None
        self.ended = False         # CopyDone or CopyFail sent

    # Called by the core (no arguments) when CopyInResponse arrives.
    def on_copy_in(self) -> None:
        if self.aborted:
            # The caller gave up before the server was ready: abort the COPY.
            self._end(_proto.build_copy_fail("COPY cancelled by the client"))
            return
        self.task = self.pg.spawn(self._stream())
        # A task cancelled before its first step never runs its body: make
        # sure the COPY is ended whatever happens to it.
        self.task.add_done_callback(self._task_done)

    def _task_done(self, task) -> None:
        self._end(_proto.build_copy_fail("COPY cancelled by the client"))

    # Called by the core when the COPY's unit completes.
    def on_complete(self, _req) -> None:
        if self.task is None and not self.ended:
            # The server refused the COPY before copy-in: nothing more to send.
            self.ended = True
            self.pg.end_stream(self)
        elif self.task is not None and not self.task.done():
            # It gave up mid-stream (bad data): stop sending.  The task's
            # CopyFail, which the server ignores now, frees the wire; nothing
            # of another unit can be written in between.
            self.aborted = True
            self.task.cancel()

    def _end(self, msg) -> None:
        if not self.ended:
            self.ended = True
            self._write(msg)
            self.pg.end_stream(self)   # the unit is written: the wire is free

    def _write(self, data) -> None:
        transport = self.pg.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def _stream(self) -> None:
        pg = self.pg
        messages = self.messages
        try:
            async for msg in messages:
                if self.aborted:
                    raise asyncio.CancelledError()
                self._write(msg)
                await pg.protocol.drain()
        except BaseException as e:  # noqa: BLE001 - CopyFail for every failure
            self.error = e
            if isinstance(e, asyncio.CancelledError):
                reason = "COPY cancelled by the client"
            else:
                reason = f"COPY source failed: {type(e).__name__}: {e}"
            self._end(_proto.build_copy_fail(reason[:1000].replace("\x00", "")))
            if not isinstance(e, Exception):
                raise
        else:
            self._end(_proto.build_copy_done())
        finally:
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except BaseException:  # noqa: BLE001 - already failing or done
                    pass

    async def stop(self) -> None:
        """Stop streaming (the server already answered) and wait for the task."""
        self.aborted = True
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])


async def copy_in(pg, sql: str, messages, context=ConnectionExecuteError) -> int:
    """Run ``sql`` (a COPY ... FROM STDIN) and send ``messages`` (an async
    iterator of complete CopyData messages); returns the row count."""
    state = _CopyIn(pg, messages)
    req, fut = await pg.open_stream(_proto.REQUEST_SIMPLE, _proto.build_query(sql),
                                    token=state, copy_in_handler=state.on_copy_in,
                                    on_complete=state.on_complete)
    try:
        req = await pg.result(req, fut)
    except BaseException:
        # Cancelled (or the connection failed): make sure the server's COPY is
        # aborted; the pipeline already keeps the connection's units in order.
        state.aborted = True
        task = state.task
        if task is not None and not task.done():
            task.cancel()
        raise
    # ReadyForQuery arrived.  Normally the streaming task has finished; if the
    # server gave up first (bad data), stop it -- its late messages are dropped
    # by the server.
    await state.stop()
    err = state.error
    if err is not None and isinstance(err, Exception):
        raise err
    if req.error_fields is None and err is not None:
        raise err
    pg.raise_for(req, context)
    return _rows_from_tag(req.tag)


# ---- binary_copy_to_table --------------------------------------------------------

async def _source_chunks(source, chunk_size: int):
    """Bytes chunks from a bytes-like object, a file-like object (sync or
    async ``read``), or an (async) iterable of bytes-like chunks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        for i in range(0, len(view), chunk_size):
            yield view[i:i + chunk_size]
        return
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            chunk = read(chunk_size)
            if inspect.isawaitable(chunk):
                chunk = await chunk
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError("binary_copy_to_table: the source returned str; "
                                "open it in binary mode")
            yield chunk
    if hasattr(source, "__aiter__"):
        async for chunk in source:
            if isinstance(chunk, str):
                raise TypeError("binary_copy_to_table: the source yielded str, expected bytes")
            if chunk:
                yield chunk
        return
    if hasattr(source, "__iter__") and not isinstance(source, str):
        for chunk in source:
            if isinstance(chunk, str):
                raise TypeError("binary_copy_to_table: the source yielded str, expected bytes")
            if chunk:
                yield chunk
        return
    raise TypeError(
        "binary_copy_to_table: source must be bytes-like, a file-like object with "
        f"read() (sync or async), or an iterable of bytes, not {type(source).__name__}")


async def _copy_data_messages(chunks):
    build = _proto.build_copy_data
    async for chunk in chunks:
        yield build(chunk)


def _check_source(source) -> None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return
    if isinstance(source, str):
        raise TypeError("binary_copy_to_table: source must be binary data, not str")
    if (hasattr(source, "read") or hasattr(source, "__aiter__")
            or hasattr(source, "__iter__")):
        return
    raise TypeError(
        "binary_copy_to_table: source must be bytes-like, a file-like object with "
        f"read() (sync or async), or an iterable of bytes, not {type(source).__name__}")


async def binary_copy_to_table(pg, source, table_name: str, columns=None, schema_name=None,
                               context=ConnectionExecuteError) -> int:
    """Stream ``source`` (binary COPY data) into the table; returns the row count."""
    sql = _copy_sql(table_name, columns, schema_name)
    _check_source(source)
    return await copy_in(pg, sql, _copy_data_messages(_source_chunks(source, COPY_CHUNK)),
                         context)


# ---- copy_records_to_table -------------------------------------------------------

async def _column_types(pg, table_name, columns, schema_name, context):
    """(names, type OIDs, type names) of the target columns, as the server
    describes ``SELECT cols FROM table LIMIT 0``.

    Described afresh each time (unnamed statement, one round trip): a cached
    description would go stale after an ALTER TABLE and we would then send
    values in the wrong binary format.  Domains arrive as their base type."""
    target, cols = _quoted_target(table_name, columns, schema_name)
    select = "*" if cols is None else ", ".join(cols)
    st = await pg.statement_for(f"SELECT {select} FROM {target} LIMIT 0", False, context)
    names = [c.name for c in st.columns]
    oids = [int(c.type_oid) for c in st.columns]
    if columns is not None:
        names = columns
    type_names = [None] * len(oids)
    unknown = sorted({o for o in oids if not _proto.has_binary_encoder(o)})
    if unknown:
        # Types outside our codec tables: enums, citext and other types whose
        # binary form is their text can still go as UTF-8 text.
        req = await pg.simple_query(
            "SELECT oid::int8, typname::text, typsend::text FROM pg_catalog.pg_type "
            f"WHERE oid IN ({', '.join(str(o) for o in unknown)})", context)
        info = {}
        for row in req.results[0][1] if req.results else ():
            info[int(row[0])] = (row[1], row[2])
        for i, o in enumerate(oids):
            if o in info:
                typname, send = info[o]
                type_names[i] = typname
                if send in _TEXT_SEND_FUNCS:
                    oids[i] = _TEXT_OID
    return names, oids, type_names


async def _record_messages(encoder, records):
    if hasattr(records, "__aiter__"):
        batch: list = []
        async for rec in records:
            batch.append(rec)
            if len(batch) >= 512:
                it = iter(batch)
                while encoder.feed(it):
                    yield encoder.take()
                batch = []
        it = iter(batch)
    else:
        it = iter(records)
    while encoder.feed(it):
        yield encoder.take()
    yield encoder.finish()


async def copy_records_to_table(pg, table_name: str, records, columns=None, schema_name=None,
                                context=ConnectionExecuteError) -> int:
    """Encode ``records`` in binary COPY format (in C) and stream them into
    the table; returns the number of rows inserted."""
    if records is None or isinstance(records, (str, bytes, bytearray)):
        raise PyToRustValueMappingError(
            "copy_records_to_table: records must be an iterable of sequences")
    if columns is not None and not isinstance(columns, str):
        columns = list(columns)   # used twice below: an iterator would be empty the second time
    sql = _copy_sql(table_name, columns, schema_name)
    names, oids, type_names = await _column_types(pg, table_name, columns, schema_name, context)
    # Raises PyToRustValueMappingError naming the column for a type we cannot
    # send in binary -- before the COPY starts.
    encoder = _proto.BinaryCopyEncoder(oids, names, True, COPY_CHUNK, type_names)
    return await copy_in(pg, sql, _record_messages(encoder, records), context)
