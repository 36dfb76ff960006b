"""Typed messages of a logical replication stream, as the low-level API returns them.

Two layers, both named after "Streaming Replication Protocol" and "Logical
Replication Message Formats" in the protocol chapter of the PostgreSQL
documentation:

* what a CopyData message of the CopyBoth phase carries: ``XLogData`` (one
  pgoutput message in ``data``) and ``PrimaryKeepalive``;
* the pgoutput messages themselves: ``Begin`` ... ``StreamAbort``.

Both parsers produce these: the Cython one (``psqlpy.protocol.parse_copy_both_message``,
``parse_pgoutput_message``) and the pure-Python reference in
``psqlpy._pyreplication``.  LSNs are ints; times are the server's raw
microseconds since 2000-01-01 UTC (``psqlpy.protocol.pg_time_to_datetime``
converts).  Tuple data is a tuple with one entry per column: ``None`` (NULL),
``UNCHANGED_TOAST`` (an unchanged TOASTed value the server did not send), a
``str`` (a value in text format) or ``bytes`` (a value in binary format).
``xid`` is None outside a stream block (only changes of streamed, in-progress
transactions carry their (sub)transaction id).
"""
from __future__ import annotations

from ._messages import BackendMessage, _message

# CopyData payloads of the CopyBoth phase (first byte 'w' / 'k').
XLogData = _message("XLogData", b"w", ("wal_start", "wal_end", "send_time", "data"))
PrimaryKeepalive = _message("PrimaryKeepalive", b"k", ("wal_end", "send_time", "reply_requested"))

# pgoutput messages (the data of an XLogData).
Begin = _message("Begin", b"B", ("final_lsn", "commit_time", "xid"))
Commit = _message("Commit", b"C", ("flags", "commit_lsn", "end_lsn", "commit_time"))
Origin = _message("Origin", b"O", ("commit_lsn", "name"))
#: ``columns``: tuple of ``(flags, name, type_oid, type_modifier)``; flag 1 marks a
#: column of the replica identity (the key).  An empty ``namespace`` on the wire
#: means pg_catalog and is returned as ``"pg_catalog"``.
Relation = _message("Relation", b"R", ("xid", "oid", "namespace", "name", "replica_identity",
                                       "columns"))
Type = _message("Type", b"Y", ("xid", "oid", "namespace", "name"))
Insert = _message("Insert", b"I", ("xid", "relation_oid", "new"))
#: ``old_kind``: ``"K"`` (old key columns), ``"O"`` (old row, REPLICA IDENTITY FULL)
#: or None (no old values sent).
Update = _message("Update", b"U", ("xid", "relation_oid", "old_kind", "old", "new"))
Delete = _message("Delete", b"D", ("xid", "relation_oid", "old_kind", "old"))
#: ``options``: bit 1 CASCADE, bit 2 RESTART IDENTITY.
Truncate = _message("Truncate", b"T", ("xid", "options", "relation_oids"))
#: ``flags``: bit 1 transactional.
Message = _message("Message", b"M", ("xid", "flags", "lsn", "prefix", "content"))
StreamStart = _message("StreamStart", b"S", ("xid", "first_segment"))
StreamStop = _message("StreamStop", b"E")
StreamCommit = _message("StreamCommit", b"c", ("xid", "flags", "commit_lsn", "end_lsn",
                                               "commit_time"))
#: ``abort_lsn``/``abort_time``: only with ``streaming 'parallel'`` (protocol 4), else None.
StreamAbort = _message("StreamAbort", b"A", ("xid", "subxid", "abort_lsn", "abort_time"))

__all__ = [
    "BackendMessage", "XLogData", "PrimaryKeepalive", "Begin", "Commit", "Origin", "Relation",
    "Type", "Insert", "Update", "Delete", "Truncate", "Message", "StreamStart", "StreamStop",
    "StreamCommit", "StreamAbort",
]
