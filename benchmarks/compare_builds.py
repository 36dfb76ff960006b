"""Two builds of ours side by side, with asyncpg, interleaved in one session.

    python benchmarks/compare_builds.py --before /tmp/main --after . \\
        [--asyncpg .bench-venvs/asyncpg/bin/python] [--rounds 5] [--loops asyncio,uvloop]
        [--workloads notify_cb_32,...] [--out results.json]

``--before`` and ``--after`` are source trees, each built in place with its own
``.venv`` (``make build`` there; ``DIR:PYTHON`` names another interpreter, e.g.
``/tmp/main:/tmp/main/.venv-3.12/bin/python``).  Round by round, loop by loop,
workload by workload, ``benchmarks/worker.py`` of each tree runs in a fresh process,
then asyncpg's (with the after tree's worker), in an order that rotates every round,
against one throwaway cluster: what ``run.py`` does for drivers, done for builds, so a
change is measured against the code it replaces under the same noise.  Prints, per
workload and loop, the median and range of each, its ratio to asyncpg and after/before
(> 1: the after build is better, for latency too).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from server import server_dsn  # noqa: E402

LISTENER_WORKLOADS = ("notify_cb_32,notify_cb_1k,notify_iter_32,notify_iter_1k,"
                      "notify_latency,notify_latency_busy")


def _build(spec: str) -> tuple[str, str]:
    tree, _, py = spec.partition(":")
    tree = os.path.abspath(tree)
    return tree, py or os.path.join(tree, ".venv", "bin", "python")


def _run(tree: str, py: str, driver: str, dsn: str, loop: str, workload: str) -> dict:
    cmd = [py, os.path.join(tree, "benchmarks", "worker.py"), "--driver", driver, "--dsn", dsn,
           "--loop", loop, "--workloads", workload]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return {"status": "error", "reason": (proc.stderr or proc.stdout)[-400:]}


def _summary(results: list[dict], loops: list[str], workloads: list[str]) -> str:
    lines = []
    for w in workloads:
        metrics = sorted({k for r in results if r["workload"] == w and r.get("metrics")
                          for k in r["metrics"]})
        for metric in metrics:
            higher = metric == "rate"
            lines += ["", f"{w} {metric} ({'notifications/s, higher' if higher else 'us, lower'}"
                      " is better)",
                      "| loop | build | median | min-max | vs asyncpg | after/before |",
                      "|---|---|---:|---:|---:|---:|"]
            for loop in loops:
                med = {}
                for v in ("before", "after", "asyncpg"):
                    vals = [r["metrics"][metric] for r in results if r.get("metrics")
                            and (r["workload"], r["loop"], r["variant"]) == (w, loop, v)]
                    if vals:
                        med[v] = (statistics.median(vals), min(vals), max(vals))
                for v, (m, lo, hi) in med.items():
                    ratio = ""
                    if "asyncpg" in med:
                        a = med["asyncpg"][0]
                        ratio = f"{m / a:.2f}x" if higher else f"{a / m:.2f}x"
                    change = ""
                    if v == "after" and "before" in med:
                        b = med["before"][0]
                        change = f"{m / b:.2f}" if higher else f"{b / m:.2f}"
                    lines.append(f"| {loop} | {v} | {m:,.0f} | {lo:,.0f}-{hi:,.0f} | {ratio} | {change} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="DIR[:PYTHON] of the build to compare against")
    ap.add_argument("--after", required=True, help="DIR[:PYTHON] of the build under test")
    ap.add_argument("--asyncpg", default=os.path.join(HERE, "..", ".bench-venvs", "asyncpg", "bin",
                                                       "python"),
                    help="python of a venv with asyncpg (and uvloop); same Python version")
    ap.add_argument("--dsn", help="a server (default: a throwaway cluster)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--workloads", default=LISTENER_WORKLOADS)
    ap.add_argument("--out", help="write every result here (JSON)")
    args = ap.parse_args()
    builds = {"before": _build(args.before), "after": _build(args.after),
              "asyncpg": (_build(args.after)[0], args.asyncpg)}
    loops, workloads = args.loops.split(","), args.workloads.split(",")
    names = list(builds)
    results = []
    with server_dsn(args.dsn) as dsn:
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for loop in loops:
                for w in workloads:
                    for v in order:
                        tree, py = builds[v]
                        res = _run(tree, py, "asyncpg" if v == "asyncpg" else "ours", dsn, loop, w)
                        res.update(variant=v, loop=loop, workload=w, round=r)
                        results.append(res)
                        print(f"round {r + 1} {loop} {w} {v}: "
                              f"{res.get('metrics') or res.get('reason', res.get('status'))}",
                              file=sys.stderr, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f)
    print(f"{args.rounds} rounds; load average at the end {os.getloadavg()}")
    print(_summary(results, loops, workloads))
    return 1 if any(r.get("status") == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
