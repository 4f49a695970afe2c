"""A 100,000-line replay with planted duplicates and invalid lines: the report's counts are
exact, and a second run applies nothing. The job's Python API runs in-process (the CLI is
covered end to end with a small file in test_replay.py).

No challenge or edition is defined here: with both defined on every event the engines
take about 0.5 ms an event on the 2-core CI machine, which would put this one test over a
minute; the rules' part of a replay is covered by test_replay.py and
test_replay_recompute.py with smaller files. What this test is about is counting: every
line is read, classified and applied or refused exactly once, in 100 bulks."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from loyalty_progress.config import Settings
from tests.support.replay import NOW, replay_file
from tests.support.rows import query

TOTAL_LINES = 100_000
DUPLICATES = 2_000
INVALID = 600
BLANK = 50


def _event(rng: random.Random, n: int) -> dict[str, Any]:
    member = f"m{rng.randrange(3000):04d}"
    at = f"2026-11-{rng.randint(2, 24):02d}T{rng.randint(8, 20):02d}:00:00+01:00"
    common = {"event_id": f"e{n}", "club": "infinity-mall", "member_id": member, "occurred_at": at}
    kind = rng.random()
    if kind < 0.45:
        return {"stream": "points", **common, "kind": "earned", "amount": rng.randint(1, 300)}
    if kind < 0.85:
        status = rng.choice(["pending", "approved", "approved", "rejected"])
        receipt = {"receipt_id": f"r{n}", "status": status, "amount": str(rng.randint(5, 200))}
        return {"stream": "receipts", **common, **receipt, "store_id": f"s{n % 40}"}
    if kind < 0.95:
        return {"stream": "vouchers", **common, "kind": "subscribed", "voucher_id": f"v{n}"}
    return {"stream": "members", **common, "kind": "tier_changed", "tier": rng.randint(0, 5)}


_BAD = (
    lambda rng, n: '{"stream": "points", "event_id": ',  # cut short
    lambda rng, n: json.dumps({"event_id": f"x{n}", "club": "c", "member_id": "m"}),  # no stream
    lambda rng, n: json.dumps({"stream": "coupons", "event_id": f"x{n}"}),
    lambda rng, n: json.dumps(
        {
            "stream": "points",
            "event_id": f"x{n}",
            "club": "infinity-mall",
            "member_id": "m1",
            "occurred_at": "2026-11-03T10:00:00",  # naive timestamp
            "kind": "earned",
            "amount": 10,
        }
    ),
    lambda rng, n: json.dumps(
        {
            "stream": "receipts",
            "event_id": f"x{n}",
            "club": "infinity-mall",
            "member_id": "m1",
            "occurred_at": "2026-11-03T10:00:00+01:00",
            "receipt_id": "r",
            "status": "approved",
            "amount": "-3",  # negative
        }
    ),
)


def _write(path: Path, seed: int = 2026) -> tuple[int, set[int]]:
    """The file, and (distinct valid events, line numbers of the invalid lines)."""
    rng = random.Random(seed)
    valid = TOTAL_LINES - DUPLICATES - INVALID
    events = [_event(rng, n) for n in range(valid)]
    lines: list[str] = [json.dumps(e) for e in events]
    for _ in range(DUPLICATES):  # a repeat lands after its original, near or far
        original = rng.randrange(len(lines) - 1)
        spot = min(len(lines), original + 1 + int(rng.expovariate(1 / 500)))
        lines.insert(spot, lines[original])
    bad_spots = sorted(rng.sample(range(len(lines)), INVALID))
    for offset, spot in enumerate(bad_spots):
        lines.insert(spot + offset, _BAD[offset % len(_BAD)](rng, offset))
    for spot in sorted(rng.sample(range(len(lines)), BLANK), reverse=True):
        lines.insert(spot, "")
    invalid_lines = {i for i, text in enumerate(lines, start=1) if _is_bad(text)}
    path.write_text("\n".join(lines) + "\n")
    return valid, invalid_lines


def _is_bad(text: str) -> bool:
    return bool(text) and ('"x' in text or text.endswith(": "))


async def test_a_100k_event_replay_counts_exactly_and_a_rerun_applies_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    distinct, invalid_lines = _write(path)
    assert len(invalid_lines) == INVALID

    started = time.perf_counter()
    first = await replay_file(settings, path, bulk_size=1000, now=NOW)
    first_seconds = time.perf_counter() - started

    assert first["status"] == "finished"
    assert first["events_in_payload_number"] == TOTAL_LINES
    assert first["events_applied_number"] == distinct
    assert first["events_duplicate_number"] == DUPLICATES
    assert first["events_with_validation_errors_number"] == INVALID
    assert first["events_failed_number"] == 0
    assert len(first["bulks"]) == TOTAL_LINES // 1000
    assert {b["status"] for b in first["bulks"]} == {"finished"}
    assert sum(b["applied"] for b in first["bulks"]) == distinct
    assert {e["line"] for e in first["errors"]} == invalid_lines
    stored = await query(settings, "SELECT count(*) AS n FROM processed_events")
    assert stored[0].n == distinct

    second = await replay_file(settings, path, bulk_size=1000, now=NOW)

    assert second["events_applied_number"] == 0
    assert second["events_duplicate_number"] == distinct + DUPLICATES
    assert second["events_with_validation_errors_number"] == INVALID
    second_seconds = time.perf_counter() - started - first_seconds
    print(
        f"\n100k-line replay: {first_seconds:.1f} s, again (all duplicates) {second_seconds:.1f} s"
    )
