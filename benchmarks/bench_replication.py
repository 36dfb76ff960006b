"""Logical replication: decoded changes per second, ours against psycopg2 and the server.

    make bench                                  # runs this after the driver tables
    .venv/bin/python benchmarks/bench_replication.py [--dsn DSN] [--rows 100000]
                                                     [--txs 2] [--rounds 3] [--quick]

The workload: ``--txs`` transactions of ``--rows`` inserted rows each, 8 columns of
mixed types (int4, int8, float8, text, bool, timestamptz, numeric, text), committed
before any client starts, then consumed from one logical replication slot (pgoutput,
proto_version 3, binary values, messages on, streaming on) that no client advances,
so every client and every round receives exactly the same stream.  Three clients,
interleaved round by round, each in a fresh process:

* ``ours``: ``pool.replication(...)``; ``async for tx in stream`` until every
  transaction has arrived: every value of every row decoded into Python objects.
* ``psycopg2``: ``ReplicationCursor.consume_stream`` with a consumer that does
  nothing but spot the Commit messages (raw bytes, ``decode=False``; nothing
  decoded), in its own virtualenv (``.bench-venvs/psycopg2``, ``psycopg2-binary``).
* ``server``: the server's own send rate: a socket that only counts bytes
  (psqlpy opens the replication connection and sends START_REPLICATION, then an
  asyncio protocol that adds up the bytes takes over the socket), up to the
  byte where the last Commit ends (measured once, untimed, by parsing).

Each is timed from the start of the stream (the server accepted
START_REPLICATION) to the last Commit.  The figure is rows (changes) per second;
the ratios are ours / psycopg2 (goal: at least 3) and ours / server (goal: at
least 0.8).
"""
from __future__ import annotations

import argparse
import asyncio
import decimal
import json
import os
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

