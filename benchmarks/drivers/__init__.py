"""One adapter per driver: the same operations, each in the driver's own idiom.

``worker.py`` imports exactly one of these, inside that driver's virtualenv, so
an adapter may import only its own driver (plus ``asyncpg``, the common NOTIFY
sender, when present) and the standard library.
"""
from __future__ import annotations

import importlib


class NotAvailable(Exception):
    """The driver cannot do this workload; the message says why."""


MODULES = {
    "ours": "drivers.ours",
    "asyncpg": "drivers.asyncpg_driver",
    "psycopg": "drivers.psycopg_driver",
    "rust_psqlpy": "drivers.rust_psqlpy",
}


def load(name: str):
    """Return the adapter class of driver ``name``."""
    if name not in MODULES:
        raise SystemExit(f"unknown driver {name!r}; known: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[name]).Driver
