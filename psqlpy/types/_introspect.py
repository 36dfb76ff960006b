"""What the catalogue says about type OIDs the static codec table does not know.

One query answers for a whole set of OIDs and everything they are made of (array
elements, domain base types, composite attributes, range subtypes), found with a
recursive CTE, and returns it as one JSON document.  It goes through the simple-query
protocol with the OIDs written into the text (integers we format ourselves), so it
uses no prepared statement, named or unnamed, and works behind PgBouncer in
transaction pooling mode; it only reads ``pg_catalog``, which every role may.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from . import _pgcatalog

# (OIDs are cast to int8 in the query: json renders the oid type as a string.)
# ``typtype`` -> our kind.  Arrays are base types with an element (see _kind).
_KINDS = {"b": "base", "c": "composite", "d": "domain", "e": "enum", "p": "pseudo",
          "r": "range", "m": "multirange"}


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """One row of ``pg_type``, as the codecs need it.

    ``kind``: ``base``, ``array``, ``composite``, ``domain``, ``enum``, ``range``,
    ``multirange`` or ``pseudo``; ``element``: an array's element type; ``base``: a
    domain's base type; ``attributes``: a composite's ``(name, type OID)`` pairs in
    order; ``subtype``: a range's element type; ``range``: a multirange's range type.
    """

    oid: int
    schema: str
    name: str
    kind: str
    element: int = 0
    base: int = 0
    attributes: tuple[tuple[str, int], ...] = ()
    subtype: int = 0
    range: int = 0
    delimiter: str = ","

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


def builtin_info(oid: int) -> TypeInfo | None:
    """A built-in type (pg_catalog) as the generated table has it; None for any
    other OID."""
    got = _BUILTIN.get(oid)
    if got is not None or oid not in _pgcatalog.TYPES:
        return got
    name, typtype, _cat, typelem, _arr, delim, typlen, base = _pgcatalog.TYPES[oid]
    kind = _kind(typtype, typelem, typlen)
    subtype, multi = _pgcatalog.RANGES.get(oid, (0, 0))
    rng = next((r for r, (_s, m) in _pgcatalog.RANGES.items() if m == oid), 0) \
        if kind == "multirange" else 0
    got = TypeInfo(oid=oid, schema="pg_catalog", name=name, kind=kind,
                   element=typelem if kind == "array" else 0, base=base,
                   subtype=subtype, range=rng, delimiter=delim)
    _BUILTIN[oid] = got
    return got


_BUILTIN: dict[int, TypeInfo] = {}


def _literal(s: str) -> str:
    # an E'' literal: safe whatever standard_conforming_strings says
    if "\x00" in s:
        raise ValueError("a type name cannot hold NUL")
    return "E'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def resolve_names(pg, keys) -> dict[tuple[str, str], int]:
    """``{(schema, typename): oid}`` for the types of ``keys`` that exist."""
    if not keys:
        return {}
    pairs = ", ".join(f"({_literal(s)}, {_literal(t)})" for s, t in keys)
    req = await pg.simple_query(
        "SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_array("
        "n.nspname, t.typname, t.oid::int8)), '[]') FROM pg_catalog.pg_type t "
        "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
        f"WHERE (n.nspname, t.typname) IN ({pairs})")
    rows = req.results[0][1] if req.results else []
    return {(s, t): oid for s, t, oid in json.loads(rows[0][0])} if rows else {}


def _kind(typtype: str, typelem: int, typlen: int) -> str:
    if typtype == "b" and typelem != 0 and typlen == -1:
        return "array"
    return _KINDS.get(typtype, "base")


def introspection_sql(oids, server_version: int) -> str:
    """The query for ``oids`` (ints); ``server_version`` as PgConnection has it
    (major * 10000 + minor): multiranges exist from PostgreSQL 14."""
    wanted = ",".join(str(int(o)) for o in sorted(set(oids)))
    multirange = server_version >= 140000
    dep_multirange = (
        "\n        UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r"
        " WHERE r.rngmultitypid = t.oid" if multirange else "")
    col_multirange = (
        "(SELECT r.rngtypid::int8 FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid)"
        if multirange else "NULL::int8")
    return f"""
WITH RECURSIVE wanted(oid) AS (
    SELECT o FROM pg_catalog.unnest('{{{wanted}}}'::pg_catalog.oid[]) AS o
  UNION
    SELECT d.dep FROM wanted w
    JOIN pg_catalog.pg_type t ON t.oid = w.oid
    CROSS JOIN LATERAL (
        SELECT t.typelem WHERE t.typelem <> 0
        UNION ALL SELECT t.typbasetype WHERE t.typbasetype <> 0
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
            WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0
              AND NOT a.attisdropped
        UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid{dep_multirange}
    ) AS d(dep)
)
SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_array(
    t.oid::int8, n.nspname, t.typname, t.typtype, t.typelem::int8, t.typlen, t.typdelim,
    t.typbasetype::int8,
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname, a.atttypid::int8)
                                ORDER BY a.attnum)
       FROM pg_catalog.pg_attribute a
      WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
        AND NOT a.attisdropped),
    (SELECT r.rngsubtype::int8 FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid),
    {col_multirange})), '[]')
FROM wanted w
JOIN pg_catalog.pg_type t ON t.oid = w.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
"""


def parse_result(text: str) -> dict[int, TypeInfo]:
    """The query's one value -> ``{oid: TypeInfo}``."""
    out: dict[int, TypeInfo] = {}
    for row in json.loads(text):
        (oid, schema, name, typtype, typelem, typlen, typdelim, basetype, attrs,
         subtype, multirange_of) = row
        kind = _kind(typtype, typelem, typlen)
        out[oid] = TypeInfo(
            oid=oid, schema=schema, name=name, kind=kind,
            element=typelem if kind == "array" else 0,
            base=basetype or 0,
            attributes=tuple((a, t) for a, t in (attrs or ())),
            subtype=subtype or 0,
            range=multirange_of or 0,
            delimiter=typdelim or ",",
        )
    return out


async def introspect(pg, oids) -> dict[int, TypeInfo]:
    """Ask the server about ``oids`` (and their parts) over ``pg`` (a PgConnection)."""
    req = await pg.simple_query(introspection_sql(oids, pg.server_version))
    results = req.results
    if not results or not results[0][1]:
        return {}
    return parse_result(results[0][1][0][0])
