"""`loyalty-progress deadletter list | show | requeue | purge` against real Redis, and a
running worker for requeue: a requeued entry is applied once its cause is gone (a
transient failure, or bad input corrected with --body), and repeating it changes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from loyalty_progress.cli import build_parser
from loyalty_progress.config import Settings
from loyalty_progress.contract.outputs import DeadLetter, encode
from tests.support.event_bodies import points
from tests.support.rows import totals
from tests.support.streams import publish, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(60)


def _cli(settings: Settings, *argv: str) -> int:
    """`loyalty-progress deadletter ARGV` through the real parser and handler."""
    args = build_parser().parse_args(["deadletter", *argv])
    return int(args.handler(args, settings))


def _json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def _letter(settings: Settings, stream: str, reason: str, body: str = "{oops") -> DeadLetter:
    return DeadLetter(
        stream=stream if "." in stream else settings.stream(stream),
        entry_id="1700000000000-0",
        body=body,
        reason=reason,
        delivery_count=1,
        dead_lettered_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
    )


async def _add(redis: Redis, settings: Settings, *entries: DeadLetter | bytes) -> list[str]:
    ids = []
    for entry in entries:
        data = entry if isinstance(entry, bytes) else encode(entry)
        entry_id: Any = await redis.xadd(settings.stream("deadletter"), {"data": data})
        ids.append(entry_id.decode())
    return ids


async def _five_letters(redis: Redis, settings: Settings) -> list[str]:
    return await _add(
        redis,
        settings,
        _letter(settings, "points", "body is not valid JSON: JSON is malformed"),
        _letter(settings, "receipts", "invalid receipts event: Expected `str` - at `$.status`"),
        _letter(settings, "points", "failed 3 deliveries; last error: trigger refuses"),
        b"junk that is no dead letter",
        _letter(settings, "members", "Invalid members event: kind `opted_in` requires ..."),
    )


def _ids(document: dict[str, Any]) -> list[str]:
    return [entry["id"] for entry in document["entries"]]


async def test_list_picks_by_reason_stream_and_position_oldest_first(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c, d, e = await _five_letters(redis, settings)

    def listed(*argv: str) -> dict[str, Any]:
        assert _cli(settings, "list", "--json", *argv) == 0
        document: dict[str, Any] = _json_out(capsys)
        return document

    everything = listed()
    assert _ids(everything) == [a, b, c, d, e]
    assert everything["more"] is False
    assert everything["entries"][0] == {
        "id": a,
        "stream": settings.stream("points"),
        "entry_id": "1700000000000-0",
        "body": "{oops",
        "reason": "body is not valid JSON: JSON is malformed",
        "delivery_count": 1,
        "dead_lettered_at": "2026-11-23T12:00:00Z",
        "body_size": None,
        "body_sha256": None,
        "body_truncated": False,
        "body_base64": None,
    }
    assert everything["entries"][3]["id"] == d
    assert "not a dead letter" in everything["entries"][3]["problem"]
    assert _ids(listed("--reason", "INVALID")) == [b, e]
    assert _ids(listed("--stream", "points")) == [a, c]
    assert _ids(listed("--stream", settings.stream("points"))) == [a, c]
    assert _ids(listed("--stream", "points", "--reason", "trigger")) == [c]
    assert _ids(listed("--since", c)) == [c, d, e]
    assert _ids(listed("--since", f"({c}")) == [d, e]
    first_two = listed("--limit", "2")
    assert (_ids(first_two), first_two["more"]) == ([a, b], True)

    assert _cli(settings, "list", "--limit", "2") == 0
    table = capsys.readouterr().out
    assert [a in table, b in table, c in table] == [True, True, False]
    assert "body is not valid JSON" in table
    assert f"--since '({b}'" in table


async def test_show_prints_one_dead_letter_in_full(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps(points(amount="lots"))
    [entry] = await _add(redis, settings, _letter(settings, "points", "Expected `int`", body))
    assert _cli(settings, "show", entry, "--json") == 0
    shown = _json_out(capsys)
    assert (shown["id"], shown["body"], shown["reason"]) == (entry, body, "Expected `int`")
    assert _cli(settings, "show", entry) == 0
    text = capsys.readouterr().out
    assert f"stream            {settings.stream('points')}" in text
    assert '      "amount": "lots"\n    }' in text  # the body, pretty-printed
    assert _cli(settings, "show", "1-0") == 1
    assert "no entry 1-0" in capsys.readouterr().err


async def test_purge_needs_a_filter_or_yes_and_deletes_exactly_the_selection(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c, d, e = await _five_letters(redis, settings)
    key = settings.stream("deadletter")
    assert _cli(settings, "purge") == 2
    assert _cli(settings, "purge", "--limit", "1") == 2
    assert "--yes" in capsys.readouterr().err
    assert await redis.xlen(key) == 5

    assert _cli(settings, "purge", "--reason", "invalid", "--json") == 0
    assert _json_out(capsys) == {"purged": [b, e], "deleted": 2, "missing": []}
    assert _cli(settings, "purge", a, "1-0") == 1
    assert "not found: 1-0" in capsys.readouterr().out
    left: Any = await redis.xrange(key)
    assert [i.decode() for i, _ in left] == [c, d]
    assert _cli(settings, "purge", "--yes") == 0
    assert await redis.xlen(key) == 0


async def test_requeue_refuses_what_would_only_come_back(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_json, _, _, junk, _ = await _five_letters(redis, settings)
    [foreign] = await _add(
        redis, settings, _letter(settings, "elsewhere.points", "x", json.dumps(points()))
    )
    assert _cli(settings, "requeue") == 2
    assert _cli(settings, "requeue", bad_json, "--reason", "x") == 2
    assert _cli(settings, "requeue", bad_json, junk, "--body", "{}") == 2
    capsys.readouterr()

    assert _cli(settings, "requeue", bad_json, junk, foreign, "--json") == 1
    report = _json_out(capsys)
    assert (report["requeued"], report["missing"]) == ([], [])
    why = {r["id"]: r["skipped"] for r in report["skipped"]}
    assert why[bad_json].startswith("still bad input: body is not valid JSON")
    assert why[bad_json].endswith("; correct it with --body")
    assert "not a dead letter" in why[junk]
    assert "not an input stream" in why[foreign]
    assert await redis.xlen(settings.stream("deadletter")) == 6
    assert not await redis.exists(settings.stream("points"))


_REFUSE = """
CREATE FUNCTION demo_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id = 'p-refused' THEN RAISE EXCEPTION 'trigger refuses %', NEW.event_id; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER demo_refuse BEFORE INSERT ON processed_events
    FOR EACH ROW EXECUTE FUNCTION demo_refuse();
