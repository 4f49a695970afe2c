"""Replay progress on stderr: a bar redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from loyalty_progress.replay.report import (
    PlainProgress,
    ProgressUpdate,
    TerminalProgress,
    progress_for,
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _update(
    bulk: int, events: int, total: int | None = 10, bulks: int | None = 3
) -> ProgressUpdate:
    return ProgressUpdate(
        job_id=4,
        bulk=bulk,
        bulk_status="finished",
        bulks=bulks,
        events=events,
        total=total,
        applied=events - 1,
        duplicates=1,
        invalid=0,
        failed=0,
        seconds=2.0,
    )


def test_a_terminal_gets_a_bar_and_anything_else_gets_lines() -> None:
    assert isinstance(progress_for(_Terminal()), TerminalProgress)
    assert isinstance(progress_for(io.StringIO()), PlainProgress)


def test_plain_progress_writes_one_line_per_bulk_without_control_characters() -> None:
    out = io.StringIO()
    sink = PlainProgress(out)
    sink.started(4, "file h.jsonl", 10, 3)
    sink.bulk_finished(_update(1, 4))
    sink.bulk_finished(_update(3, 10))
    sink.finished({"id": 4, "status": "finished"})
    lines = out.getvalue().splitlines()
    assert lines == [
        "replay job 4: 10 events in 3 bulks from file h.jsonl",
        "replay job 4: bulk 1/3 finished; 4/10 events (applied 3, duplicates 1, invalid 0); "
        "2 events/s",
        "replay job 4: bulk 3/3 finished; 10/10 events (applied 9, duplicates 1, invalid 0); "
        "5 events/s",
        "replay job 4: finished",
    ]
    assert "\r" not in out.getvalue()


def test_the_terminal_bar_is_redrawn_in_place_and_ends_on_its_own_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([100.0, 100.01, 100.5, 100.51])
    monkeypatch.setattr("loyalty_progress.replay.report.time.monotonic", lambda: next(clock))
    out = _Terminal()
    sink = TerminalProgress(out)
    sink.started(4, "file h.jsonl", 10, 3)
    sink.bulk_finished(_update(1, 4))
    sink.bulk_finished(_update(2, 8))  # 10 ms later: not redrawn (at most 10 a second)
    sink.bulk_finished(_update(3, 10))  # the last bulk is always drawn
    sink.finished({"id": 4, "status": "finished"})
    text = out.getvalue()
    assert text.count("\r") == 2
    first, last = text.split("\r")[1:]
    assert first.startswith("[##########..............]  40% 4/10 events")
    assert last.startswith("[########################] 100% 10/10 events")
    assert text.endswith("\nreplay job 4: finished\n")


def test_a_source_of_unknown_size_shows_a_count_instead_of_a_bar() -> None:
    out = _Terminal()
    TerminalProgress(out).bulk_finished(_update(1, 500, total=None, bulks=None))
    assert out.getvalue().startswith("\r500 events | applied 499")
