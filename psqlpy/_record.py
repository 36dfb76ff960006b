"""Record: one row, addressable by position, column name or slice.

Shapes follow the reference driver (psqlpy 0.13): ``keys()``, ``values()`` and
``items()`` return lists, a slice returns a list of values.  Iteration yields the
values (like a tuple, as asyncpg's Record does), so ``tuple(record)`` and unpacking
work; ``record["missing"]`` raises ``KeyError`` and a bad position ``IndexError``.
With duplicate column names, lookup by name returns the first column.
"""
from __future__ import annotations

from typing import Any, Iterator


class Record:
    __slots__ = ("_names", "_values")

    def __init__(self, names: tuple, values: tuple):
        self._names = names
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._values[self._names.index(key)]
            except ValueError:
                raise KeyError(key) from None
        if isinstance(key, slice):
            return list(self._values[key])
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __contains__(self, key) -> bool:
        """``name in record``: is there a column of that name (as for a dict)."""
        return key in self._names

    def get(self, key, default=None):
        try:
            return self[key]
        except (KeyError, IndexError, TypeError):
            return default

    def keys(self) -> list[str]:
        return list(self._names)

    def values(self) -> list[Any]:
        return list(self._values)

    def items(self) -> list[tuple[str, Any]]:
        return list(zip(self._names, self._values))

    def __eq__(self, other):
        if isinstance(other, Record):
            return self._names == other._names and self._values == other._values
        if isinstance(other, tuple):
            return self._values == other
        return NotImplemented

    def __hash__(self):
        return hash(self._values)

    def __repr__(self) -> str:
        inner = " ".join(f"{k}={v!r}" for k, v in zip(self._names, self._values))
        return f"<Record {inner}>"
