"""The demo's closing table: each member's totals, attendance stage and challenges, read
from PostgreSQL with the read side's own queries and views, as of the story's end."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.demo.scenario import CLUB, Scenario
from loyalty_progress.engine.attendance import progress
from loyalty_progress.engine.attendance.days import count_complete
from loyalty_progress.engine.challenges.state import Progress
from loyalty_progress.engine.challenges.views import progress_view
from loyalty_progress.store.attendance import load_member
from loyalty_progress.store.challenges import read_progress
from loyalty_progress.store.totals import member_totals


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _challenge_cell(definition: ChallengeDefinition, row: Progress | None) -> str:
    if row is None:
        return "-"
    view = progress_view(definition, row)
    counters = " ".join(
        f"{_number(t.value)}/{_number(t.target)}" for g in view.groups for t in g.triggers
    )
    if view.completed:
        return f"completed {counters}"
    return f"{'expired' if row.expired_at else 'active'} {counters}"


async def _attendance_cell(conn: AsyncConnection, scenario: Scenario, member_id: str) -> str:
    edition = scenario.edition
    membership, days = await load_member(conn, CLUB, edition.code, member_id)
    if membership is None:
        return "-"
    state = progress(edition, membership, scenario.ends_at).state(scenario.stage)
    done = count_complete(days, edition.daily_value_goal)
    return f"{state}, {done} of {edition.monthly_attendances_goal} days"


async def summary_lines(
    conn: AsyncConnection, scenario: Scenario, challenges: Sequence[ChallengeDefinition]
) -> list[str]:
    header = ["member", "points earned/redeemed", "approved receipts", "pending"]
    header.append(f"attendance {scenario.stage}")
    header += [d.code.removeprefix(f"{scenario.edition.code}-") for d in challenges]
    rows = [header]
    for member in scenario.members:
        totals = await member_totals(conn, CLUB, member.member_id)
        by_code = {
            p.code: p
            for p in (await read_progress(conn, CLUB, "member", member.member_id)).values()
        }
        rows.append(
            [
                member.member_id,
                f"{totals.points_earned}/{totals.points_redeemed}",
                f"{totals.receipts_approved} ({totals.receipt_value:.2f})",
                f"{totals.pending_value:.2f}",
                await _attendance_cell(conn, scenario, member.member_id),
                *(_challenge_cell(d, by_code.get(d.code)) for d in challenges),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    title = f"progress as of {scenario.ends_at.date().isoformat()} (club {CLUB}, from PostgreSQL):"
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return [title, *(line.rstrip() for line in table)]
