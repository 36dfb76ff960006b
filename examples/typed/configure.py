"""Configuring pools and connections, types and errors (``mypy --strict``; not run)."""
from __future__ import annotations

import ipaddress
import uuid

import psqlpy
from psqlpy import (
    ConnectionPool,
    ConnectionPoolBuilder,
    ConnectionPoolStatus,
    ConnRecyclingMethod,
    KeepaliveConfig,
    LoadBalanceHosts,
    SslMode,
    TargetSessionAttrs,
    connect,
    connect_pool,
    exceptions,
)
from psqlpy.extra_types import BigInt, JSONB, PgVector, Point, TextArray


def pools() -> list[ConnectionPool]:
    a = ConnectionPool(dsn="postgres://app@db/app", max_db_pool_size=10,
                       conn_recycling_method=ConnRecyclingMethod.Verified)
    b = connect_pool(hosts=["db1", "db2"], ports=[5432, 5433], username="app",
                     db_name="app", target_session_attrs=TargetSessionAttrs.ReadWrite,
                     load_balance_hosts=LoadBalanceHosts.Random, ssl_mode=SslMode.VerifyFull,
                     ca_file="/etc/ssl/ca.pem", connect_timeout_sec=5, keepalives=True,
                     keepalives_idle_sec=60)
    c = (ConnectionPoolBuilder().max_pool_size(4).user("app").password("pw").dbname("app")
         .host("db").port(5432).ssl_mode(SslMode.Require).build())
    status: ConnectionPoolStatus = a.status()
    a.resize(status.max_size + 1)
    _ = KeepaliveConfig(idle=60, interval=5, retries=3)
    return [a, b, c]


async def params() -> str:
    conn = await connect(dsn="postgres://app@db/app")
    try:
        res = await conn.execute(
            "SELECT $1, $2, $3, $4, $5, $6, $7",
            [BigInt(1), JSONB({"a": 1}), Point((1.0, 2.0)), TextArray(["x"]),
             PgVector([1.0, 2.0]), uuid.uuid4(), ipaddress.ip_address("10.0.0.1")])
        return str(res.result())
    except exceptions.IntegrityError as e:
        return f"constraint violated: {e}"
    except exceptions.ConnectionExecuteError as e:
        return f"query failed: {e}"
    except psqlpy.Error:
        raise
    finally:
        conn.close()
