"""Stages, streaks, entries, rewards and the time-driven facts of a membership."""

from __future__ import annotations

from collections import Counter

from loyalty_progress.engine.attendance import (
    MemberAttendance,
    advance,
    apply_receipts,
    next_due_at,
    progress,
)
from loyalty_progress.engine.receipts import apply_receipt_event
from tests.support.attendance_engine import EDITION, MEMBER, Store, edition, receipt_event
from tests.support.attendance_seed import at


def complete_stage(store: Store, stage: str) -> None:
    store.complete_days(stage, 4)


def test_completing_a_stage_latches_it_and_notifies_once() -> None:
    store = Store()
    store.complete_days("2026-04", 5)
    assert store.membership is not None
    assert store.membership.completed_stages == {"2026-04"}
    assert store.types().count("stage_completed") == 1
    (note,) = [n for n in store.notifications if n.type == "stage_completed"]
    assert note.properties == {
        "edition": "win-in-2026",
        "stage": "2026-04",
        "attendances_completed": 4,
    }
    assert note.caused_by == ("2026-04-4:approved",)


def test_a_refund_after_completion_does_not_undo_the_completed_stage() -> None:
    store = Store()
    complete_stage(store, "2026-04")
    store.receipt("2026-04-1", "refunded", 100, "2026-04-01 12:00", now="2026-04-20 12:00")
    assert store.membership is not None
    assert store.membership.completed_stages == {"2026-04"}
    assert (
        store.view("2026-04-21 12:00")["edition"]["membership"]["stages"]["current"][
            "attendances_completed"
        ]
        == 3
    )


def test_first_stage_reward_is_granted_once_even_with_repeated_processing() -> None:
    store = Store()
    complete_stage(store, "2026-04")
    # the same batch processed again (redelivered after a crash) and later stages completed
    first_batch = [n.notification_id for n in store.notifications]
    store.complete_days("2026-04", 4)
    complete_stage(store, "2026-05")
    store.tick("2026-06-20 12:00")
    prizes = [r.prize for r in store.rewards if r.prize.type == "reward"]
    assert len(prizes) == 1
    assert prizes[0].reward_id == 1442920
    assert store.membership is not None
    assert store.membership.first_stage_reward == "2026-04"
    assert first_batch == [n.notification_id for n in store.notifications][: len(first_batch)]
    (reward,) = [r for r in store.rewards if r.prize.type == "reward"]
    assert reward.reason == "win-in-2026/first-stage/2026-04"


def test_reprocessing_the_completing_batch_yields_the_same_ids_and_no_second_reward() -> None:
    store = Store()
    store.complete_days("2026-04", 3)
    state = MemberAttendance(
        member_id=MEMBER, membership=store.membership, days=tuple(store.days.values())
    )
    event = receipt_event("fourth", "approved", 100, "2026-04-20 12:00")
    transition = apply_receipt_event(None, event)
    assert transition is not None
    first = apply_receipts(EDITION, state, [transition], at("2026-04-20 12:00"))
    retry = apply_receipts(EDITION, state, [transition], at("2026-04-20 12:01"))  # after a crash
    assert [r.reward_id for r in first.rewards] == [r.reward_id for r in retry.rewards]
    assert [n.notification_id for n in first.notifications] == [
        n.notification_id for n in retry.notifications
    ]
    days = {row.day: row for row in (*state.days, *first.days)}
    after = MemberAttendance(
        member_id=MEMBER, membership=first.membership, days=tuple(days.values())
    )
    again = apply_receipts(EDITION, after, [transition], at("2026-04-20 12:02"))
    assert again.rewards == ()
    assert [n.type for n in again.notifications] == []


def test_first_stage_reward_id_is_the_same_whichever_stage_earned_it() -> None:
    april, may = Store(), Store()
    complete_stage(april, "2026-04")
    complete_stage(may, "2026-05")
    assert april.rewards[0].reward_id == may.rewards[0].reward_id


def test_a_streak_of_three_stages_gives_exactly_one_streak_and_150_points() -> None:
    store = Store()
    for stage in ("2026-04", "2026-05", "2026-06"):
        complete_stage(store, stage)
    store.tick("2026-07-20 12:00")
    store.tick("2026-07-21 12:00")
    assert store.types().count("streak_completed") == 1
    points = [r for r in store.rewards if r.prize.type == "points"]
    assert [r.prize.value for r in points] == [150]
    assert points[0].reason == "win-in-2026/streak/2026-04..2026-06"
    streak = next(n for n in store.notifications if n.type == "streak_completed")
    assert streak.properties == {
        "edition": "win-in-2026",
        "stage": "2026-06",
        "first_stage": "2026-04",
        "stages": 3,
        "points": 150,
    }
    issued = [n for n in store.notifications if n.type == "reward_issued"]
    assert [n.properties["prize"] for n in issued] == [
        {"type": "reward", "reward_id": 1442920},
        {"type": "points", "value": 150},
    ]


