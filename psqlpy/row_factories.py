"""Row factories for ``QueryResult.row_factory`` / ``SingleQueryResult.row_factory``.

A row factory receives a row as a ``dict`` (column name -> value, in column order) and
returns whatever the application wants.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from .exceptions import RustToPyValueMappingError

T = TypeVar("T")

__all__ = ["class_row", "tuple_row"]


def tuple_row(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The row as ``(column, value)`` pairs, in column order.

    Pairs, not bare values, because that is what the reference driver returns and
    what code written for it unpacks (``tuple(v for _, v in row)``).
    """
    if not isinstance(row, dict):
        raise RustToPyValueMappingError(
            f"tuple_row accepts only dict as a parameter, not {type(row).__name__}")
    return tuple(row.items())


def class_row(cls: Callable[..., T]) -> Callable[[dict[str, Any]], T]:
    """A factory calling ``cls(**row)``: column names become keyword arguments."""

    def factory(row: dict[str, Any]) -> T:
        return cls(**row)

    return factory
