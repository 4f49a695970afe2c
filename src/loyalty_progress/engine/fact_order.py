"""The order in which a batch's messages are written to the outbox, and so published.

Each step of a batch (receipts, then each rule) lists its messages in the order of its
facts, but one after the other: on their own, a member's `receipt_approved` of a later
receipt would come before the `attendance_completed` of an earlier one. Ordering the
whole list by the batch position of each message's cause (its latest cause, stable, so
one event's messages keep the order of the steps) gives every member their messages in
the order of the facts. A message without a cause in the batch (a time-driven fact, a
reward) stays right after the message before it of the same member, or else goes with
that member's first event of the batch; a dead letter has no member and goes first.
"""

from __future__ import annotations

from collections.abc import Sequence

from loyalty_progress.contract.events import InputEvent
from loyalty_progress.contract.outputs import DeadLetter, Notification, OutputMessage


def in_fact_order(
    messages: Sequence[OutputMessage], events: Sequence[InputEvent]
) -> list[OutputMessage]:
    if len(messages) < 2:
        return list(messages)
    position = {event.event_id: index for index, event in enumerate(events)}
    first: dict[tuple[str, str], int] | None = None  # built only if some message needs it
    keys: list[int] = []
    previous: tuple[tuple[str, str], int] | None = None
    for message in messages:
        if isinstance(message, DeadLetter):
            keys.append(-1)
            continue
        member = (message.club, message.member_id)
        causes = message.caused_by if isinstance(message, Notification) else ()
        found = [position[c] for c in causes if c in position]
        if found:
            key = max(found)
        elif previous is not None and previous[0] == member:
            key = previous[1]
        else:
            if first is None:
                first = {}
                for index, event in enumerate(events):
                    first.setdefault((event.club, event.member_id), index)
            key = first.get(member, -1)
        keys.append(key)
        previous = (member, key)
    order = sorted(range(len(messages)), key=keys.__getitem__)
    return [messages[i] for i in order]
