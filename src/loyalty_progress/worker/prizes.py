"""Prize claims in the pipeline: the batch rule for `prize_claimed` member events.

The rule's four steps (docs/architecture.md), each crossed once per batch:

1. plan (pure, `engine.prizes.claims.plan`): the batch's claims; a batch without one
   (every batch of the other streams, most of `loyalty.members`) stops here, at no cost;
2. lock + load: the prizes the claims name, in key order, one statement;
3. apply (pure): `apply_claims`;
4. save: the claimed rows, one statement (none when nothing changed).

A refused claim (unknown reward id, another member's prize) is dead-lettered with the
engine's reason, in the same transaction as everything else of the batch.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.contract.outputs import OutputMessage
from loyalty_progress.engine.prizes.claims import apply_claims, plan
from loyalty_progress.store import prizes as store
from loyalty_progress.worker.rule_protocols import BatchContext

log = logging.getLogger(__name__)


class PrizeClaimRule:
    name = "prizes"

    async def apply(self, conn: AsyncConnection, batch: BatchContext) -> list[OutputMessage]:
        claims = plan(batch.events)
        if not claims:
            return []
        prizes = await store.lock_prizes(conn, (c.key for c in claims))
        outcome = apply_claims(prizes, claims)
        await store.save_claims(conn, outcome.claimed)
        letters: list[OutputMessage] = []
        for refusal in outcome.refused:
            letter = batch.refuse(refusal.event_id, refusal.reason)
            log.warning(
                "dead-letter",
                extra={
                    "stream": letter.stream,
                    "entry_id": letter.entry_id,
                    "reason": letter.reason,
                },
            )
            letters.append(letter)
        return letters
