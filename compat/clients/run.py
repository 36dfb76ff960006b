"""Run the client libraries' scenarios, each under its own interpreter, on one server.

    python compat/clients/run.py NAME=PYTHON [NAME=PYTHON ...] [-- PYTEST_ARGS...]

NAME is a directory beside this file (its scenarios); PYTHON the interpreter of
the venv where that library, its pinned dependencies and the driver under test
are installed (``make test-clients`` builds them). One throwaway PostgreSQL
cluster (tests/pgcluster.py; ``PSQLPY_TEST_DSN`` points at an existing server
instead) serves every library, each in a database of its own, so that one
library's tables, queues and channels never meet another's.

Each pytest runs from a temporary directory, so ``import psqlpy`` finds the
installed package rather than the source tree. The exit status is 1 when any
library's scenarios fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from pgcluster import cluster_from_env  # noqa: E402


def _parse(argv: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1:]
    else:
        pytest_args = []
    clients = []
    for arg in argv:
        name, sep, python = arg.partition("=")
        if not sep or not (HERE / name).is_dir():
            raise SystemExit(f"run.py: expected NAME=PYTHON with NAME a directory of {HERE}, got {arg!r}")
        clients.append((name, os.path.abspath(python)))
    if not clients:
        raise SystemExit(__doc__)
    return clients, pytest_args


def _database_for(pg, name: str) -> str:
    if getattr(pg, "is_external", False):
        return pg.dsn()
    db = "client_" + re.sub(r"\W", "_", name)
    pg.psql(f"DROP DATABASE IF EXISTS {db}", database="postgres")
    pg.psql(f"CREATE DATABASE {db} OWNER postgres", database="postgres")
    return pg.dsn("postgres", database=db)


def main(argv: list[str]) -> int:
    clients, pytest_args = _parse(argv)
    results: list[tuple[str, int, float]] = []
    with cluster_from_env() as pg, tempfile.TemporaryDirectory(prefix="psqlpy-clients-") as cwd:
        for name, python in clients:
            env = dict(os.environ, CLIENT_DSN=_database_for(pg, name), PYTHONDONTWRITEBYTECODE="1")
            env.pop("PYTHONPATH", None)
            print(f"== {name}: {python}", flush=True)
            started = time.monotonic()
            try:
                code = subprocess.call(
                    [python, "-m", "pytest", "-c", str(HERE / "pytest.ini"), "--rootdir", str(HERE),
                     "-p", "no:cacheprovider", str(HERE / name), *pytest_args],
                    cwd=cwd, env=env,
                )
            except OSError as e:
                print(f"run.py: cannot run {python}: {e}", flush=True)
                code = 2
            results.append((name, code, time.monotonic() - started))
    print("== client libraries")
    for name, code, seconds in results:
        print(f"   {name:<20} {'passed' if code == 0 else f'FAILED (pytest exit {code})'}  {seconds:.1f} s")
    failed = [name for name, code, _ in results if code != 0]
    print(f"clients: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
