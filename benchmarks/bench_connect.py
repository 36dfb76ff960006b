"""Connection set-up: ours against asyncpg, interleaved in one process.

    python benchmarks/bench_connect.py [--dsn DSN] [--connects 200] [--rounds 5]

Each round opens and closes ``--connects`` connections one after another with each
driver (TCP, the DSN's authentication: give a SCRAM user to include the key
derivation), drivers alternating round by round.  Prints the median time per connect
(wall) and the client's CPU time per connect (``time.process_time``): the wall time is
mostly the server forking a backend, the CPU time is what the driver costs.
Without ``--dsn``, ``PSQLPY_TEST_DSN`` or a throwaway cluster (tests/pgcluster.py).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path


async def _ours(dsn: str) -> None:
    import psqlpy
    conn = await psqlpy.connect(dsn=dsn)
    assert await conn.fetch_val("SELECT 1") == 1
    conn.close()


async def _asyncpg(dsn: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(dsn)
    assert await conn.fetchval("SELECT 1") == 1
    await conn.close()


async def _round(fn, dsn: str, n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await fn(dsn)
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


async def run(dsn: str, connects: int, rounds: int) -> None:
    drivers = {"ours": _ours}
    try:
        import asyncpg  # noqa: F401
        drivers["asyncpg"] = _asyncpg
    except ImportError:
        print("asyncpg is not installed: ours only", file=sys.stderr)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in drivers}
    for fn in drivers.values():
        await _round(fn, dsn, 5)            # warm-up: imports, first backend
    for _ in range(rounds):
        for name, fn in drivers.items():
            results[name].append(await _round(fn, dsn, connects))
    base = results.get("asyncpg")
    print(f"{connects} connects x {rounds} rounds, medians")
    print("| driver | wall per connect (ms) | client CPU per connect (ms) | CPU: asyncpg / driver |")
    print("|---|---:|---:|---:|")
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows) * 1e3
        cpu = statistics.median(r[1] for r in rows) * 1e3
        ratio = (f"{statistics.median(r[1] for r in base) * 1e3 / cpu:.2f}x"
                 if base else "-")
        print(f"| {name} | {wall:.2f} | {cpu:.3f} | {ratio} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default=os.environ.get("PSQLPY_TEST_DSN"))
    ap.add_argument("--connects", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.dsn:
        asyncio.run(run(args.dsn, args.connects, args.rounds))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from pgcluster import PgCluster
    with PgCluster() as pg:
        print("SCRAM user of a throwaway cluster")
        asyncio.run(run(pg.dsn("scram_user", "scram_pw"), args.connects, args.rounds))


if __name__ == "__main__":
    main()