"""


async def _sql(settings: Settings, statement: str) -> None:
    url = make_url(settings.database_url or "").set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _dead_letters(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    return await read_stream(redis, settings, "deadletter")


async def test_requeue_of_an_entry_that_failed_for_a_transient_reason_applies_it_once(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = replace(settings, claim_idle_ms=300, max_deliveries=2)
    await _sql(settings, _REFUSE)
    refused = points(event_id="p-refused", member_id="m-requeue", amount=40)
    good = points(member_id="m-requeue", amount=2)
    async with running_worker(settings) as worker:
        engine = worker.engine
        await publish(redis, settings, "points", refused, good)

        async def dead_lettered() -> bool:
            return len(await _dead_letters(redis, settings)) == 1

        await wait_until(dead_lettered, timeout=30, what="the refused entry dead-lettered")
        [letter] = await _dead_letters(redis, settings)
        assert "trigger refuses p-refused" in letter["reason"]
        assert (await totals(engine, "m-requeue")).points_earned == 2

        await _sql(settings, "DROP TRIGGER demo_refuse ON processed_events")  # cause gone
        assert _cli(settings, "requeue", "--reason", "trigger refuses", "--json") == 0
        report = _json_out(capsys)
        assert [(r["event_id"], r["deleted"]) for r in report["requeued"]] == [("p-refused", True)]
        assert report["requeued"][0]["stream"] == settings.stream("points")

        async def applied() -> bool:
            return (await totals(engine, "m-requeue")).points_earned == 42

        await wait_until(applied, timeout=20, what="the requeued event applied")
        assert await _dead_letters(redis, settings) == []
        # At least once: the same body published again (a second requeue racing the
        # first) is a duplicate and changes nothing.
        await publish(redis, settings, "points", refused)
        await wait_until(
            lambda: _drained_points(redis, settings), timeout=20, what="duplicate consumed"
        )
        assert (await totals(engine, "m-requeue")).points_earned == 42
        assert worker.pipeline.stats.duplicates == 1


async def _drained_points(redis: Redis, settings: Settings) -> bool:
    name = settings.stream("points")
    [group] = await redis.xinfo_groups(name)
    newest: Any = await redis.xrevrange(name, count=1)
    last = newest[0][0]
    return bool(group["pending"] == 0 and group["last-delivered-id"] == last)


async def test_requeue_with_a_corrected_body_applies_the_correction(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = points(event_id="p-typo", member_id="m-typo", amount="7 points")
    async with running_worker(settings) as worker:
        engine = worker.engine
        await publish(redis, settings, "points", broken)

        async def dead_lettered() -> bool:
            return len(await _dead_letters(redis, settings)) == 1

        await wait_until(dead_lettered, timeout=20, what="the bad input dead-lettered")
        assert _cli(settings, "list", "--json") == 0
        [entry] = _json_out(capsys)["entries"]
        assert "$.amount" in entry["reason"]

        assert _cli(settings, "requeue", entry["id"]) == 1  # unchanged, it would bounce
        assert "still bad input" in capsys.readouterr().out
        fixed = json.dumps({**broken, "amount": 7})
        assert _cli(settings, "requeue", entry["id"], "--body", fixed) == 0
        assert f"-> {settings.stream('points')}" in capsys.readouterr().out

        async def applied() -> bool:
            return (await totals(engine, "m-typo")).points_earned == 7

        await wait_until(applied, timeout=20, what="the corrected event applied")
        assert await _dead_letters(redis, settings) == []
        assert (await totals(engine, "m-typo")).receipt_value == Decimal(0)
