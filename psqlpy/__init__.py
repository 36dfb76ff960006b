"""psqlpy: an asyncio PostgreSQL driver with a Cython protocol core.

The public API follows the psqlpy driver's (release 0.13); see README.md.
"""
from . import exceptions, extra_types, row_factories
from . import protocol
from ._enums import (
    ConnRecyclingMethod,
    IsolationLevel,
    KeepaliveConfig,
    LoadBalanceHosts,
    ReadVariant,
    SslMode,
    TargetSessionAttrs,
)
from ._record import Record
from ._results import QueryResult, SingleQueryResult
from .connection import Connection
from .cursor import Cursor
from .exceptions import Error
from .listener import Listener, ListenerGap
from .pool import ConnectionPool, ConnectionPoolStatus, connect, connect_pool
from .pool_builder import ConnectionPoolBuilder
from .prepared import Column, PreparedStatement
from .protocol import ListenerNotificationMsg, Range
from .replication import (
    UNCHANGED_TOAST,
    Change,
    LogicalReplication,
    ReplicationTransaction,
)
from .transaction import Transaction

__version__ = "0.13.0"

__all__ = [
    "Column", "ConnRecyclingMethod", "Connection", "ConnectionPool", "ConnectionPoolBuilder",
    "ConnectionPoolStatus", "Cursor", "Error", "Change", "LogicalReplication",
    "ReplicationTransaction", "UNCHANGED_TOAST", "IsolationLevel", "KeepaliveConfig", "Listener",
    "ListenerGap", "ListenerNotificationMsg", "LoadBalanceHosts", "PreparedStatement",
    "QueryResult", "Range", "ReadVariant", "Record", "SingleQueryResult", "SslMode",
    "TargetSessionAttrs", "Transaction", "connect", "connect_pool", "exceptions",
    "extra_types", "protocol", "row_factories",
]
