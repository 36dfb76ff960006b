"""Parser throughput: the Cython core against the pure-Python reference parser.

Builds a deterministic recorded stream of backend messages in memory (DataRows of
8 columns with realistic value sizes, mixed with NotificationResponses carrying
32-byte payloads), splits it into 64 KiB chunks as a socket would deliver them,
and measures messages/s and MB/s for:

* ``psqlpy.protocol.MessageReader.feed``          (Cython, typed message objects)
* ``MessageReader.get_buffer/buffer_updated``      (Cython, the BufferedProtocol path)
* ``psqlpy._pyprotocol.PyMessageReader.feed``      (pure Python reference)
* ``psqlpy.protocol.CoreProtocol``, notifications only: the connection's real hot
  path (frame, decode channel/payload, build ListenerNotificationMsg, call the handler)

    python benchmarks/bench_parser.py --messages 200000 --repeat 5

Prints a markdown table; every figure is the median of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import random
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from psqlpy import protocol  # noqa: E402
from spec import cpu_model  # noqa: E402
from psqlpy._pyprotocol import PyMessageReader  # noqa: E402

CHUNK = 64 * 1024


def _frame(code: bytes, body: bytes) -> bytes:
    return code + struct.pack("!I", len(body) + 4) + body


def _data_row(rng: random.Random, i: int) -> bytes:
    """8 text-format columns: int4, int8, bool, name, uuid, timestamptz, numeric, text."""
    words = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
    values = [
        str(i).encode(),
        str(rng.getrandbits(40)).encode(),
        b"t" if rng.random() < 0.5 else b"f",
        ("user_%d" % rng.randrange(10_000)).encode(),
        "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                       rng.getrandbits(16), rng.getrandbits(16),
                                       rng.getrandbits(48)),
        b"2026-11-29 06:49:%02d.%06d+00" % (rng.randrange(60), rng.randrange(10**6)),
        b"%d.%02d" % (rng.randrange(100_000), rng.randrange(100)),
        None if rng.random() < 0.1 else
        " ".join(rng.choice(words) for _ in range(rng.randrange(2, 30))).encode(),
    ]
    body = struct.pack("!h", len(values))
    for v in values:
        if isinstance(v, str):
            v = v.encode()
        body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
    return _frame(b"D", body)


def _notification(rng: random.Random) -> bytes:
    payload = "%032x" % rng.getrandbits(128)  # 32 bytes
    return _frame(b"A", struct.pack("!i", 4242) + b"events\0" + payload.encode() + b"\0")


def build_mixed_stream(n: int, seed: int = 42) -> bytes:
    rng = random.Random(seed)
    return b"".join(_notification(rng) if rng.random() < 0.2 else _data_row(rng, i)
                    for i in range(n))


def build_notification_stream(n: int, seed: int = 43) -> bytes:
    rng = random.Random(seed)
    return b"".join(_notification(rng) for _ in range(n))


def chunks_of(stream: bytes) -> list[bytes]:
    return [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]


# ---- one timed run of each contender: returns (seconds, messages) ---------------------


def run_feed(reader_cls, chunks):
    reader = reader_cls()
    count = 0
    t0 = time.perf_counter()
    for c in chunks:
        count += len(reader.feed(c))
    return time.perf_counter() - t0, count


def run_buffered(chunks):
    reader = protocol.MessageReader()
    count = 0
    t0 = time.perf_counter()
    for c in chunks:
        view = reader.get_buffer(len(c))
        n = len(c)
        assert len(view) >= n
        view[:n] = c
        del view
        count += len(reader.buffer_updated(n))
    return time.perf_counter() - t0, count


def run_core_notifications(chunks):
    core = protocol.CoreProtocol()
    core.start_startup(lambda m: None)
    core.end_startup()
    core.notification_handler = collections.deque(maxlen=0).append  # count, keep nothing
    t0 = time.perf_counter()
    for c in chunks:
        core.feed(c)
    elapsed = time.perf_counter() - t0
    if core.error is not None:
        raise core.error
    return elapsed, core.notifications_received


def measure(fn, repeat, expected):
    times = []
    for _ in range(repeat):
        t, count = fn()
        assert count == expected, (count, expected)
        times.append(t)
    return statistics.median(times)


def machine_info() -> str:
    cpu = cpu_model()
    return (f"Python {platform.python_version()} ({platform.python_implementation()}), "
            f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000, help="messages per stream")
    ap.add_argument("--repeat", type=int, default=5, help="runs per contender (median)")
    args = ap.parse_args(argv)

    mixed = build_mixed_stream(args.messages)
    notifs = build_notification_stream(args.messages)
    mixed_chunks, notif_chunks = chunks_of(mixed), chunks_of(notifs)
    n = args.messages

    rows = []  # (contender, stream, bytes, seconds)
    py_mixed = measure(lambda: run_feed(PyMessageReader, mixed_chunks), args.repeat, n)
    rows.append(("MessageReader.feed (Cython)", "mixed", len(mixed),
                 measure(lambda: run_feed(protocol.MessageReader, mixed_chunks), args.repeat, n),
                 py_mixed))
    rows.append(("MessageReader get_buffer/buffer_updated (Cython)", "mixed", len(mixed),
                 measure(lambda: run_buffered(mixed_chunks), args.repeat, n), py_mixed))
    rows.append(("PyMessageReader.feed (pure Python)", "mixed", len(mixed), py_mixed, py_mixed))

    py_notif = measure(lambda: run_feed(PyMessageReader, notif_chunks), args.repeat, n)
    rows.append(("CoreProtocol.feed -> notification_handler (Cython)", "notifications",
                 len(notifs), measure(lambda: run_core_notifications(notif_chunks),
                                      args.repeat, n), py_notif))
    rows.append(("MessageReader.feed (Cython)", "notifications", len(notifs),
                 measure(lambda: run_feed(protocol.MessageReader, notif_chunks), args.repeat, n),
                 py_notif))
    rows.append(("PyMessageReader.feed (pure Python)", "notifications", len(notifs),
                 py_notif, py_notif))

    print(f"{machine_info()}")
    print(f"{n} messages per stream, {CHUNK // 1024} KiB chunks, median of {args.repeat} runs; "
          f"mixed = 80% DataRow (8 columns) + 20% NotificationResponse (32-byte payload), "
          f"{len(mixed) / n:.0f} B/message avg\n")
    print("| contender | stream | messages/s | MB/s | vs pure Python |")
    print("|---|---|---:|---:|---:|")
    for name, stream, nbytes, secs, py_secs in rows:
        print(f"| {name} | {stream} | {n / secs:,.0f} | {nbytes / secs / 1e6:,.1f} "
              f"| {py_secs / secs:.1f}x |")


if __name__ == "__main__":
    main()
