from . import exceptions as exceptions
from . import extra_types as extra_types
from . import protocol as protocol
from . import row_factories as row_factories
from . import types as types
from ._enums import ConnRecyclingMethod as ConnRecyclingMethod
from ._enums import IsolationLevel as IsolationLevel
from ._enums import KeepaliveConfig as KeepaliveConfig
from ._enums import LoadBalanceHosts as LoadBalanceHosts
from ._enums import ReadVariant as ReadVariant
from ._enums import SslMode as SslMode
from ._enums import TargetSessionAttrs as TargetSessionAttrs
from ._record import Record as Record
from ._results import QueryResult as QueryResult
from ._results import SingleQueryResult as SingleQueryResult
from .connection import Connection as Connection
from .cursor import Cursor as Cursor
from .exceptions import Error as Error
from .listener import Listener as Listener
from .listener import ListenerGap as ListenerGap
from .pool import ConnectionPool as ConnectionPool
from .pool import ConnectionPoolStatus as ConnectionPoolStatus
from .pool import connect as connect
from .pool import connect_pool as connect_pool
from .pool_builder import ConnectionPoolBuilder as ConnectionPoolBuilder
from .prepared import Column as Column
from .prepared import PreparedStatement as PreparedStatement
from .protocol import ListenerNotificationMsg as ListenerNotificationMsg
from .protocol import Range as Range
from .replication import UNCHANGED_TOAST as UNCHANGED_TOAST
from .replication import Change as Change
from .replication import LogicalReplication as LogicalReplication
from .replication import ReplicationTransaction as ReplicationTransaction
from .transaction import Transaction as Transaction

__version__: str
__all__: list[str]
