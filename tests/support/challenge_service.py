"""Counter challenges on a running service (integration tests): definitions applied
through the real CLI code, event bodies, and reads over real HTTP."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from loyalty_progress.cli import _apply_definitions
from loyalty_progress.config import Settings
from loyalty_progress.worker.app import Worker
from tests.support.http import http_get
from tests.support.streams import drained, read_stream
from tests.support.waiting import wait_until

CLUB = "infinity-mall"
CET = timezone(timedelta(hours=1))
START = datetime(2026, 11, 1, tzinfo=CET)
END = datetime(2026, 12, 1, tzinfo=CET)
_ids = itertools.count()


def at(day: int, hour: int = 12, month: int = 11, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CET)


def challenge(code: str, *groups: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A challenge definition as written in a file (window: November 2026, CET)."""
    return {
        "kind": "challenge",
        "code": code,
        "club": CLUB,
        "name": fields.pop("name", code.replace("-", " ").title()),
        "starts_at": START.isoformat(),
        "ends_at": END.isoformat(),
        "groups": list(groups),
        "milestones": [
            {
                "code": "completed",
                "reached_when": "challenge",
                "prizes": [{"type": "points", "value": 150, "description": "150 points"}],
            }
        ],
        **fields,
    }


def group(*triggers: dict[str, Any], operator: str = "AND") -> dict[str, Any]:
    return {"operator": operator, "triggers": list(triggers)}


def trigger(tid: int, kind: str, target: int | str, operator: str = "AND") -> dict[str, Any]:
    return {"id": tid, "type": kind, "target": target, "operator": operator}


async def apply_file(settings: Settings, path: Path) -> tuple[int, str]:
    """`loyalty-progress definitions apply PATH` in-process: (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = await _apply_definitions(settings, [path])
    return code, err.getvalue()


async def apply(settings: Settings, tmp_path: Path, *definitions: dict[str, Any]) -> None:
    path = tmp_path / f"challenges-{next(_ids)}.json"
    path.write_text(json.dumps(list(definitions)))
    code, err = await apply_file(settings, path)
    assert code == 0, err


def body(stream: str, member: str, when: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": fields.pop("event_id", f"{stream}-{member}-{next(_ids)}"),
        "club": CLUB,
        "member_id": member,
        "occurred_at": when.isoformat(),
        **fields,
    }


def earned(member: str, amount: int, when: datetime, **fields: Any) -> dict[str, Any]:
    return body("points", member, when, kind="earned", amount=amount, **fields)


def receipt(
    member: str, receipt_id: str, when: datetime, status: str = "approved", **fields: Any
) -> dict[str, Any]:
    fields = {"amount": "50.00", "store_id": "s1", **fields}
    return body("receipts", member, when, receipt_id=receipt_id, status=status, **fields)


def member_fact(member: str, kind: str, when: datetime, **fields: Any) -> dict[str, Any]:
    return body("members", member, when, kind=kind, **fields)


async def settle(redis: Redis, settings: Settings) -> None:
    """Every input entry applied and acknowledged."""
    await wait_until(lambda: drained(redis, settings), timeout=20, what="streams drained")


async def member_challenge(worker: Worker, member: str, code: str) -> dict[str, Any] | None:
    """The member's seed 001 item for `code` (None when the list leaves it out)."""
    status, page = await http_get(worker, f"/v1/members/{member}/challenges?ItemsPerPage=100")
    assert status == 200, page
    return next((item for item in page["data"] if item["Id"] == code), None)


async def listed_challenge(worker: Worker, member: str, code: str) -> dict[str, Any]:
    """The member's seed 001 item for `code`, which the list must hold."""
    item = await member_challenge(worker, member, code)
    assert item is not None, f"{code} is not listed for {member}"
    return item


def trigger_progress(item: dict[str, Any]) -> list[tuple[int, int | float, int]]:
    """(TriggerId, ActionLeft, Progress) of every trigger, in order."""
    return [
        (t["TriggerId"], t["ActionLeft"], t["Progress"])
        for g in item["GroupProgress"]
        for t in g["TriggersProgress"]
    ]


async def paytronix(worker: Worker, path: str) -> list[dict[str, Any]]:
    status, answer = await http_get(worker, path)
    assert status == 200, answer
    assert answer["result"] == "success"
    return list(answer["challenges"])


async def messages(
    redis: Redis, settings: Settings, kind: str | None = None
) -> list[dict[str, Any]]:
    """Published notifications (of one type) in order."""
    notes = await read_stream(redis, settings, "notifications")
    return [n for n in notes if kind is None or n["type"] == kind]


async def published(redis: Redis, settings: Settings, stream: str, count: int) -> None:
    """Wait until `stream` holds at least `count` entries (the relay publishes after commit)."""

    async def enough() -> bool:
        return len(await read_stream(redis, settings, stream)) >= count

    await wait_until(enough, timeout=20, what=f"{count} entries on {stream}")
