"""libpq as a reference: psycopg 3 (``psycopg[binary]``, which bundles a recent libpq) in a
virtualenv of its own, driven through a worker process.

``LibpqWorker.connect(conninfo, env)`` makes libpq connect with exactly the environment
given (``HOME`` decides where it looks for ``.pgpass`` and ``.postgresql/``) and reports
``{"ok": bool, "error": str, "sqlstate": str | None}``.  The worker runs in its own
process; the fake servers run in threads, so they answer it whatever our event loop does.

The virtualenv is made once in ``.venv-libpq/`` (gitignored) with ``pip install
psycopg[binary]``; ``find_libpq()`` returns None when that cannot be done (no network):
the differential tests then skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-libpq"

_WORKER = r'''
import json, os, sys
import psycopg
base = dict(os.environ)
print(json.dumps({"ready": True, "libpq": psycopg.pq.version()}), flush=True)
import psycopg.conninfo
for line in sys.stdin:
    case = json.loads(line)
    if "parse" in case:   # PQconninfoParse: the keywords given, no defaults
        try:
            out = {"ok": True, "params": psycopg.conninfo.conninfo_to_dict(case["parse"])}
        except Exception as e:
            out = {"ok": False, "error": str(e)}
        print(json.dumps(out), flush=True)
        continue
    os.environ.clear()
    os.environ.update(case["env"])
    out = {"ok": False, "error": "", "sqlstate": None}
    try:
        conn = psycopg.connect(case["conninfo"])
        out["ok"] = True
        conn.close()
    except Exception as e:
        out["error"] = str(e)
        out["sqlstate"] = getattr(e, "sqlstate", None)
    print(json.dumps(out), flush=True)
'''


def _python() -> Path:
    return VENV / "bin" / "python"


def find_libpq() -> Path | None:
    """The worker's Python with psycopg importable, making the venv when needed."""
    py = _python()
    if py.exists() and subprocess.run([str(py), "-c", "import psycopg"],
                                      capture_output=True).returncode == 0:
        return py
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "psycopg[binary]"],
                           capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return py


class LibpqWorker:
    """One worker process; ``connect()`` blocks (call it from a thread when a fake server
    in the same process must answer: ``await asyncio.to_thread(worker.connect, ...)``)."""

    def __init__(self, python: Path):
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.version = 0

    def start(self) -> "LibpqWorker":
        self.proc = subprocess.Popen(
            [str(self.python), "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline())
        self.version = hello["libpq"]
        return self

    def connect(self, conninfo: str, env: dict) -> dict:
        assert self.proc is not None and self.proc.stdin is not None
        assert self.proc.stdout is not None
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.proc.stdin.write(json.dumps({"conninfo": conninfo, "env": full}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the libpq worker died")
        return json.loads(line)

    def parse(self, conninfo: str) -> dict:
        """libpq's parse of a connection string: {"ok": True, "params": {...}} or
        {"ok": False, "error": ...}."""
        assert self.proc is not None and self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"parse": conninfo}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc = None


if __name__ == "__main__":  # python tests/libpq_runner.py: make the venv
    print(find_libpq() or "could not make the libpq venv", file=sys.stderr)