SLOT = "bench_repl_slot"
PUB = "bench_repl_pub"
TABLE = "bench_repl"
OPTIONS = {"proto_version": "3", "publication_names": PUB, "binary": "true",
           "messages": "true", "streaming": "on"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- set-up (ours) ----------------------------------------------------------------------

async def prepare(dsn: str, rows: int, txs: int) -> None:
    import psqlpy
    conn = await psqlpy.connect(dsn=dsn)
    try:
        await conn.execute_batch(
            f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            f"WHERE slot_name = '{SLOT}'; "
            f"DROP PUBLICATION IF EXISTS {PUB}; DROP TABLE IF EXISTS {TABLE}; "
            f"CREATE TABLE {TABLE} (id int4, big int8, f float8, name text, flag bool, "
            f"at timestamptz, amount numeric, note text); "
            f"CREATE PUBLICATION {PUB} FOR TABLE {TABLE}")
        await conn.execute(f"SELECT pg_create_logical_replication_slot('{SLOT}', 'pgoutput')")
        for t in range(txs):
            await conn.execute(
                f"INSERT INTO {TABLE} SELECT g, g::int8 * 1000003, g / 7.0, 'name ' || g, g % 2 = 0, "
                f"'2024-01-01'::timestamptz + g * interval '1 second', (g * 31 % 100000) / 100.0, "
                f"md5(g::text) FROM generate_series({t * rows + 1}, {(t + 1) * rows}) g")
    finally:
        conn.close()


async def cleanup(dsn: str) -> None:
    import psqlpy
    conn = await psqlpy.connect(dsn=dsn)
    try:
        await conn.execute_batch(
            f"SELECT pg_drop_replication_slot('{SLOT}'); DROP PUBLICATION {PUB}; DROP TABLE {TABLE}")
    finally:
        conn.close()


# ---- the clients (each run in a process of its own: --client X) -------------------------

async def run_ours(dsn: str, rows: int, txs: int) -> dict:
    import psqlpy
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    stream = pool.replication(SLOT, PUB)
    await stream.startup()
    t0, c0 = time.perf_counter(), time.process_time()
    got = changes = 0
    last = None
    async for tx in stream:
        got += 1
        changes += len(tx.changes)
        last = tx
        if got == txs:
            break
    t1, c1 = time.perf_counter(), time.process_time()
    # Spot check: the last row is decoded, with the right values and types.
    row = last.changes[-1].new
    n = txs * rows
    ok = (changes == n and row["id"] == n and row["big"] == n * 1000003
          and row["name"] == f"name {n}" and row["flag"] == (n % 2 == 0)
          and row["at"].year == 2024
          and row["amount"] == decimal.Decimal(n * 31 % 100000) / 100)
    await stream.shutdown()
    pool.close()
    return {"seconds": t1 - t0, "cpu": c1 - c0, "changes": changes, "ok": ok}


def run_psycopg2(dsn: str, rows: int, txs: int) -> dict:
    import psycopg2
    import psycopg2.extras
    conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    cur.start_replication(slot_name=SLOT, decode=False, options=OPTIONS)
    t0, c0 = time.perf_counter(), time.process_time()
    state = {"commits": 0, "messages": 0}

    def consume(msg):
        state["messages"] += 1
        if msg.payload[:1] == b"C":
            state["commits"] += 1
            if state["commits"] == txs:
                raise psycopg2.extras.StopReplication

    try:
        cur.consume_stream(consume)
    except psycopg2.extras.StopReplication:
        pass
    t1, c1 = time.perf_counter(), time.process_time()
    conn.close()
    # Begin + rows + Commit per transaction, one Relation message.
    ok = state["messages"] == txs * (rows + 2) + 1
    return {"seconds": t1 - t0, "cpu": c1 - c0, "changes": txs * rows, "ok": ok,
            "messages": state["messages"]}


class _Counter(asyncio.BufferedProtocol):
    """Adds up bytes until ``total``; with ``total`` None, parses the frames
    (untimed calibration) and records where the ``txs``-th Commit ends."""

    def __init__(self, total: int | None, txs: int):
        self.total, self.txs = total, txs
        self.got = 0
        self.first = self.last = 0.0
        self.done = asyncio.get_running_loop().create_future()
        self._buf = bytearray(1 << 20)
        self._pending = b""
        self._commits = 0

    def get_buffer(self, sizehint):
        return self._buf

    def buffer_updated(self, nbytes):
        if not self.got:
            self.first = time.perf_counter()
        if self.total is None:
            self._parse(bytes(self._buf[:nbytes]))
        self.got += nbytes
        if self.total is not None and self.got >= self.total and not self.done.done():
            self.last = time.perf_counter()
            self.done.set_result(self.got)

    def _parse(self, data: bytes) -> None:
        data = self._pending + data
        pos, base = 0, self.got - len(self._pending)
        while len(data) - pos >= 5:
            (length,) = struct.unpack_from("!I", data, pos + 1)
            if len(data) - pos < length + 1:
                break
            # CopyData carrying XLogData whose pgoutput message is a Commit
            if data[pos:pos + 1] == b"d" and data[pos + 5:pos + 6] == b"w" and data[pos + 30:pos + 31] == b"C":
                self._commits += 1
                if self._commits == self.txs and not self.done.done():
                    self.done.set_result(base + pos + length + 1)
            pos += length + 1
        self._pending = data[pos:]

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost after {self.got} bytes: {exc}"))


async def run_server(dsn: str, rows: int, txs: int, total: int | None) -> dict:
    """The byte counter (``total`` None: calibration, returns the byte count)."""
    import dataclasses

    import psqlpy
    from psqlpy import protocol
    from psqlpy._connect import open_connection
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=2)
    config = dataclasses.replace(pool.config, server_settings=(("replication", "database"),))
    pg = await open_connection(config)
    opts = ", ".join(f"{k} '{v}'" for k, v in OPTIONS.items())
    counter = _Counter(total, txs)
    pg.transport.write(protocol.build_query(f"START_REPLICATION SLOT {SLOT} LOGICAL 0/0 ({opts})"))
    pg.transport.set_protocol(counter)     # before any reply is read: every byte is counted
    got = await asyncio.wait_for(counter.done, 600)
    pg.transport.abort()
    pool.close()
    if total is None:
        return {"total": got}
    return {"seconds": counter.last - counter.first, "changes": txs * rows, "ok": got >= total}


# ---- the coordinator --------------------------------------------------------------------

def psycopg2_python(refresh: bool) -> str | None:
    from run import PEERS, ensure_venv
    PEERS.setdefault("psycopg2", ["psycopg2-binary"])
    try:
        return ensure_venv("psycopg2", refresh)
    except RuntimeError as e:
        log(f"psycopg2: no virtualenv ({e}); skipped")
        return None


