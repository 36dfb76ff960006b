"""The type stubs and the tests type-check: ``mypy psqlpy/*.pyi tests/`` is clean.

Configuration is ``[tool.mypy]`` in pyproject.toml; run from the repository root.
"""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_mypy_clean() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    stubs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "psqlpy").glob("*.pyi"))
    assert stubs, "no .pyi stubs found"
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *stubs, "tests/"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_typed_examples_pass_mypy_strict() -> None:
    # examples/typed/ is idiomatic user code over every public class: the stubs must
    # let `mypy --strict` accept it (a stub's `__aexit__ -> bool` once made every
    # `return` inside `async with conn.transaction()` a "missing return").
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "examples/typed/"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
