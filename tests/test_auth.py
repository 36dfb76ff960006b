"""Unit tests of psqlpy._connect.auth (no database)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
from typing import Any

import pytest

from psqlpy._connect.auth import (
    ScramSha256Client,
    certificate_signature_hash,
    md5_password,
    saslprep,
    tls_server_end_point,
)
from psqlpy.exceptions import InterfaceError

# RFC 7677 section 3
NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


# ---------------------------------------------------------------------------- MD5


def test_md5_password_known_value():
    user, password, salt = "alice", "s3cret", b"\x01\x02\x03\x04"
    inner = hashlib.md5(b"s3cretalice").hexdigest()
    expected = b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode()
    assert md5_password(user, password, salt) == expected
    assert len(expected) == 35


def test_md5_password_non_ascii():
    salt = b"abcd"
    inner = hashlib.md5("pässwörd".encode() + "jürgen".encode()).hexdigest()
    assert md5_password("jürgen", "pässwörd", salt) == \
        b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode()


def test_md5_bad_salt():
    with pytest.raises(InterfaceError):
        md5_password("u", "p", b"abc")


# ---------------------------------------------------------------------------- SCRAM


def _rfc_client(**kw):
    c = ScramSha256Client("user", "pencil", nonce=NONCE, **kw)
    assert c.choose_mechanism(["SCRAM-SHA-256"], False) == "SCRAM-SHA-256"
    return c


def test_scram_rfc7677_vector():
    c = _rfc_client()
    assert c.client_first() == b"n,,n=,r=" + NONCE.encode()
    # the RFC vector uses n=user in client-first-bare; PostgreSQL ignores the name and we
    # send n=, so the auth message differs: reproduce the RFC's exact bytes with n=user
    c._client_first_bare = "n=user,r=" + NONCE
    assert c.client_final(SERVER_FIRST) == CLIENT_FINAL
    c.verify_server_final(SERVER_FINAL)  # does not raise


def _server_side(password: bytes, salt: bytes, iterations: int, auth_message: bytes):
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    client_sig = hmac.new(stored_key, auth_message, "sha256").digest()
    server_sig = hmac.new(server_key, auth_message, "sha256").digest()
    return stored_key, client_sig, server_sig


def _full_exchange(password, *, cb=None, offered=("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"),
                   server_password_bytes=None):
    c = ScramSha256Client("ignored", password, channel_binding=cb, nonce="abc")
    mech = c.choose_mechanism(list(offered), cb is not None)
    first = c.client_first().decode()
    gs2, bare = first[: first.index("n=,")], first[first.index("n=,"):]
    salt = b"saltsalt"
    server_first = f"r=abcSERVER,s={base64.b64encode(salt).decode()},i=4096"
    final = c.client_final(server_first.encode()).decode()
    without_proof, proof_b64 = final.rsplit(",p=", 1)
    expected_c = base64.b64encode(gs2.encode() + (cb if mech.endswith("PLUS") else b""))
    assert without_proof == f"c={expected_c.decode()},r=abcSERVER"
    auth = f"{bare},{server_first},{without_proof}".encode()
    pw_bytes = server_password_bytes if server_password_bytes is not None else password.encode()
    stored_key, client_sig, server_sig = _server_side(pw_bytes, salt, 4096, auth)
    proof = base64.b64decode(proof_b64)
    client_key = bytes(a ^ b for a, b in zip(proof, client_sig))
    assert hashlib.sha256(client_key).digest() == stored_key  # server accepts the proof
    c.verify_server_final(b"v=" + base64.b64encode(server_sig))
    return mech, gs2


def test_scram_exchange_plain():
    assert _full_exchange("pencil", offered=("SCRAM-SHA-256",)) == ("SCRAM-SHA-256", "n,,")


def test_scram_exchange_plus():
    cb = hashlib.sha256(b"certificate").digest()
    assert _full_exchange("pencil", cb=cb) == (
        "SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,")


def test_scram_cb_available_but_not_offered_sends_y():
    cb = hashlib.sha256(b"certificate").digest()
    assert _full_exchange("pencil", cb=cb, offered=("SCRAM-SHA-256",)) == (
        "SCRAM-SHA-256", "y,,")


def test_scram_plus_not_used_without_tls():
    c = ScramSha256Client("u", "p", channel_binding=b"x" * 32)
    assert c.choose_mechanism(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], False) == "SCRAM-SHA-256"
    assert c.client_first().startswith(b"n,,n=,r=")


def test_scram_no_common_mechanism():
    c = ScramSha256Client("u", "p")
    with pytest.raises(InterfaceError, match="SASL mechanism"):
        c.choose_mechanism(["SCRAM-SHA-256-PLUS"], False)


def test_scram_saslprep_applied():
    # U+00AD (soft hyphen) maps to nothing, U+2168 (ROMAN NUMERAL NINE) NFKC -> "IX"
    _full_exchange("pen\u00adcil\u2168", offered=("SCRAM-SHA-256",),
                   server_password_bytes=b"pencilIX")


def test_scram_saslprep_fallback_raw():
    pw = "bad\u0007bell"  # prohibited control char: raw bytes are used
    _full_exchange(pw, offered=("SCRAM-SHA-256",), server_password_bytes=pw.encode())


def test_scram_random_nonce():
    a, b = ScramSha256Client("u", "p"), ScramSha256Client("u", "p")
    a.choose_mechanism(["SCRAM-SHA-256"], False)
    b.choose_mechanism(["SCRAM-SHA-256"], False)
    fa, fb = a.client_first(), b.client_first()
    assert fa != fb and len(fa) > 20 and b"," not in fa[len(b"n,,n=,r="):]


@pytest.mark.parametrize("server_first, match", [
    (b"r=OTHERnonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),
    (b"r=" + NONCE.encode() + b",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),
    (b"r=" + NONCE.encode() + b"x,s=!!!,i=4096", "base64"),
    (b"r=" + NONCE.encode() + b"x,s=,i=4096", "salt"),
    (b"r=" + NONCE.encode() + b"x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "iteration"),
    (b"r=" + NONCE.encode() + b"x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999", "iteration"),
    (b"r=" + NONCE.encode() + b"x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", "iteration"),
    (b"r=" + NONCE.encode() + b"x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=abc", "iteration"),
    (b"r=" + NONCE.encode() + b"x,i=4096", "malformed"),
    (b"m=ext,r=" + NONCE.encode() + b"x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extension"),
    (b"\xff\xfe", "UTF-8"),
    (b"", "malformed"),
])
def test_scram_bad_server_first(server_first, match):
    c = _rfc_client()
    c.client_first()
    with pytest.raises(InterfaceError, match=match) as ei:
        c.client_final(server_first)
    assert "pencil" not in str(ei.value)


def test_scram_bad_server_final():
    c = _rfc_client()
    c.client_first()
    c.client_final(SERVER_FIRST)
    with pytest.raises(InterfaceError, match="signature does not match"):
        c.verify_server_final(b"v=" + base64.b64encode(b"\0" * 32))


def test_scram_server_error():
    c = _rfc_client()
    c.client_first()
    c.client_final(SERVER_FIRST)
    with pytest.raises(InterfaceError, match="invalid-proof"):
        c.verify_server_final(b"e=invalid-proof")


def test_scram_server_final_garbage():
    c = _rfc_client()
    c.client_first()
    c.client_final(SERVER_FIRST)
    with pytest.raises(InterfaceError):
        c.verify_server_final(b"x=abc")
    c2 = _rfc_client()
    c2.client_first()
    c2.client_final(SERVER_FIRST)
    with pytest.raises(InterfaceError, match="base64"):
        c2.verify_server_final(b"v=###")


def test_scram_out_of_order():
    c = _rfc_client()
    with pytest.raises(InterfaceError):
        c.client_final(SERVER_FIRST)
    with pytest.raises(InterfaceError):
        c.verify_server_final(SERVER_FINAL)
    c.client_first()
    with pytest.raises(InterfaceError):
        c.client_first()
    with pytest.raises(InterfaceError):
        c.verify_server_final(SERVER_FINAL)  # before client_final


def test_scram_repr_hides_password():
    c = ScramSha256Client("user", "pencil")
    assert "pencil" not in repr(c)


# ---------------------------------------------------------------------------- SASLprep


@pytest.mark.parametrize("given, expected", [
    ("pencil", b"pencil"),
    ("I\u00adX", b"IX"),                 # RFC 4013 example: soft hyphen mapped to nothing
    ("user", b"user"),
    ("USER", b"USER"),                   # case preserved
    ("\u00aa", b"a"),                    # NFKC
    ("\u2168", b"IX"),                   # NFKC
    ("a\u00a0b", b"a b"),                # non-ASCII space -> SPACE
    ("a\u200bb", b"a b"),                # ZWSP is in C.1.2 and B.1: PostgreSQL maps it to SPACE
    ("a\u200db", b"ab"),                 # ZWJ: commonly mapped to nothing
    ("\u0007", b"\x07"),                 # prohibited: raw bytes (PostgreSQL)
    ("\u0627\u0031", "\u0627\u0031".encode()),  # bidi rule fails: raw bytes
    ("\u0627\u0031\u0628", "\u0627\u0031\u0628".encode()),  # valid RandAL string
    ("\u00ad", "\u00ad".encode()),       # empty after mapping: raw
    ("\U000e0001", "\U000e0001".encode()),  # tagging char prohibited: raw
    ("\u0221", "\u0221".encode()),       # unassigned in Unicode 3.2: raw
    ("é", "é".encode()),
    ("e\u0301", "é".encode()),           # NFKC composes
    (b"\xff\xfe", b"\xff\xfe"),          # not UTF-8: raw
])
def test_saslprep(given, expected):
    assert saslprep(given) == expected


# ---------------------------------------------------------------------------- tls-server-end-point

crypto = pytest.importorskip("cryptography")


def _make_cert(key, hash_alg, *, pss=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psqlpy-test")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(12345)
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    kwargs: dict[str, Any] = {}
    if pss:
        kwargs["rsa_padding"] = padding.PSS(mgf=padding.MGF1(hash_alg),
                                            salt_length=padding.PSS.DIGEST_LENGTH)
    cert = builder.sign(key, hash_alg, **kwargs)
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize("alg, expected", [
    ("SHA256", "sha256"), ("SHA384", "sha384"), ("SHA512", "sha512"), ("SHA224", "sha224"),
    ("SHA1", "sha256"),
])
def test_tls_server_end_point_rsa(rsa_key, alg, expected):
    from cryptography.hazmat.primitives import hashes
    try:
        der = _make_cert(rsa_key, getattr(hashes, alg)())
    except Exception as e:  # SHA-1 signing may be disabled by the crypto policy
        pytest.skip(f"cannot sign with {alg}: {e}")
    assert tls_server_end_point(der) == hashlib.new(expected, der).digest()


@pytest.mark.parametrize("alg, expected", [("SHA256", "sha256"), ("SHA384", "sha384"),
                                           ("SHA512", "sha512")])
def test_tls_server_end_point_ecdsa(ec_key, alg, expected):
    from cryptography.hazmat.primitives import hashes
    der = _make_cert(ec_key, getattr(hashes, alg)())
    assert tls_server_end_point(der) == hashlib.new(expected, der).digest()


@pytest.mark.parametrize("alg, expected", [("SHA256", "sha256"), ("SHA384", "sha384"),
                                           ("SHA512", "sha512")])
def test_tls_server_end_point_pss(rsa_key, alg, expected):
    from cryptography.hazmat.primitives import hashes
    try:
        der = _make_cert(rsa_key, getattr(hashes, alg)(), pss=True)
    except TypeError:
        pytest.skip("this cryptography cannot sign certificates with RSASSA-PSS")
    assert certificate_signature_hash(der) == expected
    assert tls_server_end_point(der) == hashlib.new(expected, der).digest()


def test_tls_server_end_point_ed25519():
    from cryptography.hazmat.primitives.asymmetric import ed25519
    der = _make_cert(ed25519.Ed25519PrivateKey.generate(), None)
    with pytest.raises(InterfaceError, match="Ed25519"):
        tls_server_end_point(der)


def test_tls_server_end_point_truncated(rsa_key):
    from cryptography.hazmat.primitives import hashes
    der = _make_cert(rsa_key, hashes.SHA256())
    for cut in (0, 1, 2, 5, 100, len(der) // 2, len(der) - 300):
        with pytest.raises(InterfaceError):
            tls_server_end_point(der[:cut])
    with pytest.raises(InterfaceError):
        tls_server_end_point(b"\x02\x01\x00")  # not a SEQUENCE
    with pytest.raises(InterfaceError):
        tls_server_end_point(b"\x30\x85\xff\xff\xff\xff\xff")  # absurd length


def test_tls_server_end_point_fuzz(rsa_key):
    """Random corruption never raises anything but InterfaceError."""
    import random
    from cryptography.hazmat.primitives import hashes
    der = bytearray(_make_cert(rsa_key, hashes.SHA256()))
    rng = random.Random(1234)
    for _ in range(2000):
        mutated = bytearray(der)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            tls_server_end_point(bytes(mutated))
        except InterfaceError:
            pass


def _with_outer_oid(der: bytes, old_last: int, new_last: int) -> bytes:
    """Rewrite the last arc of the outer signatureAlgorithm OID (1.2.840.113549.1.1.x)."""
    prefix = bytes.fromhex("06092a864886f70d0101")
    i = der.rindex(prefix + bytes([old_last]))
    j = i + len(prefix)
    return der[:j] + bytes([new_last]) + der[j + 1:]


@pytest.mark.parametrize("last_arc", [4, 5])  # md5WithRSA, sha1WithRSA -> SHA-256
def test_tls_server_end_point_weak_hash_uses_sha256(rsa_key, last_arc):
    from cryptography.hazmat.primitives import hashes
    der = _with_outer_oid(_make_cert(rsa_key, hashes.SHA384()), 12, last_arc)
    assert certificate_signature_hash(der) in ("md5", "sha1")
    assert tls_server_end_point(der) == hashlib.sha256(der).digest()


def test_tls_server_end_point_unknown_algorithm(rsa_key):
    from cryptography.hazmat.primitives import hashes
    der = _with_outer_oid(_make_cert(rsa_key, hashes.SHA256()), 11, 99)
    with pytest.raises(InterfaceError, match=r"1\.2\.840\.113549\.1\.1\.99"):
        tls_server_end_point(der)
