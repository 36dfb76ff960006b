"""Typed backend messages of protocol 3.0, as the low-level API returns them.

Both parsers produce these: the Cython one in ``psqlpy.protocol`` and the
pure-Python reference in ``psqlpy._pyprotocol``.  Names follow the protocol
chapter of the PostgreSQL documentation; each message compares equal to
another of the same type with the same field values, which is what the
differential tests rely on.
"""
from __future__ import annotations


class BackendMessage:
    __slots__ = ()
    #: the message type byte as the server sends it
    type_code: bytes = b""

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self._values())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({fields})"


def _message(name: str, code: bytes, fields: tuple[str, ...] = ()) -> type:
    def __init__(self, *args):
        if len(args) != len(fields):
            raise TypeError(f"{name} takes {len(fields)} arguments")
        for f, v in zip(fields, args):
            setattr(self, f, v)

    return type(name, (BackendMessage,), {"__slots__": fields, "__init__": __init__,
                                           "type_code": code, "__module__": __name__})


AuthenticationOk = _message("AuthenticationOk", b"R")
AuthenticationCleartextPassword = _message("AuthenticationCleartextPassword", b"R")
AuthenticationMD5Password = _message("AuthenticationMD5Password", b"R", ("salt",))
AuthenticationSASL = _message("AuthenticationSASL", b"R", ("mechanisms",))
AuthenticationSASLContinue = _message("AuthenticationSASLContinue", b"R", ("data",))
AuthenticationSASLFinal = _message("AuthenticationSASLFinal", b"R", ("data",))
BackendKeyData = _message("BackendKeyData", b"K", ("process_id", "secret_key"))
ParameterStatus = _message("ParameterStatus", b"S", ("name", "value"))
ReadyForQuery = _message("ReadyForQuery", b"Z", ("status",))
FieldDescription = _message(
    "FieldDescription", b"",
    ("name", "table_oid", "column_attr", "type_oid", "type_size", "type_modifier", "format"))
RowDescription = _message("RowDescription", b"T", ("fields",))
DataRow = _message("DataRow", b"D", ("values",))
CommandComplete = _message("CommandComplete", b"C", ("tag",))
EmptyQueryResponse = _message("EmptyQueryResponse", b"I")
ErrorResponse = _message("ErrorResponse", b"E", ("fields",))
NoticeResponse = _message("NoticeResponse", b"N", ("fields",))
NotificationResponse = _message("NotificationResponse", b"A", ("process_id", "channel", "payload"))
ParseComplete = _message("ParseComplete", b"1")
BindComplete = _message("BindComplete", b"2")
CloseComplete = _message("CloseComplete", b"3")
ParameterDescription = _message("ParameterDescription", b"t", ("type_oids",))
NoData = _message("NoData", b"n")
PortalSuspended = _message("PortalSuspended", b"s")
CopyInResponse = _message("CopyInResponse", b"G", ("format", "column_formats"))
CopyOutResponse = _message("CopyOutResponse", b"H", ("format", "column_formats"))
CopyBothResponse = _message("CopyBothResponse", b"W", ("format", "column_formats"))
CopyData = _message("CopyData", b"d", ("data",))
CopyDone = _message("CopyDone", b"c")
NegotiateProtocolVersion = _message("NegotiateProtocolVersion", b"v", ("minor_version", "options"))

#: every backend message type byte we understand
BACKEND_TYPES = frozenset(b"RKSZTDCIEAN123tnsGHWdcv")

__all__ = [n for n, v in list(globals().items())
           if isinstance(v, type) and issubclass(v, BackendMessage)] + ["BACKEND_TYPES"]
