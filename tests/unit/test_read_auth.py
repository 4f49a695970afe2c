"""Read-side authentication without services: the settings and when the read side may run
open, token verification, who may read which member, and the public readiness body. The
CLI's refusal to start is checked in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from litestar.exceptions import ClientException, NotAuthorizedException, PermissionDeniedException

from loyalty_progress.api.access import member_for, require_club
from loyalty_progress.api.auth import (
    UNCHECKED,
    Caller,
    InvalidToken,
    ReadSideAuth,
    TokenVerifier,
    bearer_token,
    is_loopback,
    token_verifier,
)
from loyalty_progress.api.http import public_readiness
from loyalty_progress.config import Settings, SettingsError
from loyalty_progress.observability.health import Health
from tests.support.tokens import TEST_SECRET, mint

SECRET_ENV = {"LOYALTY_AUTH_HS256_SECRET": TEST_SECRET}


# --------------------------------------------------------------------------- settings


def test_servers_bind_loopback_unless_told_otherwise() -> None:
    settings = Settings.from_env({})
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 8081)
    assert Settings().http_host == Settings().metrics_host == "127.0.0.1"
    # Any free read-side port means any free ops port, unless one is given.
    assert Settings.from_env({"LOYALTY_HTTP_PORT": "0"}).metrics_port == 0
    assert (
        Settings.from_env({"LOYALTY_HTTP_PORT": "0", "LOYALTY_METRICS_PORT": "9"}).metrics_port == 9
    )


def test_auth_settings_are_read_from_the_environment_and_the_secret_is_never_shown(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(
        {
            **SECRET_ENV,
            "LOYALTY_AUTH": "JWT",
            "LOYALTY_AUTH_ISSUER": "https://id.test",
            "LOYALTY_AUTH_AUDIENCE": "loyalty-read",
            "LOYALTY_METRICS_HOST": "0.0.0.0",
            "LOYALTY_METRICS_PORT": "9464",
        }
    )
    assert settings.auth == "jwt"
    assert settings.auth_hs256_secret == TEST_SECRET
    assert (settings.auth_issuer, settings.auth_audience) == ("https://id.test", "loyalty-read")
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 9464)
    assert TEST_SECRET not in repr(settings)
    keyed = Settings.from_env({"LOYALTY_AUTH_PUBLIC_KEY_FILE": str(tmp_path / "k.pem")})
    assert keyed.auth_public_key_file == tmp_path / "k.pem"
    assert keyed.auth is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LOYALTY_AUTH": "maybe"}, "LOYALTY_AUTH"),
        ({"LOYALTY_AUTH_HS256_SECRET": "short-but-secret"}, "LOYALTY_AUTH_HS256_SECRET"),
        ({"LOYALTY_METRICS_PORT": "metrics"}, "LOYALTY_METRICS_PORT"),
        ({"LOYALTY_HTTP_PORT": "8081"}, "LOYALTY_METRICS_PORT must differ"),
    ],
)
def test_bad_auth_settings_name_the_variable_and_not_the_value(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named) as raised:
        Settings.from_env(env)
    assert "short-but-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("worker.internal", False),
    ],
)
def test_loopback_binds(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_without_keys_the_read_side_is_open_on_loopback_only() -> None:
    assert token_verifier(Settings(http_host="127.0.0.1")) is None
    with pytest.raises(SettingsError, match="LOYALTY_AUTH_HS256_SECRET") as refused:
        token_verifier(Settings(http_host="0.0.0.0"))
    assert "LOYALTY_AUTH=none" in str(refused.value)
    assert token_verifier(Settings(http_host="0.0.0.0", auth="none")) is None
    with pytest.raises(SettingsError, match="LOYALTY_AUTH=jwt needs"):
        token_verifier(Settings(http_host="127.0.0.1", auth="jwt"))


def test_a_configured_key_always_means_tokens(tmp_path: Path) -> None:
    verifier = token_verifier(Settings(http_host="0.0.0.0", auth_hs256_secret=TEST_SECRET))
    assert verifier is not None
    assert verifier.algorithm == "HS256"
    both = Settings(auth_hs256_secret=TEST_SECRET, auth_public_key_file=tmp_path / "k.pem")
    with pytest.raises(SettingsError, match="not both"):
        token_verifier(both)


def _pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.mark.parametrize(
    ("private", "algorithm"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_the_key_type_fixes_the_algorithm(tmp_path: Path, private: Any, algorithm: str) -> None:
    path = tmp_path / "issuer.pem"
    path.write_bytes(_pem(private))
    verifier = token_verifier(Settings(http_host="0.0.0.0", auth_public_key_file=path))
    assert verifier is not None
    assert verifier.algorithm == algorithm
    caller = verifier.verify(mint("m-7", key=private, algorithm=algorithm))
    assert caller == Caller(subject="m-7", club="infinity-mall", staff=False)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        (b"not a key", "no PEM public key"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "2048 bits"),
        (_pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        (_pem(ed25519.Ed25519PrivateKey.generate()), "P-256"),
    ],
)
def test_unusable_public_key_files_are_refused(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "issuer.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SettingsError, match="LOYALTY_AUTH_PUBLIC_KEY_FILE") as raised:
        token_verifier(Settings(auth_public_key_file=path))
    assert problem in str(raised.value)


# --------------------------------------------------------------------------- tokens

VERIFIER = TokenVerifier(TEST_SECRET, "HS256")


@pytest.mark.parametrize(
    ("scope", "staff"),
    [
        (None, False),
        ("openid", False),
        ("loyalty:staffer", False),
        ("loyalty:staff", True),
        ("openid loyalty:staff profile", True),
    ],
)
def test_staff_is_the_exact_scope_word(scope: str | None, staff: bool) -> None:
    assert VERIFIER.verify(mint("desk", scope=scope)).staff is staff


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"scope": ["loyalty:staff"]}, "space-separated string"),
        ({"sub": "x" * 129}, "sub claim of 1-128"),
        ({"club": "c" * 129}, "club claim of 1-128"),
        ({"club": 7}, "club claim"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"expires_in": -3600}, "has expired"),
        ({"key": "another-secret-of-the-same-length-000000"}, "does not verify"),
        ({"sub": None}, "no sub claim"),
    ],
)
def test_untrustworthy_tokens_say_why(claims: dict[str, Any], reason: str) -> None:
    # Minted here, not at collection: the suite may run longer than a token lives.
    with pytest.raises(InvalidToken, match=reason):
        VERIFIER.verify(mint("m", **claims))


def test_a_malformed_token_says_so() -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        VERIFIER.verify("a.b.c")


def test_a_few_seconds_of_clock_skew_are_tolerated() -> None:
    assert VERIFIER.verify(mint("m", expires_in=-5)).subject == "m"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer  abc.def.ghi ", "abc.def.ghi"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcjpwYXNz", None),
    ],
)
def test_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_the_guard_answers_401_with_a_challenge() -> None:
    auth = ReadSideAuth(VERIFIER)
    with pytest.raises(NotAuthorizedException) as missing:
        auth.caller(None)
    assert missing.value.headers == {"WWW-Authenticate": 'Bearer realm="loyalty-progress"'}
    with pytest.raises(NotAuthorizedException) as expired:
        auth.caller("Bearer " + mint("m", expires_in=-3600))
    assert expired.value.headers == {
        "WWW-Authenticate": 'Bearer realm="loyalty-progress", error="invalid_token", '
        'error_description="the token has expired"'
    }
    assert ReadSideAuth(None).caller(None) is UNCHECKED


# --------------------------------------------------------------------------- access

MEMBER = Caller(subject="m-1", club="infinity-mall", staff=False)
STAFF = Caller(subject="desk", club="infinity-mall", staff=True)


def test_member_routes_resolve_me_and_refuse_other_members_and_clubs() -> None:
    assert member_for(MEMBER, "infinity-mall", "me") == "m-1"
    assert member_for(MEMBER, "infinity-mall", "m-1") == "m-1"
    assert member_for(STAFF, "infinity-mall", "m-2") == "m-2"
    assert member_for(UNCHECKED, "infinity-mall", "m-2") == "m-2"
    for caller, member in ((MEMBER, "m-2"), (MEMBER, "me"), (STAFF, "m-2")):
        with pytest.raises(PermissionDeniedException):
            member_for(caller, "harbour-centre", member)
    with pytest.raises(PermissionDeniedException, match="its own member"):
        member_for(MEMBER, "infinity-mall", "m-2")
    with pytest.raises(ClientException, match="without authentication"):
        member_for(UNCHECKED, "infinity-mall", "me")
    require_club(UNCHECKED, "any-club")


# --------------------------------------------------------------------------- readiness


def test_public_readiness_gives_the_flags_and_a_short_reason_never_the_error() -> None:
    error = "OSError: connect to postgresql://loyalty:hunter2@db.internal:5432 failed"
    down = Health(database=False, redis=True, migrations_current=True, last_error=error)
    body = public_readiness(down)
    assert body == {
        "ready": False,
        "database": False,
        "redis": True,
        "migrations_current": True,
        "groups_joined": False,
        "reason": "database unreachable",
    }
    assert "hunter2" not in str(body)
    stopped = Health(database=True, redis=True, migrations_current=True, starting=None)
    assert public_readiness(stopped)["reason"] == "not consuming: consumer groups not joined"
    starting = Health(database=True, redis=True, migrations_current=True)
    assert public_readiness(starting)["reason"] == "starting"
    lost = Health(True, True, True, True, starting=None, lost_groups={"loyalty.points": "x"})
    assert public_readiness(lost)["reason"] == "consumer group lost, being recreated"
    assert "x" not in str(public_readiness(lost))
    ready = Health(
        database=True, redis=True, migrations_current=True, groups_joined=True, starting=None
    )
    assert public_readiness(ready)["reason"] is None


# --------------------------------------------------------------------------- start-up


def _run_cli(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from loyalty_progress.cli import main; sys.exit(main())",
            "run",
        ],
        env={**clean, "LOYALTY_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"LOYALTY_HTTP_HOST": "0.0.0.0"},
        {
            "LOYALTY_HTTP_HOST": "0.0.0.0",
            "LOYALTY_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/never",
            "LOYALTY_REDIS_URL": "redis://127.0.0.1:1/0",
        },
        {"LOYALTY_AUTH": "jwt"},
    ],
    ids=["embedded", "external services", "jwt without keys"],
)
def test_run_refuses_to_serve_members_open_with_one_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = _run_cli(env, tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("configuration error: ")
    assert "LOYALTY_AUTH_HS256_SECRET or LOYALTY_AUTH_PUBLIC_KEY_FILE" in line
    assert not any(tmp_path.iterdir()), "nothing may start before the refusal"


def test_run_with_a_short_secret_fails_without_printing_it(tmp_path: Path) -> None:
    done = _run_cli({"LOYALTY_AUTH_HS256_SECRET": "hunter2"}, tmp_path)
    assert done.returncode == 2
    assert "LOYALTY_AUTH_HS256_SECRET must be at least 32 bytes" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
