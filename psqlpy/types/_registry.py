"""What a pool knows about types, and the codecs it builds from that.

``TypeRegistry`` belongs to a pool (every connection the pool opens shares it) or to a
connection opened with ``connect()``.  It holds:

* what the catalogue says about types: the built-in ones from a table generated from
  PostgreSQL's sources (``_pgcatalog.py``: no query), the others introspected once, when
  a statement first meets them (one query for the whole set and everything they are made
  of, see ``_introspect``), and remembered for the pool's lifetime;
* the codecs the application registered on the pool (``set_type_codec``).

Each connection has a ``ConnectionTypes`` over it, with the codecs registered on that
connection alone, the registrations resolved to OIDs for that connection (when first
needed after a change), and the codecs built with them.  From the catalogue it builds:

* enums: the label, as ``str`` (binary: the label's text);
* domains: their base type's codec;
* composites: a ``dict`` of attribute name to value, nested types decoded;
* ranges and multiranges of any subtype: ``psqlpy.Range`` and lists of them;
* ``hstore`` (dict) and pgvector's ``vector`` (list of float), found by name;
* arrays of any of these;
* a registered codec wins over all of these and over the built-in ones, also inside
  arrays and composites.

Types it cannot decode (extension base types, composites holding one) get no codec:
they come back as text.  ``introspect=False`` turns introspection off: user-defined types
then come back as text too (registered codecs still apply).
"""
from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from .. import protocol as _proto
from ._introspect import TypeInfo, builtin_info, introspect, resolve_names

# A pool meeting more distinct user-defined types than this (types created on the
# fly) starts over rather than growing without bound.
_MAX_TYPES = 4096


@dataclass(frozen=True)
class CodecSpec:
    """A codec registered with ``set_type_codec``."""
    schema: str
    typename: str
    encoder: Callable[[Any], Any] | None
    decoder: Callable[[Any], Any] | None
    format: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.typename)


_FORMATS = ("text", "binary", "tuple", "dict")


def make_spec(typename, schema, encoder, decoder, format) -> CodecSpec:
    if not isinstance(typename, str) or not typename or not isinstance(schema, str) or not schema:
        raise TypeError("typename and schema must be non-empty str")
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {format!r}")
    if encoder is None and decoder is None:
        raise TypeError("set_type_codec needs an encoder or a decoder (or both)")
    for f, what in ((encoder, "encoder"), (decoder, "decoder")):
        if f is not None and not callable(f):
            raise TypeError(f"{what} must be callable")
    return CodecSpec(schema, typename, encoder, decoder, format)


class TypeRegistry:
    """Types known to one pool (or one connection outside a pool)."""

    __slots__ = ("introspect", "_info", "_codecs", "_pending", "queries", "_specs",
                 "generation", "_views", "__weakref__")

    def __init__(self, introspect: bool = True) -> None:
        self.introspect = introspect
        self._info: dict[int, TypeInfo] = {}
        self._codecs: dict[int, Any] = {}           # built without overrides
        self._pending: dict[int, asyncio.Future] = {}
        #: introspection queries sent so far (for tests and diagnostics)
        self.queries = 0
        self._specs: dict[tuple[str, str], CodecSpec] = {}
        #: bumped at every registration: connections resolve them again
        self.generation = 0
        self._views: weakref.WeakSet = weakref.WeakSet()

    # ---- the catalogue -------------------------------------------------------

    def info(self, oid: int) -> TypeInfo | None:
        """What is known of type ``oid`` (None: nothing yet)."""
        got = self._info.get(oid)
        return got if got is not None else builtin_info(oid)

    def learn(self, infos) -> None:
        """Remember ``infos`` (TypeInfos: what introspection found, or made by hand).
        Learning more leaves every codec built so far valid; relearning a known
        OID differently drops them."""
        changed = False
        for info in infos:
            old = self._info.get(info.oid)
            if old is not None and old != info:
                changed = True
            self._info[info.oid] = info
        if changed:
            self._codecs.clear()
            for view in list(self._views):
                view.types_changed()

    def forget(self) -> None:
        """Drop everything learned (a type changed under a cached codec)."""
        self._info.clear()
        self._codecs.clear()
        for view in list(self._views):
            view.types_changed()

    async def ensure(self, pg, oids) -> bool:
        """Learn the OIDs of ``oids`` nothing is known of; whether ``pg`` sent a
        query for them."""
        if not self.introspect:
            return False
        missing = [o for o in oids if o not in self._info and builtin_info(o) is None]
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

    # ---- registrations -------------------------------------------------------

    def register(self, spec: CodecSpec) -> None:
        """A codec for every connection of the pool (resolved by each when needed)."""
        self._specs[spec.key] = spec
        self.generation += 1
        for view in list(self._views):
            view.types_changed()

    @property
    def specs(self) -> dict[tuple[str, str], CodecSpec]:
        return dict(self._specs)

    # ---- codecs --------------------------------------------------------------

    def codec(self, oid: int):
        """The codec for ``oid`` without registered codecs (see ConnectionTypes)."""
        return _build(self, oid, {}, self._codecs, 0)

    def lookup(self, oid: int):
        """For a text result column of type ``oid``: its codec, None when it has
        none, False when never introspected (introspection off: None)."""
        if oid in self._info or builtin_info(oid) is not None:
            return self.codec(oid)
        return False if self.introspect else None


