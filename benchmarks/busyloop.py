"""Other work on the event loop while a latency workload runs.

An application's loop is rarely idle when a notification comes in: request
handlers, consumers and timers take turns on it.  ``busy_loop(tasks, us)`` runs
``tasks`` tasks that each compute for ``us`` microseconds, yield
(``await asyncio.sleep(0)``) and go again, until the block ends, so a delivery
that goes through the loop's ready queue waits behind a turn of every one of
them, as it would in such an application.  Standard library only (the worker
imports it in every driver's virtualenv).
"""
from __future__ import annotations

import asyncio
import contextlib
import time


async def _turns(us: int, stop: asyncio.Event) -> int:
    n = 0
    clock = time.perf_counter_ns
    while not stop.is_set():
        end = clock() + us * 1000
        while clock() < end:
            pass
        n += 1
        await asyncio.sleep(0)
    return n


@contextlib.asynccontextmanager
async def busy_loop(tasks: int, us: int):
    """Yields a dict that holds, after the block, ``turns``: the turns taken
    (a check that the load really ran)."""
    stop = asyncio.Event()
    running = [asyncio.ensure_future(_turns(us, stop)) for _ in range(tasks)]
    out: dict = {"turns": 0}
    try:
        yield out
    finally:
        stop.set()
        out["turns"] = sum(await asyncio.gather(*running))
