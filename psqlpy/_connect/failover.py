"""Opening a connection: the hosts in order (or shuffled), TLS negotiation per ``sslmode``,
the startup exchange, and ``target_session_attrs`` -- as libpq 18 does it.

* Each host is tried in turn until one works; like libpq, a failure on one host (refused
  port, TLS failure, a server error, wrong password, a refused authentication request,
  malformed messages) moves on to the next host.
* On one host, each way of connecting that ``sslmode`` allows is tried at most once:
  ``prefer`` goes on without TLS after a failed TLS attempt or a server error before
  authentication; ``allow`` tries TLS after such a server error on a plaintext attempt.
* ``connect_timeout`` bounds each host's whole attempt (name lookup, TCP, TLS, the
  authentication exchange including SCRAM's hashing, the ``target_session_attrs``
  check), as libpq restarts its timer per host.

When every host failed, one :class:`~psqlpy.exceptions.ConnectError` is raised (see
:func:`_failure`).
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl as _ssl

from .. import protocol as _proto
from .._enums import LoadBalanceHosts, SslMode, TargetSessionAttrs
from .._pgconn import PgConnection
from .._transport import PgTransportProtocol, set_socket_options
from ..exceptions import (ConnectError, ConnectSSLError, ConnectTimeoutError, Error,
                          make_server_error)
from .settings import ConnectConfig, HostSpec
from .startup import StartupServerError, run_startup
from .tls import client_context, server_name_indication, verify_peer_name

__all__ = ["open_connection", "reported_read_only"]

_REQUIRE_TLS = (SslMode.Require, SslMode.VerifyCa, SslMode.VerifyFull)


class _TimedOut(Exception):
    """One host's attempt ran out of ``connect_timeout``."""


class _SessionAttrsMismatch(Exception):
    """The server is not what ``target_session_attrs`` asks for."""


async def open_connection(config: ConnectConfig, *, loop=None) -> PgConnection:
    """Connect to the first host that accepts us and matches ``target_session_attrs``."""
    loop = loop or asyncio.get_running_loop()
    targets = list(config.targets)
    if config.load_balance_hosts == LoadBalanceHosts.Random:
        random.shuffle(targets)
    attempts: list = []
    for target in targets:
        try:
            if config.connect_timeout:
                conn = await asyncio.wait_for(_connect_target(loop, config, target, attempts),
                                              config.connect_timeout)
            else:
                conn = await _connect_target(loop, config, target, attempts)
        except asyncio.TimeoutError:
            attempts.append((target.where(),
                             _TimedOut(f"timed out after {config.connect_timeout} s")))
            continue
        if conn is not None:
            return conn
    raise _failure(attempts)


async def _connect_target(loop, config: ConnectConfig, target: HostSpec,
                          attempts: list) -> PgConnection | None:
    """Connect to one host, each way ``sslmode`` allows at most once; record every
    failure in ``attempts``; None when this host cannot be used."""
    mode = config.tls.mode
    if target.is_unix_socket or mode == SslMode.Disable:
        plan: tuple = (False,)
    elif mode == SslMode.Allow:
        plan = (False, True)
    elif mode == SslMode.Prefer:
        plan = (True, False)
    else:
        plan = (True,)
    tried: set = set()
    for use_tls in plan:
        if use_tls in tried:
            continue
        attempt = _Attempt(loop, config, target)
        failure = None
        try:
            conn = await attempt.run(use_tls, plain_allowed=False not in tried)
        except (OSError, EOFError, Error, StartupServerError, _ssl.SSLError) as e:
            failure = e
        except Exception as e:  # noqa: BLE001 - a bug must not pass for a bad server
            failure = _proto.ProtocolError(f"unexpected {type(e).__name__} during startup: "
                                           f"{e}")
        tried |= attempt.tried
        if failure is None:
            mismatch = None
            try:
                if await _matches_session_attrs(conn, config.target_session_attrs):
                    return conn
                mismatch = _SessionAttrsMismatch(
                    f"server is not {config.target_session_attrs.value}")
            except Exception as e:  # noqa: BLE001 - the check failed: try the next host
                mismatch = e
            finally:
                if mismatch is not None:
                    await conn.close()
            attempts.append((target.where(), mismatch))
            return None
        where = target.where() if len(plan) == 1 else (
            f"{target.where()} ({'TLS' if attempt.tls_used else 'no TLS'})")
        attempts.append((where, failure))
        retry = ((isinstance(failure, StartupServerError) and not failure.authenticated)
                 or (mode == SslMode.Prefer and attempt.tls_failed))
        if not retry:
            return None
    return None


