"""What one input adds to each trigger of a challenge (docs/counter-challenges.md, "Triggers:
what counts").

| trigger               | counts                                                       |
|-----------------------|--------------------------------------------------------------|
| `earned_points`       | `amount` of points events of kind `earned`                   |
| `redeemed_points`     | `amount` of points events of kind `redeemed`                 |
| `subscribed_vouchers` | 1 per voucher event of kind `subscribed`                     |
| `redeemed_vouchers`   | 1 per voucher event of kind `redeemed`                       |
| `points_balance`      | gauge: `balance` of any points event that carries one        |
| `tier`                | gauge: `tier` of `tier_changed` member events                |
| `receipt_count`       | 1 per approved receipt                                       |
| `receipt_amount`      | the approved receipt's `amount`                              |
| `distinct_stores`     | the approved receipt's store (a key)                         |
| `distinct_items`      | the approved receipt's distinct items (keys)                 |

Receipt filters: with `store_ids`, only receipts from those stores match; with `items`, only
receipts carrying at least one of those items match, and `distinct_items` counts only the
listed items. A receipt matches on its whole amount (receipts carry no per-item amounts).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Final

from loyalty_progress.contract.events import MemberEvent, PointsEvent, VoucherEvent
from loyalty_progress.definitions.challenge import ChallengeDefinition, Trigger
from loyalty_progress.engine.challenges.state import Delta
from loyalty_progress.engine.receipts import ReceiptState

Source = PointsEvent | VoucherEvent | MemberEvent | ReceiptState
ONE: Final = Decimal(1)


def source_name(source: Source) -> str:
    """The ledger's `source`: stream and kind (`points.earned`, `receipts.approved`)."""
    if isinstance(source, PointsEvent):
        return f"points.{source.kind}"
    if isinstance(source, VoucherEvent):
        return f"vouchers.{source.kind}"
    if isinstance(source, MemberEvent):
        return f"members.{source.kind}"
    return f"receipts.{source.status}"


def _receipt_matches(
    trigger: Trigger, receipt: ReceiptState, items: Collection[str], store_admitted: bool
) -> bool:
    if not store_admitted and trigger.store_ids and receipt.store_id not in trigger.store_ids:
        return False
    if not items:
        return True
    if isinstance(items, AbstractSet):
        return not items.isdisjoint(receipt.items)
    return any(item in items for item in receipt.items)


def _receipt_delta(
    trigger: Trigger, receipt: ReceiptState, items: AbstractSet[str] | None, store_admitted: bool
) -> Delta | None:
    listed: Collection[str] = trigger.items if items is None else items
    if not _receipt_matches(trigger, receipt, listed, store_admitted):
        return None
    if trigger.type == "receipt_count":
        return Delta(trigger=trigger.id, amount=ONE)
    if trigger.type == "receipt_amount":
        return Delta(trigger=trigger.id, amount=receipt.amount)
    if trigger.type == "distinct_stores":
        if receipt.store_id is None:
            return None
        return Delta(trigger=trigger.id, keys=(receipt.store_id,))
    found = sorted({i for i in receipt.items if not listed or i in listed})
    return Delta(trigger=trigger.id, keys=tuple(found)) if found else None


RECEIPT_TRIGGERS: Final = ("receipt_count", "receipt_amount", "distinct_stores", "distinct_items")
_POINTS_TRIGGERS: Final = {"earned": "earned_points", "redeemed": "redeemed_points"}
_VOUCHER_TRIGGERS: Final = {"subscribed": "subscribed_vouchers", "redeemed": "redeemed_vouchers"}


def trigger_types(source: Source) -> tuple[str, ...]:
    """The trigger types `source` can feed: the routing key of `Catalog.feeding`. A trigger
    of any other type gets no delta from it (`trigger_delta` returns None)."""
    if isinstance(source, PointsEvent):
        kind = _POINTS_TRIGGERS.get(source.kind)
        found = (kind,) if kind else ()
        return (*found, "points_balance") if source.balance is not None else found
    if isinstance(source, VoucherEvent):
        kind = _VOUCHER_TRIGGERS.get(source.kind)
        return (kind,) if kind else ()
    if isinstance(source, MemberEvent):
        return ("tier",) if source.kind == "tier_changed" and source.tier is not None else ()
    return RECEIPT_TRIGGERS


def trigger_delta(
    trigger: Trigger,
    source: Source,
    items: AbstractSet[str] | None = None,
    *,
    store_admitted: bool = False,
) -> Delta | None:
    """The delta `source` brings to `trigger` (receipts: as an approved receipt), if any.
    `items`: the trigger's item filter as a set, when the caller keeps one (a filter may
    list hundreds of items); by default `trigger.items` is searched. `store_admitted`: the
    caller knows the receipt's store passes the trigger's store filter (`catalog.Route`
    keeps only such triggers), so the filter's list is not searched again."""
    kind = trigger.type
    if isinstance(source, PointsEvent):
        if kind == "points_balance" and source.balance is not None:
            return Delta(trigger=trigger.id, gauge=source.balance)
        if _POINTS_TRIGGERS.get(source.kind) == kind:
            return Delta(trigger=trigger.id, amount=Decimal(source.amount))
        return None
    if isinstance(source, VoucherEvent):
        return (
            Delta(trigger=trigger.id, amount=ONE)
            if _VOUCHER_TRIGGERS.get(source.kind) == kind
            else None
        )
    if isinstance(source, MemberEvent):
        if kind == "tier" and source.kind == "tier_changed" and source.tier is not None:
            return Delta(trigger=trigger.id, gauge=source.tier)
        return None
    if kind in RECEIPT_TRIGGERS:
        return _receipt_delta(trigger, source, items, store_admitted)
    return None


def deltas(definition: ChallengeDefinition, source: Source) -> tuple[Delta, ...]:
    """Every trigger delta of `source` for `definition`; empty when it is irrelevant."""
    return deltas_of(((t, None) for t in definition.triggers), source)


def deltas_of(
    triggers: Iterable[tuple[Trigger, AbstractSet[str] | None]],
    source: Source,
    *,
    store_admitted: bool = False,
) -> tuple[Delta, ...]:
    """The deltas of `source` for these triggers, each with its item filter as a set when
    the caller keeps one (`catalog.Route`), in order; empty when it is irrelevant."""
    found: list[Delta] = []
    for trigger, items in triggers:
        delta = trigger_delta(trigger, source, items, store_admitted=store_admitted)
        if delta is not None:
            found.append(delta)
    return tuple(found)


def negated(items: tuple[Delta, ...]) -> tuple[Delta, ...]:
    """The ledger form of a reversal: amounts negated, keys listed as removed."""
    return tuple(
        Delta(
            trigger=d.trigger,
            amount=None if d.amount is None else -d.amount,
            keys=d.keys,
            gauge=d.gauge,
        )
        for d in items
    )
