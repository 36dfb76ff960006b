"""libpq as a reference: psycopg 3 (``psycopg[binary]``, which bundles a recent libpq) in a
virtualenv of its own, driven through a worker process.

``LibpqWorker.connect(conninfo, env)`` makes libpq connect with exactly the environment
given (``HOME`` decides where it looks for ``.pgpass`` and ``.postgresql/``) and reports
``{"ok": bool, "error": str, "sqlstate": str | None}``.  The worker runs in its own
process, so a fake server in a thread of ours can answer it while our event loop waits.

The virtualenv is made once in ``.venv-libpq/`` (gitignored) with ``pip install
psycopg[binary]``; ``find_libpq()`` returns None when that cannot be done (no network):
the differential tests then skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
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
for line in sys.stdin:
    case = json.loads(line)
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
    def __init__(self, python: Path):
        self.python = python
        self.proc: asyncio.subprocess.Process | None = None
        self.version = 0

    async def start(self) -> "LibpqWorker":
        self.proc = await asyncio.create_subprocess_exec(
            str(self.python), "-c", _WORKER, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        hello = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 60))
        self.version = hello["libpq"]
        return self

    async def connect(self, conninfo: str, env: dict, timeout: float = 60) -> dict:
        assert self.proc is not None and self.proc.stdin is not None
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.proc.stdin.write((json.dumps({"conninfo": conninfo, "env": full}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        return json.loads(line)

    async def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


if __name__ == "__main__":  # python tests/libpq_runner.py: make the venv
    print(find_libpq() or "could not make the libpq venv", file=sys.stderr)