class _Attempt:
    """One connection attempt to one host, with or without TLS."""

    __slots__ = ("loop", "config", "target", "tried", "tls_used", "tls_failed")

    def __init__(self, loop, config: ConnectConfig, target: HostSpec):
        self.loop = loop
        self.config = config
        self.target = target
        self.tried: set = set()      # True: TLS was tried, False: plaintext was
        self.tls_used = False
        self.tls_failed = False

    async def run(self, use_tls: bool, plain_allowed: bool) -> PgConnection:
        loop, config, target = self.loop, self.config, self.target
        core = _proto.CoreProtocol()
        if target.is_unix_socket:
            self.tried.add(False)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, f"{target.host}/.s.PGSQL.{target.port}")
            except BaseException:
                sock.close()
                raise
            transport, protocol = await loop.create_unix_connection(
                lambda: PgTransportProtocol(core), sock=sock)
        else:
            transport, protocol = await self._tcp(core, use_tls, plain_allowed)
        conn = PgConnection(loop, core, protocol, transport, config, target.address,
                            target.port, tls=self.tls_used)
        protocol.on_lost = conn.connection_lost
        try:
            await run_startup(conn, config, target)
        except BaseException:
            transport.abort()
            raise
        return conn

    async def _tcp(self, core, use_tls: bool, plain_allowed: bool):
        loop, config, target = self.loop, self.config, self.target
        sock = await _open_socket(loop, target)
        handed_over = False   # once create_connection starts, asyncio owns and closes sock
        try:
            set_socket_options(sock, config)
            ssl_ctx = None
            if use_tls:
                self.tried.add(True)
                try:
                    ssl_ctx = await _negotiate_tls(loop, sock, config, plain_allowed)
                except ConnectSSLError:
                    self.tls_failed = True
                    raise
            if ssl_ctx is None:
                self.tried.add(False)
            kwargs = {}
            if ssl_ctx is not None:
                kwargs = dict(ssl=ssl_ctx,
                              server_hostname=server_name_indication(target.host, config.tls),
                              ssl_handshake_timeout=config.connect_timeout or 60)
            handed_over = True
            try:
                transport, protocol = await loop.create_connection(
                    lambda: PgTransportProtocol(core), sock=sock, **kwargs)
            except (_ssl.SSLError, _ssl.CertificateError) as e:
                self.tls_failed = True
                raise ConnectSSLError(f"TLS handshake failed: {e}") from e
            self.tls_used = ssl_ctx is not None
        except BaseException:
            if not handed_over:
                sock.close()
            raise
        if self.tls_used and config.tls.mode == SslMode.VerifyFull:
            try:
                verify_peer_name(transport.get_extra_info("ssl_object"), target.host)
            except BaseException:
                self.tls_failed = True
                transport.abort()
                raise
        return transport, protocol


async def _negotiate_tls(loop, sock, config: ConnectConfig, plain_allowed: bool):
    """SSLRequest; the context when the server answers 'S', None when it declines and
    going on without TLS is allowed (not with require/verify-*, nor when plaintext was
    already tried on this host)."""
    await loop.sock_sendall(sock, _proto.build_ssl_request())
    # Exactly one byte: anything the server sent after it must go through the TLS
    # handshake, never into our parser (CVE-2021-23222).
    answer = await loop.sock_recv(sock, 1)
    if answer == b"S":
        ctx, _verified = client_context(config.tls)   # TlsSetupError is a ConnectSSLError
        return ctx
    if answer == b"N":
        if config.tls.mode in _REQUIRE_TLS or not plain_allowed:
            raise ConnectSSLError("server does not support SSL, but SSL was required")
        return None
    if answer == b"E":
        raise ConnectError("the server answered the SSLRequest with an error (it may be "
                           "out of connections or not PostgreSQL)")
    if not answer:
        raise ConnectError("the server closed the connection during SSL negotiation")
    raise _proto.ProtocolError(f"received invalid response to SSL negotiation: {answer!r}")


