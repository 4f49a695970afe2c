"""What every read route has in common, over real HTTP: a missing club header answers 422
naming it, and query parameter names match whatever their case."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.challenge_service import apply, at, challenge, earned, group, settle, trigger
from tests.support.http import http_get
from tests.support.streams import publish
from tests.support.tokens import bearer, staff_token
from tests.support.worker import worker_at

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = {"member_id": "m1", "group_code": "g1", "code": "coffee", "index": "0", "job_id": "1"}


def _read_paths() -> list[str]:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return [p.format(**EXAMPLE) for p in document["paths"] if p.startswith("/v1/")]


async def test_every_read_route_answers_a_missing_club_header_with_422_naming_it(
    settings: Settings,
) -> None:
    async with (
        worker_at(settings, at(20)) as worker,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker.http_port}") as client,
    ):
        answers = {p: await client.get(p, headers=bearer(staff_token())) for p in _read_paths()}
    assert len(answers) >= 14
    for path, response in answers.items():
        assert response.status_code == 422, (path, response.text)
        assert "X-Loyalty-Club-Slug" in response.json()["detail"], path


async def test_query_parameter_names_match_whatever_their_case(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(
        settings,
        tmp_path,
        challenge(
            "burgers", group(trigger(1, "earned_points", 1000)), category={"id": 3, "name": "Food"}
        ),
        challenge(
            "shoes", group(trigger(1, "earned_points", 500)), category={"id": 4, "name": "Fashion"}
        ),
        challenge(
            "coffee", group(trigger(1, "earned_points", 200)), category={"id": 3, "name": "Food"}
        ),
    )
    async with worker_at(settings, at(20)) as worker:
        await publish(redis, settings, "points", earned("m1", 150, at(2)))
        await settle(redis, settings)
        pairs = [
            ("/v1/members/m1/challenges?CategoryId=3", "/v1/members/m1/challenges?categoryid=3"),
            (
                "/v1/members/m1/challenges?SearchQuery=sho",
                "/v1/members/m1/challenges?SEARCHQUERY=sho",
            ),
            (
                "/v1/members/m1/challenges?OrderBy=Id&IsAscending=false&ItemsPerPage=1&Page=2",
                "/v1/members/m1/challenges?orderby=id&isascending=FALSE&itemsperpage=1&page=2",
            ),
            (
                "/v1/members/m1/challenges/historical?sinceDate=2026-11-05",
                "/v1/members/m1/challenges/historical?SinceDate=2026-11-05",
            ),
            (
                "/v1/challenges/coffee/occurrences/0?memberId=m1",
                "/v1/challenges/coffee/occurrences/0?MEMBERID=m1",
            ),
            (
                "/v1/members/m1/challenges/coffee/contributions?occurrence=0",
                "/v1/members/m1/challenges/coffee/contributions?Occurrence=0",
            ),
            ("/v1/members/m1/totals?since=2030-01-01", "/v1/members/m1/totals?SINCE=2030-01-01"),
        ]
        answers = [(await http_get(worker, a), await http_get(worker, b)) for a, b in pairs]
        refused = {
            named: await http_get(worker, path)
            for path, named in (
                ("/v1/members/m1/challenges?PAGE=0", "Page"),
                ("/v1/members/m1/challenges/historical?SINCEDATE=last-week", "sinceDate"),
                ("/v1/members/m1/challenges/coffee/contributions?OCCURRENCE=-1", "occurrence"),
                ("/v1/members/m1/totals?Until=yesterday", "until"),
            )
        }
    for (path, _), (declared, any_case) in zip(pairs, answers, strict=True):
        assert declared[0] == 200, (path, declared)
        assert any_case == declared, path
    ids = [[item["Id"] for item in answer[0][1]["data"]] for answer in answers[:3]]
    assert ids == [["burgers", "coffee"], ["shoes"], ["coffee"]]  # filtered, not ignored
    assert answers[-1][0][1]["points_earned"] == 0
    for named, (status, body) in refused.items():
        assert status == 422, (named, body)
        assert f"`{named}`" in body["detail"], body
