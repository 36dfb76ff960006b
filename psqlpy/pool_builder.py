"""ConnectionPoolBuilder: the chainable way to configure a pool."""
from __future__ import annotations

from .pool import ConnectionPool


class ConnectionPoolBuilder:
    def __init__(self):
        self._kw: dict = {}
        self._hosts: list = []
        self._ports: list = []

    def _set(self, key, value):
        self._kw[key] = value
        return self

    def max_pool_size(self, pool_size: int):
        return self._set("max_db_pool_size", pool_size)

    def conn_recycling_method(self, method):
        return self._set("conn_recycling_method", method)

    def user(self, user: str):
        return self._set("username", user)

    def password(self, password: str):
        return self._set("password", password)

    def dbname(self, dbname: str):
        return self._set("db_name", dbname)

    def options(self, options: str):
        return self._set("options", options)

    def application_name(self, name: str):
        return self._set("application_name", name)

    def ssl_mode(self, mode):
        return self._set("ssl_mode", mode)

    def ca_file(self, path: str):
        return self._set("ca_file", path)

    def host(self, host: str):
        self._hosts.append(host)
        return self

    def hostaddr(self, addr):
        self._hosts.append(str(addr))
        return self

    def port(self, port: int):
        self._ports.append(port)
        return self

    def connect_timeout(self, seconds):
        return self._set("connect_timeout_sec", seconds)

    def tcp_user_timeout(self, seconds):
        return self._set("tcp_user_timeout_sec", seconds)

    def target_session_attrs(self, attrs):
        return self._set("target_session_attrs", attrs)

    def load_balance_hosts(self, mode):
        return self._set("load_balance_hosts", mode)

    def statement_cache_size(self, size: int):
        """Ours: 0 turns named prepared statements off (PgBouncer)."""
        return self._set("statement_cache_size", size)

    def keepalives(self, on: bool):
        return self._set("keepalives", on)

    def keepalives_idle(self, seconds):
        return self._set("keepalives_idle_sec", seconds)

    def keepalives_interval(self, seconds):
        return self._set("keepalives_interval_sec", seconds)

    def keepalives_retries(self, n: int):
        return self._set("keepalives_retries", n)

    def build(self) -> ConnectionPool:
        kw = dict(self._kw)
        if self._hosts:
            kw["hosts"] = list(self._hosts)
        if self._ports:
            kw["ports"] = list(self._ports)
        return ConnectionPool(**kw)
