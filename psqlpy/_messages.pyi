"""Type stubs for the typed backend messages (built by a factory at run time)."""
from typing import Any

class BackendMessage:
    type_code: bytes

class AuthenticationOk(BackendMessage):
    def __init__(self) -> None: ...

class AuthenticationCleartextPassword(BackendMessage):
    def __init__(self) -> None: ...

class AuthenticationMD5Password(BackendMessage):
    salt: Any
    def __init__(self, salt: Any) -> None: ...

class AuthenticationSASL(BackendMessage):
    mechanisms: Any
    def __init__(self, mechanisms: Any) -> None: ...

class AuthenticationSASLContinue(BackendMessage):
    data: Any
    def __init__(self, data: Any) -> None: ...

class AuthenticationSASLFinal(BackendMessage):
    data: Any
    def __init__(self, data: Any) -> None: ...

class BackendKeyData(BackendMessage):
    process_id: Any
    secret_key: Any
    def __init__(self, process_id: Any, secret_key: Any) -> None: ...

class ParameterStatus(BackendMessage):
    name: Any
    value: Any
    def __init__(self, name: Any, value: Any) -> None: ...

class ReadyForQuery(BackendMessage):
    status: Any
    def __init__(self, status: Any) -> None: ...

class FieldDescription(BackendMessage):
    name: Any
    table_oid: Any
    column_attr: Any
    type_oid: Any
    type_size: Any
    type_modifier: Any
    format: Any
    def __init__(self, name: Any, table_oid: Any, column_attr: Any, type_oid: Any, type_size: Any, type_modifier: Any, format: Any) -> None: ...

class RowDescription(BackendMessage):
    fields: Any
    def __init__(self, fields: Any) -> None: ...

class DataRow(BackendMessage):
    values: Any
    def __init__(self, values: Any) -> None: ...

class CommandComplete(BackendMessage):
    tag: Any
    def __init__(self, tag: Any) -> None: ...

class EmptyQueryResponse(BackendMessage):
    def __init__(self) -> None: ...

class ErrorResponse(BackendMessage):
    fields: Any
    def __init__(self, fields: Any) -> None: ...

class NoticeResponse(BackendMessage):
    fields: Any
    def __init__(self, fields: Any) -> None: ...

class NotificationResponse(BackendMessage):
    process_id: Any
    channel: Any
    payload: Any
    def __init__(self, process_id: Any, channel: Any, payload: Any) -> None: ...

class ParseComplete(BackendMessage):
    def __init__(self) -> None: ...

class BindComplete(BackendMessage):
    def __init__(self) -> None: ...

class CloseComplete(BackendMessage):
    def __init__(self) -> None: ...

class ParameterDescription(BackendMessage):
    type_oids: Any
    def __init__(self, type_oids: Any) -> None: ...

class NoData(BackendMessage):
    def __init__(self) -> None: ...

class PortalSuspended(BackendMessage):
    def __init__(self) -> None: ...

class CopyInResponse(BackendMessage):
    format: Any
    column_formats: Any
    def __init__(self, format: Any, column_formats: Any) -> None: ...

class CopyOutResponse(BackendMessage):
    format: Any
    column_formats: Any
    def __init__(self, format: Any, column_formats: Any) -> None: ...

class CopyBothResponse(BackendMessage):
    format: Any
    column_formats: Any
    def __init__(self, format: Any, column_formats: Any) -> None: ...

class CopyData(BackendMessage):
    data: Any
    def __init__(self, data: Any) -> None: ...

class CopyDone(BackendMessage):
    def __init__(self) -> None: ...

class NegotiateProtocolVersion(BackendMessage):
    minor_version: Any
    options: Any
    def __init__(self, minor_version: Any, options: Any) -> None: ...

BACKEND_TYPES: frozenset[int]
