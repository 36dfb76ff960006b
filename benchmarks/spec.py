"""What the benchmark measures: workloads, their metrics and their sizes.

Shared by the coordinator (``run.py``, tables and charts) and the worker
(``worker.py``, which runs the workloads).  Standard library only: the worker
imports it from every driver's virtualenv.
"""
from __future__ import annotations

from typecases import CASES

#: Drivers the coordinator knows, in table order.  ``ours`` is this repository's
#: psqlpy; ``rust_psqlpy`` is the psqlpy wheel from PyPI (same package name).
DRIVERS = ("ours", "asyncpg", "psycopg", "rust_psqlpy")
BASELINE = "asyncpg"

#: workload -> (title, {metric: (unit, higher_is_better)})
WORKLOADS: dict[str, tuple[str, dict[str, tuple[str, bool]]]] = {
    "notify_cb_32": ("notifications/s, 32 B payloads, callback mode", {"rate": ("notif/s", True)}),
    "notify_cb_1k": ("notifications/s, 1 KB payloads, callback mode", {"rate": ("notif/s", True)}),
    "notify_iter_32": ("notifications/s, 32 B payloads, iterator mode", {"rate": ("notif/s", True)}),
    "notify_iter_1k": ("notifications/s, 1 KB payloads, iterator mode", {"rate": ("notif/s", True)}),
    "notify_latency": ("NOTIFY -> delivery latency",
                       {"p50": ("us", False), "p99": ("us", False)}),
    "notify_latency_busy": ("NOTIFY -> delivery latency, loop busy with 4 tasks x 25 us turns",
                            {"p50": ("us", False), "p99": ("us", False)}),
    "select1": ("SELECT 1 round trips/s (one connection, sequential)", {"rate": ("queries/s", True)}),
    "fetch": ("fetch 10k rows x 9 mixed columns (uuid included), as dicts",
              {"rate": ("rows/s", True), "cpu_rate": ("rows/s of client CPU", True)}),
    "fetch_tuples": ("fetch 10k rows x 9 mixed columns (uuid included), as tuples",
                     {"rate": ("rows/s", True), "cpu_rate": ("rows/s of client CPU", True)}),
    "types": ("decode and encode per type, 10k rows of one column",
              {f"{c.name}.{way}": ("rows/s of client CPU", True)
               for c in CASES for way in ("decode", "encode")}),
    "memory": ("fetch 1M rows x 9 mixed columns (uuid included), held as tuples",
               {"peak_rss": ("MiB", False), "bytes_per_row": ("B/row", False)}),
    "wide_rows": ("wide rows: bytea 1 MiB per row", {"rate": ("MiB/s", True)}),
    "execute_many": ("execute_many, 10k rows x 4 columns", {"rate": ("rows/s", True)}),
    "copy": ("COPY of 100k records x 4 columns", {"rate": ("rows/s", True)}),
    "pool": ("pool of 10: 100 tasks x 50 queries", {"rate": ("queries/s", True)}),
}

#: Sizes of the full run and of ``--quick`` (smoke tests; figures meaningless).
SIZES = {
    "full": {
        "notify_n": 100_000, "latency_count": 5000, "latency_budget": 40.0, "select1_n": 5000,
        "fetch_rows": 10_000, "fetch_repeat": 20,
        "types_rows": 10_000, "types_repeat": 5, "types_cases": "all", "memory_rows": 1_000_000, "wide_rows": 50, "wide_repeat": 2,
        "execute_many_rows": 10_000, "copy_rows": 100_000,
        "pool_size": 10, "pool_tasks": 100, "pool_queries": 50,
        "stall": 30.0,   # seconds without a notification: the run fails
    },
    "quick": {
        "notify_n": 2000, "latency_count": 100, "latency_budget": 10.0, "select1_n": 300,
        "fetch_rows": 2000, "fetch_repeat": 1,
        "types_rows": 500, "types_repeat": 1, "types_cases": "all", "memory_rows": 20_000, "wide_rows": 4, "wide_repeat": 1,
        "execute_many_rows": 1000, "copy_rows": 5000,
        "pool_size": 10, "pool_tasks": 20, "pool_queries": 10,
        "stall": 5.0,
    },
}

#: notify_latency_busy: (tasks, microseconds per turn) of other work on the loop.
BUSY_LOOP = (4, 25)

WIDE_BYTES = 1 << 20   # one bytea value per row
CHANNEL = "bench_chan"


def metrics_of(workload: str) -> dict[str, tuple[str, bool]]:
    return WORKLOADS[workload][1]


def expand(names: str, known) -> list[str]:
    """``"a,b"`` or ``"all"`` -> list, checked against ``known`` (prefix ``notify`` allowed)."""
    if names in ("", "all"):
        return list(known)
    out: list[str] = []
    for name in names.split(","):
        name = name.strip()
        matches = [k for k in known if k == name] or [k for k in known if k.startswith(name)]
        if not matches:
            raise SystemExit(f"unknown name {name!r}; known: {', '.join(known)}")
        out += [m for m in matches if m not in out]
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
