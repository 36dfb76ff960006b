"""Load: 200 concurrent tasks on a pool of 10, 10k queries, every result checked,
with asyncio debug mode on and nothing leaked (tasks, sockets, warnings)."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import warnings

import pytest

import psqlpy

pytestmark = pytest.mark.asyncio

TASKS = 200
POOL = 10
QUERIES = 10_000
BAD_WORDS = ("never awaited", "unclosed", "destroyed but it is pending",
             "was never retrieved", "Unclosed", "ResourceWarning")


def _fds() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    return out


def _sockets(fds) -> set[str]:
    return {f for f in fds if "socket:" in f}


async def _run_load(dsn, per_task):
    pool = psqlpy.ConnectionPool(dsn=dsn, max_db_pool_size=POOL)
    checked = 0
    rnd = random.Random(6)

    async def worker(w):
        nonlocal checked
        for i in range(per_task):
            x = rnd.randrange(-(2**40), 2**40)
            mode = (w + i) % 4
            if mode == 0:
                async with pool.acquire() as c:
                    assert await c.fetch_val("SELECT $1::int8 * 2", [x]) == x * 2
            elif mode == 1:
                c = await pool.connection()
                try:
                    r = await c.execute("SELECT $1::int8 * 2 AS v, $2::text AS t", [x, f"w{w}"])
                    assert r.result() == [{"v": x * 2, "t": f"w{w}"}]
                finally:
                    c.close()
            elif mode == 2:
                async with pool.acquire() as c:
                    row = await c.fetch_row("SELECT $1::int8 * 2 AS v, $2::int4 AS w", [x, w])
                    assert row.result() == {"v": x * 2, "w": w}
            else:
                async with pool.acquire() as c, c.transaction() as tx:
                    assert await tx.fetch_val("SELECT $1::int8 * 2", [x]) == x * 2
            checked += 1

    try:
        await asyncio.gather(*(worker(w) for w in range(TASKS)))
        status = pool.status()
        assert status.size <= POOL
        assert status.waiting == 0
    finally:
        pool.close()
        await pool.wait_closed()
    return checked


async def test_200_tasks_pool_of_10_10k_queries(dsn, caplog):
    loop = asyncio.get_running_loop()
    was_debug = loop.get_debug()
    loop.set_debug(True)
    loop.slow_callback_duration = 1.0   # debug mode's slow-callback log is not a failure here
    caplog.set_level(logging.WARNING, logger="asyncio")
    gc.collect()
    tasks_before = set(asyncio.all_tasks())
    fds_before = _fds()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            checked = await _run_load(dsn, QUERIES // TASKS)
            await asyncio.sleep(0.05)      # let transports finish closing
            gc.collect()
            await asyncio.sleep(0)
    finally:
        loop.set_debug(was_debug)
    assert checked == QUERIES

    leaked = {t for t in asyncio.all_tasks() if t not in tasks_before and not t.done()}
    assert not leaked, f"tasks left running: {leaked}"

    fds_after = _fds()
    new_sockets = _sockets(fds_after) - _sockets(fds_before)
    assert not new_sockets, f"sockets left open: {new_sockets}"
    other = {f for f in fds_after - fds_before if "socket:" not in f}
    # libuv keeps a reserve /dev/null fd (EMFILE trick) and may add an eventfd
    assert all(("anon_inode" in f or "pipe:" in f or f.endswith("/dev/null")) for f in other), other
    # (uvloop may open an internal eventfd/pipe lazily: only sockets count)

    bad = [str(w.message) for w in caught
           if issubclass(w.category, (ResourceWarning, RuntimeWarning))
           or any(b in str(w.message) for b in BAD_WORDS)]
    assert not bad, bad
    logged = [r.getMessage() for r in caplog.records
              if any(b in r.getMessage() for b in BAD_WORDS)]
    assert not logged, logged
