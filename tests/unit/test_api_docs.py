"""The committed AsyncAPI and OpenAPI documents are what the code generates, and they say
what the decoder and the HTTP routes actually do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from loyalty_progress import apidocs
from loyalty_progress.cli import build_parser
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import EVENT_TYPES, InputStream, decode_body
from loyalty_progress.contract.outputs import OutputStream
from loyalty_progress.docs_command import ASYNCAPI_PATH, OPENAPI_PATH

ROOT = Path(__file__).resolve().parents[2]
GENERATORS = {"asyncapi": apidocs.asyncapi_document, "openapi": apidocs.openapi_document}
COMMITTED = {"asyncapi": ASYNCAPI_PATH, "openapi": OPENAPI_PATH}


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return apidocs.asyncapi_document()


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return apidocs.openapi_document()


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_committed_document_matches_the_code(kind: str) -> None:
    path = COMMITTED[kind]
    committed = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).exists() else ""
    generated = apidocs.render(GENERATORS[kind]())
    assert committed == generated, (
        f"{path} is out of date with the code: run "
        f"`loyalty-progress docs {kind} --out {path}` and commit the result"
    )


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_cli_writes_the_document(kind: str, tmp_path: Path) -> None:
    out = tmp_path / "nested" / f"{kind}.json"
    # Through the parser, not `main`: that one would reconfigure the test run's logging.
    args = build_parser().parse_args(["docs", kind, "--out", str(out)])
    assert args.handler(args, Settings()) == 0
    assert out.read_text(encoding="utf-8") == apidocs.render(GENERATORS[kind]())


def _channel(document: dict[str, Any], address: str) -> dict[str, Any]:
    matches = [c for c in document["channels"].values() if c["address"] == address]
    assert len(matches) == 1, f"{address}: {len(matches)} channels"
    channel: dict[str, Any] = matches[0]
    return channel


def _payload(document: dict[str, Any], channel: dict[str, Any]) -> dict[str, Any]:
    (reference,) = channel["messages"].values()
    message = document["components"]["messages"][reference["$ref"].rsplit("/", 1)[1]]
    payload: dict[str, Any] = document["components"]["schemas"][
        message["payload"]["$ref"].rsplit("/", 1)[1]
    ]
    return payload


def test_asyncapi_has_every_input_stream_read_by_the_group(asyncapi: dict[str, Any]) -> None:
    for stream in InputStream:
        channel = _channel(asyncapi, f"loyalty.{stream.value}")
        binding = channel["bindings"]["redis"]
        assert (binding["method"], binding["groupName"]) == ("xreadgroup", "progress-worker")
        payload = _payload(asyncapi, channel)
        assert payload["title"] == EVENT_TYPES[stream].__name__
        assert set(payload["properties"]) == set(EVENT_TYPES[stream].__struct_fields__)
    receive = [o for o in asyncapi["operations"].values() if o["action"] == "receive"]
    assert len(receive) == len(InputStream)


def test_asyncapi_has_every_output_stream(asyncapi: dict[str, Any]) -> None:
    titles = {
        OutputStream.NOTIFICATIONS: "Notification",
        OutputStream.REWARDS: "RewardIssuance",
        OutputStream.DEADLETTER: "DeadLetter",
    }
    for stream, title in titles.items():
        channel = _channel(asyncapi, f"loyalty.{stream.value}")
        assert channel["bindings"]["redis"]["method"] == "xadd"
        assert _payload(asyncapi, channel)["title"] == title
    send = [o for o in asyncapi["operations"].values() if o["action"] == "send"]
    assert len(send) == len(OutputStream)
    prize = asyncapi["components"]["schemas"]["RewardIssuance"]["properties"]["prize"]
    assert prize["title"] == "Prize"  # nested types are inlined, not dangling references


COMMON = {"event_id": "e1", "club": "c", "member_id": "m1", "occurred_at": "2026-11-10T12:00:00Z"}
RECEIPT = {**COMMON, "receipt_id": "r1", "status": "approved"}
# (stream, body): bodies where the JSON Schema can judge everything the decoder does.
SAMPLES = [
    (InputStream.RECEIPTS, {**RECEIPT, "amount": 12.5}),
    (InputStream.RECEIPTS, {**RECEIPT, "amount": "12.50"}),
    (InputStream.RECEIPTS, {**RECEIPT, "amount": -1}),
    (InputStream.RECEIPTS, {**RECEIPT, "amount": 1_000_000_001}),
    (InputStream.RECEIPTS, {**RECEIPT, "amount": 1, "items": ["a", ""]}),
    (InputStream.RECEIPTS, {**RECEIPT, "amount": 1, "status": "lost"}),
    (InputStream.RECEIPTS, {**RECEIPT, "amount": 1, "unknown_field": [1]}),
    (InputStream.POINTS, {**COMMON, "kind": "earned", "amount": 5, "balance": None}),
    (InputStream.POINTS, {**COMMON, "kind": "earned", "amount": 0}),
    (InputStream.POINTS, {**COMMON, "kind": "earned"}),
    (InputStream.VOUCHERS, {**COMMON, "kind": "redeemed", "voucher_id": "v1"}),
    (InputStream.VOUCHERS, {**COMMON, "kind": "redeemed", "voucher_id": "x" * 129}),
    (InputStream.MEMBERS, {**COMMON, "kind": "opted_in", "challenge_code": "c1"}),
    (InputStream.MEMBERS, {**COMMON, "kind": "opted_in"}),
    (InputStream.MEMBERS, {**COMMON, "kind": "opted_out", "challenge_code": None}),
    (InputStream.MEMBERS, {**COMMON, "kind": "tier_changed", "tier": 3}),
    (InputStream.MEMBERS, {**COMMON, "kind": "tier_changed", "group_code": "g"}),
    (InputStream.MEMBERS, {**COMMON, "kind": "joined_group", "group_code": "g"}),
    (InputStream.MEMBERS, {**COMMON, "kind": "left_group", "tier": 1}),
    (InputStream.MEMBERS, {**COMMON, "kind": "tier_changed", "tier": 10_001}),
    (InputStream.MEMBERS, {**COMMON, "kind": "prize_claimed", "reward_id": "r-1"}),
    (InputStream.MEMBERS, {**COMMON, "kind": "prize_claimed"}),
    (InputStream.MEMBERS, {**COMMON, "kind": "prize_claimed", "reward_id": ""}),
]


@pytest.mark.parametrize(("stream", "body"), SAMPLES)
def test_input_schema_agrees_with_the_decoder(
    asyncapi: dict[str, Any], stream: InputStream, body: dict[str, Any]
) -> None:
    schema = _payload(asyncapi, _channel(asyncapi, f"loyalty.{stream.value}"))
    documented_valid = jsonschema.Draft202012Validator(schema).is_valid(body)
    decoded = decode_body(stream, json.dumps(body).encode())
    assert documented_valid == isinstance(decoded, EVENT_TYPES[stream]), decoded


READ_PATHS = (
    "/v1/members/{member_id}/totals",
    "/v1/members/{member_id}/attendance_challenge",
    "/v1/members/{member_id}/challenges",
    "/v1/members/{member_id}/challenges/active",
    "/v1/members/{member_id}/challenges/eligible",
    "/v1/members/{member_id}/challenges/historical",
    "/v1/groups/{group_code}/challenges/active",
    "/v1/groups/{group_code}/challenges/eligible",
    "/v1/groups/{group_code}/challenges/historical",
    "/v1/challenges/{code}/occurrences/{index}",
    "/v1/members/{member_id}/challenges/{code}/contributions",
    "/v1/members/{member_id}/attendance_challenge/contributions",
    "/v1/challenges/{code}/charities",
    "/v1/replays/{job_id}",
    "/v1/members/{member_id}/prize_history",
)


def _parameters(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in operation.get("parameters", [])}


def test_openapi_read_routes_take_the_club_header(openapi: dict[str, Any]) -> None:
    read_paths = [p for p in openapi["paths"] if p.startswith("/v1/")]
    assert set(READ_PATHS) <= set(read_paths)
    for path in read_paths:
        club = _parameters(openapi["paths"][path]["get"])[("header", "X-Loyalty-Club-Slug")]
        assert club["required"] is True, path


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (
            "/v1/members/{member_id}/challenges",
            {"CategoryId", "SearchQuery", "Page", "ItemsPerPage", "OrderBy", "IsAscending"},
        ),
        ("/v1/members/{member_id}/challenges/historical", {"sinceDate"}),
        ("/v1/groups/{group_code}/challenges/historical", {"sinceDate"}),
        ("/v1/challenges/{code}/occurrences/{index}", {"memberId", "groupCode"}),
        ("/v1/members/{member_id}/challenges/{code}/contributions", {"occurrence"}),
        ("/v1/members/{member_id}/totals", {"since", "until"}),
        ("/v1/members/{member_id}/challenges/active", set()),
        ("/v1/members/{member_id}/attendance_challenge/contributions", {"edition"}),
        ("/v1/challenges/{code}/charities", set()),
    ],
)
def test_openapi_lists_the_query_parameters(
    openapi: dict[str, Any], path: str, query: set[str]
) -> None:
    parameters = _parameters(openapi["paths"][path]["get"])
    assert {name for (where, name) in parameters if where == "query"} == query
    assert all(not parameters[("query", name)]["required"] for name in query)


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/v1/members/{member_id}/totals", "MemberTotals"),
        ("/v1/members/{member_id}/attendance_challenge", "AttendanceChallengeView"),
        ("/v1/members/{member_id}/challenges", "ChallengePage"),
        ("/v1/members/{member_id}/challenges/eligible", "ChallengeList"),
        ("/v1/challenges/{code}/occurrences/{index}", "ChallengeDetail"),
        ("/v1/members/{member_id}/challenges/{code}/contributions", "Contributions"),
        (
            "/v1/members/{member_id}/attendance_challenge/contributions",
            "AttendanceContributions",
        ),
        ("/v1/challenges/{code}/charities", "CharityList"),
        ("/v1/replays/{job_id}", "ReplayReport"),
        ("/v1/members/{member_id}/prize_history", "PrizeHistory"),
    ],
)
def test_openapi_response_schemas_and_validation_status(
    openapi: dict[str, Any], path: str, schema: str
) -> None:
    responses = openapi["paths"][path]["get"]["responses"]
    ok = responses["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": f"#/components/schemas/{schema}"}
    assert schema in openapi["components"]["schemas"]
    # Every read route answers 422 (not Litestar's 400) for a bad parameter.
    assert set(responses) == {"200", "401", "403", "422"}


def test_openapi_describes_the_bearer_token_on_every_read_route(openapi: dict[str, Any]) -> None:
    [(name, scheme)] = openapi["components"]["securitySchemes"].items()
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "loyalty:staff" in scheme["description"]
    for path, item in openapi["paths"].items():
        operation = item["get"]
        if path in ("/healthz", "/readyz"):
            assert "security" not in operation, path
            continue
        assert path.startswith("/v1/"), path
        assert operation["security"] == [{name: []}], path
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], path
    assert "/metrics" not in openapi["paths"]  # on the ops port, not the read side


async def test_the_documented_handler_checks_messages_against_the_contract() -> None:
    handler = apidocs._documented_handler(InputStream.POINTS)
    good = {
        "event_id": "p-1",
        "club": "infinity-mall",
        "member_id": "m1",
        "occurred_at": "2026-11-10T12:00:00+01:00",
        "kind": "earned",
        "amount": 200,
    }
    assert isinstance(await handler(good), EVENT_TYPES[InputStream.POINTS])
    assert "amount" in (await handler({**good, "amount": -1})).reason  # type: ignore[attr-defined]
