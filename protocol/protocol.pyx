# cython: language_level=3
"""psqlpy.protocol — the sans-IO PostgreSQL protocol 3.0 core.

One translation unit (the parts are ``include``d) so calls between buffer,
parsers, codecs and the state machine are plain C calls.

Low-level use, with no asyncio at all::

    from psqlpy import protocol
    reader = protocol.MessageReader()
    for msg in reader.feed(chunk):       # any chunk size, any split
        print(msg)                       # e.g. DataRow(values=(b'1',))
    sock.sendall(protocol.build_query("SELECT 1"))
"""

from psqlpy.exceptions import (
    ProtocolError, InterfaceError, PyToRustValueMappingError, RustToPyValueMappingError,
    ConnectionClosedError)
from psqlpy._messages import *  # noqa: F401,F403  (re-exported: typed backend messages)
from psqlpy._messages import __all__ as _messages_all


class UnsupportedAuthenticationError(InterfaceError):
    """The server asked for an authentication method psqlpy does not implement."""


class QueryTextError(InterfaceError, ValueError):
    """Text the protocol cannot carry (a NUL byte, or not encodable as UTF-8)."""


class ParameterCountError(PyToRustValueMappingError):
    """The number of parameters given does not match the statement's."""


class StaleTypeError(RustToPyValueMappingError):
    """A value of a user-defined type no longer matches what introspection found
    (the type was altered since): the statement and the type cache are dropped,
    and the query works when run again."""


include "buffer.pyx"
include "backend.pyx"
include "frontend.pyx"
include "codecs/codecs.pyx"
include "statement.pyx"
include "copy.pyx"
include "notify.pyx"
include "replication.pyx"
include "core.pyx"
