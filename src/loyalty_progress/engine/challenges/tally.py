"""Tallies (one member's counted contributions) and the counter values they add up to.

Sums add, distinct keys keep a count of counted receipts per key, gauges keep the latest
reading: all three are independent of the order entries are added in, which is what makes
counters equal one clean pass over the distinct events. A tally holds no zero sum (a
zero-amount receipt adds nothing to it), so taking an entry out of a sum (`tally_without`)
gives exactly what adding up the other entries gives.

Counter value of a subject, per trigger: sums are summed over the members' tallies;
distinct counters count the keys in any member's tally; `points_balance` sums the
members' latest balances; `tier` is the highest member tier (for a member challenge both
are simply the member's latest reading).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

from loyalty_progress.definitions.challenge import DISTINCT_TRIGGERS, ChallengeDefinition
from loyalty_progress.engine.challenges.state import Entry, Reading, Tally

ZERO: Final = Decimal(0)


class TallyBuilder:
    """A mutable tally, for adding up many entries; `freeze()` returns the Struct."""

    def __init__(self, tally: Tally | None = None) -> None:
        tally = tally or Tally()
        self.sums = dict(tally.sums)
        self.keys = {t: dict(k) for t, k in tally.keys.items()}
        self.gauges = dict(tally.gauges)

    def add(self, entry: Entry) -> TallyBuilder:
        for delta in entry.deltas:
            if delta.amount:  # not None, not zero
                self.sums[delta.trigger] = self.sums.get(delta.trigger, ZERO) + delta.amount
            if delta.keys:
                counts = self.keys.setdefault(delta.trigger, {})
                for key in delta.keys:
                    counts[key] = counts.get(key, 0) + 1
            if delta.gauge is not None:
                reading = Reading(value=delta.gauge, at=entry.occurred_at, event_id=entry.event_id)
                if reading.newer_than(self.gauges.get(delta.trigger)):
                    self.gauges[delta.trigger] = reading
        return self

    def freeze(self) -> Tally:
        return Tally(
            sums=dict(sorted(self.sums.items())),
            keys={t: dict(sorted(k.items())) for t, k in sorted(self.keys.items()) if k},
            gauges=dict(sorted(self.gauges.items())),
        )


def counts_for(entry: Entry, subject: str) -> bool:
    return entry.live and subject in entry.counted_for


def tally_of(entries: Iterable[Entry], subject: str) -> Tally:
    """The tally of the live entries that count toward `subject`: the exact recompute."""
    builder = TallyBuilder()
    for entry in entries:
        if counts_for(entry, subject):
            builder.add(entry)
    return builder.freeze()


def tally_plus(tally: Tally | None, entry: Entry) -> Tally:
    """`TallyBuilder(tally).add(entry).freeze()` for a frozen (sorted) tally, copying only
    what the entry changes: a distinct counter's keys can be many, and this runs once per
    contribution."""
    base = tally or Tally()
    sums, keys, gauges = base.sums, base.keys, base.gauges
    for delta in entry.deltas:
        tid = delta.trigger
        if delta.amount:  # not None, not zero
            sums = {**sums, tid: sums.get(tid, ZERO) + delta.amount}
        if delta.keys:
            counts = dict(keys.get(tid, {}))
            for key in delta.keys:
                counts[key] = counts.get(key, 0) + 1
            keys = {**keys, tid: dict(sorted(counts.items()))}
        if delta.gauge is not None:
            reading = Reading(value=delta.gauge, at=entry.occurred_at, event_id=entry.event_id)
            if reading.newer_than(gauges.get(tid)):
                gauges = {**gauges, tid: reading}
    return Tally(
        sums=sums if sums is base.sums else dict(sorted(sums.items())),
        keys=keys if keys is base.keys else dict(sorted(keys.items())),
        gauges=gauges if gauges is base.gauges else dict(sorted(gauges.items())),
    )


def tally_without(tally: Tally, entry: Entry) -> Tally | None:
    """`tally` without `entry`, which it counts: what `tally_of` gives for the other
    entries, worked out without them (amounts are never negative, so a sum left at zero
    has no other entry behind it). None where it cannot be sure: a gauge (the latest
    reading of the others is not in the tally), or a tally that does not hold the entry;
    the caller then recomputes from the whole participation."""
    sums, keys = dict(tally.sums), dict(tally.keys)
    for delta in entry.deltas:
        tid = delta.trigger
        if delta.gauge is not None:
            return None
        if delta.amount:
            left = sums.get(tid, ZERO) - delta.amount
            if left < 0:
                return None
            if left:
                sums[tid] = left
            else:
                del sums[tid]
        if delta.keys:
            counts = dict(keys.get(tid, {}))
            for key in delta.keys:
                n = counts.get(key, 0)
                if n <= 0:
                    return None
                if n == 1:
                    del counts[key]
                else:
                    counts[key] = n - 1
            if counts:
                keys[tid] = counts
            else:
                del keys[tid]
    return Tally(sums=sums, keys=keys, gauges=tally.gauges)


def with_tally(tallies: Mapping[str, Tally], member_id: str, tally: Tally) -> dict[str, Tally]:
    """`tallies` with the member's replaced by `tally`; an empty one leaves the member out,
    so a subject's tallies are the same however they were reached."""
    found = {**tallies, member_id: tally}
    if tally.empty:
        del found[member_id]
    return found


def counter_values(definition: ChallengeDefinition, tallies: Iterable[Tally]) -> dict[int, Decimal]:
    """Trigger id -> counter value of a subject whose members have these tallies."""
    tallies = tuple(tallies)
    if len(tallies) == 1:
        return _values_of_one(definition, tallies[0])
    values: dict[int, Decimal] = {}
    for trigger in definition.triggers:
        tid = trigger.id
        if trigger.type in DISTINCT_TRIGGERS:
            keys = {k for t in tallies for k, n in t.keys.get(tid, {}).items() if n > 0}
            values[tid] = Decimal(len(keys))
        elif trigger.type == "points_balance":
            values[tid] = sum(
                (Decimal(t.gauges[tid].value) for t in tallies if tid in t.gauges), ZERO
            )
        elif trigger.type == "tier":
            tiers = [t.gauges[tid].value for t in tallies if tid in t.gauges]
            values[tid] = Decimal(max(tiers)) if tiers else ZERO
        else:
            values[tid] = sum((t.sums.get(tid, ZERO) for t in tallies), ZERO)
    return values


def _values_of_one(definition: ChallengeDefinition, tally: Tally) -> dict[int, Decimal]:
    """`counter_values` of a single tally (every member challenge), with the same values
    to the last digit: it runs after every contribution, so without the general case's
    sets and generators."""
    values: dict[int, Decimal] = {}
    for trigger in definition.triggers:
        tid = trigger.id
        kind = trigger.type
        if kind in DISTINCT_TRIGGERS:
            counts = tally.keys.get(tid)
            values[tid] = Decimal(sum(1 for n in counts.values() if n > 0) if counts else 0)
        elif kind == "points_balance" or kind == "tier":
            reading = tally.gauges.get(tid)
            values[tid] = ZERO if reading is None else ZERO + Decimal(reading.value)
        else:
            values[tid] = ZERO + tally.sums.get(tid, ZERO)
    return values


def has_progress(values: dict[int, Decimal]) -> bool:
    return any(v > 0 for v in values.values())
