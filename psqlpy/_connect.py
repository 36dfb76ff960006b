"""Opening a connection: hosts in order (or shuffled), TLS negotiation,
the startup/authentication exchange, and target_session_attrs."""
from __future__ import annotations

import asyncio
import random
import socket
import ssl as _ssl

from . import _messages as m
from . import protocol as _proto
from ._auth import ScramSha256Client, md5_password, tls_server_end_point
from ._enums import LoadBalanceHosts, SslMode, TargetSessionAttrs
from ._pgconn import PgConnection
from ._transport import PgTransportProtocol, set_socket_options
from .exceptions import (
    BaseConnectionError,
    ConnectionExecuteError,
    ConnectionPoolConfigurationError,
    ConnectionClosedError,
    InterfaceError,
    SSLError,
    make_server_error,
)


class ConnectError(ConnectionExecuteError):
    """Could not open a connection to any of the configured hosts."""


async def open_connection(config, *, loop=None) -> PgConnection:
    """Connect to the first host that accepts us and matches
    ``target_session_attrs``; errors of every host are kept in the message."""
    loop = loop or asyncio.get_running_loop()
    hosts = list(config.hosts)
    if config.load_balance_hosts == LoadBalanceHosts.Random:
        random.shuffle(hosts)
    errors = []
    last_exc = None
    for host, port in hosts:
        try:
            coro = _connect_one(loop, config, host, port)
            if config.connect_timeout:
                conn = await asyncio.wait_for(coro, config.connect_timeout)
            else:
                conn = await coro
        except asyncio.TimeoutError as e:
            errors.append(f"{_where(host, port)}: timed out after {config.connect_timeout} s")
            last_exc = e
            continue
        except (OSError, BaseConnectionError, SSLError, InterfaceError) as e:
            if _is_auth_failure(e):
                raise  # wrong credentials: trying another host would only hide that
            errors.append(f"{_where(host, port)}: {e}")
            last_exc = e
            continue
        if config.target_session_attrs != TargetSessionAttrs.Any:
            try:
                ok = await _matches_session_attrs(conn, config.target_session_attrs)
            except Exception as e:
                await conn.close()
                errors.append(f"{_where(host, port)}: {e}")
                continue
            if not ok:
                await conn.close()
                errors.append(f"{_where(host, port)}: server is not "
                              f"{config.target_session_attrs.value}")
                continue
        return conn
    # The typed cause of the last failure stays reachable as __cause__.
    raise ConnectError("could not connect: " + "; ".join(errors)) from last_exc


def _where(host, port):
    return f"{host}:{port}" if not host.startswith("/") else f"{host}/.s.PGSQL.{port}"


def _is_auth_failure(e) -> bool:
    return getattr(e, "sqlstate", None) in ("28P01", "28000")


def _reported_read_only(parameters) -> bool | None:
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
    read_only = _reported_read_only(conn.core.parameters)
    if read_only is None:
        # Pre-14 server: one round trip.
        req = await conn.simple_query("SHOW transaction_read_only")
        read_only = req.results[0][1][0][0] == "on"
    if attrs == TargetSessionAttrs.ReadWrite:
        return not read_only
    if attrs == TargetSessionAttrs.ReadOnly:
        return read_only
    return True


def _make_ssl_context(config, host: str):
    mode = config.ssl_mode
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    verify = mode in (SslMode.VerifyCa, SslMode.VerifyFull) or (
        mode == SslMode.Require and config.ca_file)
    if verify:
        if config.ca_file:
            ctx.load_verify_locations(config.ca_file)
        else:
            ctx.load_default_certs()
        ctx.check_hostname = mode == SslMode.VerifyFull
        ctx.verify_mode = _ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
    return ctx


async def _connect_one(loop, config, host, port) -> PgConnection:
    mode = config.ssl_mode
    if host.startswith("/"):
        return await _connect_socket(loop, config, host, port, use_tls=False)
    if mode == SslMode.Allow:
        try:
            return await _connect_socket(loop, config, host, port, use_tls=False)
        except BaseConnectionError as e:
            if getattr(e, "sqlstate", None) != "28000":
                raise
            return await _connect_socket(loop, config, host, port, use_tls=True)
    return await _connect_socket(loop, config, host, port, use_tls=mode != SslMode.Disable)


async def _open_socket(loop, host, port) -> socket.socket:
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
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
    raise last or OSError(f"cannot resolve {host}")


