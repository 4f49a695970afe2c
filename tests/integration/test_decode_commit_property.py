"""Whatever decodes also commits: bodies near every decode-time limit (instants at the edges
of the window with the widest UTC offsets, amounts at full precision and scale, ids of the
maximum length in 4-byte characters, any Unicode) go through the real batch path
(`commit_batch` with the worker's rules and definitions in force) against real PostgreSQL,
and every one the decoder accepts is committed; the scheduler's time rules then run over
the same rows.

The definitions cover the whole window (a weekly counter challenge from 2000 to 2100 with
every trigger type, an opt-in group challenge, attendance editions in the first and the
last year), so the engines' calendar and sum arithmetic meets the extreme values too."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import (
    EARLIEST,
    LATEST,
    MAX_AMOUNT,
    MAX_AMOUNT_SCALE,
    MAX_BALANCE,
    MAX_ID_LENGTH,
    MAX_POINTS,
    BadInput,
    InputStream,
    decode_body,
)
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.store.database import create_engine
from loyalty_progress.worker.batch import GoodEntry, commit_batch
from loyalty_progress.worker.registry import batch_rules, time_rules
from loyalty_progress.worker.scheduler import tick_once
from tests.support.attendance_service import apply_editions, edition
from tests.support.challenge_service import apply, group, trigger

pytestmark = pytest.mark.timeout(600)

CLUB = "infinity-mall"
ONE_MICROSECOND = timedelta(microseconds=1)
_entry_ids = itertools.count()
_AS_NUMBERS = msgspec.json.Encoder(decimal_format="number")
_AS_STRINGS = msgspec.json.Encoder()

# --------------------------------------------------------------------------- strategies

# Any character PostgreSQL text can hold (no NUL, no lone surrogate), and 4-byte ones to
# make ids of the maximum length as long in bytes as they can be.
_any_char = st.characters(codec="utf-8", exclude_characters="\x00")
_wide_char = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, codec="utf-8")
ids = st.one_of(
    st.text(_any_char, min_size=1, max_size=MAX_ID_LENGTH),
    st.text(_wide_char, min_size=MAX_ID_LENGTH, max_size=MAX_ID_LENGTH),
    st.text(_any_char, min_size=MAX_ID_LENGTH, max_size=MAX_ID_LENGTH),
)
# A few shared values, so that events meet on the same member, receipt, group and store.
members = st.one_of(st.sampled_from(["m-1", "m-2", "𝔪" * MAX_ID_LENGTH]), ids)
receipt_ids = st.one_of(st.sampled_from(["r-1", "r-2"]), ids)
groups = st.one_of(st.sampled_from(["g-1", "ɡ" * MAX_ID_LENGTH]), ids)
clubs = st.one_of(st.just(CLUB), st.just(CLUB), ids)

# UTC offsets up to the +-14:00 the contract allows, the widest ones often; now and then
# one beyond it (refused at decoding: PostgreSQL cannot store it).
_MAX_OFFSET_MINUTES = 14 * 60
offsets = st.one_of(
    st.sampled_from([timedelta(hours=-14), timedelta(hours=14), timedelta(0)]),
    st.integers(-_MAX_OFFSET_MINUTES, _MAX_OFFSET_MINUTES).map(lambda m: timedelta(minutes=m)),
    st.integers(-_MAX_OFFSET_MINUTES, _MAX_OFFSET_MINUTES).map(lambda m: timedelta(minutes=m)),
    st.sampled_from([timedelta(hours=14, minutes=1), -timedelta(hours=23, minutes=59)]),
)
instants: st.SearchStrategy[datetime] = st.one_of(
    st.sampled_from([EARLIEST, LATEST - ONE_MICROSECOND]),
    st.datetimes(EARLIEST.replace(tzinfo=None), EARLIEST.replace(tzinfo=None) + timedelta(2)),
    st.datetimes(LATEST.replace(tzinfo=None) - timedelta(2), LATEST.replace(tzinfo=None)),
    st.datetimes(datetime(2000, 1, 1), datetime(2000, 12, 31)),  # the first-year edition
    st.datetimes(datetime(2099, 1, 1), datetime(2099, 12, 31)),  # the last-year edition
    st.datetimes(EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None)),
).map(lambda d: d.replace(tzinfo=UTC))


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """An instant of the window (or just outside it) written with any UTC offset."""
    instant = draw(instants) + draw(st.sampled_from([timedelta(0)] * 8 + [-ONE_MICROSECOND]))
    offset = draw(offsets)
    try:
        local = instant.astimezone(timezone(offset))
    except OverflowError:
        local = instant
    return local.isoformat()


amounts = st.one_of(
    st.decimals(min_value=0, max_value=MAX_AMOUNT, places=MAX_AMOUNT_SCALE),
    st.decimals(min_value=0, max_value=MAX_AMOUNT, places=0),
    st.sampled_from(
        [
            MAX_AMOUNT,
            Decimal("999999999.9999"),
            Decimal("0.0001"),
            Decimal("1E+9"),
            Decimal("1E-4"),
            Decimal("-0"),
            Decimal("0E-4"),
            Decimal("1000000000.0000"),
        ]
    ),
)


def _common(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "event_id": draw(ids),
        "club": draw(clubs),
        "member_id": draw(members),
        "occurred_at": draw(timestamps()),
    }


@st.composite
def receipt_events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        **_common(draw),
        "receipt_id": draw(receipt_ids),
        "status": draw(st.sampled_from(["pending", "approved", "rejected", "refunded"])),
        "amount": draw(amounts),
        "store_id": draw(st.one_of(st.none(), st.sampled_from(["s-1", "s-2"]), ids)),
        "items": draw(
            st.one_of(
                st.lists(st.one_of(st.sampled_from(["i-1", "i-2"]), ids), max_size=4),
                st.just(["i"] * 1000),
            )
        ),
    }


@st.composite
def points_events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        **_common(draw),
        "kind": draw(st.sampled_from(["earned", "redeemed", "expired", "adjusted"])),
        "amount": draw(st.one_of(st.just(MAX_POINTS), st.integers(1, MAX_POINTS))),
        "balance": draw(
            st.one_of(
                st.none(),
                st.sampled_from([MAX_BALANCE, -MAX_BALANCE]),
                st.integers(-MAX_BALANCE, MAX_BALANCE),
            )
        ),
    }


@st.composite
def voucher_events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        **_common(draw),
        "kind": draw(st.sampled_from(["subscribed", "redeemed"])),
        "voucher_id": draw(ids),
        "offer_id": draw(st.one_of(st.none(), ids)),
    }


@st.composite
def member_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["opted_in", "opted_out", "tier_changed", "joined_group", "left_group", "prize_claimed"]
        )
    )
    fields: dict[str, Any] = {}
    if kind in ("opted_in", "opted_out"):
        fields["challenge_code"] = draw(st.one_of(st.sampled_from(["team-decade"]), ids))
        fields["charity_code"] = draw(st.one_of(st.none(), st.just("charity-1"), ids))
    elif kind == "tier_changed":
        fields["tier"] = draw(st.one_of(st.sampled_from([0, 10_000]), st.integers(0, 10_000)))
    elif kind == "prize_claimed":  # of no issued prize: refused inside the batch
        fields["reward_id"] = draw(ids)
    else:
        fields["group_code"] = draw(groups)
    return {**_common(draw), "kind": kind, **fields}


EVENTS = {
    InputStream.RECEIPTS: receipt_events(),
    InputStream.POINTS: points_events(),
    InputStream.VOUCHERS: voucher_events(),
    InputStream.MEMBERS: member_events(),
}
batches = st.lists(
    st.one_of(
        *(st.tuples(st.just(s), e, st.booleans()) for s, e in EVENTS.items()),
    ),
    min_size=1,
    max_size=25,
)
# The instant a batch is processed at: the real clock, or the ends of the window.
processing_instants = st.sampled_from(
    [datetime.now(UTC), EARLIEST, LATEST - ONE_MICROSECOND, datetime(2099, 12, 20, tzinfo=UTC)]
)

# --------------------------------------------------------------------------- definitions


def _every_trigger() -> list[dict[str, Any]]:
    kinds: list[tuple[str, int | str]] = [
        ("earned_points", 1000),
        ("subscribed_vouchers", 2),
        ("redeemed_points", 100),
        ("redeemed_vouchers", 1),
        ("points_balance", 500),
        ("tier", 3),
        ("receipt_count", 2),
        ("receipt_amount", "0.0002"),
        ("distinct_stores", 2),
        ("distinct_items", 2),
    ]
    return [trigger(i + 1, kind, target, "OR") for i, (kind, target) in enumerate(kinds)]


WINDOW = {"starts_at": EARLIEST.isoformat(), "ends_at": (LATEST - ONE_MICROSECOND).isoformat()}


def _challenges() -> list[dict[str, Any]]:
    milestone = {
        "code": "completed",
        "reached_when": "challenge",
        "prizes": [{"type": "points", "value": 150, "description": "150 points"}],
    }
    base = {"kind": "challenge", "club": CLUB, "milestones": [milestone], **WINDOW}
    return [
        {
            **base,
            "code": "weekly-decade",
            "name": "Every week of the century",
            "recurrence": "weekly",
            "groups": [group(*_every_trigger(), operator="OR")],
        },
        {
            **base,
            "code": "team-decade",
            "name": "Team century",
            "scope": "group",
            "enrollment": "opt_in",
            "max_winners": 3,
            "groups": [group(trigger(1, "earned_points", 5000), trigger(2, "receipt_count", 3))],
        },
    ]


@pytest_asyncio.fixture(loop_scope="session")
async def engine(settings: Settings, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    await apply(settings, tmp_path, *_challenges())
    await apply_editions(
        settings,
        edition(code="first-year", start_date="2000-01", end_date="2000-12"),
        edition(
            code="last-year",
            start_date="2099-01",
            end_date="2099-12",
            timezone="Pacific/Kiritimati",
        ),
    )
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=2)
    yield engine
    await engine.dispose()


# --------------------------------------------------------------------------- the property


def _encode(body: dict[str, Any], amounts_as_numbers: bool) -> bytes:
    return (_AS_NUMBERS if amounts_as_numbers else _AS_STRINGS).encode(body)


async def _committed(engine: AsyncEngine, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT stream, event_id FROM processed_events "
                "WHERE (stream, event_id) IN "
                "(SELECT * FROM unnest(CAST(:streams AS text[]), CAST(:ids AS text[])))"
            ),
            {"streams": [k[0] for k in keys], "ids": [k[1] for k in keys]},
        )
        return {(row.stream, row.event_id) for row in result}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches, now=processing_instants)
async def test_every_body_the_decoder_accepts_commits_in_a_batch(
    engine: AsyncEngine, batch: list[tuple[InputStream, dict[str, Any], bool]], now: datetime
) -> None:
    definitions = DefinitionsCache(engine)
    await definitions.refresh()
    assert len(definitions.current.challenges) == 2
    by_stream: dict[InputStream, list[GoodEntry]] = {}
    for stream, body, as_numbers in batch:
        # A fresh event id (still at most the maximum length): the database is shared by
        # the examples, and a repeated id would only be a duplicate.
        event_id = f"{next(_entry_ids)}:{body['event_id']}"[:MAX_ID_LENGTH]
        raw = _encode({**body, "event_id": event_id}, as_numbers)
        decoded = decode_body(stream, raw)
        if isinstance(decoded, BadInput):
            # Refused only for a limit it breaks: an instant outside the window.
            assert "$.occurred_at" in decoded.reason or "bytes, over the" in decoded.reason, (
                decoded.reason,
                body,
            )
            continue
        entry = GoodEntry(f"{next(_entry_ids)}-0", decoded, raw)
        by_stream.setdefault(stream, []).append(entry)
    for stream, good in by_stream.items():
        # Raises if anything in the batch fails inside its transaction.
        await commit_batch(engine, stream, good, [], now, definitions.current, batch_rules())
        keys = {(stream.value, g.event.event_id) for g in good}
        assert await _committed(engine, keys) == keys
    # The time-driven rules meet the same rows (memberships due, occurrences ending).
    await tick_once(engine, definitions, time_rules(), now)
