"""Replay sources: a JSONL line becomes a good event (with its raw body) or an invalid
item that says where and why; the file is read in bulks with line numbers kept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from loyalty_progress.contract.events import InputStream, PointsEvent
from loyalty_progress.replay.source import Good, Invalid, JsonlFile, decode_line

POINTS = {
    "stream": "points",
    "event_id": "p1",
    "club": "infinity-mall",
    "member_id": "m1",
    "occurred_at": "2026-11-10T12:00:00+01:00",
    "kind": "earned",
    "amount": 100,
}


def _line(**changes: object) -> bytes:
    return json.dumps({**POINTS, **changes}).encode()


def test_a_good_line_keeps_its_stream_its_line_number_and_its_raw_body() -> None:
    item = decode_line(_line(), 7)
    assert isinstance(item, Good)
    assert item.stream is InputStream.POINTS
    assert isinstance(item.event, PointsEvent)
    assert item.event.amount == 100
    assert item.body == _line()
    assert item.where == {"line": 7}


def test_each_kind_of_bad_line_says_why_and_where() -> None:
    cases = {
        b"{not json": "not valid JSON",
        b"[1, 2]": "not an event object",
        json.dumps({k: v for k, v in POINTS.items() if k != "stream"}).encode(): "no `stream`",
        _line(stream="coupons"): "unknown stream 'coupons'",
        _line(stream=3): "not an event object",
        _line(amount=-1): "invalid points event",
        _line(occurred_at="2026-11-10T12:00:00"): "invalid points event",
        _line(kind="gifted"): "invalid points event",
    }
    for raw, reason in cases.items():
        item = decode_line(raw, 3)
        assert isinstance(item, Invalid), raw
        assert item.where == {"line": 3}
        assert reason in item.reason, (raw, item.reason)


def test_a_file_is_read_in_bulks_counting_only_non_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = [_line(event_id=f"p{i}").decode() for i in range(5)]
    path.write_text("\n".join([lines[0], "", *lines[1:], "   ", "{bad"]) + "\n")
    source = JsonlFile(path)

    async def read() -> list[list[Good | Invalid]]:
        return [bulk async for bulk in source.bulks(2)]

    bulks = asyncio.run(read())
    assert source.count() == 6
    assert [len(b) for b in bulks] == [2, 2, 2]
    numbers = [i.where["line"] for b in bulks for i in b if isinstance(i, Good | Invalid)]
    assert numbers == [1, 3, 4, 5, 6, 8]
    assert isinstance(bulks[-1][-1], Invalid)
