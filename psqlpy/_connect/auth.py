"""Authentication math for the startup exchange (no I/O).

* :func:`md5_password` -- the payload of the PasswordMessage answering
  AuthenticationMD5Password.
* :class:`ScramSha256Client` -- the client side of SCRAM-SHA-256 (RFC 5802 / RFC 7677) and
  SCRAM-SHA-256-PLUS with ``tls-server-end-point`` channel binding, as PostgreSQL speaks it.
* :func:`saslprep` -- RFC 4013 SASLprep of the password, with PostgreSQL's fallback to the raw
  bytes when the password is not a valid stringprep string (so the hash matches the one the
  server stored with ``ALTER ROLE ... PASSWORD``).
* :func:`tls_server_end_point` -- RFC 5929 channel-binding data from the server certificate.

Every failure raises :class:`psqlpy.exceptions.InterfaceError` with a message starting with
``SCRAM:`` or ``channel binding:``; a password never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata

from ..exceptions import InterfaceError

__all__ = [
    "md5_password",
    "saslprep",
    "ScramSha256Client",
    "tls_server_end_point",
    "SCRAM_SHA_256",
    "SCRAM_SHA_256_PLUS",
]

SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_256_PLUS = "SCRAM-SHA-256-PLUS"

#: Iteration counts outside this range are refused (a hostile server could otherwise make
#: the client burn CPU for hours, and 0 is meaningless).
MIN_ITERATIONS = 1
MAX_ITERATIONS = 10_000_000


# ------------------------------------------------------------------------------------------
# MD5
# ------------------------------------------------------------------------------------------


def md5_password(user: str, password: str, salt: bytes) -> bytes:
    """``b"md5" + md5(md5(password + user).hexdigest() + salt).hexdigest()``

    The payload of the PasswordMessage (without the terminating NUL)."""
    if len(salt) != 4:
        raise InterfaceError(f"MD5: the server sent a salt of {len(salt)} bytes, expected 4")
    inner = hashlib.md5(_to_bytes(password) + _to_bytes(user)).hexdigest().encode("ascii")
    return b"md5" + hashlib.md5(inner + bytes(salt)).hexdigest().encode("ascii")


def _to_bytes(s) -> bytes:
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape")


# ------------------------------------------------------------------------------------------
# SASLprep (RFC 4013), PostgreSQL flavour
# ------------------------------------------------------------------------------------------


def _prohibited(c: str) -> bool:
    return (
        stringprep.in_table_c12(c)
        or stringprep.in_table_c21_c22(c)
        or stringprep.in_table_c3(c)
        or stringprep.in_table_c4(c)
        or stringprep.in_table_c5(c)
        or stringprep.in_table_c6(c)
        or stringprep.in_table_c7(c)
        or stringprep.in_table_c8(c)
        or stringprep.in_table_c9(c)
    )


def saslprep(password) -> bytes:
    """The password bytes that go into PBKDF2.

    RFC 4013 SASLprep (map, NFKC, prohibit, bidi check, unassigned code points prohibited as
    for stored strings).  Like PostgreSQL's ``pg_saslprep``, a password that is not valid
    UTF-8 or fails any check is used as its raw bytes instead of raising: that is what the
    server did when it stored the verifier."""
    if isinstance(password, (bytes, bytearray, memoryview)):
        raw = bytes(password)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
    else:
        text = password
        raw = _to_bytes(password)
    if text.isascii() and all(0x20 <= ord(c) < 0x7F for c in text):
        return raw  # printable ASCII is unchanged by SASLprep (the common case)
    # 1. mapping: non-ASCII spaces -> SPACE, "commonly mapped to nothing" -> removed
    mapped = []
    for c in text:
        if stringprep.in_table_c12(c):
            mapped.append(" ")
        elif stringprep.in_table_b1(c):
            continue
        else:
            mapped.append(c)
    # 2. normalization
    out = unicodedata.normalize("NFKC", "".join(mapped))
    if not out:
        return raw
    # 3. prohibited output, and unassigned code points
    for c in out:
        if _prohibited(c) or stringprep.in_table_a1(c):
            return raw
    # 4. bidirectional characters
    if any(stringprep.in_table_d1(c) for c in out):
        if any(stringprep.in_table_d2(c) for c in out):
            return raw
        if not (stringprep.in_table_d1(out[0]) and stringprep.in_table_d1(out[-1])):
            return raw
    try:
        return out.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return raw


# ------------------------------------------------------------------------------------------
# SCRAM-SHA-256
# ------------------------------------------------------------------------------------------


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _utf8(data: bytes, what: str) -> str:
    ok = True
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        ok = False
    if not ok:  # raised outside the handler: nothing chained
        raise InterfaceError(f"SCRAM: {what} is not valid UTF-8")
    return text


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InterfaceError(f"SCRAM: the server sent an invalid base64 {what}") from None


class ScramSha256Client:
    """Client side of one SCRAM-SHA-256[-PLUS] exchange.

    Usage: ``mech = c.choose_mechanism(offered, tls_cb_available)``, send
    ``c.client_first()`` in SASLInitialResponse, answer SASLContinue with
    ``c.client_final(data)``, check SASLFinal with ``c.verify_server_final(data)``.

    ``channel_binding`` is the ``tls-server-end-point`` data (:func:`tls_server_end_point`)
    when the connection uses TLS; ``nonce`` is for tests only (default: 18 random bytes,
    base64)."""

    __slots__ = ("_username", "_password", "_cb", "_nonce", "_gs2", "_mechanism",
                 "_client_first_bare", "_server_signature", "_state", "_server_first",
                 "_server_nonce")

    def __init__(self, username: str, password, *, channel_binding: bytes | None = None,
                 nonce: str | None = None):
        self._username = username  # PostgreSQL ignores the SCRAM user name (sends "n=,")
        self._password = password
        self._cb = (channel_binding if channel_binding is None or isinstance(channel_binding, bytes)
                    else bytes(channel_binding))
        if nonce is None:
            nonce = base64.b64encode(secrets.token_bytes(18)).decode("ascii")
        elif not nonce or "," in nonce or not all(0x21 <= ord(ch) <= 0x7E for ch in nonce):
            raise InterfaceError("SCRAM: the client nonce must be printable ASCII without ','")
        self._nonce = nonce
        self._gs2 = "n,,"
        self._mechanism = SCRAM_SHA_256
        self._client_first_bare = ""
        self._server_signature = b""
        self._server_first = ""
        self._server_nonce = ""
        self._state = "init"

    def __repr__(self) -> str:
        return f"<ScramSha256Client mechanism={self._mechanism} state={self._state}>"

    @property
    def mechanism(self) -> str:
        return self._mechanism

    def choose_mechanism(self, server_mechanisms, tls_cb_available: bool) -> str:
        """Pick SCRAM-SHA-256-PLUS when the server offers it and we have channel-binding
        data, else SCRAM-SHA-256 (with gs2 flag ``y`` when we could have bound the channel
        but the server did not offer it, so the server can detect a downgrade)."""
        offered = list(server_mechanisms)
        have_cb = bool(tls_cb_available) and self._cb is not None
        if have_cb and SCRAM_SHA_256_PLUS in offered:
            self._mechanism = SCRAM_SHA_256_PLUS
            self._gs2 = "p=tls-server-end-point,,"
        elif SCRAM_SHA_256 in offered:
            self._mechanism = SCRAM_SHA_256
            self._gs2 = "y,," if have_cb else "n,,"
        else:
            raise InterfaceError(
                "SCRAM: none of the server's SASL mechanisms is supported: "
                + ", ".join(repr(x) for x in offered))
        return self._mechanism

    def client_first(self) -> bytes:
        """client-first-message: gs2 header + ``n=,r=<nonce>``."""
        if self._state != "init":
            raise InterfaceError("SCRAM: client_first() called twice")
        self._client_first_bare = "n=,r=" + self._nonce
        self._state = "first-sent"
        return (self._gs2 + self._client_first_bare).encode("ascii")

    def use_mechanism(self, mechanism: str, *, binding_supported: bool) -> None:
        """Set the mechanism chosen by the caller's policy (libpq's ``pg_SASL_init``).

        SCRAM-SHA-256-PLUS needs the channel-binding data given to the constructor;
        with SCRAM-SHA-256 the gs2 flag is ``y`` when we could have bound the channel
        (``binding_supported``: TLS, and channel binding not disabled) so that the server
        can detect a downgrade, else ``n``."""
        if mechanism == SCRAM_SHA_256_PLUS:
            if self._cb is None:
                raise InterfaceError("SCRAM: SCRAM-SHA-256-PLUS needs channel-binding data")
            self._gs2 = "p=tls-server-end-point,,"
        elif mechanism == SCRAM_SHA_256:
            self._gs2 = "y,," if binding_supported else "n,,"
        else:
            raise InterfaceError(f"SCRAM: unsupported mechanism {mechanism[:40]!r}")
        self._mechanism = mechanism

    @property
    def binding_data(self) -> bytes | None:
        return self._cb

    @property
    def channel_bound(self) -> bool:
        """True once an exchange with channel binding has been verified (libpq's
        ``scram_channel_bound``)."""
        return self._state == "done" and self._mechanism == SCRAM_SHA_256_PLUS

    def read_server_first(self, server_first: bytes) -> tuple[bytes, int]:
        """Check the server-first-message; return (salt, iteration count).  Every
        malformed message raises :class:`InterfaceError` (nothing else)."""
        if self._state != "first-sent":
            raise InterfaceError("SCRAM: unexpected server-first-message")
        text = _utf8(server_first, "server-first-message")
        parts = text.split(",")
        if parts and parts[0].startswith("m="):
            raise InterfaceError("SCRAM: the server requires an unsupported extension")
        if len(parts) < 3 or not (parts[0].startswith("r=") and parts[1].startswith("s=")
                                  and parts[2].startswith("i=")):
            raise InterfaceError("SCRAM: malformed server-first-message")
        nonce, salt_b64, iters = parts[0][2:], parts[1][2:], parts[2][2:]
        if not nonce.startswith(self._nonce) or len(nonce) <= len(self._nonce):
            raise InterfaceError("SCRAM: the server nonce does not extend the client nonce")
        if not all(0x21 <= ord(ch) <= 0x7E for ch in nonce):
            raise InterfaceError("SCRAM: the server nonce contains invalid characters")
        salt = _b64decode(salt_b64, "salt")
        if not salt:
            raise InterfaceError("SCRAM: the server sent an empty salt")
        # ASCII digits only: str.isdigit() accepts '²', which int() then refuses
        if not (iters.isascii() and iters.isdigit()) or len(iters) > 9:
            raise InterfaceError(f"SCRAM: invalid iteration count {iters[:20]!r}")
        iterations = int(iters)
        if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise InterfaceError(
                f"SCRAM: iteration count {iterations} outside {MIN_ITERATIONS}..{MAX_ITERATIONS}")
        self._server_first = text
        self._server_nonce = nonce
        self._state = "first-read"
        return salt, iterations

    def salted_password(self, salt: bytes, iterations: int) -> bytes:
        """Hi(password, salt, i): the slow part, safe to run in another thread."""
        return hashlib.pbkdf2_hmac("sha256", saslprep(self._password), salt, iterations)

    def client_final_from_salted(self, salted: bytes) -> bytes:
        """client-final-message with the proof, from :meth:`salted_password`'s result."""
        if self._state != "first-read":
            raise InterfaceError("SCRAM: unexpected server-first-message")
        cbind = self._gs2.encode("ascii")
        if self._gs2.startswith("p="):
            cbind += self._cb
        without_proof = "c=" + base64.b64encode(cbind).decode("ascii") + ",r=" + self._server_nonce
        auth_message = ",".join((self._client_first_bare, self._server_first,
                                 without_proof)).encode("utf-8")
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        client_signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
        server_key = _hmac(salted, b"Server Key")
        self._server_signature = _hmac(server_key, auth_message)
        self._state = "final-sent"
        return (without_proof + ",p=" + base64.b64encode(proof).decode("ascii")).encode("ascii")

    def client_final(self, server_first: bytes) -> bytes:
        """client-final-message with the proof, from the server-first-message (all three
        steps above, on the calling thread)."""
        salt, iterations = self.read_server_first(server_first)
        return self.client_final_from_salted(self.salted_password(salt, iterations))

    def verify_server_final(self, server_final: bytes) -> None:
        """Check the server's signature (``v=``); raise on ``e=`` or a mismatch."""
        if self._state != "final-sent":
            raise InterfaceError("SCRAM: unexpected server-final-message")
        text = _utf8(server_final, "server-final-message")
        first = text.split(",", 1)[0]
        if first.startswith("e="):
            raise InterfaceError(f"SCRAM: the server reported an error: {first[2:200]}")
        if not first.startswith("v="):
            raise InterfaceError("SCRAM: malformed server-final-message")
        signature = _b64decode(first[2:], "server signature")
        if not hmac.compare_digest(signature, self._server_signature):
            raise InterfaceError("SCRAM: the server signature does not match "
                                 "(the server does not know the password)")
        self._state = "done"


