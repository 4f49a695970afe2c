"""Output messages: notifications, reward issuances and dead-letter entries (SPEC §1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

import msgspec


class OutputStream(StrEnum):
    NOTIFICATIONS = "notifications"
    REWARDS = "rewards"
    DEADLETTER = "deadletter"


Severity = Literal["info", "success", "warning"]


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    notification_id: str
    type: str
    club: str
    member_id: str
    severity: Severity
    properties: dict[str, Any]
    created_at: datetime
    caused_by: tuple[str, ...] = ()


class Prize(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`{"type": "points", "value": 150}`, `{"type": "voucher", "value": "CODE"}` or
    `{"type": "reward", "reward_id": 1442920}`."""

    type: Literal["points", "voucher", "reward"]
    value: int | str | None = None
    reward_id: int | None = None
    description: str | None = None


class RewardIssuance(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    reward_id: str
    club: str
    member_id: str
    prize: Prize
    reason: str
    created_at: datetime
    expires_at: datetime | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    entry_id: str
    body: str
    reason: str
    delivery_count: int
    dead_lettered_at: datetime


OutputMessage = Notification | RewardIssuance | DeadLetter

_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")


def encode(message: OutputMessage) -> bytes:
    return _ENCODER.encode(message)


def message_id(message: OutputMessage) -> str:
    """The outbox's idempotency key: the same business fact always gets the same id."""
    if isinstance(message, Notification):
        return message.notification_id
    if isinstance(message, RewardIssuance):
        return message.reward_id
    return f"deadletter:{message.stream}:{message.entry_id}"


def output_stream(message: OutputMessage) -> OutputStream:
    if isinstance(message, Notification):
        return OutputStream.NOTIFICATIONS
    if isinstance(message, RewardIssuance):
        return OutputStream.REWARDS
    return OutputStream.DEADLETTER
