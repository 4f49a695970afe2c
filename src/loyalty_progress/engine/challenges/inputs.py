"""The first step of the challenge rule, pure: which of a batch's events are challenge
inputs. Receipt events become their lifecycle transitions; an input that no challenge of
its club takes (`Catalog.feeding`: no trigger of a type it feeds, or far from every
window) drops out, so a batch of a club without challenges costs nothing. Opt-in/out and
group facts are always kept, because a challenge applied later needs them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from loyalty_progress.contract.events import InputEvent, MemberEvent, ReceiptEvent
from loyalty_progress.engine.challenges.apply import ChallengeInput
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.routes import Routes, sources
from loyalty_progress.engine.receipts import ReceiptTransition

FACTS: Final = frozenset({"opted_in", "opted_out", "joined_group", "left_group"})


def _relevant(item: ChallengeInput, routes: Routes) -> bool:
    """Some challenge of the club has a trigger the input feeds (or reverses), near its
    window: anything else would be a no-op for the engine."""
    return any(feed.near for source in sources(item) for feed in routes.feeds(source))


def challenge_inputs(
    events: Sequence[InputEvent],
    transitions: Sequence[ReceiptTransition],
    catalog: Catalog | Routes,
) -> list[ChallengeInput]:
    """The batch's inputs for the engine, in entry order, without the irrelevant ones.
    `events` are the batch's fresh events, `transitions` the receipt lifecycle's; pass the
    batch's `Routes` to keep what it works out for the plan and the engine."""
    routes = catalog if isinstance(catalog, Routes) else Routes(catalog)
    by_event = {t.event.event_id: t for t in transitions}
    inputs: list[ChallengeInput] = []
    for event in events:
        item: ChallengeInput
        if isinstance(event, ReceiptEvent):
            transition = by_event.get(event.event_id)
            if transition is None:
                continue  # stale or repeated status: the lifecycle applied nothing
            item = transition
        elif isinstance(event, MemberEvent) and event.kind in FACTS:
            inputs.append(event)
            continue
        else:
            item = event
        if _relevant(item, routes):
            inputs.append(item)
    return inputs
