"""Small helpers shared by the integration and fault tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.store.totals import MemberTotals, member_totals

_ids = itertools.count()


def event(stream: str, **fields: Any) -> dict[str, Any]:
    """An input event with the common fields filled in."""
    body: dict[str, Any] = {
        "event_id": f"{stream}-{next(_ids)}",
        "club": "infinity-mall",
        "member_id": "m1",
        "occurred_at": "2026-11-10T12:00:00+01:00",
    }
    body.update(fields)
    return body


def points(**fields: Any) -> dict[str, Any]:
    return event("points", **{"kind": "earned", "amount": 100, **fields})


def receipt(**fields: Any) -> dict[str, Any]:
    return event(
        "receipts",
        **{
            "receipt_id": "r1",
            "status": "approved",
            "amount": "100.00",
            "store_id": "s1",
            **fields,
        },
    )


async def publish(redis: Redis, settings: Settings, stream: str, *bodies: Any) -> list[bytes]:
    """XADD each body as field `data` (dicts are JSON-encoded; bytes go as they are)."""
    async with redis.pipeline(transaction=False) as pipe:
        for body in bodies:
            data = body if isinstance(body, bytes | str) else json.dumps(body)
            pipe.xadd(settings.stream(stream), {"data": data})
        return list(await pipe.execute())


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def pending(redis: Redis, settings: Settings, stream: str) -> int:
    info = await redis.xpending(settings.stream(stream), settings.consumer_group)
    return int(info["pending"])


async def drained(redis: Redis, settings: Settings) -> bool:
    """Every entry of every input stream delivered and acknowledged."""
    for stream in ("receipts", "points", "vouchers", "members"):
        name = settings.stream(stream)
        if not await redis.exists(name):
            continue
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups(name)}
        group = groups.get(settings.consumer_group)
        if group is None or group["pending"]:
            return False
        if "lag" in group:
            if group["lag"]:
                return False
        # Redis < 7 has no `lag`: compare the group's position with the stream's end.
        elif group["last-delivered-id"] != (await redis.xinfo_stream(name))["last-generated-id"]:
            return False
    return True


async def totals(
    engine: AsyncEngine, member_id: str = "m1", club: str = "infinity-mall"
) -> MemberTotals:
    async with engine.connect() as conn:
        return await member_totals(conn, club, member_id)


async def read_stream(redis: Redis, settings: Settings, name: str) -> list[dict[str, Any]]:
    entries = await redis.xrange(settings.stream(name))
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def http_get(
    worker: Any,
    path: str,
    club: str = "infinity-mall",
    token: str | None = None,
    ops: bool = False,
) -> tuple[int, Any]:
    """GET from a running worker's read side (or, with `ops`, its ops port) over real
    HTTP; (status, decoded JSON). With a staff token of `club` unless another is given."""
    import httpx

    from tests.tokens import bearer, staff_token

    port = worker.metrics_port if ops else worker.http_port
    headers = {"X-Loyalty-Club-Slug": club, **bearer(token or staff_token(club))}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        response = await client.get(path, headers=headers)
    return response.status_code, response.json()
