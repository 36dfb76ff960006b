"""The psqlpy wheel from PyPI (Rust core over tokio-postgres): the API ours copies.

It has the same package name as ours, so it only ever runs from its own
virtualenv (``.bench-venvs/rust_psqlpy``).  Because the APIs are the same, the
adapter is ours with the few differences overridden.
"""
from __future__ import annotations

from .base import BaseDriver
from .ours import Driver as _OursDriver


class Driver(_OursDriver):
    name = "rust_psqlpy"
    distributions = ("psqlpy",)
    versions = BaseDriver.versions

    async def close(self):
        self.conn.close()

    def _listener(self, pool, max_buffered):
        # No max_buffered: its listener forwards through an unbounded channel.
        return pool.listener()
