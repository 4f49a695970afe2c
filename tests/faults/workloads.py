"""Large, mixed workloads with known totals, and publishing them onto the input streams."""

from __future__ import annotations

import json
import random
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.config import Settings

CLUB = "infinity-mall"  # every fault test's events are for this club


def mixed_workload(
    points: int, receipts: int, members: int, seed: int
) -> list[tuple[str, dict[str, Any]]]:
    """`points` points events and the status events of `receipts` receipts (pending, then
    approved / rejected / approved+refunded / nothing more), shuffled within each stream so
    that later states often arrive before earlier ones."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(points):
        out.append(
            (
                "points",
                {
                    "event_id": f"w{seed}-p{i}",
                    "club": CLUB,
                    "member_id": f"m{rng.randrange(members)}",
                    "occurred_at": f"2026-11-{10 + i % 5}T12:00:00+01:00",
                    "kind": rng.choice(("earned", "earned", "redeemed")),
                    "amount": rng.randint(1, 500),
                },
            )
        )
    tails = ((), ("approved",), ("rejected",), ("approved", "refunded"))
    receipt_events: list[tuple[str, dict[str, Any]]] = []
    for j in range(receipts):
        member = f"m{rng.randrange(members)}"
        amount = f"{rng.randint(1, 20000) / 100:.2f}"
        store = f"s{rng.randrange(12)}"
        for k, status in enumerate(("pending", *tails[j % 4])):
            receipt_events.append(
                (
                    "receipts",
                    {
                        "event_id": f"w{seed}-r{j}-{k}",
                        "club": CLUB,
                        "member_id": member,
                        "occurred_at": f"2026-11-{10 + k}T09:30:00+00:00",
                        "receipt_id": f"w{seed}-r{j}",
                        "status": status,
                        "amount": amount,
                        "store_id": store,
                    },
                )
            )
    rng.shuffle(receipt_events)
    rng.shuffle(out)
    return out + receipt_events


async def publish_workload(
    redis: Redis, settings: Settings, workload: list[tuple[str, dict[str, Any]]]
) -> None:
    for start in range(0, len(workload), 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for stream, body in workload[start : start + 2000]:
                pipe.xadd(settings.stream(stream), {"data": json.dumps(body)})
            await pipe.execute()
