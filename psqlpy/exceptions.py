"""Exceptions raised by psqlpy.

The hierarchy of the psqlpy 0.13 driver is kept name for name::

    Exception
     +-- WarningError
     +-- Error
          +-- InterfaceError
          |    +-- BaseConnectionPoolError (ConnectionPoolBuildError, ...)
          |    +-- BaseConnectionError (ConnectionExecuteError, ConnectionClosedError)
          |    +-- BaseTransactionError (TransactionBeginError, ...)
          |    +-- BaseCursorError (CursorStartError, ...)
          |    +-- BaseListenerError (ListenerStartError, ...)
          |    +-- ProtocolError                       (ours)
          +-- DatabaseError
               +-- DataError (UUIDValueConvertError, MacAddrConversionError, ...)
               +-- OperationalError, IntegrityError, InternalError,
               |   ProgrammingError, NotSupportedError, SSLError
               +-- PostgresError                       (ours: every server ErrorResponse)

Ours, in addition:

* :class:`PostgresError` carries every field of the server's ErrorResponse.  There is one
  subclass per SQLSTATE class (``IntegrityConstraintViolationError`` for class 23, ...), each
  also deriving from the DB-API category (``IntegrityError`` ...), and specific subclasses for
  the codes applications catch most (:class:`UniqueViolation`, :class:`SerializationFailure`...).
* :func:`make_server_error` builds the exception for an ErrorResponse; given the class the
  reference driver raises at that point (``ConnectionExecuteError`` for a failed query, ...)
  it returns an instance of a class deriving from both, so existing ``except`` clauses keep
  working while new code can catch by SQLSTATE.
* :class:`ProtocolError` for malformed or hostile bytes from the server, and
  :class:`ConnectionLostError` for a connection that died under us.

The per-class names are ``<ClassName>Error`` with ``ClassName`` taken from PostgreSQL's
errcodes.txt (see ``psqlpy._errcodes``); a name that would clash with an existing psqlpy
class or a builtin gets a ``Postgres`` prefix (``PostgresTransactionRollbackError`` for
class 40, ``PostgresSystemError`` for 58, ``PostgresInternalError`` for XX).
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping

from psqlpy._errcodes import CLASS_NAMES, SQLSTATE_NAMES


# --------------------------------------------------------------------------------------------
# The reference driver's hierarchy
# --------------------------------------------------------------------------------------------


class WarningError(Exception):
    """Warning from the database (DB-API ``Warning``)."""


class Error(Exception):
    """Base class of every psqlpy error (DB-API ``Error``)."""


class InterfaceError(Error):
    """Error of the driver rather than of the database."""


class BaseConnectionPoolError(InterfaceError):
    """Base of connection-pool errors."""


class ConnectionPoolBuildError(BaseConnectionPoolError):
    """The pool could not be built."""


class ConnectionPoolConfigurationError(BaseConnectionPoolError):
    """Invalid pool or connection settings."""


class ConnectionPoolExecuteError(BaseConnectionPoolError):
    """A query run through the pool failed."""


class BaseConnectionError(InterfaceError):
    """Base of connection errors."""


class ConnectionExecuteError(BaseConnectionError):
    """A query on a connection failed."""


class ConnectionClosedError(BaseConnectionError):
    """The connection is closed."""


class BaseTransactionError(InterfaceError):
    """Base of transaction errors."""


class TransactionBeginError(BaseTransactionError):
    """BEGIN failed or the transaction was already started."""


class TransactionCommitError(BaseTransactionError):
    """COMMIT failed."""


class TransactionRollbackError(BaseTransactionError):
    """ROLLBACK failed."""


class TransactionSavepointError(BaseTransactionError):
    """A savepoint operation failed."""


class TransactionExecuteError(BaseTransactionError):
    """A query inside a transaction failed."""


class TransactionClosedError(BaseTransactionError):
    """The transaction is finished."""


class BaseCursorError(InterfaceError):
    """Base of cursor errors."""


class CursorStartError(BaseCursorError):
    """The cursor could not be opened."""


class CursorCloseError(BaseCursorError):
    """The cursor could not be closed."""


class CursorFetchError(BaseCursorError):
    """Fetching from the cursor failed."""


class CursorClosedError(BaseCursorError):
    """The cursor is closed."""


class BaseListenerError(InterfaceError):
    """Base of listener errors."""


class ListenerStartError(BaseListenerError):
    """The listener could not start, is already started, or is not started."""


class ListenerClosedError(BaseListenerError):
    """The listener is closed."""


class ListenerCallbackError(BaseListenerError):
    """Invalid listener callback (it must be a coroutine function)."""


class BaseReplicationError(InterfaceError):
    """Base of logical replication errors (ours, beyond the reference driver)."""


class ReplicationStartError(BaseReplicationError):
    """The replication stream could not start, is already started, or is not started."""


class ReplicationClosedError(BaseReplicationError):
    """The replication stream ended and cannot resume (connection lost with
    reconnect off, a temporary slot gone with its connection, a server error)."""


class DatabaseError(Error):
    """Error related to the database (DB-API ``DatabaseError``)."""


class DataError(DatabaseError):
    """Problem with the processed data (DB-API ``DataError``)."""


class UUIDValueConvertError(DataError):
    """A value could not be converted to or from UUID."""


class MacAddrConversionError(DataError):
    """A value could not be converted to or from a MAC address."""


class RustToPyValueMappingError(DataError):
    """A value from the database could not be converted to Python."""


class PyToRustValueMappingError(DataError):
    """A Python value could not be converted for the database."""


class OperationalError(DatabaseError):
    """Error in the database's operation (DB-API ``OperationalError``)."""