def _build(reg: TypeRegistry, oid: int, overrides: dict, memo: dict, depth: int):
    """The codec for ``oid``: a registered one, one built from the catalogue, the
    table's, or None (values come as text)."""
    try:
        return memo[oid]
    except KeyError:
        pass
    if depth > 64:
        return None
    c = overrides.get(oid)
    if c is None:
        c = _from_catalogue(reg, oid, overrides, memo, depth)
    memo[oid] = c
    return c


def _from_catalogue(reg, oid, overrides, memo, depth):
    info = reg.info(oid)
    builtin = _proto.TypeCodec.builtin(oid)
    if info is None:
        return builtin
    name = info.qualified_name
    kind = info.kind
    if kind == "array":
        elem = _build(reg, info.element, overrides, memo, depth + 1)
        if elem is None:
            return None
        if builtin is not None and elem is _proto.TypeCodec.builtin(info.element):
            return builtin                     # the table's array codec
        elem_info = reg.info(info.element)
        delim = elem_info.delimiter if elem_info is not None else ","
        if elem.binary:
            return _proto.TypeCodec.array(oid, name, info.element, elem, delim)
        return _proto.TypeCodec.text_array(oid, name, info.element, elem, delim)
    if builtin is not None:
        return builtin
    if kind == "enum":
        return _proto.TypeCodec.text(oid, name, True)
    if kind == "domain":
        return _build(reg, info.base, overrides, memo, depth + 1)
    if kind == "composite":
        parts = [_build(reg, t, overrides, memo, depth + 1) for _, t in info.attributes]
        if any(p is None for p in parts):
            return None
        return _proto.TypeCodec.composite(
            oid, name, [a for a, _ in info.attributes], [t for _, t in info.attributes], parts)
    if kind == "range":
        sub = _build(reg, info.subtype, overrides, memo, depth + 1)
        if sub is None or not sub.binary:
            return None
        return _proto.TypeCodec.range(oid, name, sub)
    if kind == "multirange":
        rng = reg.info(info.range)
        sub = _build(reg, rng.subtype, overrides, memo, depth + 1) if rng else None
        if sub is None or not sub.binary:
            return None
        return _proto.TypeCodec.multirange(oid, name, sub)
    if kind == "base" and info.name == "hstore":
        return _proto.TypeCodec.hstore(oid, name)
    if kind == "base" and info.name == "vector":
        return _proto.TypeCodec.vector(oid, name)
    return None


