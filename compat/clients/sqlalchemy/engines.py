"""Engines as the scenarios make them."""

from __future__ import annotations

from sqlalchemy import URL
from sqlalchemy.ext.asyncio import create_async_engine


def make_engine(url: URL, **kwargs):
    # The driver encodes and decodes json/jsonb itself (dicts and lists both ways)
    # and psqlpy-sqlalchemy leaves SQLAlchemy's own JSON processing on, so users
    # hand SQLAlchemy identity functions: on the reference driver JSON columns
    # work only so (it refuses JSON text for a jsonb parameter).
    return create_async_engine(url, json_serializer=_same, json_deserializer=_same, **kwargs)


def _same(value):
    return value
