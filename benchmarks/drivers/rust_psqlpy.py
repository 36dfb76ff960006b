"""The psqlpy wheel from PyPI (Rust core over tokio-postgres): the API ours copies.

It has the same package name as ours, so it only ever runs from its own
virtualenv (``.bench-venvs/rust_psqlpy``).  Because the APIs are the same, the
adapter is ours with the few differences overridden.
"""
from __future__ import annotations

from . import NotAvailable
from .base import BaseDriver
from .ours import Driver as _OursDriver


class Driver(_OursDriver):
    name = "rust_psqlpy"
    distributions = ("psqlpy",)
    versions = BaseDriver.versions

    async def close(self):
        self.conn.close()

    # what 0.13.1 cannot decode / encode (it raises, or panics for an open path)
    _NO_RANGES = {"int4range": "no range types", "tstzrange": "no range types",
                  "int4multirange": "no multirange types",
                  "hstore": "Cannot convert hstore into Python type"}
    _NO_DECODE = {"numeric_big": "Cannot convert PostgreSQL type numeric into Python",
                  "cidr": "Cannot convert cidr into Python type", "polygon": "no polygon type",
                  **_NO_RANGES}
    _NO_ENCODE = {"numeric_big": "Cannot convert python Decimal into rust Decimal",
                  "cidr": "cannot convert an ip_network into cidr",
                  "polygon": "no polygon type", "path": "panics on some paths",
                  "composite": "no composite parameters", **_NO_RANGES}

    def type_value(self, case, v):
        if case.name in self._NO_DECODE:
            raise NotAvailable(self._NO_DECODE[case.name])
        if case.name == "uuid":
            import uuid
            return uuid.UUID(v)
        return v

    def type_param(self, case, v):
        from psqlpy import extra_types as et
        if case.name in self._NO_ENCODE:
            raise NotAvailable(self._NO_ENCODE[case.name])
        if case.name == "circle":
            return et.Circle((v[0][0], v[0][1], v[1]))     # it takes (x, y, r)
        wrap = {"point": et.Point, "box": et.Box, "lseg": et.LineSegment, "line": et.Line,
                "macaddr": et.MacAddr6, "json": et.JSON, "jsonb": et.JSONB}
        return wrap[case.name](v) if case.name in wrap else v

    def _listener(self, pool, max_buffered):
        # No max_buffered: its listener forwards through an unbounded channel.
        return pool.listener()
