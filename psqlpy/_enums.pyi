import enum

class IsolationLevel(enum.Enum):
    ReadUncommitted = "READ UNCOMMITTED"
    ReadCommitted = "READ COMMITTED"
    RepeatableRead = "REPEATABLE READ"
    Serializable = "SERIALIZABLE"

class ReadVariant(enum.Enum):
    ReadOnly = "READ ONLY"
    ReadWrite = "READ WRITE"

class ConnRecyclingMethod(enum.Enum):
    Fast = "fast"
    Verified = "verified"
    Clean = "clean"

class LoadBalanceHosts(enum.Enum):
    Disable = "disable"
    Random = "random"

class TargetSessionAttrs(enum.Enum):
    Any = "any"
    ReadWrite = "read-write"
    ReadOnly = "read-only"

class SslMode(enum.Enum):
    Disable = "disable"
    Allow = "allow"
    Prefer = "prefer"
    Require = "require"
    VerifyCa = "verify-ca"
    VerifyFull = "verify-full"

class KeepaliveConfig:
    idle: int
    interval: int | None
    retries: int | None
    def __init__(self, idle: int, interval: int | None = ..., retries: int | None = ...) -> None: ...
