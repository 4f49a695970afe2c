"""Counter challenges in the pipeline: the batch rule and the scheduler's expiry rule.

`ChallengeRule` (a `BatchRule`) runs inside the batch transaction after receipts and
totals, in the four steps every rule takes (plan, lock + load, apply, save):

1. plan (pure): the batch's challenge inputs. Receipt events become their lifecycle
   transitions; an input that no challenge of its club takes (`Catalog.feeding`: no
   trigger of a type it feeds, or far from every window) drops out, so a batch of a club
   without challenges costs nothing; opt-in/out and group facts are always kept, because
   a challenge applied later needs them. Then the rows to lock (`load_plan`);
2. lock + load (`store.challenge_writes`): members, then groups (group challenges only),
   then progress, the participations the batch may re-judge (a fact) and the single
   entries reversals undo, in one statement; other participations are not read: their
   events only add entries;
3. apply (pure): `apply_challenges`. Only when it completes a limited challenge does it
   ask for that challenge's winner counter, and only in a case the plan did not foresee
   for earlier entries: the rule loads them and applies again. Completions made without
   the earlier entries are settled from them afterwards (`settle`: one more read, only in
   batches that complete something);
4. save: every changed row, the ledger and the counters in one statement, and the
   notifications and rewards go back to the batch's outbox write.

`ChallengeExpiryRule` (a `TimeRule`) expires ended, unfinished occurrences with progress:
due rows are claimed in chunks with `FOR UPDATE SKIP LOCKED` (replicas share the work
without waiting), `expire_occurrences` marks them and makes `challenge_expired` per
recipient, and the rows and the outbox rows commit together. A row with `expired_at` is
never due again and the notification id is deterministic, so each fact happens once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from loyalty_progress.contract.outputs import OutputMessage
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.engine.challenges import (
    ChallengeInput,
    ChallengeOutcome,
    ChallengeState,
    EntriesNotLoaded,
    WinnersNotLoaded,
    apply_challenges,
    entries_selectors,
    expire_occurrences,
    load_plan,
    member_keys,
    progress_flags,
    settle,
    unsettled_selectors,
    winner_keys,
)
from loyalty_progress.engine.challenges.catalog_cache import CatalogCache
from loyalty_progress.engine.challenges.inputs import challenge_inputs
from loyalty_progress.engine.challenges.routes import Routes
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.store import challenge_writes as writes
from loyalty_progress.store import challenges as store
from loyalty_progress.store.outbox import add_messages
from loyalty_progress.worker.rule_protocols import BatchContext

log = logging.getLogger(__name__)

EXPIRY_CHUNK: Final = 500


class ChallengeRule:
    """Counter challenges inside the batch transaction (a `BatchRule`)."""

    name = "counter-challenges"

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._catalogs = CatalogCache()
        self._reapplied = (metrics or Metrics()).challenge_reapplied

    async def apply(self, conn: AsyncConnection, batch: BatchContext) -> Sequence[OutputMessage]:
        catalog = self._catalogs.get(batch.definitions)
        routes = Routes(catalog)  # what each event feeds, worked out once for the batch
        inputs = challenge_inputs(batch.events, batch.transitions, routes)
        if not inputs:
            return []
        members = await writes.lock_members(conn, member_keys(inputs))
        plan = load_plan(inputs, catalog, members, routes)
        groups = await writes.lock_groups(conn, plan.groups)
        participations, progress = await writes.lock_rows(
            conn, plan.participations, plan.progress, plan.lines
        )
        state = ChallengeState(
            members, groups, participations, progress, entries_of=plan.entries_of
        )
        outcome = await _apply(conn, state, inputs, routes, batch.now, self._reapplied)
        if outcome.unsettled:
            stored, _ = await writes.lock_rows(conn, unsettled_selectors(outcome), ())
            settle(outcome, stored, members, catalog)
        await writes.save_outcome(conn, outcome, progress_flags(outcome.progress.values(), catalog))
        return [*outcome.notifications, *outcome.rewards]


async def _apply(
    conn: AsyncConnection,
    state: ChallengeState,
    inputs: Sequence[ChallengeInput],
    routes: Routes,
    now: datetime,
    reapplied: Counter,
) -> ChallengeOutcome:
    """`apply_challenges`, loading what it asks for and applying again: the winner
    counters of limited challenges it completes, earlier entries the plan did not foresee.
    Each retry loads more than before, so this ends; `reapplied` counts them by reason
    (each applies the whole batch again, so a rising `entries` rate is a cost to look at)."""
    while True:
        try:
            return apply_challenges(state, inputs, routes.catalog, now, routes)
        except WinnersNotLoaded as missing:
            if state.winners:
                raise  # winner_keys covers every occurrence the batch can complete
            keys = winner_keys(inputs, routes.catalog, state.participations, state.progress)
            if missing.key not in keys:
                raise
            state = replace(state, winners=await writes.lock_winners(conn, keys))
            reapplied.labels("winners").inc()
        except EntriesNotLoaded as missing:
            reapplied.labels("entries").inc()
            more, _ = await writes.lock_rows(conn, entries_selectors(missing.keys), ())
            loaded = frozenset(state.entries_of or ()) | missing.keys
            state = replace(
                state, participations={**state.participations, **more}, entries_of=loaded
            )


class ChallengeExpiryRule:
    """`challenge_expired` for occurrences that ended unfinished (a `TimeRule`).

    `grace` holds expiry back after `ends_at` (late approvals dated inside the occurrence
    still count whenever they arrive; the grace only delays telling members)."""

    name = "challenge-expiry"

    def __init__(self, grace: timedelta = timedelta(0), chunk: int = EXPIRY_CHUNK) -> None:
        self.grace, self.chunk = grace, chunk
        self._catalogs = CatalogCache()

    async def tick(
        self, engine: AsyncEngine, definitions: DefinitionSet, now: datetime
    ) -> list[int]:
        catalog = self._catalogs.get(definitions)
        challenges = sorted((d.club, d.code) for d in definitions.challenges)
        if not challenges:
            return []
        written: list[int] = []
        cursor = store.CURSOR_START
        while True:
            async with engine.begin() as conn:
                rows = await store.lock_due_progress(
                    conn, challenges, now - self.grace, cursor, self.chunk
                )
                if not rows:
                    break
                cursor = store.cursor_of(rows[-1])
                group_keys = [(r.club, r.subject_id) for r in rows if r.subject_kind == "group"]
                groups = await store.load_groups(conn, group_keys)
                outcome = expire_occurrences(rows, catalog, now, groups, self.grace)
                saved = ChallengeOutcome(progress=outcome.progress)
                await writes.save_outcome(
                    conn, saved, progress_flags(outcome.progress.values(), catalog)
                )
                written += await add_messages(conn, outcome.notifications)
            if len(rows) < self.chunk:
                break
        if written:
            log.info("challenge expiry wrote %d notifications", len(written))
        return written
