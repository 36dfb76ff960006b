"""Identifier quoting: every name we put into SQL text goes through here."""
from __future__ import annotations

# NAMEDATALEN - 1: the server truncates longer identifiers silently.
MAX_IDENTIFIER_BYTES = 63


def quote_ident(name: str, what: str = "identifier", error: type[Exception] | None = None) -> str:
    """Quote ``name`` as a PostgreSQL identifier (exact case, no injection).

    Rejects what the server would not keep as given: empty names, NUL bytes
    and names over 63 bytes (the server would truncate them).  The rejection
    is a TypeError/ValueError, or ``error("invalid <what>: ...")`` when given."""
    try:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a str, not {type(name).__name__}")
        if not name:
            raise ValueError(f"{what} must not be empty")
        if "\x00" in name:
            raise ValueError(f"{what} must not contain NUL bytes")
        if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
            raise ValueError(f"{what} {name[:20]!r}... is longer than {MAX_IDENTIFIER_BYTES} bytes")
    except (TypeError, ValueError) as e:
        if error is None:
            raise
        raise error(f"invalid {what}: {e}") from None
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard-conforming string literal (E'' not needed: we double quotes
    and backslashes stay literal with standard_conforming_strings=on)."""
    if "\x00" in value:
        raise ValueError("string literal must not contain NUL bytes")
    return "'" + value.replace("'", "''") + "'"
