"""The server a benchmark script runs against: the one given, or a throwaway one.

Standard library only (peer drivers' virtualenvs import it too).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def server_dsn(dsn: str | None, announce=None) -> Iterator[str]:
    """Yield ``dsn``; without one, start a throwaway cluster (tests/pgcluster.py,
    TLS off), yield its DSN and stop it on exit.  ``announce(text)`` is told
    before the cluster starts."""
    if dsn:
        yield dsn
        return
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from pgcluster import PgCluster
    if announce is not None:
        announce("starting a throwaway PostgreSQL cluster ...")
    cluster = PgCluster().start()
    try:
        yield cluster.dsn(sslmode="disable")
    finally:
        cluster.stop()
