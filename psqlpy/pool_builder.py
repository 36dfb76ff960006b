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

    def conn_recycling_method(self, conn_recycling_method):
        return self._set("conn_recycling_method", conn_recycling_method)

    def user(self, user: str):
        return self._set("username", user)

    def password(self, password: str):
        return self._set("password", password)

    def dbname(self, dbname: str):
        return self._set("db_name", dbname)

    def options(self, options: str):
        return self._set("options", options)

    def application_name(self, application_name: str):
        return self._set("application_name", application_name)

    def ssl_mode(self, ssl_mode):
        return self._set("ssl_mode", ssl_mode)

    def ca_file(self, ca_file: str):
        return self._set("ca_file", ca_file)

    def host(self, host: str):
        self._hosts.append(host)
        return self

    def hostaddr(self, hostaddr):
        self._hosts.append(str(hostaddr))
        return self

    def port(self, port: int):
        self._ports.append(port)
        return self

    def connect_timeout(self, connect_timeout):
        return self._set("connect_timeout_sec", connect_timeout)

    def tcp_user_timeout(self, tcp_user_timeout):
        return self._set("tcp_user_timeout_sec", tcp_user_timeout)

    def target_session_attrs(self, target_session_attrs):
        return self._set("target_session_attrs", target_session_attrs)

    def load_balance_hosts(self, load_balance_hosts):
        return self._set("load_balance_hosts", load_balance_hosts)

    def statement_cache_size(self, size: int):
        """Ours: 0 turns named prepared statements off (PgBouncer)."""
        return self._set("statement_cache_size", size)

    def introspect_types(self, introspect: bool):
        """Ours: False leaves user-defined types (enums, composites, ...) as text."""
        return self._set("introspect_types", introspect)

    def keepalives(self, keepalives: bool):
        return self._set("keepalives", keepalives)

    def keepalives_idle(self, keepalives_idle):
        return self._set("keepalives_idle_sec", keepalives_idle)

    def keepalives_interval(self, keepalives_interval):
        return self._set("keepalives_interval_sec", keepalives_interval)

    def keepalives_retries(self, keepalives_retries: int):
        return self._set("keepalives_retries", keepalives_retries)

    def build(self) -> ConnectionPool:
        kw = dict(self._kw)
        if self._hosts:
            kw["hosts"] = list(self._hosts)
        if self._ports:
            kw["ports"] = list(self._ports)
        return ConnectionPool(**kw)
