"""NOTIFY-to-callback latency of ours and asyncpg, paired probe by probe.

    .venv/bin/python benchmarks/notify_latency_paired.py [--dsn DSN] [--loops uvloop]
                                                         [--pairs 40] [--probes 1000]
                                                         [--busy 4,25]

``run.py``'s ``notify_latency`` runs each driver in its own process, one after
the other.  On a small machine most of a trip is the server's two backends and
the kernel, and where the scheduler puts a connection's backend (on the
client's CPU or not) moves a whole process's figures by 10-30%, whichever the
driver.  Two drivers measured that way differ by a coin flip per round.

Here both drivers listen in one process at once, each on its own connection
and channel, and their probes alternate (the order within each pair of probes
drawn at random): both see the same machine at the same moments.  Placement
is per connection, so every ``--pairs`` round opens fresh listeners (in random
order) and a fresh sender (asyncpg, as in ``run.py``).  A probe is timed as
``notify_latency`` times it: from just before the sender's NOTIFY to the
driver's callback.  The first ``--warmup`` probes of a round are dropped.

``--busy TASKS,US`` keeps the loop busy meanwhile (``busyloop.py``: TASKS tasks
computing US microseconds per turn), as ``run.py``'s ``notify_latency_busy``
does: an application's loop is seldom idle when a notification arrives.

Printed: p50/p99 of all probes per driver, the ratio asyncpg / ours (> 1: ours
lower), a 95% bootstrap interval of that ratio (rounds resampled), and in how
many rounds ours had the lower p50 and p99.  Needs asyncpg in this venv (the
``test`` and ``bench`` extras install it).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from server import server_dsn  # noqa: E402

DRIVERS = ("ours", "asyncpg")


def pct(sorted_samples: list[int], p: float) -> float:
    """Percentile (nearest rank, as run.py's workloads), in microseconds."""
    return sorted_samples[min(len(sorted_samples) - 1, int(len(sorted_samples) * p))] / 1000.0


async def one_round(dsn: str, probes: int, warmup: int, rng: random.Random,
                    busy: tuple[int, int] | None = None) -> dict:
    """Fresh listeners for both drivers and a fresh sender; returns the
    kept latencies (ns) per driver.  ``busy``: (tasks, us) of other work on
    the loop while the probes run (busyloop.py)."""
    import asyncpg

    from busyloop import busy_loop

    from drivers import load

    loop = asyncio.get_running_loop()
    waiting: dict = {}
    seen: dict = {d: [] for d in DRIVERS}

    def on_payload_of(driver):
        def on_payload(payload):
            seen[driver].append(payload)
            w = waiting.get(driver)
            if w is not None and not w.done():
                w.set_result(time.perf_counter_ns())
        return on_payload

    closers = []
    try:
        for driver in rng.sample(DRIVERS, len(DRIVERS)):
            closers.append(await load(driver)().listen_callback(
                dsn, f"paired_{driver}", on_payload_of(driver), 10_000))
        sender = await asyncpg.connect(dsn)
        lat: dict = {d: [] for d in DRIVERS}

        async def run_probes():
            for i in range(warmup + probes):
                for driver in rng.sample(DRIVERS, len(DRIVERS)):
                    waiting[driver] = w = loop.create_future()
                    t0 = time.perf_counter_ns()
                    await sender.execute(f"NOTIFY paired_{driver}, '{i}'")
                    t1 = await asyncio.wait_for(w, 10)
                    if i >= warmup:
                        lat[driver].append(t1 - t0)
        try:
            if busy is None:
                await run_probes()
            else:
                async with busy_loop(*busy) as load:
                    await run_probes()
                if load["turns"] < warmup + probes:
                    raise SystemExit("the loop load did not run")
        finally:
            await sender.close()
    finally:
        for close in closers:
            await close()
    for driver in DRIVERS:
        if seen[driver] != [str(i) for i in range(warmup + probes)]:
            raise SystemExit(f"{driver}: wrong or missing payloads")
    return lat


def pooled(rounds: list[dict], driver: str) -> list[int]:
    return sorted(x for r in rounds for x in r[driver])


def bootstrap_ratio(rounds: list[dict], p: float, rng: random.Random, n: int) -> tuple[float, float]:
    """95% interval of asyncpg/ours at percentile ``p``, resampling whole rounds."""
    ratios = []
    for _ in range(n):
        pick = [rng.choice(rounds) for _ in rounds]
        ratios.append(pct(pooled(pick, "asyncpg"), p) / pct(pooled(pick, "ours"), p))
    ratios.sort()
    return ratios[int(n * 0.025)], ratios[min(n - 1, int(n * 0.975))]


def report(rounds: list[dict], loop_name: str, rng: random.Random, resamples: int) -> str:
    lines = [f"{loop_name}: {len(rounds)} rounds x {len(rounds[0]['ours'])} probes per driver"]
    for p, name in ((0.50, "p50"), (0.99, "p99")):
        ours, apg = pct(pooled(rounds, "ours"), p), pct(pooled(rounds, "asyncpg"), p)
        lo, hi = bootstrap_ratio(rounds, p, rng, resamples)
        lower = sum(pct(sorted(r["ours"]), p) < pct(sorted(r["asyncpg"]), p) for r in rounds)
        lines.append(f"  {name}: ours {ours:7.1f} us  asyncpg {apg:7.1f} us  "
                     f"asyncpg/ours {apg / ours:.3f} (95% {lo:.3f}-{hi:.3f})  "
                     f"ours lower in {lower}/{len(rounds)} rounds")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--loops", default="uvloop,asyncio")
    ap.add_argument("--pairs", type=int, default=40, help="rounds, each on fresh connections")
    ap.add_argument("--probes", type=int, default=1000, help="kept probes per driver per round")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--resamples", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--busy", metavar="TASKS,US",
                    help="other work on the loop meanwhile: TASKS tasks computing US "
                         "microseconds per turn (run.py's notify_latency_busy: 4,25)")
    args = ap.parse_args(argv)
    busy = tuple(int(x) for x in args.busy.split(",")) if args.busy else None
    rng = random.Random(args.seed)
    with server_dsn(args.dsn, announce=lambda t: print(t, file=sys.stderr)) as dsn:
        for loop_name in args.loops.split(","):
            if loop_name == "uvloop":
                import uvloop
                run = uvloop.run
            else:
                run = asyncio.run
            rounds = [run(one_round(dsn, args.probes, args.warmup, rng, busy))
                      for _ in range(args.pairs)]
            label = loop_name if busy is None else f"{loop_name}, busy {busy[0]}x{busy[1]} us"
            print(report(rounds, label, rng, args.resamples), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
