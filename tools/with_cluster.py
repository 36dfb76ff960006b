"""Run a command with a throwaway PostgreSQL cluster (tests/pgcluster.py) running.

    python tools/with_cluster.py COMMAND [ARGS...]

The command sees ``PSQLPY_TEST_DSN`` (the superuser DSN of the cluster's test
database, plain TCP) unless it is already set, in which case that server is used
and nothing is started. The cluster is stopped and removed when the command ends;
the command's exit status is ours.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgcluster import PgCluster  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("PSQLPY_TEST_DSN"):
        return subprocess.call(argv)
    with PgCluster() as pg:
        env = dict(os.environ, PSQLPY_TEST_DSN=pg.dsn())
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
