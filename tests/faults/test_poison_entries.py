"""Bad input never blocks a stream: each poison entry is dead-lettered with a reason that
names the problem, and the good entries around it are applied (docs/wire-contract.md)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.outputs import DEAD_LETTER_BODY_BYTES
from tests.faults.bounded import within
from tests.faults.delivery_state import group_pending
from tests.faults.oracle import Oracle, mismatches
from tests.faults.workloads import CLUB
from tests.support.streams import drained, read_stream
from tests.support.waiting import wait_until
from tests.support.worker import running_worker

pytestmark = pytest.mark.timeout(60)


def _base(
    event_id: str, member: str = "m-good", occurred_at: str = "2026-11-10T12:00:00+01:00"
) -> dict[str, Any]:
    return {"event_id": event_id, "club": CLUB, "member_id": member, "occurred_at": occurred_at}


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
    # Values that used to decode and then fail inside the batch transaction (or bloat the
    # rows): each must be refused at decoding, at its first delivery.
    (
        "earliest representable instant, far east",
        "receipts",
        {"data": _json(_receipt("r-year-1", occurred_at="0001-01-01T00:00:00+14:00"))},
        ["$.occurred_at", "2000-01-01"],
    ),
    (
        "latest representable instant, far west",
        "points",
        {"data": _json(_points("p-year-9999", occurred_at="9999-12-31T23:59:59-14:00"))},
        ["$.occurred_at", "2100-01-01"],
    ),
    (
        "members event from before the window",
        "members",
        {
            "data": _json(
                {
                    **_base("mb-1999", occurred_at="1999-12-31T23:59:59Z"),
                    "kind": "opted_in",
                    "challenge_code": "c",
                }
            )
        },
        ["$.occurred_at"],
    ),
    (
        "amount with 20,000 fraction digits, as a JSON number",
        "receipts",
        {"data": _json(_receipt("r-tiny")).replace(b'"amount": "5.00"', b'"amount": 1e-20000')},
        ["$.amount", "digits after the decimal point"],
    ),
    (
        "amount with 10,000 fraction digits, as a string",
        "receipts",
        {"data": _json(_receipt("r-long", amount="0." + "1" * 10_000))},
        ["$.amount", "digits after the decimal point"],
    ),
    (
        "amount over the bound",
        "receipts",
        {"data": _json(_receipt("r-huge", amount="9" * 5_000))},
        ["$.amount", "<= 1000000000"],
    ),
    (
        "points amount over the bound",
        "points",
        {"data": _json(_points("p-huge-amount", amount=2**53))},
        ["$.amount", "<= 1000000000"],
    ),
    (
        "member id over 128 characters",
        "points",
        {"data": _json(_points("p-long-member", member_id="m" * 60_000))},
        ["$.member_id", "length <= 128"],
    ),
    (
        "event id over 128 characters",
        "receipts",
        {"data": _json(_receipt("r" * 129))},
        ["$.event_id", "length <= 128"],
    ),
    (
        "store id over 128 characters",
        "receipts",
        {"data": _json(_receipt("r-long-store", store_id="s" * 129))},
        ["$.store_id", "length <= 128"],
    ),
    (
        "item code over 128 characters",
        "receipts",
        {"data": _json(_receipt("r-long-item", items=["ok", "i" * 129]))},
        ["$.items[1]", "length <= 128"],
    ),
    (
        "too many items",
        "receipts",
        {"data": _json(_receipt("r-many-items", items=["i"] * 1001))},
        ["$.items", "length <= 1000"],
    ),
    (
        "group code over 128 characters",
        "members",
        {"data": _json({**_base("mb-group"), "kind": "joined_group", "group_code": "g" * 129})},
        ["$.group_code", "length <= 128"],
    ),
    (
        "charity code over 128 characters",
        "members",
        {
            "data": _json(
                {
                    **_base("mb-charity"),
                    "kind": "opted_in",
                    "challenge_code": "c",
                    "charity_code": "c" * 129,
                }
            )
        },
        ["$.charity_code", "length <= 128"],
    ),
    (
        "enum value of 60,000 characters",
        "points",
        {"data": _json(_points("p-long-kind", kind="k" * 60_000))},
        ["$.kind", "characters cut"],
    ),
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
                        # a copy of the fields, typed as xadd's (dict types are invariant)
                        pipe.xadd(settings.stream(poison[1]), dict(poison[2].items()))
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
        engine = worker.engine
        wrong = await within(10, mismatches(engine, oracle))
        stats = worker.pipeline.stats

    assert wrong == {}
    assert stats.applied == good_count
    assert stats.isolated_failures == 0  # nothing got past decoding to fail in a batch
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
        assert len(letter["reason"]) <= 1000, label
        raw = fields.get("data")
        if raw is None:
            assert "payload" in letter["body"], label
            assert "v-nodata" in letter["body"], label
        elif len(raw) > DEAD_LETTER_BODY_BYTES:
            # Only a prefix is kept, with the size and digest of the whole.
            assert letter["body_truncated"], label
            assert raw.startswith(letter["body"].encode()), label
            assert (letter["body_size"], letter["body_sha256"]) == (
                len(raw),
                hashlib.sha256(raw).hexdigest(),
            ), label
        else:
            assert letter["body"] == raw.decode("utf-8", errors="replace"), label
            assert (letter["body_truncated"], letter["body_size"]) == (False, len(raw)), label
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
        wrong = await mismatches(worker.engine, oracle)

        async def fifty_letters() -> bool:
            return len(await read_stream(redis, settings, "deadletter")) >= 50

        await wait_until(fifty_letters, timeout=10, what="dead letters published")
    assert wrong == {}
    assert oracle.members["m-good"].totals()["points_earned"] == Decimal(7)