class IntegrityError(DatabaseError):
    """Relational integrity violated (DB-API ``IntegrityError``)."""


class InternalError(DatabaseError):
    """Internal database error (DB-API ``InternalError``)."""


class ProgrammingError(DatabaseError):
    """Programming error: bad SQL, missing table... (DB-API ``ProgrammingError``)."""


class NotSupportedError(DatabaseError):
    """Feature not supported by the database (DB-API ``NotSupportedError``)."""


class SSLError(DatabaseError):
    """TLS negotiation or certificate error."""


# --------------------------------------------------------------------------------------------
# Ours: protocol and connection-loss errors
# --------------------------------------------------------------------------------------------


class ProtocolError(InterfaceError):
    """The server sent bytes that break the PostgreSQL protocol.

    ``ProtocolError(message, *, offset=None, msg_type=None)``: ``offset`` is the byte offset
    in the message (or stream) where parsing failed, ``msg_type`` the one-character backend
    message type being parsed (``"D"``, ``"T"``...), each ``None`` when unknown.  After a
    protocol error the connection cannot be trusted and is closed.
    """

    offset: int | None
    msg_type: str | None

    def __init__(
        self,
        message: str = "protocol violation",
        *,
        offset: int | None = None,
        msg_type: str | bytes | int | None = None,
    ) -> None:
        if isinstance(msg_type, int):
            msg_type = chr(msg_type)
        elif isinstance(msg_type, (bytes, bytearray)):
            msg_type = bytes(msg_type).decode("latin-1")
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.msg_type = msg_type

    def __str__(self) -> str:
        extra = []
        if self.msg_type is not None:
            extra.append(f"message type {self.msg_type!r}")
        if self.offset is not None:
            extra.append(f"offset {self.offset}")
        return f"{self.message} ({', '.join(extra)})" if extra else self.message

    def __reduce__(self) -> Any:
        return (_rebuild_protocol_error, (type(self), self.message, self.offset, self.msg_type))


def _rebuild_protocol_error(cls: type, message: str, offset: Any, msg_type: Any) -> Any:
    return cls(message, offset=offset, msg_type=msg_type)


class ConnectionLostError(BaseConnectionError, OperationalError):
    """The connection to the server was lost (socket closed, reset or timed out)."""


# --------------------------------------------------------------------------------------------
# Ours: failures to connect
# --------------------------------------------------------------------------------------------


class ConnectError(BaseConnectionPoolError, ConnectionExecuteError, OperationalError):
    """A connection could not be opened (every host was tried).

    The reference driver raises :class:`BaseConnectionPoolError` for every failure to
    connect (refused port, unknown host, unknown database, wrong password, TLS failure),
    so this class derives from it, from :class:`ConnectionExecuteError` (what psqlpy
    raised before) and from the DB-API :class:`OperationalError`.  A server's refusal
    (an ErrorResponse during the startup) is raised as an instance of its SQLSTATE class
    combined with this one (``except InvalidCatalogName`` / ``InvalidPassword`` /
    ``InvalidAuthorizationSpecificationError`` work, so does ``except ConnectError``).

    ``attempts`` lists ``(where, exception)`` for every host and mode tried, in order;
    the message names each of them when there were several.  No message contains a
    password, and no password is reachable through ``__cause__`` or ``__context__``.
    """

    attempts: list

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.attempts = []


