"""The TLS side of connecting, with libpq's trust decisions (``initialize_SSL`` and
``pq_verify_peer_name_matches_certificate`` in fe-secure-openssl.c / fe-secure-common.c).

* Root certificates: ``sslrootcert`` (a file, or ``system`` for the system's store), else
  ``~/.postgresql/root.crt`` when it exists.  When one is loaded, the server's chain is
  verified in *every* mode that uses TLS (so ``require`` with a ``root.crt`` behaves like
  ``verify-ca``, as libpq does); without one, ``verify-ca`` and ``verify-full`` are refused
  before anything is sent, and the weaker modes do not verify.
* CRLs (``sslcrl``, ``sslcrldir``, else ``~/.postgresql/root.crl``) are checked for the
  whole chain when they load; a missing CRL file is ignored, as in libpq.
* Client certificate ``sslcert`` (else ``~/.postgresql/postgresql.crt`` when it exists)
  with ``sslkey`` (else ``~/.postgresql/postgresql.key``), refused when the key file is
  readable by group or others (0640 is allowed for a root-owned key), decrypted with
  ``sslpassword`` (never by prompting).
* ``verify-full`` checks the certificate against ``host`` (never ``hostaddr``) by libpq's
  rules: subjectAltName entries of the host's type (DNS name or IP address) exclude the
  Common Name, ``*.`` wildcards match one left-most label, names with NUL are refused.
* SNI carries ``host`` unless it is an IP address or ``sslsni=0``.
* ``ssl_min_protocol_version`` (default TLSv1.2) and ``ssl_max_protocol_version``.

Contexts are cached per settings and per file state (path, size, mtime), so a pool does
not re-read its files for every connection yet picks up a rotated certificate.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import stat
from collections import OrderedDict

from .._enums import SslMode
from ..exceptions import ConnectSSLError
from .settings import TlsSettings

__all__ = ["client_context", "server_name_indication", "verify_peer_name", "TlsSetupError"]

ROOT_CERT_FILE = "root.crt"
ROOT_CRL_FILE = "root.crl"
USER_CERT_FILE = "postgresql.crt"
USER_KEY_FILE = "postgresql.key"

_VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
_CACHE_SIZE = 32
_cache: OrderedDict = OrderedDict()


class TlsSetupError(ConnectSSLError):
    """The local TLS files or settings cannot be used: trying another host would not
    help."""


def _in_home(tls: TlsSettings, name: str) -> str | None:
    return os.path.join(tls.home, ".postgresql", name) if tls.home else None


def _stamp(path: str | None):
    if not path or path == "system":
        return (path,)
    try:
        st = os.stat(path)
    except OSError as e:
        return (path, e.errno)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode, st.st_uid)


def _paths(tls: TlsSettings) -> tuple:
    return (tls.rootcert or _in_home(tls, ROOT_CERT_FILE), tls.crl, tls.crldir,
            _in_home(tls, ROOT_CRL_FILE), tls.cert or _in_home(tls, USER_CERT_FILE),
            tls.key or _in_home(tls, USER_KEY_FILE))


def client_context(tls: TlsSettings) -> tuple[ssl.SSLContext, bool]:
    """(context, whether the server's chain is verified) for one connection attempt.

    Raises :class:`TlsSetupError` when the settings cannot be honoured (a missing root
    certificate for ``verify-*``, an unreadable or unprotected key, ...)."""
    key = (tls, tuple(_stamp(p) for p in _paths(tls)))
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    result = _build(tls)
    _cache[key] = result
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return result


def _failure(msg: str) -> TlsSetupError:
    return TlsSetupError(msg)


def _build(tls: TlsSettings) -> tuple[ssl.SSLContext, bool]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False          # verify-full is checked by verify_peer_name()
    ctx.verify_mode = ssl.CERT_NONE
    _set_versions(ctx, tls)
    verified = _load_roots(ctx, tls)
    if verified:
        ctx.verify_mode = ssl.CERT_REQUIRED
    if tls.send_cert:
        _load_client_certificate(ctx, tls)
    return ctx, verified


def _set_versions(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    try:
        if tls.min_version:
            ctx.minimum_version = _VERSIONS[tls.min_version.lower()]
        if tls.max_version:
            ctx.maximum_version = _VERSIONS[tls.max_version.lower()]
    except (ValueError, ssl.SSLError) as e:
        raise _failure(f"could not set the SSL protocol version range: {e}") from None


def _load_roots(ctx: ssl.SSLContext, tls: TlsSettings) -> bool:
    path = tls.rootcert or _in_home(tls, ROOT_CERT_FILE)
    if path == "system":
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return True
    if path and os.path.exists(path):
        problem = None
        try:
            ctx.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as e:
            problem = str(e)
        if problem is not None:
            raise _failure(f"could not read root certificate file {path!r}: {problem}")
        _load_crls(ctx, tls)
        return True
    if tls.mode in (SslMode.VerifyCa, SslMode.VerifyFull):
        if not path:
            raise _failure("could not get home directory to locate root certificate file. "
                           "Either provide the file, use the system's trusted roots with "
                           "sslrootcert=system, or change sslmode to disable server "
                           "certificate verification.")
        raise _failure(f"root certificate file {path!r} does not exist. Either provide the "
                       f"file, use the system's trusted roots with sslrootcert=system, or "
                       f"change sslmode to disable server certificate verification.")
    return False


def _load_crls(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    crl_file, crl_dir = tls.crl, tls.crldir
    if not crl_file and not crl_dir:
        crl_file = _in_home(tls, ROOT_CRL_FILE)
    if not crl_file and not crl_dir:
        return
    try:
        ctx.load_verify_locations(cafile=crl_file, capath=crl_dir)
    except (OSError, ssl.SSLError):
        return  # libpq: "if not found, silently ignore; we do not require CRL"
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN


def _load_client_certificate(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    cert = tls.cert or _in_home(tls, USER_CERT_FILE)
    if not cert:
        return
    try:
        os.stat(cert)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        return
    except OSError as e:
        raise _failure(f"could not open certificate file {cert!r}: {e.strerror}") from None
    key = tls.key or _in_home(tls, USER_KEY_FILE)
    if not key:
        raise _failure(f"certificate present, but no private key file for {cert!r}")
    if tls.key and ":" in tls.key and not os.path.exists(tls.key):
        raise _failure(f"sslkey {tls.key!r} names an OpenSSL engine key, which psqlpy does "
                       f"not support")
    try:
        st = os.stat(key)
    except FileNotFoundError:
        raise _failure(f"certificate present, but not private key file {key!r}") from None
    except OSError as e:
        raise _failure(f"could not stat private key file {key!r}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _failure(f"private key file {key!r} is not a regular file")
    if os.name == "posix":
        loose = (st.st_mode & (stat.S_IWGRP | stat.S_IXGRP | stat.S_IRWXO) if st.st_uid == 0
                 else st.st_mode & (stat.S_IRWXG | stat.S_IRWXO))
        if loose:
            raise _failure(f"private key file {key!r} has group or world access; file must "
                           f"have permissions u=rw (0600) or less if owned by the current "
                           f"user, or permissions u=rw,g=r (0640) or less if owned by root")
    secret = tls.password or ""
    problem = None
    try:
        # a callable: OpenSSL calls it only for an encrypted key, and never prompts
        ctx.load_cert_chain(cert, key, password=lambda: secret)
    except (OSError, ssl.SSLError) as e:
        problem = getattr(e, "reason", None) or getattr(e, "strerror", None) or type(e).__name__
    if problem is not None:
        raise _failure(f"could not load certificate {cert!r} with private key file {key!r}: "
                       f"{problem}")


# ------------------------------------------------------------------------------------------
# After the handshake
# ------------------------------------------------------------------------------------------


def _is_ip_address(host: str) -> bool:
    """libpq's ``is_ip_address``: inet_aton() for IPv4 (so ``127.1`` counts), inet_pton()
    for IPv6."""
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, host)
        return True
    except OSError:
        return False


def server_name_indication(host: str, tls: TlsSettings) -> str:
    """The SNI name to send ('' for none): ``host`` unless it looks like an IP address
    (all digits and dots, or any ':') or ``sslsni`` is not 1 (libpq's rule)."""
    if not tls.sni or not host or host.startswith("/"):
        return ""
    if all(c in "0123456789." for c in host) or ":" in host:
        return ""
    return host


def _name_matches(name: str, host: str) -> int:
    """1 match, 0 no match, -1 invalid name (libpq's three-way result)."""
    if not name or "\x00" in name:
        return -1
    if name.lower() == host.lower():
        return 1
    # "*." wildcard in the left-most label only, matching exactly one label
    if len(name) >= 3 and name.startswith("*.") and len(name) <= len(host):
        suffix = name[1:]
        if host.lower().endswith(suffix.lower()):
            first_dot = host.find(".")
            if first_dot >= len(host) - len(name):
                return 1
    return 0


def _ip_matches(text: str, host: str) -> int:
    try:
        cert_ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return -1
    if cert_ip.version == 4:
        try:
            return int(socket.inet_aton(host) == cert_ip.packed)
        except OSError:
            return 0
    try:
        return int(socket.inet_pton(socket.AF_INET6, host) == cert_ip.packed)
    except OSError:
        return 0


def verify_peer_name(ssl_object, host: str) -> None:
    """Raise :class:`ConnectSSLError` unless the server certificate names ``host``."""
    if not host:
        raise ConnectSSLError("host name must be specified for a verified SSL connection")
    cert = ssl_object.getpeercert() or {}
    host_type = "IP Address" if _is_ip_address(host) else "DNS"
    check_cn = True
    names: list[str] = []
    rc = 0
    for kind, value in cert.get("subjectAltName", ()):
        if kind == host_type:
            check_cn = False
        if kind == "DNS":
            rc = _name_matches(value, host)
        elif kind == "IP Address":
            rc = _ip_matches(value, host)
        else:
            continue
        names.append(value)
        if rc != 0:
            check_cn = False
            break
    if check_cn:
        for rdn in cert.get("subject", ()):
            found = [v for k, v in rdn if k == "commonName"]
            if found:
                names.append(found[0])
                rc = _name_matches(found[0], host)
                break
    if rc == 1:
        return
    if rc == -1:
        raise ConnectSSLError("SSL certificate's name entry is invalid (empty or with an "
                              "embedded NUL)")
    if not names:
        raise ConnectSSLError("could not get server's host name from server certificate")
    shown = repr(names[0]) if len(names) == 1 else (
        f"{names[0]!r} (and {len(names) - 1} other name{'s' if len(names) > 2 else ''})")
    raise ConnectSSLError(f"server certificate for {shown} does not match host name "
                          f"{host!r}")
