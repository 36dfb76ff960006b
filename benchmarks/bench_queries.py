"""Query workloads: kept as a shortcut into run.py.

The workloads and their checks now live in worker.py, with the same logic as
before: SELECT 1 round trips/s on one connection, fetch of 10k rows x 8 mixed
columns (ours: QueryResult.result() dicts, asyncpg: Records, each driver's
usual result), execute_many of 10k rows, copy_records_to_table of 100k rows;
counts and values verified.  worker.py adds wide rows and a pool workload.

    python benchmarks/bench_queries.py [--dsn DSN] [--rounds 3] [--loops asyncio,uvloop]
                                       [--workloads select1,fetch,execute_many,copy]
                                       [--drivers ours,asyncpg]

For every driver and workload use ``make bench``.
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
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--workloads", default="select1,fetch,execute_many,copy")
    ap.add_argument("--drivers", default="ours,asyncpg")
    args = ap.parse_args()
    argv = ["--workloads", args.workloads, "--drivers", args.drivers,
            "--rounds", str(args.rounds), "--loops", args.loops]
    if args.dsn:
        argv += ["--dsn", args.dsn]
    sys.exit(run.main(argv))


if __name__ == "__main__":
    main()
