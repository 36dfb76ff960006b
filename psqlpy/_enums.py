"""Enums of the psqlpy API; values are the SQL / libpq spellings."""
from __future__ import annotations

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
    """TCP keepalive settings: seconds idle before probing, between probes,
    and probes before the connection is declared dead."""
    __slots__ = ("idle", "interval", "retries")

    def __init__(self, idle: int, interval: int | None = None, retries: int | None = None):
        self.idle = idle
        self.interval = interval
        self.retries = retries

    def __repr__(self) -> str:
        return f"KeepaliveConfig(idle={self.idle}, interval={self.interval}, retries={self.retries})"