class ConnectionTypes:
    """The types of one connection: its pool's registry, with the codecs registered
    on the connection itself and every registration resolved to OIDs for it."""

    __slots__ = ("registry", "_specs", "_overrides", "_resolved", "_memo", "_on_change",
                 "__weakref__")

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else TypeRegistry()
        self._specs: dict[tuple[str, str], CodecSpec] = {}
        self._overrides: dict[int, Any] = {}
        self._resolved = -1          # the registry generation the overrides are for
        self._memo: dict[int, Any] = {}
        self._on_change: Callable[[], None] | None = None
        self.registry._views.add(self)

    def on_change(self, callback: Callable[[], None]) -> None:
        """``callback()`` when codecs change (the connection drops its statements)."""
        self._on_change = callback

    def types_changed(self) -> None:
        self._memo.clear()
        if self._on_change is not None:
            self._on_change()

    @property
    def introspect(self) -> bool:
        return self.registry.introspect

    def info(self, oid: int) -> TypeInfo | None:
        return self.registry.info(oid)

    def forget(self) -> None:
        self.registry.forget()

    async def register(self, pg, spec: CodecSpec) -> None:
        """A codec for this connection alone; checked now (an unknown type name,
        or a format the type cannot have, fails here and registers nothing)."""
        await self.check(pg, spec)
        self._specs[spec.key] = spec
        self._resolved = -1
        self.types_changed()
        await self._sync(pg)

    def codec(self, oid: int):
        if not self._overrides:
            return self.registry.codec(oid)
        return _build(self.registry, oid, self._overrides, self._memo, 0)

    def lookup(self, oid: int):
        """As TypeRegistry.lookup, registered codecs included."""
        if oid in self._overrides:
            return self._overrides[oid]
        if self.registry.info(oid) is not None:
            return self.codec(oid)
        return False if self.registry.introspect else None

    async def _sync(self, pg) -> bool:
        """Resolve the registrations (pool's and ours) if they changed; whether
        a query was sent."""
        if self._resolved == self.registry.generation:
            return False
        specs = {**self.registry.specs, **self._specs}
        asked = False
        overrides: dict[int, Any] = {}
        if specs:
            # (a type dropped since it was registered is left out, not an error
            # for every query)
            resolved = await self._resolve(pg, list(specs.values()), strict=False)
            asked = True
            asked = await self.registry.ensure(pg, list(resolved)) or asked
            # the plain ones first: a composite's (tuple / dict formats) is built
            # over its attributes' codecs, registered ones included
            for oid, spec in resolved.items():
                if spec.format in ("text", "binary"):
                    overrides[oid] = _override(self.registry, oid, spec, overrides)
            for oid, spec in resolved.items():
                if spec.format not in ("text", "binary"):
                    overrides[oid] = _override(self.registry, oid, spec, overrides)
        self._overrides = overrides
        self._memo.clear()
        self._resolved = self.registry.generation
        return asked

    async def _resolve(self, pg, specs, strict: bool = True) -> dict[int, CodecSpec]:
        found = await resolve_names(pg, [s.key for s in specs])
        out = {}
        for s in specs:
            oid = found.get(s.key)
            if oid is None:
                if not strict:
                    continue
                from ..exceptions import ProgrammingError
                raise ProgrammingError(f"set_type_codec: no type {s.schema}.{s.typename}")
            out[oid] = s
        return out

    async def check(self, pg, spec: CodecSpec) -> None:
        """Raise unless ``spec`` can be registered as seen from ``pg``: its type
        exists (ProgrammingError) and can have its format (TypeError)."""
        resolved = await self._resolve(pg, [spec])
        await self.registry.ensure(pg, list(resolved))
        for oid in resolved:
            _override(self.registry, oid, spec, dict(self._overrides))

    async def describe(self, pg, param_oids, columns):
        """For a described statement: (column codecs or None, parameter codecs or
        None, column TypeInfos, parameter TypeInfos, whether ``pg`` sent a query)."""
        asked = await self._sync(pg)
        col_oids = [c.type_oid for c in columns]
        oids = [o for o in dict.fromkeys([*col_oids, *param_oids])
                if o not in self._overrides]
        asked = await self.registry.ensure(pg, oids) or asked
        col_codecs = [self._column_codec(o) for o in col_oids]
        par_codecs = [self._param_codec(o) for o in param_oids]
        return (tuple(col_codecs) if any(c is not None for c in col_codecs) else None,
                tuple(par_codecs) if any(c is not None for c in par_codecs) else None,
                tuple(self.registry.info(o) for o in col_oids),
                tuple(self.registry.info(o) for o in param_oids),
                asked)

    async def learn_columns(self, pg, columns) -> bool:
        """Introspect what a text result's columns need (unprepared queries)."""
        asked = await self._sync(pg)
        return await self.registry.ensure(pg, [c.type_oid for c in columns]) or asked

    def _column_codec(self, oid: int):
        # None where the table's own decoder does the same (the fast path)
        c = self.codec(oid)
        if c is None or c is _proto.TypeCodec.builtin(oid):
            return None
        return c

    def _param_codec(self, oid: int):
        c = self.codec(oid)
        if c is None or c is _proto.TypeCodec.builtin(oid):
            return None
        return c


def _override(reg: TypeRegistry, oid: int, spec: CodecSpec, overrides: dict):
    base = None
    if spec.format in ("tuple", "dict"):
        info = reg.info(oid)
        if info is None or info.kind != "composite":
            raise TypeError(f"format {spec.format!r} is for composite types; "
                            f"{spec.schema}.{spec.typename} is not one")
        base = _build(reg, oid, {k: v for k, v in overrides.items() if k != oid}, {}, 0)
        if base is None:
            raise TypeError(f"{spec.schema}.{spec.typename} cannot be decoded in binary")
    # a missing side passes the format's value through (str, bytes, tuple, dict)
    dec = spec.decoder if spec.decoder is not None else _identity
    enc = spec.encoder if spec.encoder is not None else _identity
    info = reg.info(oid)
    # an enum's (and text's) binary form is its text: a text codec works in binary too
    text_is_binary = (info is not None and info.kind == "enum") or _proto.text_is_binary(oid)
    return _proto.TypeCodec.python(oid, f"{spec.schema}.{spec.typename}", dec, enc,
                                   spec.format, base, text_is_binary)


def _identity(v):
    return v
