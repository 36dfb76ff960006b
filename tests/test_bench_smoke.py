"""Smoke test of the benchmark worker (benchmarks/worker.py) for ours, quick sizes.

No peer driver is needed: this runs every workload of ours once against the test
cluster and checks that each emits one valid JSON result that passed its own
verification (``ok``) or says why the driver cannot do it (``n/a``).  The
paired-latency script also runs asyncpg, which the ``test`` extra installs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from spec import WORKLOADS, metrics_of  # noqa: E402


def test_worker_quick_ours(dsn):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "worker.py"), "--driver", "ours",
         "--dsn", dsn, "--quick", "--workloads", "all", "--timeout", "20"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert [r["workload"] for r in lines] == list(WORKLOADS)
    for r in lines:
        assert r["driver"] == "ours" and r["loop"] == "asyncio"
        if r["status"] == "n/a":
            assert r["reason"]
            continue
        assert r["status"] == "ok", r
        missing = set(metrics_of(r["workload"])) - set(r["metrics"])
        # (a workload of several figures says why one is missing: "uuid.decode"
        # -> a note "uuid decode: n/a: ..."; an error note is a failure)
        for m in missing:
            name, _, way = m.partition(".")
            assert any(n.startswith(f"{name} {way}: n/a") for n in r["notes"]), (m, r["notes"])
        assert not [n for n in r["notes"] if ": error:" in n], r["notes"]
        assert set(r["metrics"]) <= set(metrics_of(r["workload"]))
        assert all(v > 0 for v in r["metrics"].values()), r
        assert r["n"] > 0 and r["seconds"] > 0


@pytest.mark.parametrize("workload", ["notify_latency", "notify_latency_busy"])
def test_latency_probing_stops_at_its_budget(dsn, workload):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "worker.py"), "--driver", "ours",
         "--dsn", dsn, "--quick", "--workloads", workload, "--set", "latency_budget=0"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    (r,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert r["status"] == "ok", r
    assert r["n"] == 1 and r["notes"] == ["1 of 100 probes: stopped after 0 s"]
    assert r["metrics"]["p50"] == r["metrics"]["p99"] > 0


def test_busy_loop_runs_its_turns():
    import asyncio

    from busyloop import busy_loop

    async def main():
        async with busy_loop(3, 20) as load:
            t0 = asyncio.get_running_loop().time()
            await asyncio.sleep(0.05)
            waited = asyncio.get_running_loop().time() - t0
        return load["turns"], waited
    turns, waited = asyncio.run(main())
    # 3 tasks x 20 us per turn: a turn of all three takes about 60 us, so in
    # 50 ms each has had hundreds of turns, and the sleep still ended.
    assert turns >= 300 and waited < 5.0


def test_worker_reports_na_for_missing_copy(dsn):
    import psqlpy
    if hasattr(psqlpy.Connection, "copy_records_to_table"):
        pytest.skip("copy_records_to_table exists: no n/a to check")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "worker.py"), "--driver", "ours",
         "--dsn", dsn, "--quick", "--workloads", "copy"],
        capture_output=True, text=True, timeout=30, cwd=ROOT)
    (r,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert r["status"] == "n/a" and "copy_records_to_table" in r["reason"]


def test_notify_delivery_cost_script(dsn):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "notify_delivery_cost.py"),
         "--driver", "ours", "--dsn", dsn, "--n", "300", "--loops", "asyncio"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (line,) = proc.stdout.splitlines()
    assert line.startswith("ours     asyncio  read -> callback: p50 ")
    assert "(270 samples)" in line


@pytest.mark.parametrize("busy, label", [((), "asyncio"),
                                         (("--busy", "2,10"), "asyncio, busy 2x10 us")])
def test_notify_latency_paired_script(dsn, busy, label):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "notify_latency_paired.py"),
         "--dsn", dsn, "--pairs", "2", "--probes", "30", "--warmup", "5",
         "--resamples", "20", "--loops", "asyncio", *busy],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    head, p50, p99 = proc.stdout.splitlines()
    assert head == f"{label}: 2 rounds x 30 probes per driver"
    for line, name in ((p50, "p50"), (p99, "p99")):
        assert line.startswith(f"  {name}: ours ") and " asyncpg " in line
        assert line.endswith("/2 rounds") and "asyncpg/ours " in line
