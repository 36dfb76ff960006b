"""Benchmark coordinator: ours against asyncpg, psycopg 3 and the Rust psqlpy, one run.

    make bench                        # = .venv/bin/python benchmarks/run.py
    make bench ARGS='--quick'         # smoke run: small sizes, one round
    python benchmarks/run.py [--dsn DSN] [--drivers ours,asyncpg] [--workloads fetch,notify]
                             [--loops asyncio,uvloop] [--rounds 3] [--quick]
    python benchmarks/run.py --profile fetch [--loops asyncio] [--repeat 10]

What it does (see benchmarks/README.md for the method):

1. ours runs from this interpreter (the project's .venv, built by ``make build``);
   every peer gets its own virtualenv under ``.bench-venvs/`` (created once, kept,
   rebuilt when its requirement list changes or with ``--refresh-venvs``).  The
   Rust psqlpy has our package name, so it can only live in a venv of its own.
2. A throwaway PostgreSQL (tests/pgcluster.py, TLS off) unless ``--dsn``.
3. Round by round, loop by loop, workload by workload, every driver runs the
   workload in a fresh ``worker.py`` process of its venv; the driver order rotates
   each round.  Interleaving makes machine noise hit all drivers alike.
4. Tables (median, min-max over rounds, ratio to asyncpg) on stdout, and
   ``benchmarks/results/bench-<stamp>.{json,md,png}`` plus ``latest.*`` copies.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from server import server_dsn  # noqa: E402
from spec import BASELINE, DRIVERS, SIZES, WORKLOADS, cpu_model, expand, metrics_of  # noqa: E402

WORKER = os.path.join(HERE, "worker.py")
VENVS = os.path.join(ROOT, ".bench-venvs")
RESULTS = os.path.join(HERE, "results")

#: What each peer's virtualenv gets.  asyncpg goes into every one: it is the common
#: NOTIFY sender, so the sending side is the same for every driver.
PEERS = {
    "asyncpg": ["asyncpg", "uvloop"],
    "psycopg": ["psycopg[binary,pool]", "uvloop", "asyncpg"],
    "rust_psqlpy": ["psqlpy", "uvloop", "asyncpg"],
}

NOTES = {
    ("asyncpg", "notify_iter_32"): "asyncpg has no iterator: add_listener -> asyncio.Queue",
    ("asyncpg", "notify_iter_1k"): "asyncpg has no iterator: add_listener -> asyncio.Queue",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- environments ------------------------------------------------------------------

def venv_python(driver: str) -> str:
    return os.path.join(VENVS, driver, "bin", "python")


def ensure_venv(driver: str, refresh: bool) -> str:
    """Create (or reuse) the peer's venv; return its python.  Raises RuntimeError."""
    reqs = PEERS[driver]
    path = os.path.join(VENVS, driver)
    stamp = os.path.join(path, ".bench-requirements.json")
    py = venv_python(driver)
    if not refresh and os.path.exists(py) and os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == reqs:
                return py
    os.makedirs(VENVS, exist_ok=True)
    with open(os.path.join(VENVS, ".gitignore"), "w") as f:
        f.write("*\n")   # never committed, whatever the top-level .gitignore says
    if os.path.exists(path):
        shutil.rmtree(path)
    log(f"creating {os.path.relpath(path, ROOT)}: {' '.join(reqs)}")
    base = getattr(sys, "_base_executable", sys.executable)
    for cmd in ([base, "-m", "venv", path],
                [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])}... failed:\n{proc.stderr[-1500:]}")
    with open(stamp, "w") as f:
        json.dump(reqs, f)
    return py


