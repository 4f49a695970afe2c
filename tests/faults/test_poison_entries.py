"""Bad input never blocks a stream: each poison entry is dead-lettered with a reason that
names the problem, and the good entries around it are applied (SPEC §1)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.conftest import running_worker
from tests.faults.support import CLUB, Oracle, group_pending, mismatches, within
from tests.helpers import drained, read_stream, wait_until

pytestmark = pytest.mark.timeout(60)


def _base(event_id: str, member: str = "m-good") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "club": CLUB,
        "member_id": member,
        "occurred_at": "2026-11-10T12:00:00+01:00",
    }


def _points(event_id: str, **fields: Any) -> dict[str, Any]:
    return {**_base(event_id), "kind": "earned", "amount": 10, **fields}


def _receipt(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        **_base(event_id),
        "receipt_id": f"r-{event_id}",
        "status": "approved",
        "amount": "5.00",
        "store_id": "s1",
        **fields,
    }


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


# (label, stream, entry fields, words the reason must contain)
POISON: list[tuple[str, str, dict[str, bytes], list[str]]] = [
    (
        "invalid JSON",
        "points",
        {"data": b'{"event_id": "p-broken", "amount": '},
        ["not valid JSON"],
    ),
    (
        "missing required field",
        "points",
        {"data": _json(_without(_points("p-missing"), "member_id"))},
        ["member_id", "missing"],
    ),
    (
        "wrong type",
        "points",
        {"data": _json(_points("p-type", amount="lots"))},
        ["$.amount", "Expected `int`"],
    ),
    (
        "naive timestamp",
        "receipts",
        {"data": _json(_receipt("r-naive", occurred_at="2026-11-10T12:00:00"))},
        ["$.occurred_at", "timezone"],
    ),
    (
        "negative receipt amount",
        "receipts",
        {"data": _json(_receipt("r-negative", amount="-5.00"))},
        ["$.amount", ">= 0"],
    ),
    (
        "negative points amount",
        "points",
        {"data": _json(_points("p-negative", amount=-5))},
        ["$.amount"],
    ),
    (
        "unknown kind",
        "points",
        {"data": _json(_points("p-kind", kind="stolen"))},
        ["$.kind", "stolen"],
    ),
    (
        "unknown receipt status",
        "receipts",
        {"data": _json(_receipt("r-status", status="lost"))},
        ["$.status"],
    ),
    (
        "body over the size limit",
        "points",
        {"data": _json(_points("p-huge", padding="x" * (1024 * 1024)))},
        ["bytes", "limit"],
    ),
    ("no data field", "vouchers", {"payload": b'{"event_id": "v-nodata"}'}, ["`data` field"]),
    (
        "NUL character",
        "points",
        {"data": _json(_points("p-nul", member_id="m\x00ber"))},
        ["NUL", "$.member_id"],
    ),
    (
        "member kind without its field",
        "members",
        {"data": _json({**_base("mb-bad"), "kind": "opted_in"})},
        ["challenge_code"],
    ),
    ("JSON that is not an object", "members", {"data": b"[1, 2, 3]"}, ["Expected `object`"]),
    ("invalid UTF-8", "points", {"data": b'{"event_id": "\xff\xfe"}'}, ["utf-8"]),
]


async def test_poison_entries_are_dead_lettered_with_reasons_and_good_entries_all_applied(
    redis: Redis, settings: Settings
) -> None:
    oracle = Oracle()
    published: dict[tuple[str, str], tuple[str, str, dict[str, bytes], list[str]]] = {}
    good_count = 0
    async with running_worker(settings) as worker:
        async with redis.pipeline(transaction=False) as pipe:
            for index, poison in enumerate(POISON):
                # Good events of the same stream on both sides of every poison entry.
                stream = poison[1] if poison[1] in ("points", "receipts") else "points"
                for side in ("before", "after"):
                    good = (
                        _points(f"good-{index}-{side}", amount=index + 1)
                        if stream == "points"
                        else _receipt(f"good-{index}-{side}", amount=f"{index}.50")
                    )
                    if side == "after":
                        pipe.xadd(settings.stream(poison[1]), poison[2])
                    pipe.xadd(settings.stream(stream), {"data": _json(good)})
                    oracle.add(stream, good)
                    good_count += 1
            ids = await pipe.execute()
        poison_ids = [ids[3 * i + 1] for i in range(len(POISON))]
        for entry_id, poison in zip(poison_ids, POISON, strict=True):
            # Entry ids are per stream: two streams may hold the same id.
            published[(settings.stream(poison[1]), entry_id.decode())] = poison

        await wait_until(lambda: drained(redis, settings), timeout=20, what="drained")

        async def all_dead_lettered() -> bool:
            return len(await read_stream(redis, settings, "deadletter")) >= len(POISON)

        await wait_until(all_dead_lettered, timeout=10, what="dead letters published")
        engine = worker.engine  # type: ignore[attr-defined]
        wrong = await within(10, mismatches(engine, oracle))
        stats = worker.pipeline.stats  # type: ignore[attr-defined]

    assert wrong == {}
    assert stats.applied == good_count
    assert await group_pending(redis, settings) == 0
    letters = await read_stream(redis, settings, "deadletter")
    assert len(letters) == len(POISON)
    by_entry = {(letter["stream"], letter["entry_id"]): letter for letter in letters}
    assert set(by_entry) == set(published)
    for key, (label, _stream, fields, words) in published.items():
        letter = by_entry[key]
        assert letter["delivery_count"] == 1, f"{label}: {letter}"
        reason = letter["reason"].lower()
        for word in words:
            assert word.lower() in reason, f"{label}: {word!r} not in {letter['reason']!r}"
        raw = fields.get("data")
        if raw is None:
            assert "payload" in letter["body"], label
            assert "v-nodata" in letter["body"], label
        else:
            assert letter["body"] == raw.decode("utf-8", errors="replace"), label
        assert letter["dead_lettered_at"], label


async def test_a_stream_of_only_poison_is_drained_and_later_good_events_still_apply(
    redis: Redis, settings: Settings
) -> None:
    async with running_worker(settings) as worker:
        async with redis.pipeline(transaction=False) as pipe:
            for index in range(50):
                pipe.xadd(settings.stream("points"), {"data": b"not json %d" % index})
            await pipe.execute()
        await wait_until(lambda: drained(redis, settings), timeout=15, what="poison drained")
        good = _points("after-the-poison", amount=7)
        await redis.xadd(settings.stream("points"), {"data": _json(good)})
        await wait_until(lambda: drained(redis, settings), timeout=15, what="good one applied")
        oracle = Oracle()
        oracle.add("points", good)
        wrong = await mismatches(worker.engine, oracle)  # type: ignore[attr-defined]

        async def fifty_letters() -> bool:
            return len(await read_stream(redis, settings, "deadletter")) >= 50

        await wait_until(fifty_letters, timeout=10, what="dead letters published")
    assert wrong == {}
    assert oracle.members["m-good"].totals()["points_earned"] == Decimal(7)
