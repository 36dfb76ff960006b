"""Connecting: settings (DSN, keywords, environment, password file), TLS, authentication,
the startup exchange and failover across hosts.

* :mod:`.conninfo`   libpq connection strings -> keyword/value pairs
* :mod:`.settings`   every source merged into one immutable :class:`ConnectConfig`
* :mod:`.pgpass`     the password file, per host and port
* :mod:`.tls`        TLS contexts and certificate checks with libpq's trust decisions
* :mod:`.auth`       MD5 and SCRAM-SHA-256(-PLUS) math (no I/O)
* :mod:`.authpolicy` what a server may ask for (``require_auth``, ``channel_binding``)
* :mod:`.startup`    the startup/authentication exchange on one open transport
* :mod:`.failover`   hosts in order, TLS retries per ``sslmode``, the final error
"""
from .failover import open_connection, reported_read_only
from .settings import ConnectConfig, parse_dsn, parse_settings

__all__ = ["open_connection", "reported_read_only", "ConnectConfig", "parse_dsn",
           "parse_settings"]