class ConnectTimeoutError(ConnectError, TimeoutError):
    """``connect_timeout`` expired on every host (also a builtin TimeoutError).

    The reference driver raises the builtin :class:`TimeoutError` here."""


class ConnectSSLError(ConnectError, SSLError):
    """TLS failed: not offered, handshake, certificate refused (also an SSLError).

    Also raised when the local TLS files cannot be used (a missing ``root.crt`` for
    ``verify-*``, a private key readable by others, ...)."""


# --------------------------------------------------------------------------------------------
# Ours: server errors (ErrorResponse)
# --------------------------------------------------------------------------------------------

#: ErrorResponse field code -> attribute name (PostgreSQL protocol, "Error and Notice
#: Message Fields").
ERROR_FIELDS: dict[str, str] = {
    "S": "severity",
    "V": "severity_nonlocalized",
    "C": "sqlstate",
    "M": "message",
    "D": "detail",
    "H": "hint",
    "P": "position",
    "p": "internal_position",
    "q": "internal_query",
    "W": "where",
    "s": "schema_name",
    "t": "table_name",
    "c": "column_name",
    "d": "data_type_name",
    "n": "constraint_name",
    "F": "source_file",
    "L": "source_line",
    "R": "source_function",
}

_INT_FIELDS = frozenset("Pp")


class PostgresError(DatabaseError):
    """An error reported by the server (ErrorResponse).

    Every field of the message is an attribute (``None`` when the server did not send it):
    ``severity`` (S), ``severity_nonlocalized`` (V), ``sqlstate`` (C), ``message`` (M),
    ``detail`` (D), ``hint`` (H), ``position`` (P, an int), ``internal_position`` (p, an
    int), ``internal_query`` (q), ``where`` (W), ``schema_name`` (s), ``table_name`` (t),
    ``column_name`` (c), ``data_type_name`` (d), ``constraint_name`` (n), ``source_file``
    (F), ``source_line`` (L), ``source_function`` (R).  ``fields`` is the raw dict keyed by
    the one-character codes; ``condition_name`` the PostgreSQL name of the SQLSTATE
    (``"unique_violation"``), ``None`` for a code PostgreSQL 15 does not know.

    ``PostgresError(fields)`` takes the field dict; ``PostgresError("text")`` is accepted
    too and makes ``{"M": "text"}``.  Use :func:`make_server_error` to get the most
    specific class.
    """

    #: SQLSTATE for the specific-code subclasses (None on class-level ones).
    sqlstate_code: str | None = None
    #: SQLSTATE class prefix for the per-class subclasses.
    sqlstate_class: str | None = None

    severity: str | None
    severity_nonlocalized: str | None
    sqlstate: str | None
    message: str | None
    detail: str | None
    hint: str | None
    position: int | None
    internal_position: int | None
    internal_query: str | None
    where: str | None
    schema_name: str | None
    table_name: str | None
    column_name: str | None
    data_type_name: str | None
    constraint_name: str | None
    source_file: str | None
    source_line: str | None
    source_function: str | None
    fields: dict[str, str]
    condition_name: str | None

    def __init__(self, fields: Mapping[str, str] | str | None = None) -> None:
        if fields is None:
            fields = {}
        elif isinstance(fields, str):
            fields = {"M": fields}
        self.fields = dict(fields)
        for code, attr in ERROR_FIELDS.items():
            value: Any = self.fields.get(code)
            if value is not None and code in _INT_FIELDS:
                try:
                    value = int(value)
                except ValueError:
                    value = None
            setattr(self, attr, value)
        self.condition_name = SQLSTATE_NAMES.get(self.sqlstate) if self.sqlstate else None
        super().__init__(self._format())

    def _format(self) -> str:
        text = self.message if self.message is not None else "server error"
        if self.sqlstate:
            text += f" (SQLSTATE {self.sqlstate})"
        if self.detail:
            text += f"\nDETAIL: {self.detail}"
        if self.hint:
            text += f"\nHINT: {self.hint}"
        return text

    def __str__(self) -> str:
        return self._format()

    def __reduce__(self) -> Any:
        context = getattr(type(self), "_psqlpy_context", None)
        if context is not None:
            return (make_server_error, (self.fields, context))
        return (type(self), (self.fields,))