def run_client(py: str, client: str, dsn: str, rows: int, txs: int, total: int | None) -> dict:
    cmd = [py, os.path.abspath(__file__), "--client", client, "--dsn", dsn, "--rows", str(rows),
           "--txs", str(txs)]
    if total is not None:
        cmd += ["--total", str(total)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--rows", type=int, default=None, help="rows per transaction (100000)")
    ap.add_argument("--txs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="10k rows, one round: a smoke run")
    ap.add_argument("--refresh-venvs", action="store_true")
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    rows = args.rows or (10_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 3)

    if args.client:
        if args.client == "ours":
            res = asyncio.run(run_ours(args.dsn, rows, args.txs))
        elif args.client == "psycopg2":
            res = run_psycopg2(args.dsn, rows, args.txs)
        else:
            res = asyncio.run(run_server(args.dsn, rows, args.txs, args.total))
        print(json.dumps(res))
        return 0

    from server import server_dsn
    with server_dsn(args.dsn, announce=log) as dsn:
        if "sslmode" not in dsn:
            dsn += ("&" if "?" in dsn else "?") + "sslmode=disable"
        pg2 = psycopg2_python(args.refresh_venvs)
        log(f"preparing {args.txs} transactions of {rows:,} rows ...")
        asyncio.run(prepare(dsn, rows, args.txs))
        try:
            total = run_client(sys.executable, "calibrate", dsn, rows, args.txs, None).get("total")
            if not total:
                raise SystemExit("calibration of the byte counter failed")
            clients = {"ours": sys.executable, "server": sys.executable}
            if pg2:
                clients["psycopg2"] = pg2
            results: dict[str, list] = {c: [] for c in clients}
            capacity: dict[str, list] = {c: [] for c in clients}
            problems = []
            order = list(clients)
            for r in range(rounds):
                for c in order[r % len(order):] + order[:r % len(order)]:
                    res = run_client(clients[c], c, dsn, rows, args.txs, total if c == "server" else None)
                    if "error" in res or not res.get("ok"):
                        problems.append(f"round {r + 1} {c}: {res}")
                        continue
                    results[c].append(res["changes"] / res["seconds"])
                    if res.get("cpu"):
                        capacity[c].append(res["changes"] / res["cpu"])
                    log(f"round {r + 1} {c}: {results[c][-1]:,.0f} changes/s"
                        + (f", {capacity[c][-1]:,.0f} per CPU-second" if res.get("cpu") else ""))
        finally:
            asyncio.run(cleanup(dsn))
    med = {c: statistics.median(v) for c, v in results.items() if v}
    print(f"\n### Logical replication: {args.txs} x {rows:,}-row transactions, 8 mixed columns "
          f"({total / 1e6:.1f} MB of stream), {rounds} round(s)\n")
    print("| client | median changes/s | min–max | ours / client |")
    print("|---|---:|---:|---:|")
    for c, v in results.items():
        if not v:
            print(f"| {c} | error | | |")
            continue
        ratio = f"{med['ours'] / med[c]:.2f}x" if "ours" in med and c != "ours" else "–"
        print(f"| {c} | {med[c]:,.0f} | {min(v):,.0f}–{max(v):,.0f} | {ratio} |")
    cap = {c: statistics.median(v) for c, v in capacity.items() if v}
    if "ours" in cap:
        print("\nThe client's own cost, changes per second of its process's CPU time (what it "
              "could take if the server sent faster):\n")
        print("| client | median changes per CPU-second | min–max | ours / client |")
        print("|---|---:|---:|---:|")
        for c, v in capacity.items():
            if v:
                ratio = f"{cap['ours'] / cap[c]:.2f}x" if c != "ours" else "–"
                print(f"| {c} | {cap[c]:,.0f} | {min(v):,.0f}–{max(v):,.0f} | {ratio} |")
    print("\nours: every value decoded into Python objects; psycopg2: raw bytes, a no-op "
          "consumer; server: a socket that only counts bytes.  Goals: ours >= 3x psycopg2, "
          ">= 0.8x server.  Every client is timed on the same server stream, so a client "
          "that keeps up measures the server's send rate (the walsender decoding the WAL), "
          "not its own: the CPU table shows the clients' own cost.")
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