# ------------------------------------------------------------------------------------------
# tls-server-end-point (RFC 5929)
# ------------------------------------------------------------------------------------------

_SHA1 = "1.3.14.3.2.26"
_MD5 = "1.2.840.113549.2.5"
_RSASSA_PSS = "1.2.840.113549.1.1.10"

#: hash-algorithm OIDs (as found in RSASSA-PSS parameters)
_HASH_OIDS = {
    _SHA1: "sha1",
    _MD5: "md5",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}

#: signature-algorithm OID -> hash name
_SIGNATURE_OIDS = {
    # RSA PKCS#1 v1.5
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    # ECDSA
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    # DSA
    "1.2.840.10040.4.3": "sha1",
    "2.16.840.1.101.3.4.3.1": "sha224",
    "2.16.840.1.101.3.4.3.2": "sha256",
}

_NO_HASH = {"1.3.101.112": "Ed25519", "1.3.101.113": "Ed448"}


def _cb_error(msg: str) -> InterfaceError:
    return InterfaceError("channel binding: " + msg)


def _der_element(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one DER TLV in ``buf[pos:end]``: (tag, content start, content end)."""
    if pos + 2 > end:
        raise _cb_error("truncated certificate")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise _cb_error("unsupported high tag number in certificate")
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise _cb_error("unsupported DER length encoding in certificate")
        if pos + n > end:
            raise _cb_error("truncated certificate")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > end:
        raise _cb_error("truncated certificate")
    return tag, pos, pos + length


def _decode_oid(content: bytes) -> str:
    if not content:
        raise _cb_error("empty OID in certificate")
    arcs = []
    value = 0
    started = False
    for b in content:
        if not started and b == 0x80:
            raise _cb_error("non-minimal OID encoding in certificate")
        started = bool(b & 0x80)
        value = (value << 7) | (b & 0x7F)
        if value.bit_length() > 128:
            raise _cb_error("OID arc too large in certificate")
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if started:
        raise _cb_error("truncated OID in certificate")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def _algorithm_identifier(buf: bytes, start: int, end: int) -> tuple[str, int, int]:
    """AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
    -> (oid, parameters start, parameters end) for the content ``buf[start:end]``."""
    tag, s, e = _der_element(buf, start, end)
    if tag != 0x06:
        raise _cb_error("malformed AlgorithmIdentifier in certificate")
    return _decode_oid(buf[s:e]), e, end


def _pss_hash(buf: bytes, start: int, end: int) -> str:
    """The hashAlgorithm of RSASSA-PSS-params (default SHA-1)."""
    if start >= end:
        return "sha1"
    tag, s, e = _der_element(buf, start, end)
    if tag == 0x05:  # NULL parameters
        return "sha1"
    if tag != 0x30:
        raise _cb_error("malformed RSASSA-PSS parameters in certificate")
    if s >= e:
        return "sha1"
    tag, s2, e2 = _der_element(buf, s, e)
    if tag != 0xA0:  # [0] hashAlgorithm absent: default
        return "sha1"
    tag, s3, e3 = _der_element(buf, s2, e2)
    if tag != 0x30:
        raise _cb_error("malformed RSASSA-PSS hash algorithm in certificate")
    oid, _, _ = _algorithm_identifier(buf, s3, e3)
    name = _HASH_OIDS.get(oid)
    if name is None:
        raise _cb_error(f"unsupported RSASSA-PSS hash algorithm {oid}")
    return name


def certificate_signature_hash(cert_der: bytes) -> str:
    """The hashlib name of the hash of the certificate's signatureAlgorithm."""
    buf = bytes(cert_der)
    tag, s, e = _der_element(buf, 0, len(buf))
    if tag != 0x30:
        raise _cb_error("the certificate is not a DER SEQUENCE")
    tag, _, tbs_end = _der_element(buf, s, e)  # tbsCertificate
    if tag != 0x30:
        raise _cb_error("malformed tbsCertificate")
    tag, s, e = _der_element(buf, tbs_end, e)  # signatureAlgorithm
    if tag != 0x30:
        raise _cb_error("malformed signatureAlgorithm in certificate")
    oid, ps, pe = _algorithm_identifier(buf, s, e)
    if oid == _RSASSA_PSS:
        return _pss_hash(buf, ps, pe)
    if oid in _NO_HASH:
        raise _cb_error(f"{_NO_HASH[oid]} certificates define no hash for tls-server-end-point")
    name = _SIGNATURE_OIDS.get(oid)
    if name is None:
        raise _cb_error(f"unsupported certificate signature algorithm {oid}")
    return name


def tls_server_end_point(cert_der: bytes) -> bytes:
    """RFC 5929 ``tls-server-end-point``: the hash of the DER server certificate, with the
    hash of its signature algorithm (MD5 and SHA-1 replaced by SHA-256)."""
    name = certificate_signature_hash(cert_der)
    if name in ("md5", "sha1"):
        name = "sha256"
    return hashlib.new(name, bytes(cert_der)).digest()
