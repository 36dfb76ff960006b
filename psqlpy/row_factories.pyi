from typing import Any, Callable, TypeVar

_T = TypeVar("_T")

__all__ = ["class_row", "tuple_row"]

def tuple_row(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]: ...
def class_row(cls: Callable[..., _T]) -> Callable[[dict[str, Any]], _T]: ...
