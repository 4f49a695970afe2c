"""Who is reading: bearer tokens (JWT, verified with PyJWT) on the read side.

A token carries `sub` (the member id, or a staff/service id), `club` (the club slug),
`exp`, and optionally `scope`, space-separated OAuth style: `loyalty:staff` makes it a
staff token. Keys come from `LOYALTY_AUTH_HS256_SECRET` (shared secret, HS256) or
`LOYALTY_AUTH_PUBLIC_KEY_FILE` (PEM, RS256 or ES256 by key type); one algorithm is
accepted, fixed by the key, never taken from the token. `LOYALTY_AUTH_ISSUER` and
`LOYALTY_AUTH_AUDIENCE` are checked when set. What each caller may read is `access.py`.

Without a key the read side runs open only when told (`LOYALTY_AUTH=none`) or when bound
to loopback; anywhere else it refuses to start (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from litestar.connection import ASGIConnection, Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import SecurityScheme

from loyalty_progress.config import Settings, SettingsError

log = logging.getLogger(__name__)

STAFF_SCOPE: Final = "loyalty:staff"
REALM: Final = "loyalty-progress"
SECURITY_SCHEME: Final = "bearerToken"
# Clock skew tolerated on `exp`, `nbf` and `iat` between the token issuer and the pods.
LEEWAY_SECONDS: Final = 30
# Longer tokens are refused before any decoding work.
MAX_TOKEN_BYTES: Final = 8192
# Claims are ids: the same bound as every other id on the read side and the wire.
MAX_CLAIM_LENGTH: Final = 128
_STATE_KEY: Final = "caller"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: a verified token's claims, or `UNCHECKED` with auth off."""

    subject: str | None
    club: str | None
    staff: bool

    @property
    def checked(self) -> bool:
        return self.subject is not None


UNCHECKED: Final = Caller(subject=None, club=None, staff=False)
# How a route asks for its caller (the read router provides it as `caller`).
CallerParam = NamedDependency[Caller]


class InvalidToken(Exception):
    """A bearer token that cannot be trusted; the message says why (never the token)."""


def _description(exc: jwt.InvalidTokenError) -> str:
    # Fixed texts: PyJWT's messages may quote the token's own content.
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the token is for another audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the token is from another issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no {exc.claim} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the token signature does not verify"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "the token is signed with another algorithm"
    return "the token is malformed"


