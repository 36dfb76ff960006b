"""PostgreSQL types beyond the static codec table: what the driver knows about types
(``TypeInfo``), the per-pool registry that holds it (``TypeRegistry``) and each
connection's view of it with its registered codecs (``ConnectionTypes``)."""
from ._introspect import TypeInfo
from ._registry import CodecSpec, ConnectionTypes, TypeRegistry

__all__ = ["CodecSpec", "ConnectionTypes", "TypeInfo", "TypeRegistry"]