def test_after_a_streak_the_next_streak_counts_from_zero() -> None:
    store = Store()
    for stage in ("2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07"):
        complete_stage(store, stage)
    assert store.types().count("streak_completed") == 2
    assert store.membership is not None
    assert store.membership.streak_rewards == ("2026-04", "2026-07")
    state = progress(EDITION, store.membership, at("2026-07-25 12:00"))
    assert state.streak_run == 0


def test_a_streak_waits_for_a_pending_stage_before_it_and_then_counts_in_order() -> None:
    store = Store()
    complete_stage(store, "2026-04")
    store.complete_days("2026-05", 3)
    complete_stage(store, "2026-06")  # June done while May is still in its extra period
    assert "streak_completed" not in store.types()
    store.receipt("may-late", "approved", 100, "2026-05-31 12:00", now="2026-06-09 12:00")
    assert store.types().count("streak_completed") == 1
    assert store.rewards[-1].reason == "win-in-2026/streak/2026-04..2026-06"


def test_a_failed_stage_breaks_the_streak_and_starts_a_second_entry_next_stage() -> None:
    store = Store()
    complete_stage(store, "2026-04")
    complete_stage(store, "2026-05")
    store.complete_days("2026-06", 2)
    store.tick("2026-07-11 09:00")  # June's extra period is over
    (failed,) = [n for n in store.notifications if n.type == "stage_failed"]
    assert failed.properties == {
        "edition": "win-in-2026",
        "stage": "2026-06",
        "entries": 2,
        "entries_limit": 2,
        "membership_ended": False,
    }
    assert failed.severity == "warning"
    assert failed.caused_by == ()
    assert store.membership is not None
    state = progress(EDITION, store.membership, at("2026-07-11 09:00"))
    assert (state.status, state.entries, state.entry_started, state.streak_run) == (
        "active",
        2,
        "2026-07",
        0,
    )
    assert "streak_completed" not in store.types()


def test_the_second_failure_with_two_entries_ends_the_membership() -> None:
    store = Store()
    complete_stage(store, "2026-04")
    store.tick("2026-06-11 09:00")  # May failed: second entry from June
    store.tick("2026-07-11 09:00")  # June failed: no entries left
    failures = [n.properties for n in store.notifications if n.type == "stage_failed"]
    assert [(f["stage"], f["entries"], f["membership_ended"]) for f in failures] == [
        ("2026-05", 2, False),
        ("2026-06", 2, True),
    ]
    assert store.membership is not None
    assert progress(EDITION, store.membership, at("2026-07-11 09:00")).status == "ended"
    assert store.due_at is None
    outcome = store.receipt("july", "approved", 100, "2026-07-12 12:00")
    assert [c.reason for c in outcome.contributions] == [
        "the membership has ended: all entries are used"
    ]
    assert outcome.days == ()


def test_idle_stages_after_joining_fail_like_any_other() -> None:
    store = Store()
    store.receipt("once", "approved", 20, "2026-02-10 12:00")
    store.tick("2026-09-30 12:00")  # a scheduler that was away all summer
    failures = [n.properties["stage"] for n in store.notifications if n.type == "stage_failed"]
    assert failures == ["2026-02", "2026-03"]
    assert store.membership is not None
    assert progress(EDITION, store.membership, at("2026-09-30 12:00")).status == "ended"


def test_a_member_finishing_the_edition_without_running_out_of_entries_is_finished() -> None:
    store = Store()
    for stage in ("2026-06", "2026-07", "2026-08"):
        complete_stage(store, stage)
    store.tick("2026-09-11 09:00")
    assert store.membership is not None
    assert progress(EDITION, store.membership, at("2026-09-11 09:00")).status == "finished"
    assert store.due_at is None


