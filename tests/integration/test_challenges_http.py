"""The challenge read side over real HTTP: seed 001 filters, sorting and paging; hidden
challenges left out; a member no event reached yet sees what a new member sees; locked
challenges say so; a challenge's charitable organizations; bad parameters answer 422."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.worker.app import Worker
from tests.support.challenge_service import (
    apply,
    at,
    challenge,
    earned,
    group,
    member_challenge,
    paytronix,
    settle,
    trigger,
    trigger_progress,
)
from tests.support.http import http_get
from tests.support.streams import publish
from tests.support.tokens import bearer, member_token, staff_token
from tests.support.worker import worker_at

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


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["Id"] for item in page["data"]]


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


async def _lists(worker: Worker, who: str, token: str | None = None) -> dict[str, tuple[int, Any]]:
    return {
        kind: await http_get(worker, f"/v1/{who}/challenges/{kind}", token=token)
        for kind in ("active", "eligible", "historical")
    }


def _codes(answer: tuple[int, Any]) -> list[tuple[str, str]]:
    status, body = answer
    assert status == 200, body
    return [(c["code"], c["status"]) for c in body["challenges"]]


async def test_a_member_no_event_reached_yet_sees_the_clubs_challenges_with_zero_progress(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    raffle = challenge("raffle", group(trigger(1, "earned_points", 50)), enrollment="opt_in")
    autumn = challenge("autumn", group(trigger(1, "earned_points", 50)), ends_at=at(10).isoformat())
    await apply(settings, tmp_path, *CHALLENGES, raffle, autumn)
    token = member_token("newbie")
    async with worker_at(settings, at(20)) as worker:
        page = await http_get(worker, "/v1/members/newbie/challenges", token=token)
        lists = await _lists(worker, "members/newbie", token)
        detail = {
            code: await http_get(
                worker, f"/v1/challenges/{code}/occurrences/0?memberId=me", token=token
            )
            for code in ("coffee", "raffle", "autumn")
        }
        group_lists = await _lists(worker, "groups/nobody")
        ledger = await http_get(worker, "/v1/members/newbie/challenges/coffee/contributions")
        unknown_code = await http_get(worker, "/v1/members/newbie/challenges/nope/contributions")
    status, body = page
    assert status == 200, body
    assert [(i["Id"], i["Status"]) for i in body["data"]] == [
        ("burgers", "ACTIVE"),
        ("coffee", "ACTIVE"),
        ("raffle", "ELIGIBLE"),
        ("shoes", "ACTIVE"),
    ]
    coffee = body["data"][1]
    assert trigger_progress(coffee) == [(1, 200, 0)]
    assert (coffee["Completed"], coffee["PeopleFinished"], coffee["IsLocked"]) == (False, 0, 0)
    assert _codes(lists["active"]) == [
        ("burgers", "ACTIVE"),
        ("coffee", "ACTIVE"),
        ("shoes", "ACTIVE"),
    ]
    assert _codes(lists["eligible"]) == [("raffle", "ELIGIBLE")]
    assert _codes(lists["historical"]) == []  # nothing attempted
    counters = lists["active"][1]["challenges"][1]["counters"]
    assert counters == [
        {"code": 1, "name": "earned_points", "value": 0, "threshold": 200, "details": []}
    ]
    # The detail names the status a member without participation has (never null): over
    # without an attempt, the occurrence expired for them.
    statuses = {
        code: (answer[0], answer[1]["challenge"]["status"]) for code, answer in detail.items()
    }
    assert statuses == {
        "coffee": (200, "ACTIVE"),
        "raffle": (200, "ELIGIBLE"),
        "autumn": (200, "EXPIRED"),
    }
    assert group_lists == {
        kind: (200, {"result": "success", "challenges": []}) for kind in group_lists
    }
    assert ledger == (
        200,
        {"challenge_code": "coffee", "member_id": "newbie", "data": [], "count": 0},
    )
    assert unknown_code[0] == 404


async def test_lists_and_detail_say_when_a_challenge_waits_for_its_parent(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    parent = challenge("earn-1000", group(trigger(1, "earned_points", 1000)))
    child = challenge("bonus", group(trigger(1, "earned_points", 5000)), requires="earn-1000")
    await apply(settings, tmp_path, parent, child)
    async with worker_at(settings, at(20)) as worker:
        await publish(
            redis, settings, "points", earned("m1", 150, at(2)), earned("m2", 1000, at(3))
        )
        await settle(redis, settings)
        active = {
            m: await paytronix(worker, f"/v1/members/{m}/challenges/active")
            for m in ("m1", "m2", "m3")
        }
        detail = await http_get(worker, "/v1/challenges/bonus/occurrences/0?memberId=m1")
        item = await member_challenge(worker, "m1", "bonus")
    locks = {
        m: {c["code"]: (c["status"], c["isLocked"]) for c in challenges}
        for m, challenges in active.items()
    }
    assert locks["m1"] == {"earn-1000": ("ACTIVE", False), "bonus": ("ACTIVE", True)}
    assert locks["m3"] == locks["m1"]  # no event yet: locked as well
    assert locks["m2"] == {"bonus": ("ACTIVE", False)}  # the parent is completed
    assert (detail[0], detail[1]["challenge"]["isLocked"]) == (200, True)
    assert item is not None
    assert item["IsLocked"] == 1


async def test_a_challenge_serves_the_charitable_organizations_of_its_definition(
    settings: Settings, tmp_path: Path
) -> None:
    giving = challenge(
        "giving",
        group(trigger(1, "earned_points", 100)),
        enrollment="opt_in",
        charities=["red-cross", {"code": "wwf", "name": "WWF", "icon": "panda"}],
    )
    await apply(settings, tmp_path, *CHALLENGES, giving)
    async with worker_at(settings, at(20)) as worker:
        answer = await http_get(worker, "/v1/challenges/giving/charities", token=member_token("m1"))
        none = await http_get(worker, "/v1/challenges/coffee/charities")
        unknown = await http_get(worker, "/v1/challenges/nope/charities")
        other_club = await http_get(
            worker, "/v1/challenges/giving/charities", token=member_token("m1", club="elsewhere")
        )
    assert answer == (
        200,
        {
            "result": "success",
            "challengeCode": "giving",
            "charitableOrganizations": [
                {"code": "red-cross", "displayName": "red-cross", "iconCode": None},
                {"code": "wwf", "displayName": "WWF", "iconCode": "panda"},
            ],
        },
    )
    assert none == (
        200,
        {"result": "success", "challengeCode": "coffee", "charitableOrganizations": []},
    )
    assert unknown[0] == 404
    assert other_club[0] == 403


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