def _claim_id(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CLAIM_LENGTH:
        raise InvalidToken(f"the token needs a {name} claim of 1-{MAX_CLAIM_LENGTH} characters")
    return value


@dataclass(frozen=True, slots=True)
class TokenVerifier:
    """One key, one algorithm, optional issuer and audience."""

    key: str | rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    algorithm: str
    issuer: str | None = None
    audience: str | None = None

    def verify(self, token: str) -> Caller:
        if len(token.encode()) > MAX_TOKEN_BYTES:
            raise InvalidToken(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["exp", "sub"],
                    # An `aud` is only checked against a configured audience.
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(_description(exc)) from None
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("the token scope must be a space-separated string")
        return Caller(
            subject=_claim_id(claims, "sub"),
            club=_claim_id(claims, "club"),
            staff=STAFF_SCOPE in scope.split(),
        )


def _challenge(error: str | None = None, description: str | None = None) -> str:
    """RFC 6750 §3 `WWW-Authenticate` value."""
    parts = [f'realm="{REALM}"']
    if error is not None:
        parts.append(f'error="{error}"')
    if description is not None:
        parts.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(parts)


def _unauthorized(detail: str, error: str | None = None) -> NotAuthorizedException:
    description = detail if error is not None else None
    return NotAuthorizedException(
        detail=detail, headers={"WWW-Authenticate": _challenge(error, description)}
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ReadSideAuth:
    """The read side's guard: every `/v1` request names its caller or answers 401."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    def caller(self, authorization: str | None) -> Caller:
        if self.verifier is None:
            return UNCHECKED
        token = bearer_token(authorization)
        if token is None:
            raise _unauthorized("a bearer token is required")
        try:
            return self.verifier.verify(token)
        except InvalidToken as exc:
            raise _unauthorized(str(exc), "invalid_token") from None

    async def guard(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        # A guard runs before parameters are parsed: an anonymous request learns nothing
        # about which parameters would have been accepted.
        connection.state[_STATE_KEY] = self.caller(connection.headers.get("authorization"))


def request_caller(request: Request[Any, Any, Any]) -> Caller:
    """Dependency: the caller the guard verified for this request."""
    caller: Caller = request.state[_STATE_KEY]
    return caller


def security_scheme() -> SecurityScheme:
    return SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description=(
            "A JWT with `sub` (member id), `club` (club slug, equal to the "
            "`X-Loyalty-Club-Slug` header) and `exp`; `scope` containing `loyalty:staff` "
            "reads any member and group of its club. HS256 (`LOYALTY_AUTH_HS256_SECRET`) or "
            "RS256/ES256 (`LOYALTY_AUTH_PUBLIC_KEY_FILE`); `iss`/`aud` checked when "
            "`LOYALTY_AUTH_ISSUER`/`LOYALTY_AUTH_AUDIENCE` are set. A member token reads its "
            "own member only; `/v1/members/me/...` is the token's member. 401 with "
            "`WWW-Authenticate` without a valid token, 403 for another member, club or group."
        ),
    )


# --------------------------------------------------------------------------- settings


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def _public_key(path: Path) -> tuple[rsa.RSAPublicKey | ec.EllipticCurvePublicKey, str]:
    name = "LOYALTY_AUTH_PUBLIC_KEY_FILE"
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from None
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        raise SettingsError(f"{name}: {path} holds no PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise SettingsError(f"{name}: RSA keys need at least 2048 bits, got {key.key_size}")
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, "ES256"
    raise SettingsError(f"{name}: {path} must hold an RSA (RS256) or P-256 (ES256) public key")


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """The verifier the settings ask for; None when the read side may run open. Raises
    `SettingsError` when it may not (keys missing off loopback, both kinds of key, ...)."""
    secret, key_file = settings.auth_hs256_secret, settings.auth_public_key_file
    if secret is not None and key_file is not None:
        raise SettingsError(
            "set LOYALTY_AUTH_HS256_SECRET or LOYALTY_AUTH_PUBLIC_KEY_FILE, not both"
        )
    if settings.auth == "none":
        return None
    issuer, audience = settings.auth_issuer, settings.auth_audience
    if secret is not None:
        return TokenVerifier(secret, "HS256", issuer, audience)
    if key_file is not None:
        key, algorithm = _public_key(key_file)
        return TokenVerifier(key, algorithm, issuer, audience)
    if settings.auth == "jwt":
        raise SettingsError(
            "LOYALTY_AUTH=jwt needs LOYALTY_AUTH_HS256_SECRET or LOYALTY_AUTH_PUBLIC_KEY_FILE"
        )
    if not is_loopback(settings.http_host):
        raise SettingsError(
            f"the read side would serve every member's data on {settings.http_host} without "
            "authentication: set LOYALTY_AUTH_HS256_SECRET or LOYALTY_AUTH_PUBLIC_KEY_FILE, or "
            "LOYALTY_AUTH=none to run it open on purpose"
        )
    return None


def read_side_auth(settings: Settings) -> ReadSideAuth:
    """The guard for the read side, saying once in the log when it is open."""
    verifier = token_verifier(settings)
    if verifier is None and settings.auth == "none":
        log.warning(
            "read side authentication is off (LOYALTY_AUTH=none): whoever reaches %s:%d "
            "reads every member",
            settings.http_host,
            settings.http_port,
        )
    elif verifier is None:
        log.warning(
            "read side open without authentication on loopback %s: no "
            "LOYALTY_AUTH_HS256_SECRET or LOYALTY_AUTH_PUBLIC_KEY_FILE set",
            settings.http_host,
        )
    return ReadSideAuth(verifier)
