"""Authentication math (no I/O): MD5 and SCRAM-SHA-256[-PLUS] (RFC 5802/7677),
with tls-server-end-point channel binding (RFC 5929)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata

from .exceptions import InterfaceError


def md5_password(user: str, password: str, salt: bytes) -> bytes:
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode()


def saslprep(s: str) -> str:
    """RFC 4013 SASLprep; raises ValueError on prohibited input."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in s
                     if not stringprep.in_table_b1(c))
    norm = unicodedata.normalize("NFKC", mapped)
    if not norm:
        return norm
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9)
    for c in norm:
        if any(f(c) for f in prohibited):
            raise ValueError("prohibited character")
    if any(stringprep.in_table_d1(c) for c in norm):
        if not (stringprep.in_table_d1(norm[0]) and stringprep.in_table_d1(norm[-1])):
            raise ValueError("bidirectional rule")
        if any(stringprep.in_table_d2(c) for c in norm):
            raise ValueError("bidirectional rule")
    return norm


class ScramSha256Client:
    """One SCRAM-SHA-256 exchange.  With ``channel_binding`` (the
    tls-server-end-point hash) it can use SCRAM-SHA-256-PLUS."""

    def __init__(self, username: str, password: str, *, channel_binding: bytes | None = None,
                 nonce: str | None = None):
        self.username = username
        self.password = password
        self.channel_binding = channel_binding
        self.nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self.mechanism = "SCRAM-SHA-256"
        self._server_signature: bytes | None = None

    def choose_mechanism(self, server_mechanisms: list[str], tls_cb_available: bool) -> str:
        if tls_cb_available and self.channel_binding and "SCRAM-SHA-256-PLUS" in server_mechanisms:
            self.mechanism = "SCRAM-SHA-256-PLUS"
        elif "SCRAM-SHA-256" in server_mechanisms:
            self.mechanism = "SCRAM-SHA-256"
        else:
            raise InterfaceError(f"no supported SASL mechanism among {server_mechanisms}")
        return self.mechanism

    @property
    def _gs2_header(self) -> str:
        if self.mechanism == "SCRAM-SHA-256-PLUS":
            return "p=tls-server-end-point,,"
        # 'y': we support binding but the server did not offer it (downgrade detection)
        return "y,," if self.channel_binding else "n,,"

    def client_first(self) -> bytes:
        self._first_bare = f"n=,r={self.nonce}"
        return (self._gs2_header + self._first_bare).encode()

    def client_final(self, server_first: bytes) -> bytes:
        try:
            text = server_first.decode()
            attrs = dict(item.split("=", 1) for item in text.split(","))
            nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            raise InterfaceError(f"SCRAM: malformed server-first-message ({e})") from None
        if not nonce.startswith(self.nonce) or len(nonce) <= len(self.nonce):
            raise InterfaceError("SCRAM: the server nonce does not extend ours")
        if not 1 <= iterations <= 10_000_000:
            raise InterfaceError(f"SCRAM: unreasonable iteration count {iterations}")
        try:
            pw = saslprep(self.password).encode()
        except ValueError:
            pw = self.password.encode()   # as PostgreSQL does
        salted = hashlib.pbkdf2_hmac("sha256", pw, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        cbind = self._gs2_header.encode()
        if self.mechanism == "SCRAM-SHA-256-PLUS":
            cbind += self.channel_binding
        final_wo_proof = f"c={base64.b64encode(cbind).decode()},r={nonce}"
        auth_message = f"{self._first_bare},{text},{final_wo_proof}".encode()
        client_sig = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{final_wo_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, server_final: bytes) -> None:
        text = server_final.decode(errors="replace")
        if text.startswith("e="):
            raise InterfaceError(f"SCRAM: server error {text[2:]}")
        if not text.startswith("v=") or self._server_signature is None:
            raise InterfaceError("SCRAM: malformed server-final-message")
        try:
            sig = base64.b64decode(text[2:].split(",")[0])
        except ValueError:
            raise InterfaceError("SCRAM: malformed server signature") from None
        if not hmac.compare_digest(sig, self._server_signature):
            raise InterfaceError("SCRAM: the server's signature is wrong (not the real server?)")


# signatureAlgorithm OIDs (DER content bytes) -> hash for tls-server-end-point
_SIG_HASH = {
    bytes.fromhex("2a864886f70d01010b"): "sha256",  # sha256WithRSAEncryption
    bytes.fromhex("2a864886f70d01010c"): "sha384",
    bytes.fromhex("2a864886f70d01010d"): "sha512",
    bytes.fromhex("2a864886f70d010105"): "sha256",  # sha1WithRSA -> sha256 per RFC 5929
    bytes.fromhex("2a864886f70d010104"): "sha256",  # md5WithRSA -> sha256
    bytes.fromhex("2a8648ce3d040302"): "sha256",    # ecdsa-with-SHA256
    bytes.fromhex("2a8648ce3d040303"): "sha384",
    bytes.fromhex("2a8648ce3d040304"): "sha512",
    bytes.fromhex("2a8648ce3d0401"): "sha256",      # ecdsa-with-SHA1 -> sha256
}


def _der_read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def tls_server_end_point(cert_der: bytes) -> bytes:
    """RFC 5929 channel-binding data for a server certificate."""
    tag, start, end = _der_read(cert_der, 0)            # Certificate SEQUENCE
    _, _, tbs_end = _der_read(cert_der, start)           # tbsCertificate
    tag, alg_start, _ = _der_read(cert_der, tbs_end)     # signatureAlgorithm SEQUENCE
    tag, oid_start, oid_end = _der_read(cert_der, alg_start)
    if tag != 0x06:
        raise ValueError("signatureAlgorithm has no OID")
    name = _SIG_HASH.get(cert_der[oid_start:oid_end])
    if name is None:
        raise ValueError("certificate signature algorithm has no tls-server-end-point hash")
    return hashlib.new(name, cert_der).digest()
