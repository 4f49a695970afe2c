"""The demo prints what comes out of the worker; those messages carry producer data
(receipt and store ids), so control characters in them are escaped, not sent to the
terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.outputs import Notification, encode
from loyalty_progress.demo.scenario import build
from loyalty_progress.demo.watch import OutputWatch


async def test_demo_output_escapes_control_characters_from_messages(
    redis: Redis, settings: Settings
) -> None:
    scenario = build("esc123", 3, datetime.now(UTC))
    member = sorted(scenario.member_ids)[0]
    out = io.StringIO()
    watch = OutputWatch(redis, settings, scenario, out)
    await watch.mark_start()
    note = Notification(
        notification_id="n-1",
        type="receipt_approved",
        club="infinity-mall",
        member_id=member,
        severity="success",
        properties={"receipt_id": "r\x1b]0;owned\x07", "amount": 5.0, "store_id": "s\u009b2J"},
        created_at=datetime.now(UTC),
    )
    await redis.xadd(settings.stream("notifications"), {"data": encode(note)})
    await watch.poll(None)
    printed = out.getvalue()
    assert "receipt_approved" in printed
    assert not any(ch in printed for ch in "\x1b\x07\u009b")
    assert "r\\x1b]0;owned\\x07" in printed
    assert "s\\x9b2J" in printed
