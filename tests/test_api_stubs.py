"""The type stubs: generated parts up to date, and every public runtime name present."""
from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "psqlpy"

MODULES = ["connection", "transaction", "cursor", "pool", "pool_builder", "listener",
           "_results", "_record", "prepared", "_enums", "row_factories", "exceptions", "replication",
           "extra_types"]


def _stub_names(module: str) -> dict[str, set[str]]:
    """class name -> its member names (and "" -> module-level names)."""
    tree = ast.parse((PKG / f"{module}.pyi").read_text())
    out: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[""].add(node.name)
            members = out.setdefault(node.name, set())
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(sub.name)
                elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
                    members.add(sub.target.id)
                elif isinstance(sub, ast.Assign):
                    members.update(t.id for t in sub.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[""].add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[""].add(node.target.id)
        elif isinstance(node, ast.Assign):
            out[""].update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            out[""].update(a.asname or a.name for a in node.names)
    return out


def test_generated_stubs_are_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_stubs.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("module", MODULES)
def test_stub_covers_runtime(module: str) -> None:
    mod = importlib.import_module(f"psqlpy.{module}")
    stub = _stub_names(module)
    public = getattr(mod, "__all__", None) or [
        n for n, v in vars(mod).items()
        if not n.startswith("_") and isinstance(v, type) and v.__module__ == mod.__name__]
    for name in public:
        assert name in stub[""], f"psqlpy.{module}.{name} missing from the stub"
        obj = getattr(mod, name)
        if isinstance(obj, type) and obj.__module__ == mod.__name__ and name in stub:
            if module == "exceptions":
                continue
            for attr, value in vars(obj).items():
                if attr.startswith("_") or not (callable(value) or isinstance(value, property)):
                    continue
                assert attr in stub[name], f"psqlpy.{module}.{name}.{attr} missing from the stub"


def test_package_stub_reexports_everything() -> None:
    import psqlpy
    stub = _stub_names("__init__")
    for name in psqlpy.__all__:
        assert name in stub[""], name
