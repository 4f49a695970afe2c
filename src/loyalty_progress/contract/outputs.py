"""Output messages: notifications, reward issuances and dead-letter entries
(docs/wire-contract.md, "Outputs")."""

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


# A dead letter keeps at most this much of the body it refuses (docs/wire-contract.md):
# the reason, the size and the digest say why and what; the original is not needed.
DEAD_LETTER_BODY_BYTES: Final = 4096


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An input entry that could not be applied. `body` is the original body as text
    (bytes that are not UTF-8 shown as U+FFFD), at most its first 4096 bytes;
    `body_truncated` says whether it was cut, `body_size` and `body_sha256` describe the
    whole original, and `body_base64` holds the kept bytes exactly when they are not
    valid UTF-8. Dead letters written before these fields existed lack them (their
    bodies were kept whole)."""

    stream: str
    entry_id: str
    body: str
    reason: str
    delivery_count: int
    dead_lettered_at: datetime
    body_size: int | None = None  # bytes of the original body
    body_sha256: str | None = None  # hex digest of the original body
    body_truncated: bool = False
    body_base64: str | None = None


OutputMessage = Notification | RewardIssuance | DeadLetter

_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")


def encode(message: OutputMessage) -> bytes:
    return _ENCODER.encode(message)


def encode_prize(prize: Prize) -> bytes:
    return _ENCODER.encode(prize)


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
