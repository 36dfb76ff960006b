"""Record: a row addressable by position, name or slice."""
from __future__ import annotations


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
            return self._values[key]
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __contains__(self, key) -> bool:
        return key in self._names

    def get(self, key, default=None):
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    def keys(self):
        return iter(self._names)

    def values(self):
        return iter(self._values)

    def items(self):
        return iter(zip(self._names, self._values))

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
