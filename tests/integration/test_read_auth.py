"""The read side's authentication and authorization over real HTTP, against a running
worker: 401 without a valid token, 403 for another member, club or group, `me` on every
member route, staff reads of its own club, the ops port, open modes and bounded inputs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.worker.app import Worker
from tests.support.attendance_service import apply_editions, edition, oslo
from tests.support.attendance_service import receipt as attendance_receipt
from tests.support.challenge_service import (
    apply,
    challenge,
    earned,
    group,
    member_fact,
    settle,
    trigger,
)
from tests.support.replay import line, replay_file, write_jsonl
from tests.support.streams import publish
from tests.support.tokens import (
    CLUB,
    TEST_SECRET,
    bearer,
    hs256_with_any_secret,
    member_token,
    mint,
    staff_token,
)
from tests.support.worker import running_worker, worker_at

ROOT = Path(__file__).resolve().parents[2]
NOW = oslo("2026-05-20 12:00")
MAY = {"starts_at": "2026-05-01T00:00:00+02:00", "ends_at": "2026-06-01T00:00:00+02:00"}
DEFINITIONS = [
    challenge("spend", group(trigger(1, "earned_points", 1000)), **MAY),
    challenge("team", group(trigger(1, "earned_points", 3000)), scope="group", **MAY),
    challenge(
        "weekly",
        group(trigger(1, "earned_points", 50)),
        recurrence="weekly",
        starts_at="2026-05-04T00:00:00+02:00",
        ends_at="2026-08-31T00:00:00+02:00",
    ),
]
# Every member route, `{m}` standing for the member: compared with the app's routes below.
MEMBER_ROUTES = {
    "/v1/members/{member_id}/totals": "/v1/members/{m}/totals",
    "/v1/members/{member_id}/attendance_challenge": "/v1/members/{m}/attendance_challenge",
    "/v1/members/{member_id}/attendance_challenge/contributions": (
        "/v1/members/{m}/attendance_challenge/contributions"
    ),
    "/v1/members/{member_id}/challenges": "/v1/members/{m}/challenges",
    "/v1/members/{member_id}/challenges/active": "/v1/members/{m}/challenges/active",
    "/v1/members/{member_id}/challenges/eligible": "/v1/members/{m}/challenges/eligible",
    "/v1/members/{member_id}/challenges/historical": "/v1/members/{m}/challenges/historical",
    "/v1/members/{member_id}/challenges/{code}/contributions": (
        "/v1/members/{m}/challenges/spend/contributions"
    ),
    "/v1/members/{member_id}/prize_history": "/v1/members/{m}/prize_history",
    "/v1/challenges/{code}/occurrences/{index}?memberId": "/v1/challenges/spend/occurrences/0"
    "?memberId={m}",
}
GROUP_ROUTES = [
    "/v1/groups/g1/challenges/active",
    "/v1/groups/g1/challenges/eligible",
    "/v1/groups/g1/challenges/historical",
    "/v1/challenges/team/occurrences/0?groupCode=g1",
]


@contextlib.asynccontextmanager
async def seeded_worker(redis: Redis, settings: Settings, tmp_path: Path) -> AsyncIterator[Worker]:
    """Members `a` (in group g1, 300 points, an attendance receipt) and `b` (200 points)."""
    await apply(settings, tmp_path, *DEFINITIONS)
    await apply_editions(settings, edition())
    async with worker_at(settings, NOW) as worker:
        joined = oslo("2026-05-02 10:00")
        await publish(
            redis, settings, "members", member_fact("a", "joined_group", joined, group_code="g1")
        )
        await settle(redis, settings)
        spent = oslo("2026-05-10 12:00")
        await publish(redis, settings, "points", earned("a", 300, spent), earned("b", 200, spent))
        await publish(
            redis,
            settings,
            "receipts",
            attendance_receipt("r-a", "approved", 120, "2026-05-11 12:00", member="a"),
        )
        await settle(redis, settings)
        yield worker


async def get(
    worker: Worker,
    path: str,
    token: str | None,
    club: str = CLUB,
    port: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    sent = {"X-Loyalty-Club-Slug": club, **(headers or {}), **(bearer(token) if token else {})}
    base = f"http://127.0.0.1:{port or worker.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.get(path, headers=sent)


def documented_paths() -> set[str]:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return set(document["paths"])


def test_the_member_routes_listed_here_are_all_the_member_routes() -> None:
    listed = {path.split("?")[0] for path in MEMBER_ROUTES}
    members = {p for p in documented_paths() if p.startswith("/v1/members/")}
    assert members <= listed
    assert listed - members == {"/v1/challenges/{code}/occurrences/{index}"}


async def test_me_is_the_token_member_on_every_member_route(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    async with seeded_worker(redis, settings, tmp_path) as worker:
        as_me = {
            r: await get(worker, p.format(m="me"), member_token("a"))
            for r, p in MEMBER_ROUTES.items()
        }
        by_staff = {
            r: await get(worker, p.format(m="a"), staff_token()) for r, p in MEMBER_ROUTES.items()
        }
        own = {
            r: await get(worker, p.format(m="a"), member_token("a"))
            for r, p in MEMBER_ROUTES.items()
        }
    for route in MEMBER_ROUTES:
        assert as_me[route].status_code == 200, (route, as_me[route].text)
        assert as_me[route].json() == by_staff[route].json() == own[route].json(), route
    assert as_me["/v1/members/{member_id}/totals"].json()["points_earned"] == 300
    attendance = as_me["/v1/members/{member_id}/attendance_challenge"].json()
    assert attendance["edition"]["membership"] is not None
    ledger = as_me["/v1/members/{member_id}/challenges/{code}/contributions"].json()
    assert (ledger["member_id"], ledger["count"]) == ("a", 1)
    seed001 = as_me["/v1/members/{member_id}/challenges"].json()
    assert {item["Id"] for item in seed001["data"]} >= {"spend", "team"}


async def test_other_members_clubs_and_groups_are_forbidden(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    async with seeded_worker(redis, settings, tmp_path) as worker:
        other_member = {
            p: await get(worker, p.format(m="a"), member_token("b")) for p in MEMBER_ROUTES.values()
        }
        other_club = {
            p: await get(worker, p.format(m="me"), member_token("a", club="harbour-centre"))
            for p in MEMBER_ROUTES.values()
        }
        foreign_staff = {
            p: await get(worker, p.format(m="b"), staff_token(club="harbour-centre"))
            for p in [*MEMBER_ROUTES.values(), *GROUP_ROUTES]
        }
        # Staff asking with the header of another club is still another club.
        header_swap = await get(
            worker, "/v1/members/a/totals", staff_token(), club="harbour-centre"
        )
        in_group = {p: await get(worker, p, member_token("a")) for p in GROUP_ROUTES}
        outside = {p: await get(worker, p, member_token("b")) for p in GROUP_ROUTES}
        staff_group = {p: await get(worker, p, staff_token()) for p in GROUP_ROUTES}
        staff_reads_b = await get(
            worker, "/v1/members/b/challenges/spend/contributions", staff_token()
        )
    for answers in (other_member, other_club, foreign_staff, outside):
        for path, response in answers.items():
            assert response.status_code == 403, (path, response.text)
            assert "detail" in response.json()
    assert header_swap.status_code == 403
    for path in GROUP_ROUTES:
        assert in_group[path].status_code == 200, (path, in_group[path].text)
        assert in_group[path].json() == staff_group[path].json()
    detail = in_group["/v1/challenges/team/occurrences/0?groupCode=g1"].json()
    assert detail["challenge"]["counters"][0]["details"] == [
        {"memberCode": "a", "numericValue": 300}
    ]
    assert staff_reads_b.status_code == 200
    assert (staff_reads_b.json()["member_id"], staff_reads_b.json()["count"]) == ("b", 1)


def _bad_tokens() -> dict[str, tuple[str | None, str | None]]:
    """name: (Authorization header, error code in WWW-Authenticate); minted when called."""
    other_secret = "another-secret-of-the-same-length-000000"
    return {
        "none": (None, None),
        "basic scheme": ("Basic YTpi", None),
        "garbage": ("Bearer not-a-jwt", "invalid_token"),
        "expired": ("Bearer " + mint("a", expires_in=-600), "invalid_token"),
        "other secret": ("Bearer " + mint("a", key=other_secret), "invalid_token"),
        "no exp": ("Bearer " + mint("a", exp=None), "invalid_token"),
        "no club": ("Bearer " + mint("a", club=""), "invalid_token"),
        "too long": ("Bearer " + mint("a", padding="x" * 9000), "invalid_token"),
    }


async def test_missing_invalid_and_expired_tokens_answer_401_with_a_challenge(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    async with seeded_worker(redis, settings, tmp_path) as worker:
        answers = {}
        bad_tokens = _bad_tokens()
        for name, (authorization, _) in bad_tokens.items():
            headers = {} if authorization is None else {"Authorization": authorization}
            answers[name] = await get(worker, "/v1/members/me/totals", None, headers=headers)
        # Authentication comes before parameter checks: nothing learnt without a token.
        bad_parameter = await get(worker, "/v1/members/a/challenges?Page=0", None)
        expired_reason = answers["expired"].json()["detail"]
        probes = [(await get(worker, p, None)).status_code for p in ("/healthz", "/readyz")]
    for name, (_, error) in bad_tokens.items():
        response = answers[name]
        assert response.status_code == 401, (name, response.text)
        challenge_header = response.headers["WWW-Authenticate"]
        assert challenge_header.startswith('Bearer realm="loyalty-progress"'), name
        if error is None:
            assert "error=" not in challenge_header, name
        else:
            assert f'error="{error}"' in challenge_header, name
    assert expired_reason == "the token has expired"
    assert (
        'error_description="the token has expired"'
        in answers["expired"].headers["WWW-Authenticate"]
    )
    assert bad_parameter.status_code == 401
    assert probes == [200, 200]


async def test_metrics_schema_and_full_readiness_are_on_the_ops_port_only(
    redis: Redis, settings: Settings
) -> None:
    async with running_worker(settings, serve_http=True) as worker:
        assert worker.metrics_port not in (None, worker.http_port)
        read_side = {
            p: await get(worker, p, staff_token())
            for p in ("/metrics", "/schema", "/schema/openapi.json")
        }
        ops = {
            p: await get(worker, p, None, port=worker.metrics_port)
            for p in ("/metrics", "/schema", "/readyz")
        }
        public = await get(worker, "/readyz", None)
    for path, response in read_side.items():
        assert response.status_code == 404, (path, response.status_code)
    assert ops["/metrics"].status_code == 200
    assert "loyalty_events_applied_total" in ops["/metrics"].text
    assert ops["/schema"].json() == json.loads((ROOT / "docs" / "openapi.json").read_text())
    # The error text (hosts, users, SQL) only on the ops port; the read side has the flags.
    assert (public.status_code, ops["/readyz"].status_code) == (200, 200)
    assert public.json() == {
        "ready": True,
        "database": True,
        "redis": True,
        "migrations_current": True,
        "groups_joined": True,
        "reason": None,
    }
    assert "last_error" in ops["/readyz"].json()


async def test_auth_none_runs_open_and_me_needs_a_token(
    redis: Redis, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    open_settings = dataclasses.replace(settings, auth="none")
    with caplog.at_level(logging.WARNING, logger="loyalty_progress.api.auth"):
        async with seeded_worker(redis, open_settings, tmp_path) as worker:
            anonymous = await get(worker, "/v1/members/b/totals", None)
            me = await get(worker, "/v1/members/me/totals", None)
    assert anonymous.status_code == 200
    assert anonymous.json()["points_earned"] == 200
    assert me.status_code == 400
    assert "LOYALTY_AUTH=none" in caplog.text


async def test_no_keys_on_loopback_runs_open_with_a_warning(
    redis: Redis, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    keyless = dataclasses.replace(settings, auth_hs256_secret=None)
    with caplog.at_level(logging.WARNING, logger="loyalty_progress.api.auth"):
        async with running_worker(keyless, serve_http=True) as worker:
            anonymous = await get(worker, "/v1/members/b/totals", None)
    assert anonymous.status_code == 200
    [warning] = [r for r in caplog.records if r.name == "loyalty_progress.api.auth"]
    assert "open without authentication on loopback 127.0.0.1" in warning.getMessage()


OUT_OF_RANGE = [
    "/v1/challenges/spend/occurrences/2147483648?memberId=a",
    "/v1/challenges/spend/occurrences/99999999999999999999999?memberId=a",
    "/v1/members/a/challenges/spend/contributions?occurrence=2147483648",
    "/v1/members/a/challenges?CategoryId=2147483648",
    "/v1/members/" + "x" * 129 + "/totals",
    "/v1/members/" + "x" * 129 + "/attendance_challenge",
    "/v1/members/" + "x" * 129 + "/challenges",
    "/v1/members/" + "x" * 129 + "/challenges/active",
    "/v1/members/a/challenges/" + "c" * 129 + "/contributions",
    "/v1/groups/" + "g" * 129 + "/challenges/active",
    "/v1/challenges/team/occurrences/0?groupCode=" + "g" * 129,
    "/v1/challenges/spend/occurrences/0?memberId=" + "x" * 129,
    "/v1/members/a/challenges/historical?sinceDate=" + "2026" * 20,
]


async def test_out_of_range_integers_and_over_long_ids_answer_422(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    async with seeded_worker(redis, settings, tmp_path) as worker:
        answers = {p: await get(worker, p, staff_token()) for p in OUT_OF_RANGE}
        long_club = await get(worker, "/v1/members/a/totals", staff_token(), club="c" * 129)
        # The largest index the bound lets through is past year 9999 for a weekly challenge.
        last_index = await get(
            worker, "/v1/challenges/weekly/occurrences/2147483647?memberId=a", staff_token()
        )
    for path, response in answers.items():
        assert response.status_code == 422, (path[:80], response.status_code, response.text[:200])
    assert long_club.status_code == 422
    assert "X-Loyalty-Club-Slug" in long_club.text
    assert last_index.status_code == 404


def _write_public_key(tmp_path: Path, private_key: Any) -> Path:
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "issuer.pem"
    path.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_a_public_key_file_verifies_rs256_and_es256_tokens(
    redis: Redis, settings: Settings, tmp_path: Path, algorithm: str
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    other: Any = ec.generate_private_key(ec.SECP256R1())
    key_file = _write_public_key(tmp_path, private)
    keyed = dataclasses.replace(settings, auth_hs256_secret=None, auth_public_key_file=key_file)
    async with running_worker(keyed, serve_http=True) as worker:
        good = await get(
            worker, "/v1/members/me/totals", mint("a", key=private, algorithm=algorithm)
        )
        wrong_key = await get(
            worker, "/v1/members/me/totals", mint("a", key=other, algorithm="ES256")
        )
        # The public key used as an HMAC secret: the algorithm comes from the key, not the token.
        confused = await get(
            worker, "/v1/members/me/totals", hs256_with_any_secret(key_file.read_bytes(), "a")
        )
        shared_secret = await get(worker, "/v1/members/me/totals", mint("a", key=TEST_SECRET))
    assert good.status_code == 200, good.text
    assert good.json()["points_earned"] == 0
    assert [r.status_code for r in (wrong_key, confused, shared_secret)] == [401, 401, 401]


async def test_issuer_and_audience_are_checked_when_set(redis: Redis, settings: Settings) -> None:
    issuer, audience = "https://id.infinity-mall.test", "loyalty-read"
    strict = dataclasses.replace(settings, auth_issuer=issuer, auth_audience=audience)
    tokens = {
        "right": mint("a", iss=issuer, aud=audience),
        "audience list": mint("a", iss=issuer, aud=["other", audience]),
        "other issuer": mint("a", iss="https://id.elsewhere.test", aud=audience),
        "other audience": mint("a", iss=issuer, aud="billing"),
        "no issuer": mint("a", aud=audience),
        "no audience": mint("a", iss=issuer),
    }
    async with running_worker(strict, serve_http=True) as worker:
        answers = {n: await get(worker, "/v1/members/me/totals", t) for n, t in tokens.items()}
    async with running_worker(settings, serve_http=True) as worker:
        # Not configured: neither is checked, whatever the token says.
        unchecked = await get(worker, "/v1/members/me/totals", tokens["other audience"])
    assert {n: r.status_code for n, r in answers.items()} == {
        "right": 200,
        "audience list": 200,
        "other issuer": 401,
        "other audience": 401,
        "no issuer": 401,
        "no audience": 401,
    }
    assert answers["other issuer"].json()["detail"] == "the token is from another issuer"
    assert unchecked.status_code == 200


async def test_replay_job_reports_are_for_staff_tokens(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    history = write_jsonl(
        tmp_path / "history.jsonl",
        [line("points", "p-1", "a", NOW, kind="earned", amount=5), "not json"],
    )
    report = await replay_file(settings, history)
    path = f"/v1/replays/{report['id']}"
    async with running_worker(settings, serve_http=True) as worker:
        by_staff = await get(worker, path, staff_token())
        by_member = await get(worker, path, member_token("a"))
        foreign_staff = await get(worker, path, staff_token(club="harbour-centre"))
        unknown = await get(worker, f"/v1/replays/{report['id'] + 1}", staff_token())
        too_big = await get(worker, "/v1/replays/9223372036854775808", staff_token())
        renamed = await get(worker, f"/v1/replay-jobs/{report['id']}", staff_token())
    assert by_staff.status_code == 200
    assert by_staff.json() == json.loads(json.dumps(report))
    assert (by_staff.json()["events_applied_number"], len(by_staff.json()["errors"])) == (1, 1)
    assert [by_member.status_code, foreign_staff.status_code] == [403, 403]
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no replay job {report['id'] + 1}"
    assert too_big.status_code == 422
    assert renamed.status_code == 404  # the route's name before any release (docs/replay.md)