def check_ours(py: str) -> None:
    proc = subprocess.run([py, "-c", "import psqlpy.protocol"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("ours is not built: run `make build` (or use `make bench`)\n" + proc.stderr[-800:])


def machine_info() -> dict:
    cpu = cpu_model()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def redact(dsn: str) -> str:
    import re
    return re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", dsn)


# ---- running -----------------------------------------------------------------------

def run_job(py, driver, loop, workload, dsn, quick, timeout, overrides=()):
    cmd = [py, WORKER, "--driver", driver, "--dsn", dsn, "--loop", loop,
           "--workloads", workload, "--timeout", str(timeout)]
    for item in overrides:
        cmd += ["--set", item]
    if quick:
        cmd.append("--quick")
    base = {"driver": driver, "loop": loop, "workload": workload}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [dict(base, status="error", reason=f"worker timed out after {timeout + 60:.0f} s")]
    out = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    if not out:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        out.append(dict(base, status="error",
                        reason=f"worker exited {proc.returncode}: " + " | ".join(tail)[-600:]))
    return out


def progress(total):
    try:
        from tqdm import tqdm
        return tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)
    except ImportError:   # the bench extra is not installed: plain lines
        class Plain:
            n = 0

            def set_description_str(self, s):
                self.s = s

            def update(self, k):
                self.n += k
                log(f"[{self.n}/{total}] {self.s}")

            def close(self):
                pass
        return Plain()


# ---- summarising ---------------------------------------------------------------------

def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarise(results, drivers, loops, workloads):
    """-> {(workload, metric, loop, driver): {...}}"""
    summary = {}
    for w in workloads:
        for metric, (unit, higher) in metrics_of(w).items():
            for loop in loops:
                for d in drivers:
                    runs = [r for r in results if (r["workload"], r["loop"], r["driver"]) == (w, loop, d)]
                    ok = [r["metrics"][metric] for r in runs
                          if r.get("status") == "ok" and metric in r["metrics"]]
                    entry = {"rounds": len(ok), "unit": unit, "higher_is_better": higher,
                             "notes": sorted({n for r in runs for n in r.get("notes", [])}
                                             | ({NOTES[(d, w)]} if (d, w) in NOTES else set()))}
                    if ok:
                        q = statistics.quantiles(ok, n=4) if len(ok) >= 2 else [ok[0]] * 3
                        entry.update(status="ok", median=statistics.median(ok), min=min(ok), max=max(ok),
                                     q1=q[0], q3=q[2], values=ok)
                    elif runs and all(r.get("status") == "ok" for r in runs):
                        # a workload of several figures without this one (a type the
                        # driver cannot do): its notes say why
                        entry.update(status="n/a", reason="not measured (see notes)")
                    elif runs:
                        bad = runs[-1]
                        entry.update(status=bad.get("status", "error"), reason=bad.get("reason", "?"))
                    else:
                        entry.update(status="missing", reason="not run")
                    summary[(w, metric, loop, d)] = entry
    for (w, metric, loop, d), e in summary.items():
        base = summary.get((w, metric, loop, BASELINE))
        if e["status"] == "ok" and base and base["status"] == "ok":
            e["ratio"] = (e["median"] / base["median"]) if e["higher_is_better"] else (base["median"] / e["median"])
    return summary


def types_table(summary, drivers, loops, rounds) -> list:
    """The per-type workload in one table per loop: a row per type, each driver's
    decode and encode ratio to the baseline (ours' absolute figures too)."""
    from typecases import CASES
    others = [d for d in drivers if d != BASELINE]
    lines = []
    for loop in loops:
        lines += [f"### types: decode and encode per type, {loop} ({rounds} rounds, medians; "
                  f"rows/s of client CPU; ratio to {BASELINE}, > 1 is better)", ""]
        head = "| type |" + "".join(f" {d} decode | {d} encode |" for d in others)
        if "ours" in drivers:
            head += " ours decode rows/s | ours encode rows/s |"
        lines += [head, "|---|" + "---:|" * (2 * len(others) + (2 if "ours" in drivers else 0))]
        notes = []
        for c in CASES:
            cells = []
            for d in others:
                for way in ("decode", "encode"):
                    e = summary.get(("types", f"{c.name}.{way}", loop, d))
                    if e and "ratio" in e:
                        cells.append(f"{e['ratio']:.2f}x")
                    else:
                        why = _type_note(e, c.name, way)
                        if why and why not in notes:
                            notes.append(why)
                        cells.append(f"n/a [{notes.index(why) + 1}]" if why else "–")
            if "ours" in drivers:
                for way in ("decode", "encode"):
                    e = summary.get(("types", f"{c.name}.{way}", loop, "ours"))
                    cells.append(fmt(e["median"]) if e and e["status"] == "ok" else "–")
            lines.append(f"| {c.name} | " + " | ".join(cells) + " |")
        lines.append("")
        for i, note in enumerate(notes, 1):
            lines.append(f"[{i}] {note}")
        lines.append("")
    return lines


def _type_note(e, name, way) -> str:
    if e is None:
        return ""
    for note in e.get("notes", []):
        if note.startswith(f"{name} {way}:"):
            return note
    return e.get("reason", "") if e.get("status") != "ok" else ""


def tables(summary, drivers, loops, workloads, rounds) -> str:
    lines = []
    for w in workloads:
        if w == "types":
            lines += types_table(summary, drivers, loops, rounds)
            continue
        title = WORKLOADS[w][0]
        for metric, (unit, higher) in metrics_of(w).items():
            name = f"{w}" + (f" {metric}" if len(metrics_of(w)) > 1 else "")
            better = "higher is better" if higher else "lower is better"
            lines += [f"### {name}: {title}" + (f", {metric}" if len(metrics_of(w)) > 1 else ""),
                      "",
                      f"| loop | driver | median {unit} | min–max ({rounds} rounds) | vs {BASELINE} |",
                      "|---|---|---:|---:|---:|"]
            footnotes = []
            for loop in loops:
                for d in drivers:
                    e = summary[(w, metric, loop, d)]
                    mark = ""
                    for note in e["notes"]:
                        if note not in footnotes:
                            footnotes.append(note)
                        mark += f" [{footnotes.index(note) + 1}]"
                    if e["status"] == "ok":
                        ratio = f"{e['ratio']:.2f}x" if "ratio" in e else "–"
                        lines.append(f"| {loop} | {d}{mark} | {fmt(e['median'])} | "
                                     f"{fmt(e['min'])}–{fmt(e['max'])} | {ratio} |")
                    else:
                        lines.append(f"| {loop} | {d}{mark} | {e['status']}: {e['reason']} | | |")
            lines.append("")
            lines.append(f"{unit}, {better}; ratio > 1 means better than {BASELINE}.")
            for i, note in enumerate(footnotes, 1):
                lines.append(f"[{i}] {note}")
            lines.append("")
    return "\n".join(lines)


def charts(summary, drivers, loops, workloads, path, title) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no charts")
        return None
    if "types" in workloads:
        types_chart(summary, drivers, loops, path.replace(".png", "-types.png"), title, plt)
    panels = [(w, m) for w in workloads if w != "types" for m in metrics_of(w)]
    if not panels:
        return path.replace(".png", "-types.png")
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    colors = {d: c for d, c in zip(DRIVERS, ("#d62728", "#1f77b4", "#2ca02c", "#9467bd"))}
    width = 0.8 / max(1, len(drivers))
    for ax, (w, metric) in zip(axes.flat, panels):
        unit, higher = metrics_of(w)[metric]
        for i, d in enumerate(drivers):
            xs, ys, lo, hi = [], [], [], []
            for j, loop in enumerate(loops):
                e = summary[(w, metric, loop, d)]
                if e["status"] == "ok":
                    xs.append(j + (i - (len(drivers) - 1) / 2) * width)
                    ys.append(e["median"])
                    lo.append(e["median"] - e["min"])
                    hi.append(e["max"] - e["median"])
                else:
                    ax.text(j + (i - (len(drivers) - 1) / 2) * width, 0, "n/a" if e["status"] == "n/a" else "err",
                            rotation=90, ha="center", va="bottom", fontsize=7, color=colors.get(d, "grey"))
            if xs:
                ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=d, color=colors.get(d))
        ax.set_xticks(range(len(loops)))
        ax.set_xticklabels(loops)
        ax.set_title(f"{w}" + (f" {metric}" if len(metrics_of(w)) > 1 else ""), fontsize=10)
        ax.set_ylabel(f"{unit} ({'higher' if higher else 'lower'} is better)", fontsize=8)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    from matplotlib.patches import Patch
    legend = [Patch(color=colors.get(d), label=d) for d in drivers]
    fig.legend(handles=legend, loc="upper right", ncol=len(drivers))
    fig.suptitle(title + "   (bars: median; whiskers: min–max over rounds)", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)

    # at a glance: every driver's ratio to the baseline, per workload
    ratio_path = path.replace(".png", "-ratios.png")
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(panels) * len(loops) + 1.5))
    labels, k = [], 0
    others = [d for d in drivers if d != BASELINE]
    h = 0.8 / max(1, len(others))
    for w, metric in panels:
        for loop in loops:
            for i, d in enumerate(others):
                e = summary[(w, metric, loop, d)]
                if "ratio" in e:
                    ax.barh(k + i * h, e["ratio"], h, color=colors.get(d))
            labels.append(f"{w}{' ' + metric if len(metrics_of(w)) > 1 else ''} [{loop}]")
            k += 1
    ax.set_yticks([j + h * (len(others) - 1) / 2 for j in range(k)])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xlabel(f"ratio to {BASELINE} (> 1 is better; latency: {BASELINE}'s / driver's)")
    ax.legend(handles=[Patch(color=colors.get(d), label=d) for d in others], loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(ratio_path, dpi=110)
    plt.close(fig)
    return path


def types_chart(summary, drivers, loops, path, title, plt) -> None:
    """Ratio to the baseline per type, decode and encode side by side."""
    from typecases import CASES
    from matplotlib.patches import Patch
    others = [d for d in drivers if d != BASELINE]
    colors = {d: c for d, c in zip(DRIVERS, ("#d62728", "#1f77b4", "#2ca02c", "#9467bd"))}
    fig, axes = plt.subplots(1, 2 * len(loops), figsize=(6 * len(loops), 0.32 * len(CASES) + 2),
                             squeeze=False, sharey=True)
    h = 0.8 / max(1, len(others))
    for j, (loop, way) in enumerate([(lp, w) for lp in loops for w in ("decode", "encode")]):
        ax = axes[0][j]
        for i, d in enumerate(others):
            for k, c in enumerate(CASES):
                e = summary.get(("types", f"{c.name}.{way}", loop, d))
                if e and "ratio" in e:
                    ax.barh(k + i * h, e["ratio"], h, color=colors.get(d))
        ax.axvline(1.0, color="black", lw=1)
        ax.set_title(f"{way} [{loop}]", fontsize=10)
        ax.set_xlabel(f"ratio to {BASELINE} (> 1 is better)", fontsize=8)
        ax.set_yticks([k + h * (len(others) - 1) / 2 for k in range(len(CASES))])
        ax.set_yticklabels([c.name for c in CASES], fontsize=8)
        ax.invert_yaxis()
    fig.legend(handles=[Patch(color=colors.get(d), label=d) for d in others], loc="upper right",
               ncol=len(others))
    fig.suptitle(title + "   (per type; client CPU)", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- profiling ----------------------------------------------------------------------

def profile(args, dsn) -> int:
    w = expand(args.profile, WORKLOADS)
    if len(w) != 1:
        raise SystemExit(f"--profile takes one workload, got {w}")
    w = w[0]
    pyspy = shutil.which("py-spy", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not pyspy:
        raise SystemExit("py-spy not found: pip install -e '.[bench]' (or make profile)")
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, f"profile-{w}.svg")
    loop = args.loops.split(",")[0]
    cmd = [pyspy, "record", "--native", "--rate", str(args.rate), "-o", out, "--",
           sys.executable, WORKER, "--driver", "ours", "--dsn", dsn, "--loop", loop,
           "--workloads", w, "--repeat", str(args.repeat)]
    if args.quick:
        cmd.append("--quick")
    for item in args.set:
        cmd += ["--set", item]
    log("$ " + " ".join(cmd).replace(dsn, redact(dsn)))
    rc = subprocess.call(cmd, cwd=ROOT)
    if rc == 0:
        log(f"flame graph: {os.path.relpath(out, ROOT)}")
    return rc


# ---- main ---------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="use this server instead of a throwaway cluster (TLS off advised)")
    ap.add_argument("--drivers", default=",".join(DRIVERS), help=f"subset of {','.join(DRIVERS)}")
    ap.add_argument("--workloads", default="all",
                    help="comma list or prefixes (e.g. notify), default all: " + ",".join(WORKLOADS))
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per workload run (default 600, 120 with --quick)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a size of spec.SIZES (e.g. notify_n=50000); repeatable")
    ap.add_argument("--refresh-venvs", action="store_true", help="recreate the peers' virtualenvs")
    ap.add_argument("--no-charts", action="store_true")
    ap.add_argument("--profile", metavar="WORKLOAD", help="profile ours on one workload with py-spy")
    ap.add_argument("--repeat", type=int, default=10, help="--profile: runs of the workload")
    ap.add_argument("--rate", type=int, default=250, help="--profile: samples per second")
    args = ap.parse_args(argv)

    drivers = expand(args.drivers, DRIVERS)
    workloads = expand(args.workloads, WORKLOADS)
    loops = [x.strip() for x in args.loops.split(",") if x.strip()]
    rounds = args.rounds or (1 if args.quick else 3)
    if args.timeout is None:
        args.timeout = 120.0 if args.quick else 600.0

    check_ours(sys.executable)
    with server_dsn(args.dsn, announce=log) as dsn:
        if args.profile:
            return profile(args, dsn)

        pythons, broken = {}, {}
        for d in drivers:
            if d == "ours":
                pythons[d] = sys.executable
                continue
            try:
                pythons[d] = ensure_venv(d, args.refresh_venvs)
            except RuntimeError as exc:
                broken[d] = str(exc)
                log(f"{d}: no virtualenv, skipped: {exc}")

        info = machine_info()
        from worker import apply_overrides
        sizes = apply_overrides(SIZES["quick" if args.quick else "full"], args.set)
        results: list = []
        jobs = rounds * len(loops) * len(workloads) * len(drivers)
        bar = progress(jobs)
        try:
            for r in range(rounds):
                order = drivers[r % len(drivers):] + drivers[:r % len(drivers)]   # rotate
                for loop in loops:
                    for w in workloads:
                        for d in order:
                            bar.set_description_str(f"round {r + 1}/{rounds} {loop} {w} {d}")
                            if d in broken:
                                got = [{"driver": d, "loop": loop, "workload": w, "status": "error",
                                        "reason": "virtualenv could not be created"}]
                            else:
                                got = run_job(pythons[d], d, loop, w, dsn, args.quick, args.timeout, args.set)
                            for g in got:
                                g["round"] = r + 1
                            results += got
                            bar.update(1)
        finally:
            bar.close()
        info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None

        versions = {}
        for res in results:
            if "versions" in res:
                versions.setdefault(res["driver"], res["versions"])
        summary = summarise(results, drivers, loops, workloads)
        header = (f"# psqlpy benchmarks, {info['date']}\n\n"
                  f"Python {info['python']}, {info['platform']}, {info['cpu']}, {info['cores']} cores, "
                  f"load average {info['loadavg_start'][0]:.2f} at start, {info['loadavg_end'][0]:.2f} at end; "
                  f"{rounds} round(s), loops {', '.join(loops)}, {'QUICK sizes' if args.quick else 'full sizes'}, "
                  f"TLS off, server {'given by --dsn' if args.dsn else 'throwaway local cluster'}.\n\n"
                  "Versions: " + "; ".join(
                      f"{d}: " + ", ".join(f"{k} {v}" for k, v in versions.get(d, {}).items())
                      for d in drivers) + "\n")
        body = tables(summary, drivers, loops, workloads, rounds)
        problems = [r for r in results if r.get("status") == "error"]
        prob = ""
        if problems:
            prob = "\n## Problems\n\n" + "\n".join(
                f"- round {r.get('round')}, {r['loop']}, {r['workload']}, {r['driver']}: {r.get('reason')}"
                for r in problems) + "\n"
        report = header + "\n" + body + prob
        print(report)

        os.makedirs(RESULTS, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = os.path.join(RESULTS, f"bench-{stamp}")
        doc = {
            "meta": dict(info, rounds=rounds, loops=loops, drivers=drivers, workloads=workloads,
                         quick=args.quick, sizes=sizes, dsn=redact(dsn), versions=versions,
                         baseline=BASELINE),
            "summary": [dict(workload=w, metric=m, loop=lp, driver=d, **e)
                        for (w, m, lp, d), e in summary.items()],
            "results": results,
        }
        with open(base + ".json", "w") as f:
            json.dump(doc, f, indent=1)
        with open(base + ".md", "w") as f:
            f.write(report)
        written = [base + ".json", base + ".md"]
        if not args.no_charts:
            title = (f"psqlpy benchmarks {info['date'][:10]}, Python {info['python']}, {info['cores']} cores"
                     + (" (QUICK)" if args.quick else ""))
            png = charts(summary, drivers, loops, workloads, base + ".png", title)
            for p in (base + ".png", base + "-ratios.png", base + "-types.png"):
                if png and os.path.exists(p):
                    written.append(p)
        for p in written:
            shutil.copyfile(p, os.path.join(RESULTS, "latest" + p[len(base):]))
        log("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in written) + " (and latest.*)")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
