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
    stubs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "psqlpy").glob("**/*.pyi"))
    assert stubs, "no .pyi stubs found"
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *stubs, "tests/"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
