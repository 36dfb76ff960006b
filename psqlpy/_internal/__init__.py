"""The reference driver's compiled-module path, ``psqlpy._internal``.

Code written for the reference driver (its own test suite among it) imports names from
here; each is an alias of ours. ``tests/test_internal_names.py`` checks the list against
the reference's stubs.
"""
from collections.abc import Mapping, Sequence
from typing import Any, Union

from psqlpy._enums import (
    ConnRecyclingMethod,
    IsolationLevel,
    KeepaliveConfig,
    LoadBalanceHosts,
    ReadVariant,
    SslMode,
    TargetSessionAttrs,
)
from psqlpy._record import Record
from psqlpy._results import QueryResult, SingleQueryResult
from psqlpy.connection import Connection
from psqlpy.cursor import Cursor
from psqlpy.listener import Listener
from psqlpy.pool import ConnectionPool, ConnectionPoolStatus, connect, connect_pool
from psqlpy.pool_builder import ConnectionPoolBuilder
from psqlpy.prepared import Column, PreparedStatement
from psqlpy.protocol import ListenerNotificationMsg
from psqlpy.transaction import Transaction

from . import exceptions, extra_types, row_factories

ParamsT = Union[Sequence[Any], Mapping[str, Any], None]

__all__ = [
    "Column", "ConnRecyclingMethod", "Connection", "ConnectionPool", "ConnectionPoolBuilder",
    "ConnectionPoolStatus", "Cursor", "IsolationLevel", "KeepaliveConfig", "Listener",
    "ListenerNotificationMsg", "LoadBalanceHosts", "ParamsT", "PreparedStatement",
    "QueryResult", "ReadVariant", "Record", "SingleQueryResult", "SslMode",
    "TargetSessionAttrs", "Transaction", "connect", "connect_pool", "exceptions",
    "extra_types", "row_factories",
]
