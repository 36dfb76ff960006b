"""PostgreSQL types beyond the static codec table: what the driver learns about
user-defined types (``TypeInfo``) and the per-pool registry that holds it."""
from ._introspect import TypeInfo
from ._registry import TypeRegistry

__all__ = ["TypeInfo", "TypeRegistry"]
