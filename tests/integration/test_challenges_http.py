"""The challenge read side over real HTTP: seed 001 filters, sorting and paging; hidden
challenges left out; unknown members get empty lists; bad parameters answer 422."""

from __future__ import annotations

from pathlib import Path

import httpx
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.helpers import http_get, publish
from tests.integration.test_challenges_support import (
    apply,
    at,
    challenge,
    earned,
    group,
    settle,
    trigger,
    worker_at,
)
from tests.tokens import bearer, staff_token

CHALLENGES = [
    challenge(
        "burgers",
        group(trigger(1, "earned_points", 1000)),
        name="Burger Week",
        category={"id": 3, "name": "Food"},
    ),
    challenge(
        "shoes",
        group(trigger(1, "earned_points", 500)),
        name="Shoe Sprint",
        category={"id": 4, "name": "Fashion"},
        ends_at=at(25).isoformat(),
    ),
    challenge(
        "coffee",
        group(trigger(1, "earned_points", 200)),
        name="Coffee Club",
        category={"id": 3, "name": "Food"},
    ),
    challenge("secret", group(trigger(1, "earned_points", 100)), visible=False),
]


def _ids(page: dict[str, object]) -> list[str]:
    return [item["Id"] for item in page["data"]]  # type: ignore[attr-defined,index]


async def test_seed001_list_filters_sorts_pages_and_leaves_out_hidden_challenges(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, *CHALLENGES)
    async with worker_at(settings, at(20)) as worker:
        await publish(redis, settings, "points", earned("m1", 150, at(2)))
        await settle(redis, settings)
        base = "/v1/members/m1/challenges"
        answers = {
            query: (await http_get(worker, f"{base}{query}"))[1]
            for query in (
                "",
                "?CategoryId=3",
                "?SearchQuery=sprint",
                "?OrderBy=name&IsAscending=false",
                "?OrderBy=EndsAfter",
                "?ItemsPerPage=2&Page=2",
            )
        }
    everything = answers[""]
    assert (everything["count"], everything["pagesNum"]) == (3, 1)
    assert _ids(everything) == ["burgers", "coffee", "shoes"]  # by Id; `secret` is hidden
    assert _ids(answers["?CategoryId=3"]) == ["burgers", "coffee"]
    assert _ids(answers["?SearchQuery=sprint"]) == ["shoes"]
    assert _ids(answers["?OrderBy=name&IsAscending=false"]) == ["shoes", "coffee", "burgers"]
    assert _ids(answers["?OrderBy=EndsAfter"]) == ["shoes", "burgers", "coffee"]
    paged = answers["?ItemsPerPage=2&Page=2"]
    assert (_ids(paged), paged["pagesNum"], paged["count"]) == (["shoes"], 2, 3)
    coffee = everything["data"][1]
    assert coffee["GroupProgress"][0]["TriggersProgress"][0] == {
        "TriggerId": 1,
        "TriggerType": 1,
        "TriggerTypeName": "earned_points",
        "TriggerName": "earned_points",
        "TriggerOrder": 1,
        "Operator": "AND",
        "TriggerFrequency": 200,
        "ActionLeft": 50,
        "Progress": 75,
        "TriggerStatus": "InProgress",
    }
    assert (coffee["IsLocked"], coffee["Visible"], coffee["Status"]) == (0, True, "ACTIVE")


async def test_unknown_member_gets_empty_lists_not_an_error(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, *CHALLENGES)
    async with worker_at(settings, at(20)) as worker:
        page = await http_get(worker, "/v1/members/nobody/challenges")
        lists = [
            await http_get(worker, f"/v1/{who}/challenges/{kind}")
            for who in ("members/nobody", "groups/nobody")
            for kind in ("active", "eligible", "historical")
        ]
        ledger = await http_get(worker, "/v1/members/nobody/challenges/coffee/contributions")
        unknown_code = await http_get(worker, "/v1/members/nobody/challenges/nope/contributions")
    assert page == (200, {"data": [], "pagesNum": 1, "count": 0})
    assert lists == [(200, {"result": "success", "challenges": []})] * 6
    assert ledger == (
        200,
        {"challenge_code": "coffee", "member_id": "nobody", "data": [], "count": 0},
    )
    assert unknown_code[0] == 404


BAD = {
    "/v1/members/m1/challenges?Page=0": "Page",
    "/v1/members/m1/challenges?ItemsPerPage=500": "ItemsPerPage",
    "/v1/members/m1/challenges?OrderBy=Bogus": "OrderBy",
    "/v1/members/m1/challenges?IsAscending=maybe": "IsAscending",
    "/v1/members/m1/challenges?CategoryId=food": "CategoryId",
    "/v1/members/m1/challenges/historical?sinceDate=last-week": "sinceDate",
    "/v1/challenges/coffee/occurrences/0": "memberId",
    "/v1/members/m1/challenges/coffee/contributions?occurrence=-1": "occurrence",
}


async def test_bad_query_parameters_and_a_missing_club_answer_422_with_the_reason(
    settings: Settings, tmp_path: Path
) -> None:
    await apply(settings, tmp_path, *CHALLENGES)
    async with worker_at(settings, at(20)) as worker:
        answers = {path: await http_get(worker, path) for path in BAD}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker.http_port}") as client:
            no_club = await client.get("/v1/members/m1/challenges", headers=bearer(staff_token()))
    for path, named in BAD.items():
        status, body = answers[path]
        assert status == 422, (path, body)
        assert f"`{named}`" in body["detail"], (path, body)
    assert no_club.status_code == 422
    assert "X-Loyalty-Club-Slug" in no_club.text