def test_a_stage_completed_in_its_extra_period_does_not_fail() -> None:
    store = Store()
    store.complete_days("2026-04", 3)
    store.tick("2026-05-05 12:00")
    store.receipt("late", "approved", 100, "2026-04-30 12:00", now="2026-05-06 12:00")
    store.tick("2026-05-11 09:00")
    assert "stage_failed" not in store.types()
    assert store.membership is not None
    assert store.membership.completed_stages == {"2026-04"}


def test_a_batch_that_loses_the_race_against_the_tick_cannot_complete_a_failed_stage() -> None:
    """The tick (now just after the deadline) commits first; a batch stamped just before
    the deadline then sees a failed stage and refuses the receipt."""
    store = Store()
    store.complete_days("2026-04", 3)
    store.tick("2026-05-11 09:00:00.001")
    outcome = store.receipt(
        "late", "approved", 100, "2026-04-30 12:00", now="2026-05-11 08:59:59.999"
    )
    assert [c.reason for c in outcome.contributions] == ["stage 2026-04 has already failed"]
    assert store.membership is not None
    assert store.membership.completed_stages == frozenset()


def members_at_notice_time() -> dict[str, Store]:
    incomplete, complete, ended = Store(member_id="a"), Store(member_id="b"), Store(member_id="c")
    incomplete.complete_days("2026-05", 2)
    complete_stage(complete, "2026-05")
    ended.receipt("x", "approved", 10, "2026-03-10 12:00")
    ended.tick("2026-05-11 09:00")  # March and April failed: ended before May
    return {"incomplete": incomplete, "complete": complete, "ended": ended}


def test_extra_period_ending_is_sent_on_the_notice_day_only_to_incomplete_members() -> None:
    stores = members_at_notice_time()
    for store in stores.values():
        store.tick("2026-06-08 08:59:59")
    assert all("extra_period_ending" not in s.types() for s in stores.values())
    for store in stores.values():
        store.tick("2026-06-08 09:00")
    notices = {
        name: [n for n in s.notifications if n.type == "extra_period_ending"]
        for name, s in stores.items()
    }
    assert [n.properties for n in notices["incomplete"]] == [
        {
            "edition": "win-in-2026",
            "days": 3,
            "stage": "2026-05",
            "extra_period_ends_at": "2026-06-11T08:59:59.999999+02:00",
        }
    ]
    assert notices["incomplete"][0].severity == "info"
    assert notices["complete"] == notices["ended"] == []


def test_extra_period_ending_is_sent_once_and_a_repeat_evaluation_has_the_same_id() -> None:
    store = Store()
    store.complete_days("2026-05", 2)
    assert store.membership is not None
    before = store.membership
    first = advance(EDITION, before, at("2026-06-08 09:00"))
    again = advance(EDITION, before, at("2026-06-08 09:05"))  # a second replica, same state
    assert [n.notification_id for n in first.notifications] == [
        n.notification_id for n in again.notifications
    ]
    assert first.membership is not None
    assert advance(EDITION, first.membership, at("2026-06-09 12:00")).notifications == ()


def test_a_late_scheduler_sends_no_notice_once_the_extra_period_is_over() -> None:
    store = Store()
    store.complete_days("2026-05", 2)
    store.tick("2026-06-12 12:00")
    assert store.types()[-1:] == ["stage_failed"]
    assert "extra_period_ending" not in store.types()


def test_no_notice_when_the_edition_has_notice_days_zero() -> None:
    store = Store(edition=edition(extra_period_notice_days=0))
    store.complete_days("2026-05", 2)
    store.tick("2026-06-10 12:00")
    assert "extra_period_ending" not in store.types()


def test_next_due_at_walks_notice_then_close_then_nothing() -> None:
    store = Store()
    store.complete_days("2026-05", 2)
    assert store.membership is not None
    assert store.due_at == at("2026-06-08 09:00")
    store.tick("2026-06-08 09:00")
    assert store.due_at == at("2026-06-11 09:00")
    store.tick("2026-06-11 09:00")
    assert store.due_at == at("2026-07-08 09:00")  # June (the second entry) is next
    assert next_due_at(EDITION, store.membership) == store.due_at


def test_ticking_repeatedly_produces_each_fact_once() -> None:
    store = Store()
    complete_stage(store, "2026-04")
    store.complete_days("2026-05", 1)
    instant = at("2026-05-01 09:00")
    while store.due_at is not None:
        instant = max(instant, store.due_at)
        store.tick(instant)
        store.tick(instant)
    counts = Counter(n.notification_id for n in store.notifications)
    assert max(counts.values()) == 1
    assert store.types().count("stage_failed") == 2
