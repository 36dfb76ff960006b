"""Small fake PostgreSQL servers on loopback, for what a real server never sends: a TLS
connection stripped by a proxy, a downgraded authentication request, malformed SCRAM, a
certificate of the wrong CA or for another name, huge pre-authentication messages.

Each server runs in threads with blocking sockets (so a libpq client in another process
and our asyncio client can both talk to it while the test's event loop waits), runs a
*script* per client connection, and records what the client sent in ``events``:

``("ssl_request",)``, ``("gssenc_request",)``, ``("tls", sni or None)``,
``("startup", {params})``, ``("password", text)`` for a cleartext PasswordMessage,
``("md5", ok)`` (whether the hash matches the expected password),
``("sasl", mechanism, gs2_flag)``, ``("scram_proof", ok)``, ``("terminate",)``.

A password "reached" the server when a ``password``, ``md5`` or ``scram_proof`` event was
recorded.  Scripts are built from :class:`Behaviour` (see :func:`script`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import socket
import ssl
import struct
import threading
import time
from typing import Any, Callable

__all__ = ["FakeServer", "FakeConn", "Behaviour", "script", "frame", "cstr", "error_fields",
           "server_context", "passwords_reached"]

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


def frame(code: bytes, body: bytes = b"") -> bytes:
    return code + struct.pack("!I", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def error_fields(code: str, message: str, severity: str = "FATAL") -> bytes:
    body = b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(code) + b"M" + cstr(message)
    return frame(b"E", body + b"\0")


AUTH_OK = frame(b"R", struct.pack("!i", 0))
STARTUP_DONE = (frame(b"S", cstr("server_version") + cstr("15.0"))
                + frame(b"S", cstr("client_encoding") + cstr("UTF8"))
                + frame(b"S", cstr("standard_conforming_strings") + cstr("on"))
                + frame(b"S", cstr("integer_datetimes") + cstr("on"))
                + frame(b"S", cstr("DateStyle") + cstr("ISO, MDY"))
                + frame(b"K", struct.pack("!ii", 4242, 99))
                + frame(b"Z", b"I"))


def server_context(cert_file, key_file, *, max_version=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


class FakeConn:
    """One client connection, seen from the fake server."""

    def __init__(self, server: "FakeServer", sock: socket.socket):
        self.server = server
        self.sock = sock
        self.sock.settimeout(15)
        self.events: list = []

    def record(self, *event) -> None:
        self.events.append(event)
        with self.server.lock:
            self.server.events.append(event)

    def recv_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("client closed")
            out += chunk
        return out

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_startup(self) -> tuple[str, Any]:
        (n,) = struct.unpack("!I", self.recv_exact(4))
        if n > 10000:
            raise EOFError("startup packet too long")
        body = self.recv_exact(n - 4)
        (code,) = struct.unpack("!I", body[:4])
        if code == SSL_REQUEST:
            self.record("ssl_request")
            return "ssl", None
        if code == GSSENC_REQUEST:
            self.record("gssenc_request")
            return "gssenc", None
        if code == CANCEL_REQUEST:
            self.record("cancel")
            return "cancel", None
        parts = body[4:].split(b"\0")
        params = {}
        for k, v in zip(parts[::2], parts[1::2]):
            if k:
                params[k.decode(errors="replace")] = v.decode(errors="replace")
        self.record("startup", params)
        return "startup", params

    def start_tls(self, ctx: ssl.SSLContext) -> None:
        # Recorded from the ClientHello, so a client that then aborts the handshake (a
        # certificate it refuses) leaves the same trace as one that completes it.
        def on_hello(sslobj, name, _ctx):
            self.record("tls", name)

        ctx.sni_callback = on_hello
        self.sock = ctx.wrap_socket(self.sock, server_side=True)

    def read_message(self) -> tuple[bytes, bytes]:
        code = self.recv_exact(1)
        (n,) = struct.unpack("!I", self.recv_exact(4))
        if n > 100000:
            raise EOFError("message too long")
        return code, self.recv_exact(n - 4)

    def wait_for_close(self) -> None:
        try:
            while True:
                code, _ = self.read_message()
                if code == b"X":
                    self.record("terminate")
                    return
                if code in (b"Q", b"S"):  # answer anything simple with an error
                    self.send(error_fields("0A000", "fake server", "ERROR") + frame(b"Z", b"I"))
        except (EOFError, OSError):
            return


class FakeServer:
    """A threaded fake server; ``with FakeServer(script) as srv: ... srv.port``."""

    def __init__(self, script: Callable[[FakeConn], None], host: str = "127.0.0.1"):
        self.script = script
        self.host = host
        self.events: list = []
        self.errors: list = []
        self.lock = threading.Lock()
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[tuple[FakeConn, threading.Thread]] = []
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0

    def __enter__(self) -> "FakeServer":
        self._accept.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        # Called from a test's event loop thread, which then cannot run the
        # client's own close (asyncio closes a socket at the loop's next turn):
        # the server side ends its connections itself instead of waiting.
        self._stop.set()
        self._accept.join(5)
        deadline = time.monotonic() + 0.5
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for conn, t in list(self._conns):
            if t.is_alive():
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self._threads:
            t.join(5)
        self._sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = FakeConn(self, sock)
        self._conns.append((conn, threading.current_thread()))
        try:
            self.script(conn)
        except (EOFError, ConnectionError, socket.timeout, ssl.SSLError, OSError):
            pass
        except BaseException as e:  # noqa: BLE001 - reported to the test
            self.errors.append(e)
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def reached(self) -> list:
        """The credentials that reached this server, in order (see the module doc)."""
        return passwords_reached(self.events)


def passwords_reached(events) -> list:
    return [e for e in events if e[0] in ("password", "md5", "scram_proof")]


# ------------------------------------------------------------------------------------------
# Scripts
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Behaviour:
    """What a fake server does with one client.

    ``ssl_answer``: answer to SSLRequest (b"S", b"N"); ``tls``: the server context for "S";
    ``auth``: "trust", "password", "md5", "scram" (``mechanisms`` offered);
    ``password``: the password it knows; ``after_auth``: "ok" (finish the startup),
    or an ErrorResponse to send; ``first``: raw bytes sent right after the startup packet
    instead of an authentication request; ``scram_first``: a server-first-message to send
    instead of the real one (``{nonce}`` in it is the server nonce); ``ok_without_final``: AuthenticationOk without SASLFinal;
    ``cert_der``: the server certificate, for SCRAM-SHA-256-PLUS."""

    ssl_answer: bytes = b"N"
    tls: ssl.SSLContext | None = None
    auth: str = "password"
    password: str = "secret"
    mechanisms: tuple = ("SCRAM-SHA-256",)
    after_auth: Any = "ok"
    first: bytes | None = None
    scram_first: str | None = None
    ok_without_final: bool = False
    iterations: int = 4096
    cert_der: bytes | None = None


def script(b: Behaviour) -> Callable[[FakeConn], None]:
    def run(conn: FakeConn) -> None:
        kind, _ = conn.read_startup()
        while kind in ("ssl", "gssenc"):
            if kind == "ssl" and b.ssl_answer == b"S" and b.tls is not None:
                conn.send(b"S")
                conn.start_tls(b.tls)
            else:
                conn.send(b"N")
            kind, _ = conn.read_startup()
        if kind != "startup":
            return
        if b.first is not None:
            conn.send(b.first)
            conn.wait_for_close()
            return
        ok = _authenticate(conn, b)
        if not ok:
            conn.send(error_fields("28P01", "password authentication failed"))
            return
        if b.after_auth == "ok":
            conn.send(AUTH_OK + STARTUP_DONE)
            conn.wait_for_close()
        else:
            conn.send(AUTH_OK + b.after_auth)
    return run


def _authenticate(conn: FakeConn, b: Behaviour) -> bool:
    if b.auth == "trust":
        return True
    if b.auth == "password":
        conn.send(frame(b"R", struct.pack("!i", 3)))
        code, body = conn.read_message()
        conn.record("password", body.rstrip(b"\0").decode("utf-8", "surrogateescape"))
        return body.rstrip(b"\0") == b.password.encode()
    if b.auth == "md5":
        salt = os.urandom(4)
        conn.send(frame(b"R", struct.pack("!i", 5) + salt))
        code, body = conn.read_message()
        user = conn.events[[e[0] for e in conn.events].index("startup")][1].get("user", "")
        inner = hashlib.md5(b.password.encode() + user.encode()).hexdigest().encode()
        expected = b"md5" + hashlib.md5(inner + salt).hexdigest().encode()
        ok = body.rstrip(b"\0") == expected
        conn.record("md5", ok)
        return ok
    return _scram(conn, b)


def _scram(conn: FakeConn, b: Behaviour) -> bool:
    conn.send(frame(b"R", struct.pack("!i", 10) + b"".join(cstr(m) for m in b.mechanisms)
                    + b"\0"))
    code, body = conn.read_message()
    end = body.index(b"\0")
    mech = body[:end].decode()
    (n,) = struct.unpack("!i", body[end + 1:end + 5])
    client_first = body[end + 5:end + 5 + n].decode()
    gs2_flag, authzid, bare = client_first.split(",", 2)
    conn.record("sasl", mech, gs2_flag)
    client_nonce = bare.split("r=", 1)[1]
    salt = b"fakepg-salt-0001"
    server_nonce = client_nonce + "FakeServerNonce"
    server_first = b.scram_first.format(nonce=server_nonce) if b.scram_first else (
        f"r={server_nonce},s={base64.b64encode(salt).decode()},i={b.iterations}")
    conn.send(frame(b"R", struct.pack("!i", 11) + server_first.encode()))
    code, body = conn.read_message()
    client_final = body.decode()
    without_proof, proof_b64 = client_final.rsplit(",p=", 1)
    gs2_header = f"{gs2_flag},{authzid},".encode()
    cbind = gs2_header
    if gs2_flag.startswith("p="):
        cbind += _end_point(b)
    expected_c = "c=" + base64.b64encode(cbind).decode()
    auth_message = f"n=,r={client_nonce},{server_first},{without_proof}".encode()
    if not bare.startswith("n=,"):
        auth_message = f"{bare},{server_first},{without_proof}".encode()
    salted = hashlib.pbkdf2_hmac("sha256", b.password.encode(), salt, b.iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = base64.b64decode(proof_b64)
    recovered = bytes(x ^ y for x, y in zip(proof, signature))
    ok = (without_proof.split(",", 1)[0] == expected_c
          and hashlib.sha256(recovered).digest() == stored_key)
    conn.record("scram_proof", ok)
    if not ok:
        return False
    if not b.ok_without_final:
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        server_sig = hmac.new(server_key, auth_message, "sha256").digest()
        conn.send(frame(b"R", struct.pack("!i", 12) + b"v=" + base64.b64encode(server_sig)))
    return True


def _end_point(b: Behaviour) -> bytes:
    """tls-server-end-point of the server's certificate (the tests sign with SHA-256)."""
    if b.cert_der is None:
        raise EOFError("SCRAM-SHA-256-PLUS needs Behaviour.cert_der")
    return hashlib.sha256(b.cert_der).digest()
