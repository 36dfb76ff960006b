"""``psqlpy._internal`` exposes every name of the reference driver's compiled module.

The reference's typed surface (its ``.pyi`` stubs, kept in ../shared/upstream-psqlpy/stubs)
is the list: every module-level name, every public method and property of every class, and
every parameter a caller can pass by keyword must exist on ours under the same name.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
from pathlib import Path

import pytest

# The reference driver's suite and stubs sit beside the repository (../shared), as
# `make test-upstream` expects them; PSQLPY_UPSTREAM_DIR overrides.
def _upstream_dir() -> Path:
    if os.environ.get("PSQLPY_UPSTREAM_DIR"):
        return Path(os.environ["PSQLPY_UPSTREAM_DIR"])
    # the places the Makefile's test-upstream looks, in its order
    for cand in (Path(__file__).resolve().parents[2] / "shared" / "upstream-psqlpy",
                 Path("/work/shared/upstream-psqlpy")):
        if cand.is_dir():
            return cand
    return cand


UPSTREAM = _upstream_dir()
STUBS = UPSTREAM / "stubs" / "psqlpy"

MODULES = {
    "__init__.pyi": "psqlpy._internal",
    "exceptions.pyi": "psqlpy._internal.exceptions",
    "extra_types.pyi": "psqlpy._internal.extra_types",
    "row_factories.pyi": "psqlpy._internal.row_factories",
}

pytestmark = pytest.mark.skipif(not STUBS.is_dir(), reason=f"no reference stubs at {STUBS}")


def _stub_items(fname: str):
    tree = ast.parse((STUBS / "_internal" / fname).read_text())
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id, node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    yield t.id, node


def _public(name: str) -> bool:
    return not name.startswith("_") or name in ("__aiter__", "__anext__", "__aenter__",
                                                 "__aexit__", "__iter__", "__enter__",
                                                 "__exit__", "__len__", "__getitem__")


def _keyword_params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    return [n for n in names if n not in ("self", "cls")]


def _cases():
    if not STUBS.is_dir():
        return      # (skipped: see pytestmark)
    for fname, modname in MODULES.items():
        for name, node in _stub_items(fname):
            if name.startswith("_") and not name.startswith("__"):
                continue   # private TypeVars of the stub
            yield pytest.param(modname, name, node, id=f"{modname}.{name}")


@pytest.mark.parametrize("modname, name, node", list(_cases()))
def test_reference_name_exists(modname: str, name: str, node) -> None:
    mod = importlib.import_module(modname)
    assert hasattr(mod, name), f"{modname} lacks {name}"
    ours = getattr(mod, name)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        _check_signature(ours, node, f"{modname}.{name}")
    if not isinstance(node, ast.ClassDef):
        return
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(item.name):
            assert hasattr(ours, item.name), f"{modname}.{name} lacks {item.name}"
            if not item.name.startswith("__") or item.name == "__init__":
                # dunders are called positionally by the language
                _check_signature(getattr(ours, item.name), item, f"{name}.{item.name}")
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            attr = item.target.id
            if _public(attr) and not (isinstance(getattr(ours, "__members__", None), dict)):
                assert _has_attribute(ours, attr), f"{modname}.{name} lacks attribute {attr}"
        elif isinstance(item, ast.Assign):
            for t in item.targets:   # enum members
                if isinstance(t, ast.Name) and _public(t.id):
                    assert hasattr(ours, t.id), f"{modname}.{name} lacks member {t.id}"


def _has_attribute(cls, attr: str) -> bool:
    if hasattr(cls, attr) or attr in getattr(cls, "__dataclass_fields__", {}):
        return True
    slots: set[str] = set()
    for k in getattr(cls, "__mro__", ()):
        slots.update(getattr(k, "__slots__", ()))
    if attr in slots:
        return True
    # an attribute set in __init__: look in the source
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return False
    return f"self.{attr} =" in src or f"self.{attr}:" in src


def _check_signature(ours, node, where: str) -> None:
    wanted = _keyword_params(node)
    if not wanted:
        return
    try:
        sig = inspect.signature(ours)
    except (TypeError, ValueError):
        return   # a builtin without a signature: nothing to compare
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    missing = [n for n in wanted if n not in params]
    assert not missing, f"{where}: no parameter(s) {missing} (ours: {list(params)})"


def test_internal_names_are_aliases_of_ours() -> None:
    import psqlpy
    import psqlpy._internal as internal
    for name in ("Connection", "ConnectionPool", "Transaction", "Cursor", "Listener",
                 "QueryResult", "SslMode", "ConnectionPoolBuilder", "connect_pool"):
        assert getattr(internal, name) is getattr(psqlpy, name)
    from psqlpy._internal import exceptions as e1, extra_types as e2, row_factories as e3
    assert e1.InterfaceError is psqlpy.exceptions.InterfaceError
    assert e2.Point is psqlpy.extra_types.Point
    assert e3.tuple_row is psqlpy.row_factories.tuple_row
