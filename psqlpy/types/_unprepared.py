"""Parameters of statements that are not prepared: typed from their Python values.

``prepared=False`` (and ``statement_cache_size=0``) must work behind PgBouncer in
transaction pooling mode, where every Sync may end a "transaction" and the next
message go to another server connection.  So the whole query is ONE batch:

    Parse(unnamed, param OIDs) + Bind(unnamed portal, result format: text)
    + Describe(portal) + Execute + Sync

Nothing from the server is known before Bind, hence:

* Parameters.  Almost every value goes with type OID 0 (unspecified) in text
  format, so the server infers the type from the query exactly as it does for
  a prepared statement (``current_date + $1``, ``repeat('a', $1)``,
  ``round($1, 2)`` keep working; a fixed int8/float8 OID would break them);
  it then parses our text form, which is exact for int, float (repr),
  Decimal, UUID, date/time, timedelta, bool.  Where the text form would be
  read differently from the binary encoders we adjust it: naive datetimes and
  times get ``+00:00`` (the binary encoders treat naive as UTC; a
  ``timestamp``/``time`` parameter ignores the zone), dicts and lists holding
  dicts go as JSON.  bytes-likes go as bytea (OID 17, binary): their intended
  type is unambiguous and ``length($1)`` must not pick ``length(text)``.
  ``extra_types`` wrappers pin their OID.
* Results come in text (their types are known only from the RowDescription
  the Describe returns, after Bind chose the formats) and are decoded in the
  Cython core, by the same table of types as binary results
  (``protocol/codecs/textdecode.pyx``), to the same Python values.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import json
import uuid


_BYTEA = 17

# extra_types wrapper ``pg_type`` -> OID, only for types with a binary encoder
# (the encoder then does what it does on the prepared path).
_WRAPPER_OIDS = {
    "int2": 21, "int4": 23, "int8": 20, "float4": 700, "float8": 701, "text": 25,
    "varchar": 1043, "json": 114, "jsonb": 3802,
    "bool[]": 1000, "uuid[]": 2951, "varchar[]": 1015, "text[]": 1009, "int2[]": 1005,
    "int4[]": 1007, "int8[]": 1016, "float4[]": 1021, "float8[]": 1022, "json[]": 199,
    "jsonb[]": 3807, "date[]": 1182, "time[]": 1183, "timestamp[]": 1115,
    "timestamptz[]": 1185, "numeric[]": 1231, "interval[]": 1187,
    # pinned so they go binary: money's text form depends on lc_monetary
    "money": 790, "macaddr": 829, "macaddr8": 774, "point": 600, "box": 603, "lseg": 601,
    "line": 628, "circle": 718, "path": 602, "path[]": 1019,
    "money[]": 791, "inet[]": 1041, "macaddr[]": 1040, "macaddr8[]": 775, "point[]": 1017,
    "box[]": 1020, "lseg[]": 1018, "line[]": 629, "circle[]": 719,
}


def _has_dict(v) -> bool:
    for x in v:
        if isinstance(x, dict):
            return True
        if isinstance(x, (list, tuple)) and _has_dict(x):
            return True
    return False


def _param(v):
    """(oid, value to bind) for one Python value."""
    if v is None or isinstance(v, (str, bool, int, float, decimal.Decimal, uuid.UUID)):
        return 0, v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _BYTEA, v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None and v != _dt.datetime.max and v != _dt.datetime.min:
            return 0, v.isoformat() + "+00:00"
        return 0, v
    if isinstance(v, _dt.time):
        if v.tzinfo is None:
            return 0, v.isoformat() + "+00:00"
        return 0, v
    if isinstance(v, dict):
        return 0, json.dumps(v, ensure_ascii=False, allow_nan=False)
    if isinstance(v, (list, tuple)) and _has_dict(v):
        return 0, json.dumps(v, ensure_ascii=False, allow_nan=False)
    pg_type = getattr(type(v), "pg_type", None)
    if pg_type is not None and hasattr(v, "inner_value"):
        oid = _WRAPPER_OIDS.get(pg_type)
        if oid is not None:
            return oid, v.inner_value
    return 0, v


def prepare_params(params):
    """``(param_oids, values)`` for a one-shot statement."""
    if not params:
        return (), ()
    oids = []
    values = []
    for v in params:
        oid, val = _param(v)
        oids.append(oid)
        values.append(val)
    return tuple(oids), values


def prepare_many(seq_of_params):
    """One set of OIDs for every row of ``execute_many`` (a column is typed only
    when every non-NULL value in it agrees), and the converted rows."""
    rows = [prepare_params(p) for p in seq_of_params]
    if not rows:
        return (), []
    n = len(rows[0][0])
    oids = []
    for i in range(n):
        seen = {r[0][i] for r in rows if len(r[0]) == n and r[1][i] is not None}
        oids.append(seen.pop() if len(seen) == 1 else 0)
    out = []
    for r_oids, vals in rows:
        if len(r_oids) != n:
            out.append(vals)  # the count error comes from write_bind
            continue
        vals = list(vals)
        for i in range(n):
            if r_oids[i] != oids[i] and vals[i] is not None and oids[i] == 0:
                # typed in this row but not in all: send its text form
                # (bytes as \x hex, which bytea reads back)
                if isinstance(vals[i], (bytes, bytearray, memoryview)):
                    vals[i] = "\\x" + bytes(vals[i]).hex()
        out.append(vals)
    return tuple(oids), out


