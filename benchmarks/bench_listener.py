"""Notification throughput and latency: kept as a shortcut into run.py.

The workloads, their verification and their figures now live in worker.py
(``notify_*``, same logic: N notifications with distinct payloads sent in one
transaction, counted from the first received to the last, every payload and
the order checked; latency of single NOTIFYs from one asyncpg sender).  This
script runs those workloads for ours and asyncpg, as it used to:

    python benchmarks/bench_listener.py [--dsn DSN] [--n 100000] [--rounds 3]
                                        [--latency-count 1000] [--loops asyncio,uvloop]
                                        [--drivers ours,asyncpg]

For every driver (psycopg, the Rust psqlpy) use ``make bench ARGS='--workloads notify'``.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-count", type=int, default=1000)
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--drivers", default="ours,asyncpg")
    args = ap.parse_args()
    argv = ["--workloads", "notify", "--drivers", args.drivers, "--rounds", str(args.rounds),
            "--loops", args.loops, "--set", f"notify_n={args.n}",
            "--set", f"latency_count={args.latency_count}"]
    if args.dsn:
        argv += ["--dsn", args.dsn]
    sys.exit(run.main(argv))


if __name__ == "__main__":
    main()