async def _open_socket(loop, target: HostSpec) -> socket.socket:
    flags = socket.AI_NUMERICHOST if target.hostaddr else 0
    address = target.address
    failed = None
    try:
        infos = await loop.getaddrinfo(address, target.port, type=socket.SOCK_STREAM,
                                       flags=flags)
    except socket.gaierror as e:
        failed = e
    if failed is not None:
        what = "parse network address" if target.hostaddr else "translate host name"
        err = ConnectError(f"could not {what} {address!r} to address: {failed.strerror}")
        raise err from failed
    last = None
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
            return sock
        except OSError as e:
            sock.close()
            last = e
        except BaseException:
            sock.close()
            raise
    raise last or OSError(f"cannot resolve {address}")


def reported_read_only(parameters) -> bool | None:
    """Read-only-ness from the ParameterStatus values of the startup, as libpq
    does: PostgreSQL 14+ reports ``in_hot_standby`` and
    ``default_transaction_read_only`` (both GUC_REPORT), so no query is needed.
    None when the server did not report both (older servers, some poolers)."""
    hot = parameters.get("in_hot_standby")
    default_ro = parameters.get("default_transaction_read_only")
    if hot is None or default_ro is None:
        return None
    return hot == "on" or default_ro == "on"


async def _matches_session_attrs(conn: PgConnection, attrs) -> bool:
    if attrs == TargetSessionAttrs.Any:
        return True
    read_only = reported_read_only(conn.core.parameters)
    if read_only is None:
        # Pre-14 server: one round trip.
        req = await conn.simple_query("SHOW transaction_read_only")
        read_only = req.results[0][1][0][0] == "on"
    if attrs == TargetSessionAttrs.ReadWrite:
        return not read_only
    return read_only


# ------------------------------------------------------------------------------------------
# The error raised when no host could be used
# ------------------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StartupServerError):
        code = exc.fields.get("C")
        return f"{exc.fields.get('M', 'server error')}" + (f" (SQLSTATE {code})" if code else "")
    return str(exc) or type(exc).__name__


def _failure(attempts: list) -> ConnectError:
    """One exception for the whole connect: the last failure decides its class (the
    server's SQLSTATE class, a timeout, TLS, or plain ConnectError); the message lists
    every attempt when there were several; ``attempts`` keeps them all."""
    if not attempts:
        return ConnectError("could not connect: no host to try")
    where, last = attempts[-1]
    server_errors = [e for _, e in attempts if isinstance(e, StartupServerError)]
    if server_errors:  # the server's refusal tells more than a later refused port
        last = server_errors[-1]
    summary = "; ".join(f"{w}: {_describe(e)}" for w, e in attempts)
    err: ConnectError
    if isinstance(last, StartupServerError):
        err = make_server_error(last.fields, ConnectError)  # type: ignore[assignment]
        if len(attempts) > 1:
            err.__notes__ = [f"connection attempts: {summary}"]  # type: ignore[attr-defined]
        cause = None
    else:
        message = f"could not connect: {summary}" if len(attempts) > 1 else (
            f"could not connect to {where}: {_describe(last)}")
        if isinstance(last, _TimedOut):
            err = ConnectTimeoutError(message)
            cause = None
        elif isinstance(last, (ConnectSSLError, _ssl.SSLError)):
            err = ConnectSSLError(message)
            cause = last
        elif isinstance(last, ConnectError):   # ours, private subclasses included
            err = ConnectError(message)
            cause = last
        else:
            err = ConnectError(message)
            cause = last
    err.attempts = list(attempts)
    err.__cause__ = cause
    err.__suppress_context__ = True
    return err
