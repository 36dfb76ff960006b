from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Callable, Literal, Sequence

from typing_extensions import Self

from ._enums import ConnRecyclingMethod, LoadBalanceHosts, SslMode, TargetSessionAttrs
from .connection import Connection
from .listener import Listener
from .replication import LogicalReplication
from .types import TypeRegistry

class ConnectionPoolStatus:
    max_size: int
    size: int
    available: int
    waiting: int
    def __init__(self, max_size: int, size: int, available: int, waiting: int) -> None: ...

class ConnectionPool:
    def __init__(
        self,
        dsn: str | None = ...,
        username: str | None = ...,
        password: str | None = ...,
        host: str | None = ...,
        hosts: Sequence[str] | str | None = ...,
        port: int | None = ...,
        ports: Sequence[int] | str | None = ...,
        db_name: str | None = ...,
        target_session_attrs: TargetSessionAttrs | str | None = ...,
        options: str | None = ...,
        application_name: str | None = ...,
        connect_timeout_sec: float | None = ...,
        connect_timeout_nanosec: int | None = ...,
        tcp_user_timeout_sec: float | None = ...,
        tcp_user_timeout_nanosec: int | None = ...,
        keepalives: bool | None = ...,
        keepalives_idle_sec: float | None = ...,
        keepalives_idle_nanosec: int | None = ...,
        keepalives_interval_sec: float | None = ...,
        keepalives_interval_nanosec: int | None = ...,
        keepalives_retries: int | None = ...,
        load_balance_hosts: LoadBalanceHosts | str | None = ...,
        max_db_pool_size: int | None = ...,
        conn_recycling_method: ConnRecyclingMethod | None = ...,
        ssl_mode: SslMode | str | None = ...,
        ca_file: str | None = ...,
        statement_cache_size: int | None = ...,
        introspect_types: bool = ...,
    ) -> None: ...
    @property
    def config(self) -> Any: ...
    @property
    def types(self) -> TypeRegistry: ...
    async def set_type_codec(self, typename: str, *, schema: str = ...,
                             encoder: Callable[[Any], Any] | None = ...,
                             decoder: Callable[[Any], Any] | None = ...,
                             format: Literal["text", "binary", "tuple", "dict"] = ...) -> None: ...
    @property
    def closed(self) -> bool: ...
    async def connection(self) -> Connection: ...
    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...
    def status(self) -> ConnectionPoolStatus: ...
    def resize(self, new_max_size: int) -> None: ...
    def listener(self, **kwargs: Any) -> Listener: ...
    def replication(
        self,
        slot_name: str,
        publications: str | Sequence[str],
        *,
        create_slot: bool = ...,
        temporary: bool = ...,
        start_lsn: int | str | None = ...,
        max_buffered: int = ...,
        status_interval: float = ...,
        reconnect: bool = ...,
        reconnect_delay: float = ...,
        max_reconnect_delay: float = ...,
    ) -> LogicalReplication: ...
    def close(self) -> None: ...
    async def wait_closed(self, timeout: float = ...) -> None: ...
    def __iter__(self) -> Self: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

def connect_pool(
    dsn: str | None = ..., username: str | None = ..., password: str | None = ...,
    host: str | None = ..., hosts: Sequence[str] | str | None = ..., port: int | None = ...,
    ports: Sequence[int] | str | None = ..., db_name: str | None = ...,
    target_session_attrs: TargetSessionAttrs | str | None = ..., options: str | None = ...,
    application_name: str | None = ..., connect_timeout_sec: float | None = ...,
    connect_timeout_nanosec: int | None = ..., tcp_user_timeout_sec: float | None = ...,
    tcp_user_timeout_nanosec: int | None = ..., keepalives: bool | None = ...,
    keepalives_idle_sec: float | None = ..., keepalives_idle_nanosec: int | None = ...,
    keepalives_interval_sec: float | None = ..., keepalives_interval_nanosec: int | None = ...,
    keepalives_retries: int | None = ..., load_balance_hosts: LoadBalanceHosts | str | None = ...,
    max_db_pool_size: int | None = ..., conn_recycling_method: ConnRecyclingMethod | None = ...,
    ssl_mode: SslMode | str | None = ..., ca_file: str | None = ...,
    statement_cache_size: int | None = ..., introspect_types: bool = ...,
) -> ConnectionPool: ...
async def connect(
    dsn: str | None = ..., username: str | None = ..., password: str | None = ...,
    host: str | None = ..., hosts: Sequence[str] | str | None = ..., port: int | None = ...,
    ports: Sequence[int] | str | None = ..., db_name: str | None = ...,
    target_session_attrs: TargetSessionAttrs | str | None = ..., options: str | None = ...,
    application_name: str | None = ..., connect_timeout_sec: float | None = ...,
    connect_timeout_nanosec: int | None = ..., tcp_user_timeout_sec: float | None = ...,
    tcp_user_timeout_nanosec: int | None = ..., keepalives: bool | None = ...,
    keepalives_idle_sec: float | None = ..., keepalives_idle_nanosec: int | None = ...,
    keepalives_interval_sec: float | None = ..., keepalives_interval_nanosec: int | None = ...,
    keepalives_retries: int | None = ..., load_balance_hosts: LoadBalanceHosts | str | None = ...,
    ssl_mode: SslMode | str | None = ..., ca_file: str | None = ...,
    statement_cache_size: int | None = ..., introspect_types: bool = ...,
) -> Connection: ...
