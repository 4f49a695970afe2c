"""How counter challenges are wired into the batch transaction, against real PostgreSQL:
a few set-based statements per batch whatever its size, nothing for events no challenge
takes, and a limited challenge's winner counter locked only by a batch that completes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.contract.events import InputEvent, InputStream, PointsEvent
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.worker.batch import GoodEntry, commit_batch
from loyalty_progress.worker.challenges import ChallengeRule
from tests.support.challenge_engine import challenge, triggers

CET = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 20, 12, tzinfo=CET)
EARN = challenge(code="earn-500", groups=[triggers({"type": "earned_points", "target": 500})])
LIMITED = challenge(
    code="first-three",
    max_winners=3,
    groups=[triggers({"type": "redeemed_points", "target": 100})],
)


def earned(member: str, amount: int, tag: str, kind: str = "earned") -> PointsEvent:
    return PointsEvent(
        event_id=f"{tag}-{member}-{kind}-{amount}",
        club="infinity-mall",
        member_id=member,
        occurred_at=datetime(2026, 11, 10, 12, tzinfo=CET),
        kind=kind,  # type: ignore[arg-type]
        amount=amount,
    )


async def commit(
    engine: AsyncEngine,
    events: Sequence[InputEvent],
    *definitions: ChallengeDefinition,
    metrics: Metrics | None = None,
) -> list[str]:
    """Commit one batch of points events with the challenge rule; the SQL it ran."""
    executed: list[str] = []

    def count(*args: Any) -> None:
        executed.append(args[2])

    entries = [GoodEntry(f"{i}-0", e, msgspec.json.encode(e)) for i, e in enumerate(events)]
    current = DefinitionSet(revision=1, challenges=definitions)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        rules = [ChallengeRule(metrics)]
        await commit_batch(engine, InputStream.POINTS, entries, [], NOW, current, rules)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return executed


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.exec_driver_sql(sql)).scalar_one()


async def test_a_batch_costs_the_same_few_statements_for_one_member_or_three_hundred(
    engine: AsyncEngine,
) -> None:
    one = await commit(engine, [earned("solo", 200, "one")], EARN)
    many = await commit(engine, [earned(f"m{i}", 200, "many") for i in range(300)], EARN)
    backbone = await commit(engine, [earned("solo", 200, "plain")])
    assert len(one) == len(many)
    # lock + load members, lock + load participations and progress, save everything
    assert len(one) - len(backbone) == 3
    assert await scalar(engine, "SELECT count(*) FROM challenge_progress") == 301


async def test_events_no_challenge_takes_cost_no_challenge_statement(
    engine: AsyncEngine,
) -> None:
    redeemed_only = [earned(f"m{i}", 50, "none", kind="expired") for i in range(20)]
    with_rule = await commit(engine, redeemed_only, EARN, LIMITED)
    without = await commit(engine, [earned("x", 50, "none2", kind="expired")])
    assert len(with_rule) == len(without)


async def test_the_winner_counter_is_locked_only_by_a_batch_that_completes_the_challenge(
    engine: AsyncEngine,
) -> None:
    winners = "SELECT count(*) FROM challenge_winners WHERE code = 'first-three'"
    adding = await commit(engine, [earned("w1", 60, "lim", kind="redeemed")], LIMITED)
    assert not any("INSERT INTO challenge_winners" in sql for sql in adding)
    assert await scalar(engine, winners) == 0
    completing = [earned(f"w{i}", 120, "lim2", kind="redeemed") for i in range(1, 6)]
    executed = await commit(engine, completing, LIMITED)
    assert any("INSERT INTO challenge_winners" in sql for sql in executed)
    assert await scalar(engine, "SELECT winners FROM challenge_winners") == 3
    won = "SELECT count(*) FROM challenge_progress WHERE code = 'first-three' AND winner"
    assert await scalar(engine, won) == 3
    finished = "SELECT sum(people_finished) FROM challenge_finishers WHERE code = 'first-three'"
    assert await scalar(engine, finished) == 5


async def test_batches_applied_again_are_counted_by_reason(engine: AsyncEngine) -> None:
    """Only the batch completing the limited challenge is applied again (for its winner
    counter); a batch that merely adds to it is not."""
    metrics = Metrics()

    def reapplied(reason: str) -> float | None:
        return metrics.registry.get_sample_value(
            "loyalty_challenge_batches_reapplied_total", {"reason": reason}
        )

    await commit(engine, [earned("c1", 60, "count", kind="redeemed")], LIMITED, metrics=metrics)
    assert reapplied("winners") is None
    await commit(engine, [earned("c1", 60, "count2", kind="redeemed")], LIMITED, metrics=metrics)
    assert reapplied("winners") == 1
    assert reapplied("entries") is None


async def test_earlier_entries_are_read_only_to_settle_a_completion(
    engine: AsyncEngine,
) -> None:
    """Adding to a challenge reads none of the member's earlier ledger lines; a batch that
    completes one reads that participation once more, to settle the completion."""
    loads = "WITH entries AS"
    first = await commit(engine, [earned("hist", 200, "h1")], EARN)
    adding = await commit(engine, [earned("hist", 200, "h2")], EARN)
    completing = await commit(engine, [earned("hist", 200, "h3")], EARN)
    assert [sum(loads in sql for sql in run) for run in (first, adding, completing)] == [1, 1, 2]
    satisfied = (
        "SELECT progress -> 'completed' ->> 'satisfied_at' FROM challenge_progress "
        "WHERE subject_id = 'hist'"
    )
    assert datetime.fromisoformat(await scalar(engine, satisfied)) == datetime(
        2026, 11, 10, 12, tzinfo=CET
    )
    unlocks = (
        "SELECT state -> 'unlocks' ->> 'earn-500' FROM challenge_members WHERE member_id = 'hist'"
    )
    assert await scalar(engine, unlocks) is not None
    lines = "SELECT count(*) FROM challenge_ledger WHERE member_id = 'hist' AND tracked"
    assert await scalar(engine, lines) == 3
