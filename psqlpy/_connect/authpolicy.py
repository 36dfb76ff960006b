"""What the client accepts from a server during authentication: libpq's
``check_expected_areq`` (``require_auth``, ``channel_binding``) and ``pg_SASL_init``'s
choice of mechanism.  Every check runs *before* the client answers the request, so a
refused server never sees a password, a hash or a SCRAM proof.
"""

from __future__ import annotations

from ..exceptions import ConnectError
from .auth import SCRAM_SHA_256, SCRAM_SHA_256_PLUS
from .settings import (AUTH_GSS, AUTH_GSS_CONT, AUTH_MD5, AUTH_PASSWORD,
                       AUTH_SASL, AUTH_SASL_CONT, AUTH_SASL_FIN, AUTH_SSPI, AuthPolicy)

__all__ = ["AuthCheck", "AuthRefused"]

_DESCRIPTIONS = {
    AUTH_PASSWORD: "server requested a cleartext password",
    AUTH_MD5: "server requested a hashed password",
    AUTH_GSS: "server requested GSSAPI authentication",
    AUTH_GSS_CONT: "server requested GSSAPI authentication",
    AUTH_SSPI: "server requested SSPI authentication",
    AUTH_SASL: "server requested SASL authentication",
    AUTH_SASL_CONT: "server requested SASL authentication",
    AUTH_SASL_FIN: "server requested SASL authentication",
}
_SASL = frozenset({AUTH_SASL, AUTH_SASL_CONT, AUTH_SASL_FIN})


class AuthRefused(ConnectError):
    """The client refused to authenticate the way the server asked (``require_auth``,
    ``channel_binding``, a stripped TLS connection, no password to send)."""


class AuthCheck:
    """The authentication state of one startup exchange."""

    __slots__ = ("policy", "tls", "finished", "channel_bound")

    def __init__(self, policy: AuthPolicy, tls: bool):
        self.policy = policy
        self.tls = tls
        #: libpq's ``client_finished_auth``: a password was sent, or SCRAM verified
        self.finished = False
        self.channel_bound = False

    def request(self, code: int) -> None:
        """Refuse an authentication request the settings do not allow."""
        policy = self.policy
        if policy.require_auth is not None and code not in policy.allowed:
            raise AuthRefused(f"authentication method requirement {policy.require_auth!r} "
                              f"failed: {_DESCRIPTIONS.get(code, 'server requested an unknown authentication type')}")
        if policy.channel_binding == "require" and code not in _SASL:
            raise AuthRefused("channel binding required but not supported by server's "
                              "authentication request")

    def ok(self) -> None:
        """Check an AuthenticationOk: was the server authenticated as required?"""
        policy = self.policy
        if policy.require_auth is not None and policy.auth_required and not self.finished:
            raise AuthRefused(f"authentication method requirement {policy.require_auth!r} "
                              f"failed: server did not complete authentication")
        if policy.channel_binding == "require" and not self.channel_bound:
            raise AuthRefused("channel binding required, but server authenticated client "
                              "without channel binding")

    def sasl_mechanism(self, offered) -> str:
        """The SASL mechanism to use among those the server offered."""
        cb = self.policy.channel_binding
        if cb == "require" and not self.tls:
            raise AuthRefused("channel binding required, but SSL not in use")
        chosen = None
        for mech in offered:
            if mech == SCRAM_SHA_256_PLUS:
                if not self.tls:
                    # Only possible over TLS: a proxy stripped it.  The server would refuse
                    # SCRAM without binding anyway; answering gives it material for nothing.
                    raise AuthRefused("server offered SCRAM-SHA-256-PLUS authentication "
                                      "over a non-SSL connection")
                if cb != "disable":
                    chosen = SCRAM_SHA_256_PLUS
            elif mech == SCRAM_SHA_256 and chosen is None:
                chosen = SCRAM_SHA_256
        if chosen is None:
            raise AuthRefused("none of the server's SASL authentication mechanisms are "
                              "supported: " + ", ".join(repr(str(m)[:40]) for m in offered))
        if cb == "require" and chosen != SCRAM_SHA_256_PLUS:
            raise AuthRefused("channel binding is required, but server did not offer an "
                              "authentication method that supports channel binding")
        return chosen

    @property
    def binding_supported(self) -> bool:
        """Whether the gs2 flag says "y" (we could bind, the server did not offer it)."""
        return self.tls and self.policy.channel_binding != "disable"

