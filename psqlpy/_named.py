"""Named parameters: ``$(name)p`` placeholders filled from a mapping."""
from __future__ import annotations

import re
from functools import lru_cache

from .exceptions import PyToRustValueMappingError

_NAMED = re.compile(r"\$\((\w+)\)p")


@lru_cache(maxsize=512)
def _rewrite(query: str) -> tuple[str, tuple[str, ...]]:
    order: list[str] = []

    def sub(mo):
        name = mo.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _NAMED.sub(sub, query), tuple(order)


def bind_parameters(query: str, parameters):
    """Return the positional query and parameter sequence to send."""
    if parameters is None:
        return query, ()
    if hasattr(parameters, "keys") and hasattr(parameters, "__getitem__"):
        text, order = _rewrite(query)
        try:
            return text, [parameters[name] for name in order]
        except KeyError as e:
            raise PyToRustValueMappingError(f"no value for named parameter {e.args[0]!r}") from None
    if isinstance(parameters, (str, bytes)):
        raise PyToRustValueMappingError("parameters must be a sequence or a mapping, not a string")
    if not (hasattr(parameters, "__len__") and hasattr(parameters, "__getitem__")):
        raise PyToRustValueMappingError(
            f"parameters must be a sequence or a mapping, not {type(parameters).__name__}")
    return query, parameters
