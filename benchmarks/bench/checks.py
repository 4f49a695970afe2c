"""The `exact` column: what the worker left behind against the oracles.

Every check adds `problems` (the run is then not exact) and a few `notes` (what was
checked, for the lines above the table). See benchmarks/README.md, "Exact", for the list.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bench.attendance_oracle import AttendanceExpectation
from bench.challenge_oracle import ChallengeExpectation, SubjectKey, challenge_holds, group_holds
from bench.oracle import COMPARED, RANK, Expected, MemberKey, MemberTotals, ReceiptKey
from bench.stored import Message, OutboxState, StoredDay, StoredProgress
from loyalty_progress.engine.attendance.membership import AttendanceMembership

CHALLENGE_TYPES = frozenset(
    {"challenge_completed", "milestone_reached", "reward_issued", "challenge_expired"}
)
EXAMPLES = 3


@dataclass(slots=True)
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mismatched_members: int = 0

    def require(self, bad: Sequence[str], what: str, total: int | None = None) -> None:
        """A problem when `bad` is not empty: how many, of how many, and examples."""
        if not bad:
            return
        of = f" of {total:,}" if total is not None else ""
        self.problems.append(f"{len(bad):,}{of} {what}, e.g. " + "; ".join(bad[:EXAMPLES]))


def _subject(key: SubjectKey) -> str:
    club, code, occurrence, kind, subject = key
    return f"{club}/{code}#{occurrence} {kind} {subject}"


def _values(values: Mapping[int, Decimal]) -> str:
    return "{" + ", ".join(f"{k}: {v.normalize():f}" for k, v in sorted(values.items())) + "}"


# --------------------------------------------------------------------------- backbone


def check_totals(
    verdict: Verdict,
    expected: Expected,
    totals: Mapping[MemberKey, MemberTotals],
    processed: int,
    receipts: Mapping[ReceiptKey, str],
) -> None:
    empty = MemberTotals()
    bad: list[str] = []
    for member in expected.members.keys() | totals.keys():
        want, got = expected.members.get(member, empty), totals.get(member, empty)
        diffs = [
            f"{c} {getattr(got, c)} != {getattr(want, c)}"
            for c in COMPARED
            if getattr(got, c) != getattr(want, c)
        ]
        if diffs:
            bad.append(f"{member[0]}/{member[1]}: " + ", ".join(diffs[:3]))
    verdict.mismatched_members = len(bad)
    verdict.require(bad, "members' totals differ", len(expected.members))
    if processed != expected.distinct_events:
        verdict.problems.append(
            f"processed_events has {processed} rows, expected {expected.distinct_events}"
        )
    wrong = [
        f"{k[1]} {receipts.get(k)} != {r.status}"
        for k, r in expected.receipts.items()
        if receipts.get(k) != r.status
    ]
    if len(receipts) != len(expected.receipts):
        wrong.append(f"{len(receipts)} receipt rows, expected {len(expected.receipts)}")
    verdict.require(wrong, "receipt states differ", len(expected.receipts))


def check_receipt_notifications(
    verdict: Verdict, expected: Expected, notifications: Sequence[Message], *, relaxed: bool
) -> None:
    """Exactly the expected receipt notifications, each caused by the transition's event.

    `relaxed` (several replicas): a receipt's statuses may be applied in another order than
    published, so only what holds in any order is required: `receipt_approved` when the
    receipt has an approved event and none ranked above it, `receipt_rejected` when it has
    a rejected event and neither an approved nor a refunded one; any notification sent must
    be possible (its status among the receipt's, caused by one of those events)."""
    actual: dict[tuple[str, str, str], list[list[str]]] = defaultdict(list)
    for _, body in notifications:
        if str(body.get("type")).startswith("receipt_"):
            properties = body.get("properties") or {}
            key = (str(body.get("type")), str(body.get("club")), str(properties.get("receipt_id")))
            actual[key].append(list(body.get("caused_by") or []))
    repeated = [f"{k[0]} {k[2]}" for k, v in actual.items() if len(v) > 1]
    verdict.require(repeated, "receipts notified more than once")
    wanted = expected.notifications
    missing = sorted(wanted.keys() - actual.keys())
    extra = sorted(actual.keys() - wanted.keys())
    wrong = sorted(k for k in wanted.keys() & actual.keys() if actual[k][0] != [wanted[k]])
    allowed = 0
    if relaxed:
        kept_missing: list[tuple[str, str, str]] = []
        kept_extra: list[tuple[str, str, str]] = []
        kept_wrong: list[tuple[str, str, str]] = []
        for key in missing:
            if _required(expected, key):
                kept_missing.append(key)
            else:
                allowed += 1
        for key in [*extra, *wrong]:
            if _possible(expected, key, actual[key][0]):
                allowed += 1
            else:
                (kept_extra if key in extra else kept_wrong).append(key)
        missing, extra, wrong = kept_missing, kept_extra, kept_wrong
        if allowed:
            verdict.notes.append(
                f"{allowed:,} receipt notifications depended on the order the replicas "
                "applied a receipt's statuses (allowed)"
            )
    verdict.require([f"{k[0]} {k[2]}" for k in missing], "receipt notifications missing")
    verdict.require([f"{k[0]} {k[2]}" for k in extra], "unexpected receipt notifications")
    verdict.require(
        [f"{k[0]} {k[2]}" for k in wrong], "receipt notifications with a wrong caused_by"
    )


def _statuses(expected: Expected, key: tuple[str, str, str]) -> dict[str, set[str]]:
    receipt = expected.receipts.get((key[1], key[2]))
    found: dict[str, set[str]] = defaultdict(set)
    for event in receipt.events if receipt else ():
        found[event.status].add(event.event_id)
    return found


def _required(expected: Expected, key: tuple[str, str, str]) -> bool:
    statuses = _statuses(expected, key)
    if key[0] == "receipt_approved":
        return "approved" in statuses and not any(RANK[s] > RANK["approved"] for s in statuses)
    return "rejected" in statuses and not statuses.keys() & {"approved", "refunded"}


def _possible(expected: Expected, key: tuple[str, str, str], caused_by: list[str]) -> bool:
    status = "approved" if key[0] == "receipt_approved" else "rejected"
    events = _statuses(expected, key).get(status, set())
    return len(caused_by) == 1 and caused_by[0] in events


def check_outputs(
    verdict: Verdict,
    expected: Expected,
    notifications: Sequence[Message],
    rewards: Sequence[Message],
    outbox: OutboxState,
    dead: int,
) -> None:
    """Every message once, every cause a published event, the outbox fully published, the
    rewards stream and the `reward_issued` notifications naming the same rewards."""
    ids = Counter(str(body.get("notification_id")) for _, body in notifications)
    verdict.require(
        [i for i, n in ids.items() if n > 1], "notification ids published more than once"
    )
    reward_ids = Counter(str(body.get("reward_id")) for _, body in rewards)
    verdict.require([i for i, n in reward_ids.items() if n > 1], "reward ids issued more than once")
    unknown = [
        f"{body.get('type')} caused by {cause}"
        for _, body in notifications
        for cause in body.get("caused_by") or ()
        if cause not in expected.event_ids
    ]
    verdict.require(unknown, "notifications caused by an event that was never published")
    announced = {
        str((body.get("properties") or {}).get("reward_id")): str(body.get("member_id"))
        for _, body in notifications
        if body.get("type") == "reward_issued"
    }
    issued = {str(body.get("reward_id")): str(body.get("member_id")) for _, body in rewards}
    verdict.require(
        [f"{r} for {m}" for r, m in announced.items() if issued.get(r) != m],
        "reward_issued notifications without their reward",
    )
    verdict.require(
        [f"{r} for {m}" for r, m in issued.items() if announced.get(r) != m],
        "rewards without their reward_issued notification",
    )
    published = {"notifications": len(notifications), "rewards": len(rewards)}
    for stream, rows in outbox.rows.items():
        if stream in published and rows != published[stream]:
            verdict.problems.append(
                f"the outbox holds {rows:,} {stream}, the stream {published[stream]:,}"
            )
    if outbox.unpublished:
        verdict.problems.append(f"{outbox.unpublished:,} outbox rows never published")
    if dead:
        verdict.problems.append(f"{dead} entries dead-lettered")


# --------------------------------------------------------------------------- challenges


def _recipients(
    notifications: Iterable[Message], kind: str, extra: str | None = None
) -> dict[tuple[SubjectKey, str], list[dict[str, Any]]]:
    """(subject, the `extra` property) -> the notifications of `kind`."""
    found: dict[tuple[SubjectKey, str], list[dict[str, Any]]] = defaultdict(list)
    for _, body in notifications:
        props = body.get("properties") or {}
        if body.get("type") != kind or "challenge_code" not in props:
            continue
        group = props.get("group_code")
        key: SubjectKey = (
            str(body.get("club")),
            str(props["challenge_code"]),
            int(props["occurrence"]),
            "group" if group is not None else "member",
            str(group) if group is not None else str(body.get("member_id")),
        )
        found[(key, str(props.get(extra, "")) if extra else "")].append(body)
    return found


def check_challenges(
    verdict: Verdict,
    expectation: ChallengeExpectation,
    stored: Mapping[SubjectKey, StoredProgress],
    winners: Mapping[tuple[str, str, int], int] | None,
    finishers: Mapping[tuple[str, str, int], int] | None,
    notifications: Sequence[Message],
    now: datetime,
) -> None:
    """`winners` / `finishers`: the stored per-occurrence counters (None: not stored)."""
    definitions = expectation.definitions
    keys = sorted(expectation.subjects.keys() | stored.keys())
    # counters: every member and group, every occurrence, every trigger
    wrong = []
    for key in keys:
        want = expectation.subjects[key].final if key in expectation.subjects else {}
        got = stored[key].counters if key in stored else {}
        if want != got:
            wrong.append(f"{_subject(key)}: {_values(got)} != {_values(want)}")
    verdict.require(wrong, "challenge subjects with wrong counters", len(keys))
    # completions and milestones: within what any order of application allows
    exact = bounded = 0
    early, missed = [], []
    for key in keys:
        definition = definitions[(key[0], key[1])]
        outlook = expectation.subjects.get(key)
        final = outlook.final if outlook else {}
        upper = outlook.upper if outlook else {}
        row = stored.get(key)
        conditions = [("completed", None)] + [
            (f"milestone {m.code}", m) for m in definition.milestones
        ]
        for name, milestone in conditions:
            if milestone is None or milestone.group is None:
                must, may = challenge_holds(definition, final), challenge_holds(definition, upper)
            else:
                must = group_holds(definition, milestone.group, final)
                may = group_holds(definition, milestone.group, upper)
            if milestone is None:
                reached = row is not None and row.completed
            else:
                reached = row is not None and milestone.code in row.milestones
            if must == may:
                exact += must
            else:
                bounded += reached
            if must and not reached:
                missed.append(f"{_subject(key)} {name} not reached at {_values(final)}")
            if reached and not may:
                early.append(f"{_subject(key)} {name} reached, at most {_values(upper)}")
    verdict.require(missed, "completions or milestones missing")
    verdict.require(early, "completions or milestones that their counters never allowed")
    # limited challenges and finisher counts, per occurrence
    completed: Counter[tuple[str, str, int]] = Counter()
    won: Counter[tuple[str, str, int]] = Counter()
    for key, row in stored.items():
        occurrence = (key[0], key[1], key[2])
        completed[occurrence] += row.completed
        won[occurrence] += row.winner is True
        limited = definitions[(key[0], key[1])].max_winners is not None
        if row.winner is True and not row.completed:
            verdict.problems.append(f"{_subject(key)} is a winner without completing")
        if limited and row.completed and row.winner is None:
            verdict.problems.append(f"{_subject(key)} completed a limited challenge, no verdict")
    limits = []
    for name, table in (("challenge_winners", winners), ("challenge_finishers", finishers)):
        if table is None:
            verdict.notes.append(f"{name}: no such table, its counts not checked")
    stored_winners, stored_finishers = winners or {}, finishers or {}
    for occurrence in sorted(completed.keys() | stored_winners.keys() | stored_finishers.keys()):
        if occurrence[:2] not in definitions:
            continue
        limit = definitions[occurrence[:2]].max_winners
        name = f"{occurrence[0]}/{occurrence[1]}#{occurrence[2]}"
        if finishers is not None and finishers.get(occurrence, 0) != completed[occurrence]:
            verdict.problems.append(
                f"{name}: {finishers.get(occurrence, 0)} finishers counted, "
                f"{completed[occurrence]} completed"
            )
        if limit is None:
            continue
        if won[occurrence] != min(limit, completed[occurrence]):
            verdict.problems.append(
                f"{name}: {won[occurrence]} winners of {completed[occurrence]} finishers, "
                f"limit {limit}"
            )
        if winners is not None and winners.get(occurrence, 0) != won[occurrence]:
            verdict.problems.append(
                f"{name}: winner counter {winners.get(occurrence, 0)}, {won[occurrence]} winners"
            )
        limits.append(
            f"{name} {won[occurrence]} winners of {completed[occurrence]} (limit {limit})"
        )
    _check_challenge_messages(verdict, expectation, stored, notifications, now)
    total = sum(completed.values())
    verdict.notes.append(
        f"challenges: {len(definitions)} checked, {len(keys):,} subject occurrences, "
        f"{total:,} completions; reached completions and milestones: {exact:,} as predicted "
        f"exactly, {bounded:,} order-dependent ones within bounds"
        + (f"; {', '.join(limits)}" if limits else "")
    )
    if expectation.skipped:
        verdict.notes.append("challenges not checked: " + ", ".join(expectation.skipped))


def _check_challenge_messages(
    verdict: Verdict,
    expectation: ChallengeExpectation,
    stored: Mapping[SubjectKey, StoredProgress],
    notifications: Sequence[Message],
    now: datetime,
) -> None:
    definitions = expectation.definitions
    ours = [
        n
        for n in notifications
        if (n[1].get("properties") or {}).get("challenge_code") is not None
        and (str(n[1].get("club")), str(n[1]["properties"]["challenge_code"])) in definitions
    ]
    completions = _recipients(ours, "challenge_completed")
    reached = _recipients(ours, "milestone_reached", "milestone_code")
    prizes = _recipients(ours, "reward_issued", "milestone_code")
    expiries = _recipients(ours, "challenge_expired")
    bad: list[str] = []
    keys = set(stored) | {k for k, _ in completions} | {k for k, _ in expiries}
    for key in sorted(keys):
        definition = definitions[(key[0], key[1])]
        row = stored.get(key)
        contributors = (row.members if row else frozenset()) | (
            expectation.subjects[key].contributors if key in expectation.subjects else set()
        )
        allowed = (
            {key[4]}
            if key[3] == "member"
            else (expectation.joiners.get((key[0], key[4]), set()) | contributors)
        )
        for kind, found, flag in (
            (
                "challenge_completed",
                completions.get((key, ""), []),
                row is not None and row.completed,
            ),
            ("challenge_expired", expiries.get((key, ""), []), row is not None and row.expired),
        ):
            members = Counter(str(b.get("member_id")) for b in found)
            if any(n > 1 for n in members.values()):
                bad.append(f"{_subject(key)}: {kind} sent twice to a member")
            if flag != bool(members) or not members.keys() <= allowed:
                bad.append(f"{_subject(key)}: {kind} to {sorted(members)}, stored {flag}")
            if key[3] == "member" and flag and set(members) != {key[4]}:
                bad.append(f"{_subject(key)}: {kind} to {sorted(members)}")
        if row is not None and row.expired and row.ends_at > now:
            bad.append(f"{_subject(key)}: expired before its end")
        if definition.max_winners is not None:
            verdicts = {b["properties"].get("winner") for b in completions.get((key, ""), [])}
            if row is not None and row.completed and verdicts != {row.winner}:
                bad.append(f"{_subject(key)}: notified winner {verdicts}, stored {row.winner}")
        completed_to = {str(b.get("member_id")) for b in completions.get((key, ""), [])}
        for milestone in definition.milestones:
            is_reached = row is not None and milestone.code in row.milestones
            if milestone.group is None:
                recipients = completed_to
                paid = is_reached and (row is None or row.winner is not False)
            else:
                notes = reached.get((key, milestone.code), [])
                recipients = {str(b.get("member_id")) for b in notes}
                if is_reached != bool(recipients) or len(notes) != len(recipients):
                    bad.append(
                        f"{_subject(key)}: milestone_reached {milestone.code} to {len(notes)}"
                    )
                paid = is_reached
            issued = Counter(str(b.get("member_id")) for b in prizes.get((key, milestone.code), []))
            wanted = Counter({m: len(milestone.prizes) for m in recipients} if paid else {})
            if +issued != +wanted:
                bad.append(
                    f"{_subject(key)}: milestone {milestone.code} rewards {dict(issued)}, "
                    f"expected {dict(wanted)}"
                )
    verdict.require(bad, "challenge notification or reward inconsistencies")


# --------------------------------------------------------------------------- attendance


def check_attendance(
    verdict: Verdict,
    expectation: AttendanceExpectation,
    days: Mapping[tuple[str, str, str, date], StoredDay],
    memberships: Mapping[tuple[str, str, str], AttendanceMembership],
    notifications: Sequence[Message],
    rewards: Sequence[Message],
) -> None:
    editions = expectation.editions
    ours_days = {k: v for k, v in days.items() if (k[0], k[1]) in editions}
    want_days = {
        k: (v.approved, v.pending) for k, v in expectation.days.items() if v.approved or v.pending
    }
    got_days = {k: (v.approved, v.pending) for k, v in ours_days.items()}
    wrong = [
        f"{k[0]}/{k[1]} {k[2]} {k[3]}: {got_days.get(k)} != {want_days.get(k)}"
        for k in sorted(want_days.keys() | got_days.keys())
        if got_days.get(k) != want_days.get(k)
    ]
    verdict.require(wrong, "attendance days with wrong values (approved, pending)", len(want_days))
    # attendances per member and stage, from the stored days
    counted: Counter[tuple[str, str, str, str]] = Counter()
    for (club, code, member, day), value in ours_days.items():
        if value.approved >= editions[(club, code)].daily_value_goal:
            counted[(club, code, member, f"{day.year:04d}-{day.month:02d}")] += 1
    expected_counts = Counter(
        {
            (club, code, member, stage): n
            for (club, code, member), outlook in expectation.members.items()
            for stage, n in outlook.attendances.items()
        }
    )
    verdict.require(
        [
            f"{k}: {counted[k]} != {expected_counts[k]}"
            for k in sorted(counted.keys() | expected_counts.keys())
            if counted[k] != expected_counts[k]
        ],
        "members with a wrong number of attendances in a stage",
    )
    ours_members = {k: v for k, v in memberships.items() if (k[0], k[1]) in editions}
    joined = [
        f"{k}: {ours_members[k].joined_stage if k in ours_members else None} != "
        f"{expectation.members[k].joined_stage if k in expectation.members else None}"
        for k in sorted(ours_members.keys() | expectation.members.keys())
        if (ours_members[k].joined_stage if k in ours_members else None)
        != (expectation.members[k].joined_stage if k in expectation.members else None)
    ]
    verdict.require(
        joined, "attendance memberships differ (joined stage)", len(expectation.members)
    )
    # completions within bounds; their notifications and rewards exactly as stored
    stage_notes: Counter[tuple[str, str, str, str]] = Counter()
    day_notes: Counter[tuple[str, str, str, str]] = Counter()
    first_rewards: Counter[tuple[str, str, str]] = Counter()
    streak_rewards: Counter[tuple[str, str, str]] = Counter()
    for _, body in notifications:
        props = body.get("properties") or {}
        edition = props.get("edition")
        if (str(body.get("club")), str(edition)) not in editions:
            continue
        base = (str(body.get("club")), str(edition), str(body.get("member_id")))
        if body.get("type") == "stage_completed":
            stage_notes[(*base, str(props.get("stage")))] += 1
        elif body.get("type") == "attendance_completed":
            day_notes[(*base, str(props.get("date")))] += 1
    for _, body in rewards:
        reason = str(body.get("reason"))
        code, _, rest = reason.partition("/")
        base = (str(body.get("club")), code, str(body.get("member_id")))
        if (base[0], code) not in editions:
            continue
        if rest.startswith("first-stage/"):
            first_rewards[base] += 1
        elif rest.startswith("streak/"):
            streak_rewards[base] += 1
    bad: list[str] = []
    exact = bounded = 0
    for key in sorted(expectation.members.keys() | ours_members.keys()):
        edition = editions[(key[0], key[1])]
        goal = edition.monthly_attendances_goal
        outlook = expectation.members.get(key)
        stored = ours_members.get(key)
        done = stored.completed_stages if stored else frozenset()
        stages = (
            set(done)
            | set(outlook.attendances if outlook else ())
            | set(outlook.upper if outlook else ())
        )
        for stage in sorted(stages):
            must = outlook is not None and outlook.attendances.get(stage, 0) >= goal
            may = outlook is not None and outlook.upper.get(stage, 0) >= goal
            if must == may:
                exact += must
            else:
                bounded += stage in done
            final = outlook.attendances.get(stage, 0) if outlook else 0
            upper = outlook.upper.get(stage, 0) if outlook else 0
            if must and stage not in done:
                bad.append(f"{key} stage {stage} not completed with {final} attendances")
            if stage in done and not may:
                bad.append(f"{key} stage {stage} completed with at most {upper} attendances")
            if stage_notes[(*key, stage)] != (stage in done):
                bad.append(f"{key} stage {stage}: {stage_notes[(*key, stage)]} stage_completed")
        wants_first = stored is not None and bool(stored.completed)
        if first_rewards[key] != wants_first or (
            stored is not None and wants_first != stored.first_stage_reward_granted
        ):
            bad.append(f"{key}: {first_rewards[key]} first-stage rewards")
        if streak_rewards[key] != (len(stored.streak_rewards) if stored else 0):
            bad.append(f"{key}: {streak_rewards[key]} streak rewards")
    verdict.require(bad, "attendance completions or rewards inconsistent")
    complete_days = [
        f"{k} notified {day_notes.get((*k[:3], k[3].isoformat()), 0)} times"
        for k, v in expectation.days.items()
        if v.approved >= editions[(k[0], k[1])].daily_value_goal
        and day_notes.get((*k[:3], k[3].isoformat()), 0) != 1
    ]
    verdict.require(complete_days, "attendances without exactly one attendance_completed")
    never = [
        f"{k}"
        for k in day_notes
        if (values := expectation.days.get((*k[:3], date.fromisoformat(k[3])))) is None
        or values.upper < editions[(k[0], k[1])].daily_value_goal
    ]
    verdict.require(never, "attendance_completed for days that never reached the goal")
    completions = sum(len(m.completed_stages) for m in ours_members.values())
    verdict.notes.append(
        f"attendance: {len(editions)} editions, {len(want_days):,} days, "
        f"{len(expectation.members):,} memberships, {completions:,} "
        f"stage completions ({exact:,} as predicted exactly, {bounded:,} order-dependent ones "
        "within bounds)"
    )
