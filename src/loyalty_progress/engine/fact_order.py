"""The order in which a batch's messages are written to the outbox, and so published.

Each step of a batch (receipts, then each rule) lists its messages in the order of its
facts, but the steps come one after the other: on their own, a member's
`receipt_approved` of a later receipt would come before the `attendance_completed` of an
earlier one. Ordering all of them by the batch position of each message's cause (its
latest cause; stable, so one event's messages keep the order of the steps) gives every
member their messages in the order of the facts. A message without a cause in the batch
(a reward, a time-driven fact) goes with the member's message before it in its step,
or, when it is the member's first in its step (a fact that came due before the batch),
before the member's first event of the batch. A dead letter has no member and goes
first.
"""

from __future__ import annotations

from collections.abc import Sequence

from loyalty_progress.contract.events import InputEvent
from loyalty_progress.contract.outputs import DeadLetter, Notification, OutputMessage

Member = tuple[str, str]


def in_fact_order(
    steps: Sequence[Sequence[OutputMessage]], events: Sequence[InputEvent]
) -> list[OutputMessage]:
    """The messages of all `steps` (each in its own fact order), in the order of facts."""
    messages = [message for step in steps for message in step]
    if len(messages) < 2:
        return messages
    position = {event.event_id: index for index, event in enumerate(events)}
    first: dict[Member, int] | None = None  # built only if some message needs it
    keys: list[float] = []
    for step in steps:
        last: dict[Member, float] = {}
        for message in step:
            if isinstance(message, DeadLetter):
                keys.append(-1.0)
                continue
            member = (message.club, message.member_id)
            causes = message.caused_by if isinstance(message, Notification) else ()
            found = [position[c] for c in causes if c in position]
            key: float
            if found:
                key = max(found)
            elif member in last:
                key = last[member]
            else:
                if first is None:
                    first = {}
                    for index, event in enumerate(events):
                        first.setdefault((event.club, event.member_id), index)
                key = first.get(member, 0) - 0.5
            keys.append(key)
            last[member] = key
    order = sorted(range(len(messages)), key=keys.__getitem__)
    return [messages[i] for i in order]
