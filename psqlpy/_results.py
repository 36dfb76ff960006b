"""Query results in the psqlpy API's shapes: rows are kept as tuples (what
the Cython core decodes into) and turned into dicts only when asked."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


from .protocol import rows_to_dicts as _rows_to_dicts, wire_bytes


@dataclass(frozen=True)
class Column:
    """A result column: its name, the OID of the table it comes from (None for a
    computed column), and its type: OID, name, schema and kind (``base``, ``array``,
    ``composite``, ``enum``, ``domain``, ``range``, ``multirange``, ``pseudo``; the
    name, schema and kind are None for a type nothing is known of, e.g. with
    ``introspect_types=False``)."""
    name: str
    table_oid: int | None
    type_oid: int = 0
    type_name: str | None = None
    type_schema: str | None = None
    type_kind: str | None = None


def describe_columns(statement) -> list[Column]:
    """The Columns of a described statement (psqlpy.protocol.Statement)."""
    if statement is None:
        return []
    fields = getattr(statement, "columns", statement)
    types = getattr(statement, "column_types", ())
    out = []
    for i, f in enumerate(fields):
        t = types[i] if i < len(types) else None
        out.append(Column(f.name, f.table_oid or None, f.type_oid,
                          t.name if t else None, t.schema if t else None, t.kind if t else None))
    return out


def _column_decoders(statement, names, custom_decoders) -> list:
    """(index, decoder, type OID, codec) of each column ``custom_decoders``
    names (by its exact name, as the reference matches them)."""
    fields = getattr(statement, "columns", None) or ()
    codecs = getattr(statement, "codecs", None) or ()
    out = []
    for i, name in enumerate(names):
        decoder = custom_decoders.get(name)
        if decoder is not None:
            oid = fields[i].type_oid if i < len(fields) else 0
            out.append((i, decoder, oid, codecs[i] if i < len(codecs) else None))
    return out


def _apply_decoders(row, decoders) -> tuple:
    # The reference hands a custom decoder the column's wire bytes (binary
    # format) and never calls it for NULL; the core has decoded the row
    # already, so the value goes back to the bytes it came from.
    row = list(row)
    for i, decoder, oid, codec in decoders:
        value = row[i]
        if value is not None:
            row[i] = decoder(wire_bytes(oid, codec, value))
    return tuple(row)


class QueryResult:
    __slots__ = ("_names", "_rows", "_tag", "_columns")

    def __init__(self, names: tuple, rows: list, tag: str | None = None, columns=None):
        self._names = names
        self._rows = rows
        self._tag = tag
        self._columns = columns

    def result(self, custom_decoders: dict[str, Callable] | None = None,
               as_tuple: bool | None = None) -> list:
        names = self._names
        rows = self._rows
        if custom_decoders:
            decoders = _column_decoders(self._columns, names, custom_decoders)
            rows = [_apply_decoders(r, decoders) for r in rows]
        if as_tuple:
            return list(rows)
        return _rows_to_dicts(names, rows)   # in C: this is the per-row cost users pay

    def as_class(self, as_class: Callable) -> list:
        names = self._names
        return [as_class(**dict(zip(names, r))) for r in self._rows]

    def row_factory(self, row_factory: Callable, custom_decoders=None) -> list:
        return [row_factory(d) for d in self.result(custom_decoders)]

    def records(self) -> list:
        from ._record import Record
        names = self._names
        return [Record(names, r) for r in self._rows]

    def columns(self) -> list[Column]:
        """Ours: the result's columns with their types, as the statement's
        description gives them (``PreparedStatement.columns()``)."""
        return describe_columns(self._columns)

    @property
    def status(self) -> str | None:
        return self._tag

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<QueryResult rows={len(self._rows)} columns={list(self._names)}>"


class SingleQueryResult:
    __slots__ = ("_names", "_row", "_columns")

    def __init__(self, names: tuple, row: tuple, columns=None):
        self._names = names
        self._row = row
        self._columns = columns

    def result(self, custom_decoders: dict[str, Callable] | None = None,
               as_tuple: bool | None = None) -> Any:
        row = self._row
        if custom_decoders:
            row = _apply_decoders(
                row, _column_decoders(self._columns, self._names, custom_decoders))
        if as_tuple:
            return tuple(row)
        return dict(zip(self._names, row))

    def as_class(self, as_class: Callable) -> Any:
        return as_class(**dict(zip(self._names, self._row)))

    def row_factory(self, row_factory: Callable, custom_decoders=None) -> Any:
        return row_factory(self.result(custom_decoders))

    def __repr__(self) -> str:
        return f"<SingleQueryResult {self.result()!r}>"
