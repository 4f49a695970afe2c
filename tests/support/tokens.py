"""Bearer tokens for the read side in tests, signed with the test workers' secret
(`settings` fixture: `auth_hs256_secret=TEST_SECRET`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Final

import jwt

TEST_SECRET: Final = "test-secret-for-the-read-side-0123456789"
CLUB: Final = "infinity-mall"


def mint(
    subject: str,
    club: str = CLUB,
    *,
    scope: str | None = None,
    expires_in: float = 300,
    key: Any = TEST_SECRET,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    """A signed JWT: `sub`, `club`, `exp` (now + expires_in, negative for expired), plus
    `scope` and any other claims given."""
    payload: dict[str, Any] = {
        "sub": subject,
        "club": club,
        "exp": int(time.time() + expires_in),
        **claims,
    }
    if scope is not None:
        payload["scope"] = scope
    return jwt.encode(payload, key, algorithm=algorithm)


def member_token(member_id: str, club: str = CLUB, **claims: Any) -> str:
    return mint(member_id, club, **claims)


def staff_token(club: str = CLUB, **claims: Any) -> str:
    return mint("support-desk", club, scope="openid loyalty:staff", **claims)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hs256_with_any_secret(secret: bytes, subject: str, club: str = CLUB) -> str:
    """An HS256 token keyed with arbitrary bytes, such as a public key's PEM (the
    algorithm-confusion attack), which PyJWT refuses to sign."""

    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    claims = {"sub": subject, "club": club, "exp": int(time.time() + 300)}
    signing_input = b".".join(
        part(json.dumps(obj).encode()) for obj in ({"alg": "HS256", "typ": "JWT"}, claims)
    )
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(signature)).decode()