async def _connect_socket(loop, config, host, port, use_tls) -> PgConnection:
    core = _proto.CoreProtocol()
    tls = False
    if host.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, f"{host}/.s.PGSQL.{port}")
        except BaseException:
            sock.close()
            raise
        transport, protocol = await loop.create_unix_connection(
            lambda: PgTransportProtocol(core), sock=sock)
    else:
        sock = await _open_socket(loop, host, port)
        handed_over = False   # once create_connection starts, asyncio owns and closes sock
        try:
            set_socket_options(sock, config)
            ssl_ctx = None
            if use_tls:
                await loop.sock_sendall(sock, _proto.build_ssl_request())
                # Exactly one byte: anything the server sent after it must go
                # through the TLS handshake, never into our parser (CVE-2021-23222).
                answer = await loop.sock_recv(sock, 1)
                if answer == b"S":
                    ssl_ctx = _make_ssl_context(config, host)
                elif answer == b"N":
                    if config.ssl_mode in (SslMode.Require, SslMode.VerifyCa, SslMode.VerifyFull):
                        raise SSLError(f"{host}:{port} does not accept TLS connections "
                                       f"and ssl_mode is {config.ssl_mode.value}")
                elif answer == b"E":
                    raise ConnectionClosedError("the server rejected SSLRequest with an error "
                                                "(a pre-7.0 server or not PostgreSQL)")
                elif not answer:
                    raise ConnectionClosedError("the server closed the connection during SSL negotiation")
                else:
                    raise _proto.ProtocolError(f"unexpected answer {answer!r} to SSLRequest")
            kwargs = {}
            if ssl_ctx is not None:
                kwargs = dict(ssl=ssl_ctx, server_hostname=host if ssl_ctx.check_hostname else "",
                              ssl_handshake_timeout=config.connect_timeout or 60)
            try:
                handed_over = True
                transport, protocol = await loop.create_connection(
                    lambda: PgTransportProtocol(core), sock=sock, **kwargs)
            except _ssl.SSLError as e:
                raise SSLError(f"TLS handshake with {host}:{port} failed: {e}") from e
            except _ssl.CertificateError as e:
                raise SSLError(f"TLS certificate of {host}:{port} rejected: {e}") from e
            tls = ssl_ctx is not None
        except BaseException:
            if not handed_over:
                sock.close()
            raise
    conn = PgConnection(loop, core, protocol, transport, config, host, port, tls=tls)
    protocol._on_lost = conn._connection_lost
    try:
        await _startup(conn, config)
    except BaseException:
        transport.abort()
        raise
    return conn


async def _startup(conn: PgConnection, config) -> None:
    core = conn.core
    queue: asyncio.Queue = asyncio.Queue()
    core.start_startup(queue.put_nowait)
    lost = conn.protocol.closed
    conn.transport.write(_proto.build_startup(config.startup_parameters()))
    scram = None

    async def next_message():
        if queue.empty():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, lost}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                err = core.error
                raise err if err is not None else ConnectionClosedError(
                    "the server closed the connection during startup")
            return getter.result()
        return queue.get_nowait()

    while True:
        msg = await next_message()
        if isinstance(msg, m.AuthenticationOk):
            continue
        if isinstance(msg, m.ParameterStatus) or isinstance(msg, m.BackendKeyData):
            continue
        if isinstance(msg, m.ReadyForQuery):
            break
        if isinstance(msg, m.ErrorResponse):
            raise make_server_error(msg.fields, ConnectionExecuteError)
        if isinstance(msg, m.NoticeResponse):
            continue
        if isinstance(msg, m.NegotiateProtocolVersion):
            continue  # we ask for 3.0 with no _pq_ options: nothing to adjust
        if isinstance(msg, m.AuthenticationCleartextPassword):
            conn.transport.write(_proto.build_password(_need_password(config)))
        elif isinstance(msg, m.AuthenticationMD5Password):
            conn.transport.write(_proto.build_password(
                md5_password(config.user, _need_password(config), msg.salt)))
        elif isinstance(msg, m.AuthenticationSASL):
            cb = None
            if conn.tls:
                ssl_obj = conn.transport.get_extra_info("ssl_object")
                der = ssl_obj.getpeercert(binary_form=True) if ssl_obj else None
                if der:
                    try:
                        cb = tls_server_end_point(der)
                    except Exception:
                        cb = None
            scram = ScramSha256Client(config.user, _need_password(config), channel_binding=cb)
            mech = scram.choose_mechanism(list(msg.mechanisms), cb is not None)
            conn.transport.write(_proto.build_sasl_initial_response(mech, scram.client_first()))
        elif isinstance(msg, m.AuthenticationSASLContinue):
            if scram is None:
                raise _proto.ProtocolError("SASLContinue without SASL")
            conn.transport.write(_proto.build_sasl_response(scram.client_final(msg.data)))
        elif isinstance(msg, m.AuthenticationSASLFinal):
            if scram is None:
                raise _proto.ProtocolError("SASLFinal without SASL")
            scram.verify_server_final(msg.data)
        else:
            raise _proto.ProtocolError(f"unexpected {type(msg).__name__} during startup")
    core.end_startup()
    from ._pgconn import _parse_server_version
    conn.server_version = _parse_server_version(core.parameters.get("server_version", ""))


def _need_password(config) -> str:
    if config.password is None:
        raise ConnectionPoolConfigurationError(
            f"the server asks for a password for user {config.user!r} and none was given")
    return config.password
