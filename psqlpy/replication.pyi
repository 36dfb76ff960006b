"""Type stubs for psqlpy.replication (logical replication, ours)."""
import datetime
from types import TracebackType
from typing import Any, Iterable

from typing_extensions import Self

from .protocol import UNCHANGED_TOAST as UNCHANGED_TOAST
from .protocol import Change as Change
from .protocol import ReplicationTransaction as ReplicationTransaction
from .protocol import format_lsn as format_lsn
from .protocol import parse_lsn as parse_lsn

class SystemIdentity:
    system_id: str
    timeline: int
    xlogpos: int
    dbname: str | None
    def __init__(self, system_id: str, timeline: int, xlogpos: int, dbname: str | None) -> None: ...

class LogicalReplication:
    proto_version: int | None
    system: SystemIdentity | None
    reconnect_count: int
    def __init__(
        self,
        config: Any,
        slot_name: str,
        publications: str | Iterable[str],
        *,
        create_slot: bool = ...,
        temporary: bool = ...,
        start_lsn: int | str | None = ...,
        max_buffered: int = ...,
        status_interval: float = ...,
        reconnect: bool = ...,
        reconnect_delay: float = ...,
        max_reconnect_delay: float = ...,
    ) -> None: ...
    @property
    def slot_name(self) -> str: ...
    @property
    def publications(self) -> tuple[str, ...]: ...
    @property
    def is_started(self) -> bool: ...
    @property
    def confirmed_lsn(self) -> int: ...
    @property
    def acked_lsn(self) -> int: ...
    @property
    def received_lsn(self) -> int: ...
    @property
    def buffered(self) -> int: ...
    async def startup(self) -> None: ...
    async def shutdown(self) -> None: ...
    async def drop_slot(self) -> None: ...
    async def ack(self, tx_or_lsn: ReplicationTransaction | int | str) -> None: ...
    def __aiter__(self) -> Self: ...
    async def __anext__(self) -> ReplicationTransaction: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

__all__: list[str]
