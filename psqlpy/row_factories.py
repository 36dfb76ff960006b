"""Row factories for ``QueryResult.row_factory`` / ``SingleQueryResult.row_factory``.

A row factory receives a row as a ``dict`` (column name -> value, in column order) and
returns whatever the application wants.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")

__all__ = ["class_row", "tuple_row"]


def tuple_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """The row's values as a tuple, in column order."""
    if not isinstance(row, dict):
        raise TypeError(f"tuple_row expects a dict, not {type(row).__name__}")
    return tuple(row.values())


def class_row(cls: Callable[..., T]) -> Callable[[dict[str, Any]], T]:
    """A factory calling ``cls(**row)``: column names become keyword arguments."""

    def factory(row: dict[str, Any]) -> T:
        return cls(**row)

    return factory
