"""Fixtures every library's scenarios share (stdlib and pytest only: this file
runs in each library's venv)."""

from __future__ import annotations

import os
import urllib.parse

import pytest


@pytest.fixture(scope="session")
def dsn() -> str:
    """``postgresql://...`` of a database that belongs to this library's run."""
    value = os.environ.get("CLIENT_DSN")
    if not value:
        pytest.exit("CLIENT_DSN is not set: run these through compat/clients/run.py (make test-clients)", 2)
    return value


@pytest.fixture(scope="session")
def dsn_parts(dsn: str) -> dict:
    """The DSN's host, port, user, password and database, for libraries that take them apart."""
    u = urllib.parse.urlsplit(dsn)
    return {
        "host": u.hostname,
        "port": u.port or 5432,
        "user": urllib.parse.unquote(u.username or "postgres"),
        "password": urllib.parse.unquote(u.password) if u.password else None,
        "database": urllib.parse.unquote(u.path.lstrip("/")),
    }
