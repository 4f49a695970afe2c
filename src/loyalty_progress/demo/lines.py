"""How the demo shows things: one line per input event, notification or reward, dated in
the story's simulated time (`[2026-11-07] member m-1a2b3c-01  stage_completed  ...`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import msgspec

from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.demo.scenario import ZONE, Publish

TYPE_WIDTH: Final = 21
OUTPUT_MARK: Final = "=>"


def day_label(at: datetime) -> str:
    return f"[{at.astimezone(ZONE).date().isoformat()}]"


def _line(at: datetime, member_id: str, mark: str, kind: str, detail: str) -> str:
    return f"{day_label(at)} member {member_id}  {mark:<2} {kind:<{TYPE_WIDTH}} {detail}".rstrip()


def prize_text(prize: dict[str, Any]) -> str:
    kind = prize.get("type")
    if kind == "points":
        return f"{prize.get('value')} points"
    if kind == "voucher":
        return f"voucher {prize.get('value')}"
    if kind == "reward":
        return f"reward #{prize.get('reward_id')}"
    return json.dumps(prize, sort_keys=True)


def _input_detail(publish: Publish) -> tuple[str, str]:
    body = publish.body
    if publish.stream == "receipts":
        detail = f"{body['amount']} at {body['store_id']} ({body['receipt_id']})"
        return f"receipt {body['status']}", detail
    if publish.stream == "points":
        balance = f" (balance {body['balance']})" if "balance" in body else ""
        return f"points {body['kind']}", f"{body['amount']}{balance}"
    if publish.stream == "vouchers":
        return f"voucher {body['kind']}", str(body["voucher_id"])
    kind = str(body["kind"])
    target = body.get("challenge_code") or body.get("group_code") or body.get("tier")
    return kind, str(target)


def input_line(publish: Publish) -> str:
    kind, detail = _input_detail(publish)
    return _line(publish.at, str(publish.body["member_id"]), "", kind, detail)


def _attendance_completed(p: dict[str, Any]) -> str:
    done, left = p["attendances_completed"], p["attendances_left"]
    return f"{p['date']}: {done} of {done + left} attendances done, {left} left"


def _reward_issued(p: dict[str, Any]) -> str:
    reason = p.get("reason") or f"{p.get('challenge_code')}/{p.get('milestone_code')}"
    return f"{prize_text(p.get('prize') or {})} for {reason}"


def _stage_failed(p: dict[str, Any]) -> str:
    ended = "; the membership has ended" if p.get("membership_ended") else ""
    return f"stage {p['stage']} failed (entry {p['entries']} of {p['entries_limit']}){ended}"


def _receipt(p: dict[str, Any]) -> str:
    store = f" at {p['store_id']}" if p.get("store_id") else ""
    return f"{p['amount']:.2f}{store} ({p['receipt_id']})"


def _streak_completed(p: dict[str, Any]) -> str:
    return f"{p['stages']}-stage streak up to {p['stage']}"


def _extra_period_ending(p: dict[str, Any]) -> str:
    stage, ends = p["stage"], p["extra_period_ends_at"]
    return f"{p['days']} days left to complete stage {stage} (extra period ends {ends})"


def _stage_completed(p: dict[str, Any]) -> str:
    return f"stage {p['stage']} completed"


def _challenge_completed(p: dict[str, Any]) -> str:
    return f"{p['challenge_name']} ({p['challenge_code']})"


def _milestone_reached(p: dict[str, Any]) -> str:
    return f"{p['challenge_code']}: {p['milestone_code']}"


def _challenge_expired(p: dict[str, Any]) -> str:
    return f"{p['challenge_name']} ended unfinished"


_DESCRIBE: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "receipt_approved": _receipt,
    "receipt_rejected": _receipt,
    "attendance_completed": _attendance_completed,
    "stage_completed": _stage_completed,
    "reward_issued": _reward_issued,
    "streak_completed": _streak_completed,
    "extra_period_ending": _extra_period_ending,
    "stage_failed": _stage_failed,
    "challenge_completed": _challenge_completed,
    "milestone_reached": _milestone_reached,
    "challenge_expired": _challenge_expired,
}


def notification_detail(note: Notification) -> str:
    describe = _DESCRIBE.get(note.type)
    try:
        if describe is not None:
            return describe(note.properties)
    except (KeyError, TypeError, ValueError):
        pass  # a shape this demo does not know: show it as it is
    return json.dumps(note.properties, sort_keys=True, default=str)


def notification_line(at: datetime, note: Notification) -> str:
    return _line(at, note.member_id, OUTPUT_MARK, note.type, notification_detail(note))


def reward_line(at: datetime, reward: RewardIssuance) -> str:
    prize = prize_text(msgspec.to_builtins(reward.prize))
    expires = f", expires {reward.expires_at.date().isoformat()}" if reward.expires_at else ""
    detail = f"{prize} for {reward.reason}{expires} (reward id {reward.reward_id})"
    return _line(at, reward.member_id, OUTPUT_MARK, "reward", detail)
