"""The startup exchange on an open transport: StartupMessage, authentication, the
ParameterStatus/BackendKeyData messages, up to the first ReadyForQuery.

Rules a hostile or broken server meets here (libpq's, where it has them):

* Before AuthenticationOk only AuthenticationRequest, ErrorResponse and
  NegotiateProtocolVersion are accepted, and no message may claim more than
  :data:`PRE_AUTH_MESSAGE_LIMIT` bytes: a server that has not authenticated itself cannot
  make the client buffer more than that.
* Each authentication request is checked (:class:`.authpolicy.AuthCheck`) before it is
  answered; AuthenticationOk is checked too (``require_auth``, ``channel_binding``).
* SCRAM's key derivation runs in the default executor, so an iteration count in the
  millions stalls no other task and ``connect_timeout`` stays honoured.
* Every malformed message ends the exchange with a typed error; waiting for a message
  creates no task, so a cancelled or timed-out connect leaves nothing pending.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .. import _messages as m
from .. import protocol as _proto
from ..exceptions import ConnectionClosedError, InterfaceError
from .auth import SCRAM_SHA_256_PLUS, ScramSha256Client, md5_password, tls_server_end_point
from .authpolicy import AuthCheck, AuthRefused
from .settings import (AUTH_MD5, AUTH_PASSWORD, AUTH_SASL, AUTH_SASL_CONT, AUTH_SASL_FIN,
                       ConnectConfig, HostSpec)

__all__ = ["run_startup", "PRE_AUTH_MESSAGE_LIMIT", "StartupServerError"]

#: libpq accepts 2000 bytes for an authentication request and 30000 for an error before
#: authentication; one limit for both (a SCRAM message is well under a kilobyte)
PRE_AUTH_MESSAGE_LIMIT = 30000


class StartupServerError(Exception):
    """Carries the server's ErrorResponse fields out of the exchange (the caller builds
    the user-facing exception: the class depends on what else was tried)."""

    def __init__(self, fields: dict, password_sent: bool, authenticated: bool):
        super().__init__(fields.get("M", "server error"))
        self.fields = fields
        self.password_sent = password_sent
        #: whether the error came after AuthenticationOk (no TLS retry then, as in libpq)
        self.authenticated = authenticated


class _Inbox:
    """Startup messages as the core delivers them; waiting for one needs no task."""

    __slots__ = ("_loop", "_core", "_closed", "_messages", "_waiter")

    def __init__(self, loop, core, closed: asyncio.Future):
        self._loop = loop
        self._core = core
        self._closed = closed
        self._messages: deque = deque()
        self._waiter: asyncio.Future | None = None
        closed.add_done_callback(self._wake)

    def put(self, msg) -> None:
        self._messages.append(msg)
        self._wake()

    def _wake(self, _=None) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def close(self) -> None:
        self._closed.remove_done_callback(self._wake)

    async def get(self):
        while not self._messages:
            if self._closed.done():
                err = self._core.error
                if err is not None:
                    raise err
                raise ConnectionClosedError("the server closed the connection during startup")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._messages.popleft()


def _no_password(config: ConnectConfig) -> AuthRefused:
    return AuthRefused(f"the server asks for a password for user {config.user!r} and none "
                       f"was given (fe_sendauth: no password supplied)")


async def run_startup(conn, config: ConnectConfig, target: HostSpec) -> None:
    """Run the exchange on ``conn`` (a PgConnection whose transport is open)."""
    loop = conn.loop
    core = conn.core
    inbox = _Inbox(loop, core, conn.protocol.closed)
    default_limit = core.message_limit
    core.message_limit = PRE_AUTH_MESSAGE_LIMIT
    core.start_startup(inbox.put)
    check = AuthCheck(config.auth, conn.tls)
    scram: ScramSha256Client | None = None
    password_sent = False
    authenticated = False
    write = conn.transport.write
    try:
        write(_proto.build_startup(config.startup_parameters()))
        while True:
            msg = await inbox.get()
            if isinstance(msg, m.ErrorResponse):
                raise StartupServerError(dict(msg.fields), password_sent, authenticated)
            if isinstance(msg, m.NoticeResponse):
                continue
            if authenticated:
                if isinstance(msg, m.ReadyForQuery):
                    break
                if isinstance(msg, (m.ParameterStatus, m.BackendKeyData)):
                    continue
                raise _proto.ProtocolError(f"unexpected {type(msg).__name__} during startup")
            if isinstance(msg, m.AuthenticationOk):
                check.ok()
                authenticated = True
                core.message_limit = default_limit
            elif isinstance(msg, m.AuthenticationCleartextPassword):
                check.request(AUTH_PASSWORD)
                if not target.password:
                    raise _no_password(config)
                write(_proto.build_password(_secret_bytes(target.password)))
                password_sent = check.finished = True
            elif isinstance(msg, m.AuthenticationMD5Password):
                check.request(AUTH_MD5)
                if not target.password:
                    raise _no_password(config)
                write(_proto.build_password(md5_password(config.user, target.password,
                                                         msg.salt)))
                password_sent = check.finished = True
            elif isinstance(msg, m.AuthenticationSASL):
                check.request(AUTH_SASL)
                if scram is not None:
                    raise _proto.ProtocolError("duplicate SASL authentication request")
                scram = _start_scram(conn, config, target, check, list(msg.mechanisms))
                write(_proto.build_sasl_initial_response(scram.mechanism, scram.client_first()))
            elif isinstance(msg, m.AuthenticationSASLContinue):
                check.request(AUTH_SASL_CONT)
                if scram is None:
                    raise _proto.ProtocolError("SASLContinue without SASL")
                salt, iterations = scram.read_server_first(msg.data)
                if isinstance(scram.binding_data, _NoBinding):
                    raise AuthRefused(scram.binding_data.problem)
                salted = await loop.run_in_executor(None, scram.salted_password, salt,
                                                    iterations)
                write(_proto.build_sasl_response(scram.client_final_from_salted(salted)))
                password_sent = True
            elif isinstance(msg, m.AuthenticationSASLFinal):
                check.request(AUTH_SASL_FIN)
                if scram is None:
                    raise _proto.ProtocolError("SASLFinal without SASL")
                scram.verify_server_final(msg.data)
                check.finished = True
                check.channel_bound = scram.channel_bound
            elif isinstance(msg, m.NegotiateProtocolVersion):
                continue  # we ask for 3.0 with no _pq_ options: nothing to adjust
            elif isinstance(msg, m.ReadyForQuery):
                raise _proto.ProtocolError("ReadyForQuery before authentication")
            else:
                raise _proto.ProtocolError(f"expected an authentication request from the "
                                           f"server, received {type(msg).__name__}")
    finally:
        inbox.close()
        if not authenticated and not core.is_closed:
            core.message_limit = default_limit
    core.end_startup()
    from .._pgconn import _parse_server_version
    conn.server_version = _parse_server_version(core.parameters.get("server_version", ""))


def _secret_bytes(password: str) -> bytes:
    # checked when the settings were made: encodable with surrogateescape
    return password.encode("utf-8", "surrogateescape")


def _start_scram(conn, config: ConnectConfig, target: HostSpec, check: AuthCheck,
                 offered: list) -> ScramSha256Client:
    mechanism = check.sasl_mechanism(offered)
    if not target.password:
        raise _no_password(config)
    cb = None
    if mechanism == SCRAM_SHA_256_PLUS:
        ssl_obj = conn.transport.get_extra_info("ssl_object")
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        if not der:
            raise AuthRefused("channel binding: the server sent no certificate")
        cb = _binding_data(der)
    scram = ScramSha256Client(config.user, target.password, channel_binding=cb)
    scram.use_mechanism(mechanism, binding_supported=check.binding_supported)
    return scram


class _NoBinding(bytes):
    """Channel-binding data that could not be computed: like libpq, the exchange starts
    (the client-first-message carries no secret) and fails before any proof is sent."""

    problem = ""


def _binding_data(der: bytes) -> bytes:
    # Ed25519/Ed448 and unknown signature algorithms define no hash for
    # tls-server-end-point: libpq fails the exchange rather than dropping the binding
    problem = None
    try:
        return tls_server_end_point(der)
    except InterfaceError as e:
        problem = str(e)
    marker = _NoBinding()
    marker.problem = (f"{problem}; the server offered SCRAM-SHA-256-PLUS, set "
                      f"channel_binding=disable to authenticate without it")
    return marker
