"""Input events of the four input streams and their decoding (docs/wire-contract.md,
"Inputs" and "Limits").

Every entry carries one field `data` with a UTF-8 JSON object. Decoding returns either
a typed event or a `BadInput` whose reason names the problem and the field.

The limits (docs/wire-contract.md, "Limits") are chosen so that whatever decodes also
commits: every string fits the text columns and their indexes, every instant survives
the UTC-offset and calendar arithmetic of the engines, every amount is exact in the
`numeric` columns and in Python's decimal arithmetic. An entry that breaks one is bad
input at its first delivery, never a batch that fails inside its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Final, Literal

import msgspec

from loyalty_progress.safe_text import shortened

MAX_BODY_BYTES: Final = 64 * 1024
DATA_FIELD: Final = b"data"
# One Redis stream entry as read: its id and its fields (the body is under DATA_FIELD).
StreamEntry = tuple[bytes, Mapping[bytes, bytes]]
# Amounts beyond this are not purchases but typos or attacks; PostgreSQL numeric would take
# them, the totals would not survive them. Points amounts share the bound: a day's sum
# stays far inside the `bigint` columns it is added to.
MAX_AMOUNT: Final = Decimal("1000000000")
MAX_POINTS: Final = 1_000_000_000
# Digits after the decimal point: four cover every ISO 4217 currency unit. With at most
# ten integer digits an amount has at most 14 significant digits, so sums stay exact in
# the `numeric` columns and in Python's 28-digit decimal context alike.
MAX_AMOUNT_SCALE: Final = 4
# Plausible instants (the first included, the last not): far from both ends of what
# `datetime` can represent, so any UTC offset or calendar step the engines take is safe.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
# Real zones span UTC-12:00 to UTC+14:00; PostgreSQL refuses offsets beyond 15:59.
MAX_UTC_OFFSET: Final = timedelta(hours=14)
_INNER_YEARS: Final = (EARLIEST.year + 1, LATEST.year - 2)
# Whether each UTC offset seen is allowed: timestamps carry a few distinct offsets (at most
# one per minute of +-24 h), and looking one up is cheaper than computing it per event.
_OFFSET_ALLOWED: dict[tzinfo | None, bool] = {}
MAX_ID_LENGTH: Final = 128  # characters: at most 512 bytes of UTF-8
MAX_ITEMS: Final = 1000
MAX_BALANCE: Final = 2**53
# A value quoted in a reason is cut to this many characters, and a whole reason to
# `MAX_REASON`: reasons are stored, logged and shown, and msgspec quotes offending values.
_SHOWN: Final = 40
MAX_REASON: Final = 400

EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0, le=MAX_POINTS)]


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def bounded_reason(reason: str, limit: int = MAX_REASON) -> str:
    """`reason` cut in the middle to about `limit` characters; the field it names stays."""
    return shortened(reason, limit)


class InputStream(StrEnum):
    RECEIPTS = "receipts"
    POINTS = "points"
    VOUCHERS = "vouchers"
    MEMBERS = "members"


class _Event(msgspec.Struct, frozen=True, kw_only=True):
    event_id: EventId
    club: Code
    member_id: Code
    occurred_at: AwareDatetime

    def __post_init__(self) -> None:
        at = self.occurred_at
        # Years strictly inside the window are inside it whatever the offset: only the edge
        # years pay for comparing aware instants (slow, but unlike converting them to UTC
        # it cannot overflow).
        if not _INNER_YEARS[0] <= at.year <= _INNER_YEARS[1] and not EARLIEST <= at < LATEST:
            raise ValueError(
                f"occurred_at must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} "
                f"(UTC), got {at.isoformat()} - at `$.occurred_at`"
            )
        allowed = _OFFSET_ALLOWED.get(at.tzinfo)
        if allowed is None:
            offset = at.utcoffset()
            allowed = offset is not None and abs(offset) <= MAX_UTC_OFFSET
            _OFFSET_ALLOWED[at.tzinfo] = allowed
        if not allowed:
            raise ValueError(
                "occurred_at must have a UTC offset from -14:00 to +14:00, "
                f"got {at.isoformat()} - at `$.occurred_at`"
            )


ReceiptStatus = Literal["pending", "approved", "rejected", "refunded"]


class ReceiptEvent(_Event, frozen=True, kw_only=True):
    receipt_id: Code
    status: ReceiptStatus
    amount: Decimal
    store_id: Code | None = None
    items: Annotated[tuple[Code, ...], msgspec.Meta(max_length=MAX_ITEMS)] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        amount = self.amount
        if not amount.is_finite():
            raise ValueError(f"amount must be a finite decimal, got {amount} - at `$.amount`")
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)  # finite
        if exponent < -MAX_AMOUNT_SCALE:
            raise ValueError(
                f"amount must have at most {MAX_AMOUNT_SCALE} digits after the decimal point, "
                f"got {-exponent} - at `$.amount`"
            )
        if amount < 0:
            raise ValueError(f"amount must be >= 0, got {_shown(amount)} - at `$.amount`")
        if amount > MAX_AMOUNT:
            raise ValueError(
                f"amount must be <= {MAX_AMOUNT}, got {_shown(amount)} - at `$.amount`"
            )


class PointsEvent(_Event, frozen=True, kw_only=True):
    kind: Literal["earned", "redeemed", "expired", "adjusted"]
    amount: PositiveInt
    balance: Annotated[int, msgspec.Meta(ge=-MAX_BALANCE, le=MAX_BALANCE)] | None = None


class VoucherEvent(_Event, frozen=True, kw_only=True):
    kind: Literal["subscribed", "redeemed"]
    voucher_id: Code
    offer_id: Code | None = None


MemberKind = Literal[
    "opted_in", "opted_out", "tier_changed", "joined_group", "left_group", "prize_claimed"
]
_REQUIRED_BY_KIND: Final[dict[str, str]] = {
    "opted_in": "challenge_code",
    "opted_out": "challenge_code",
    "tier_changed": "tier",
    "joined_group": "group_code",
    "left_group": "group_code",
    "prize_claimed": "reward_id",
}


class MemberEvent(_Event, frozen=True, kw_only=True):
    kind: MemberKind
    challenge_code: Code | None = None
    charity_code: Code | None = None
    tier: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    group_code: Code | None = None
    # `prize_claimed`: the rewards system says the member claimed the prize it received
    # as the `loyalty.rewards` message with this `reward_id` (docs/prizes.md).
    reward_id: Code | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        required = _REQUIRED_BY_KIND[self.kind]
        if getattr(self, required) is None:
            raise ValueError(f"kind `{self.kind}` requires `{required}` - at `$.{required}`")


InputEvent = ReceiptEvent | PointsEvent | VoucherEvent | MemberEvent

EVENT_TYPES: Final[dict[InputStream, type[InputEvent]]] = {
    InputStream.RECEIPTS: ReceiptEvent,
    InputStream.POINTS: PointsEvent,
    InputStream.VOUCHERS: VoucherEvent,
    InputStream.MEMBERS: MemberEvent,
}
# One reused decoder per type: building a decoder is the expensive part.
_DECODERS: Final = {stream: msgspec.json.Decoder(cls) for stream, cls in EVENT_TYPES.items()}


class BadInput(msgspec.Struct, frozen=True):
    """Why an entry cannot be applied; the text goes to the dead-letter stream."""

    reason: str


def _has_nul(event: InputEvent) -> str | None:
    # PostgreSQL text cannot hold U+0000; catching it here keeps it from failing a batch.
    for name in event.__struct_fields__:
        value = getattr(event, name)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, str) and "\x00" in v for v in values):
            return name
    return None


def decode_body(stream: InputStream, body: bytes) -> InputEvent | BadInput:
    if len(body) > MAX_BODY_BYTES:
        return BadInput(f"body is {len(body)} bytes, over the {MAX_BODY_BYTES} byte limit")
    try:
        event = _DECODERS[stream].decode(body)
    except msgspec.ValidationError as exc:
        return BadInput(bounded_reason(f"invalid {stream.value} event: {exc}"))
    except msgspec.DecodeError as exc:
        return BadInput(bounded_reason(f"body is not valid JSON: {exc}"))
    except UnicodeDecodeError as exc:
        return BadInput(bounded_reason(f"body is not valid UTF-8: {exc}"))
    # A NUL can only reach a string through the `\u0000` escape (raw control characters
    # are invalid JSON), so the per-field scan runs only for bodies that contain one.
    nul_field = _has_nul(event) if b"\\u0000" in body else None
    if nul_field is not None:
        return BadInput(f"invalid {stream.value} event: NUL character - at `$.{nul_field}`")
    return event


def decode_entry(stream: InputStream, fields: Mapping[bytes, bytes]) -> InputEvent | BadInput:
    body = fields.get(DATA_FIELD)
    if body is None:
        names = ", ".join(sorted(k.decode("utf-8", "replace") for k in fields)) or "none"
        return BadInput(f"entry has no `data` field (fields: {names})")
    return decode_body(stream, body)