# DB-API category per SQLSTATE class (psycopg's choices, with the adjustments noted).
_CATEGORY_BY_CLASS: dict[str, type[DatabaseError]] = {
    "08": OperationalError,
    "0A": NotSupportedError,
    "20": ProgrammingError,
    "21": ProgrammingError,
    "22": DataError,
    "23": IntegrityError,
    "24": InternalError,
    "25": OperationalError,  # psycopg: InternalError; in a failed transaction -> operational
    "26": InternalError,
    "27": OperationalError,
    "28": OperationalError,
    "2B": InternalError,
    "2D": InternalError,
    "2F": InternalError,
    "34": InternalError,
    "38": InternalError,
    "39": InternalError,
    "3B": InternalError,
    "3D": ProgrammingError,
    "3F": ProgrammingError,
    "40": OperationalError,
    "42": ProgrammingError,
    "44": ProgrammingError,
    "53": OperationalError,
    "54": OperationalError,
    "55": OperationalError,
    "57": OperationalError,
    "58": OperationalError,
    "F0": OperationalError,
    "HV": OperationalError,
    "P0": InternalError,
    "XX": InternalError,
}

# Classes that are not errors: a server never sends them in an ErrorResponse.
_NON_ERROR_CLASSES = frozenset({"00", "01", "02"})

#: SQLSTATE class prefix -> its PostgresError subclass.
SQLSTATE_CLASS_ERRORS: dict[str, type[PostgresError]] = {}
#: SQLSTATE code -> its specific PostgresError subclass (only the codes with one).
SQLSTATE_ERRORS: dict[str, type[PostgresError]] = {}

_class_error_names: list[str] = []


def _class_error_name(camel: str) -> str:
    name = camel if camel.endswith("Error") else camel + "Error"
    if name in globals() or hasattr(builtins, name):
        name = "Postgres" + name
    return name


for _prefix, _camel in CLASS_NAMES.items():
    if _prefix in _NON_ERROR_CLASSES:
        continue
    _name = _class_error_name(_camel)
    _category = _CATEGORY_BY_CLASS.get(_prefix, DatabaseError)
    _bases: tuple[type, ...] = (PostgresError,) if _category is DatabaseError else (PostgresError, _category)
    _cls = type(
        _name,
        _bases,
        {
            "__module__": __name__,
            "__qualname__": _name,
            "__doc__": f"Server error of SQLSTATE class {_prefix} ({_camel}).",
            "sqlstate_class": _prefix,
        },
    )
    globals()[_name] = _cls
    SQLSTATE_CLASS_ERRORS[_prefix] = _cls
    _class_error_names.append(_name)


def _specific(code: str, name: str) -> type[PostgresError]:
    base = SQLSTATE_CLASS_ERRORS[code[:2]]
    cls = type(
        name,
        (base,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"SQLSTATE {code} ({SQLSTATE_NAMES[code]}).",
            "sqlstate_code": code,
        },
    )
    SQLSTATE_ERRORS[code] = cls
    return cls


UniqueViolation = _specific("23505", "UniqueViolation")
ForeignKeyViolation = _specific("23503", "ForeignKeyViolation")
NotNullViolation = _specific("23502", "NotNullViolation")
CheckViolation = _specific("23514", "CheckViolation")
ExclusionViolation = _specific("23P01", "ExclusionViolation")
SerializationFailure = _specific("40001", "SerializationFailure")
DeadlockDetected = _specific("40P01", "DeadlockDetected")
QueryCanceled = _specific("57014", "QueryCanceled")
AdminShutdown = _specific("57P01", "AdminShutdown")
CannotConnectNow = _specific("57P03", "CannotConnectNow")
UndefinedTable = _specific("42P01", "UndefinedTable")
UndefinedColumn = _specific("42703", "UndefinedColumn")
PostgresSyntaxError = _specific("42601", "PostgresSyntaxError")
InvalidTextRepresentation = _specific("22P02", "InvalidTextRepresentation")
DivisionByZero = _specific("22012", "DivisionByZero")
NumericValueOutOfRange = _specific("22003", "NumericValueOutOfRange")
InvalidParameterValue = _specific("22023", "InvalidParameterValue")
InvalidPassword = _specific("28P01", "InvalidPassword")
InvalidAuthorizationSpecification = _specific("28000", "InvalidAuthorizationSpecification")
FeatureNotSupported = _specific("0A000", "FeatureNotSupported")
InFailedSqlTransaction = _specific("25P02", "InFailedSqlTransaction")
ProgramLimitExceeded = _specific("54000", "ProgramLimitExceeded")
ObjectInUse = _specific("55006", "ObjectInUse")
InvalidCatalogName = _specific("3D000", "InvalidCatalogName")
TooManyConnections = _specific("53300", "TooManyConnections")


