"""The user-defined types a pool has met, and the codecs built for them.

A ``TypeRegistry`` belongs to a pool (every connection the pool opens shares it) or to
a connection opened with ``connect()``.  When a statement is described and some result
column has a type the static codec table does not decode, the connection asks the
registry for codecs; the registry introspects the OIDs it has not seen (one query for
the whole set and everything they are made of, see ``_introspect``), remembers the
answer for the pool's lifetime, and builds:

* enums: the label, as ``str`` (binary: the label's text);
* domains: their base type's codec (inside composites and arrays; a domain result
  column is described with its base type already);
* composites: a ``dict`` of attribute name to value, nested types decoded;
* arrays of any of these: nested lists.

Types it cannot decode in binary (extension base types, ranges for now, composites
holding one of those) get no codec: they come back as text, as before; so do the types
initdb created that the static table does not decode (``void``, ``regclass``, the system
catalogues' row types), which are never asked about.
``introspect=False`` turns all of this off (user-defined types then come back as text).
"""
from __future__ import annotations

import asyncio

from .. import protocol as _proto
from ._introspect import TypeInfo, introspect

# A pool meeting more distinct user-defined types than this (types created on the
# fly) starts over rather than growing without bound.
_MAX_TYPES = 4096

# OIDs below FirstNormalObjectId belong to types initdb created (void, regclass, xid,
# the system catalogues' row types, ...): never user-defined, and some (void, for
# pg_sleep() and pg_notify()) are common enough that asking about them would cost a
# round trip on many first queries.  They stay as the static table leaves them.
_FIRST_NORMAL_OID = 16384


class TypeRegistry:
    """User-defined types known to one pool (or one connection outside a pool)."""

    __slots__ = ("introspect", "_info", "_codecs", "_pending", "queries")

    def __init__(self, introspect: bool = True) -> None:
        self.introspect = introspect
        self._info: dict[int, TypeInfo] = {}
        self._codecs: dict[int, object] = {}
        self._pending: dict[int, asyncio.Future] = {}
        #: introspection queries sent so far (for tests and diagnostics)
        self.queries = 0

    def info(self, oid: int) -> TypeInfo | None:
        return self._info.get(oid)

    def learn(self, infos) -> None:
        """Remember ``infos`` (TypeInfos: what introspection found, or made by hand)."""
        for info in infos:
            self._info[info.oid] = info
        self._codecs.clear()        # built from the old infos

    def forget(self) -> None:
        """Drop everything learned (a type changed under a cached codec)."""
        self._info.clear()
        self._codecs.clear()

    async def column_codecs(self, pg, columns) -> tuple[tuple | None, bool]:
        """Codecs for a statement's result ``columns`` (FieldDescriptions): a
        tuple with a TypeCodec or None per column, or None when no column needs
        one; and whether ``pg`` sent an introspection query for them."""
        if not self.introspect or not columns:
            return None, False
        oids = [c.type_oid for c in columns]
        unknown = [o for o in _proto.oids_without_decoder(oids) if o >= _FIRST_NORMAL_OID]
        if not unknown:
            return None, False
        asked = await self._learn(pg, unknown)
        wanted = set(unknown)
        codecs = tuple(self.codec(o) if o in wanted else None for o in oids)
        if all(c is None for c in codecs):
            return None, asked
        return codecs, asked

    async def _learn(self, pg, oids) -> bool:
        missing = [o for o in oids if o not in self._info]
        if not missing:
            return False
        # Another connection of the pool may be asking about the same OIDs.
        waits = {id(f): f for o in missing if (f := self._pending.get(o)) is not None}
        for f in waits.values():
            try:
                await asyncio.shield(f)
            except Exception:
                pass       # that connection failed: ask ourselves below
        todo = [o for o in missing if o not in self._info]
        if not todo:
            return False
        fut = asyncio.get_running_loop().create_future()
        for o in todo:
            self._pending[o] = fut
        try:
            self.queries += 1
            infos = await introspect(pg, todo)
            if len(self._info) + len(infos) > _MAX_TYPES:
                self.forget()
            self.learn(infos.values())
        finally:
            for o in todo:
                if self._pending.get(o) is fut:
                    del self._pending[o]
            fut.set_result(None)
        return True

    def lookup(self, oid: int):
        """For a result column of type ``oid`` (not one of the table): its
        TypeCodec, None when it has none, False when never introspected (or
        introspection is off: then None)."""
        if oid in self._info:
            return self.codec(oid)
        return False if self.introspect else None

    def codec(self, oid: int):
        """The TypeCodec for ``oid``: the static table's for a built-in type, one
        built from what introspection found for others, None for a type that cannot
        be decoded in binary (its values come as text)."""
        return self._part(oid, -1)

    def _part(self, oid: int, depth: int):
        c = _proto.TypeCodec.builtin(oid)
        if c is not None:
            return c
        if oid in self._codecs:
            return self._codecs[oid]
        c = self._build(oid, depth + 1)
        self._codecs[oid] = c
        return c

    def _build(self, oid: int, depth: int):
        info = self._info.get(oid)
        if info is None or depth > 64:
            return None
        name = info.qualified_name
        if info.kind == "enum":
            return _proto.TypeCodec.text(oid, name, True)
        if info.kind == "domain":
            return self._part(info.base, depth)
        if info.kind == "composite":
            parts = [self._part(t, depth) for _, t in info.attributes]
            if any(p is None or not p.binary for p in parts):
                return None
            return _proto.TypeCodec.composite(
                oid, name, [a for a, _ in info.attributes], [t for _, t in info.attributes],
                parts)
        if info.kind == "array":
            elem = self._part(info.element, depth)
            if elem is None or not elem.binary:
                return None
            elem_info = self._info.get(info.element)
            return _proto.TypeCodec.array(oid, name, info.element, elem,
                                          elem_info.delimiter if elem_info else ",")
        return None