def lookup_error_class(sqlstate: str | None) -> type[PostgresError]:
    """The most specific class for a SQLSTATE: the code's, its class's, else PostgresError."""
    if not sqlstate:
        return PostgresError
    return (
        SQLSTATE_ERRORS.get(sqlstate)
        or SQLSTATE_CLASS_ERRORS.get(sqlstate[:2])
        or PostgresError
    )


_combined: dict[tuple[type, type], type] = {}


def _combine(cls: type[PostgresError], context: type[Error]) -> type[PostgresError]:
    key = (cls, context)
    combined = _combined.get(key)
    if combined is None:
        combined = type(
            cls.__name__,
            (cls, context),
            {
                "__module__": __name__,
                "__qualname__": cls.__name__,
                "__doc__": cls.__doc__,
                "_psqlpy_context": context,
            },
        )
        _combined.setdefault(key, combined)
        combined = _combined[key]
    return combined


def make_server_error(
    fields: Mapping[str, str],
    context: type[Error] | None = None,
) -> PostgresError:
    """Build the exception for an ErrorResponse.

    ``fields`` maps the one-character field codes to their values (``{"C": "23505", "M":
    ..., ...}``).  The class is the most specific one for ``fields["C"]``: the code's own
    class (:class:`UniqueViolation`), else its SQLSTATE class's
    (``IntegrityConstraintViolationError``), else :class:`PostgresError`.

    With ``context`` (the class the reference driver raises at this point, e.g.
    :class:`ConnectionExecuteError`, :class:`TransactionExecuteError`,
    :class:`CursorFetchError`, :class:`ListenerStartError`,
    :class:`ConnectionPoolExecuteError`), the result's class derives from both; it is
    created once per pair and cached, and keeps the specific class's ``__name__``.
    """
    cls = lookup_error_class(fields.get("C"))
    if context is not None:
        if not (isinstance(context, type) and issubclass(context, Error)):
            raise TypeError(f"context must be a subclass of psqlpy.exceptions.Error, not {context!r}")
        if not issubclass(cls, context):
            cls = _combine(cls, context)
    return cls(fields)


__all__ = [
    "WarningError",
    "Error",
    "InterfaceError",
    "BaseConnectionPoolError",
    "ConnectionPoolBuildError",
    "ConnectionPoolConfigurationError",
    "ConnectionPoolExecuteError",
    "BaseConnectionError",
    "ConnectionExecuteError",
    "ConnectionClosedError",
    "BaseTransactionError",
    "TransactionBeginError",
    "TransactionCommitError",
    "TransactionRollbackError",
    "TransactionSavepointError",
    "TransactionExecuteError",
    "TransactionClosedError",
    "BaseCursorError",
    "CursorStartError",
    "CursorCloseError",
    "CursorFetchError",
    "CursorClosedError",
    "BaseListenerError",
    "ListenerStartError",
    "ListenerClosedError",
    "ListenerCallbackError",
    "BaseReplicationError",
    "ReplicationStartError",
    "ReplicationClosedError",
    "DatabaseError",
    "DataError",
    "UUIDValueConvertError",
    "MacAddrConversionError",
    "RustToPyValueMappingError",
    "PyToRustValueMappingError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
    "SSLError",
    "ProtocolError",
    "ConnectionLostError",
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectSSLError",
    "PostgresError",
    "ERROR_FIELDS",
    "SQLSTATE_CLASS_ERRORS",
    "SQLSTATE_ERRORS",
    "lookup_error_class",
    "make_server_error",
    *_class_error_names,
    *(cls.__name__ for cls in SQLSTATE_ERRORS.values()),
]

del _prefix, _camel, _name, _category, _bases, _cls
