"""Member partitions of a stream's batches (`worker.lanes`), without services: a member's
entries always reach the same lane, in entry order, and every entry is handed on once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from loyalty_progress.contract.events import StreamEntry as Entry
from loyalty_progress.worker.lanes import MemberLanes, partition_of


def _entry(index: int, member: str, club: str = "mall") -> Entry:
    body = json.dumps({"event_id": f"e{index}", "club": club, "member_id": member})
    return (f"{index}-0".encode(), {b"data": body.encode()})


def test_a_member_always_has_the_same_partition_and_bad_bodies_go_to_the_first() -> None:
    first = partition_of(_entry(1, "m1")[1], 4)
    assert all(partition_of(_entry(i, "m1")[1], 4) == first for i in range(20))
    assert {partition_of(_entry(i, f"m{i}")[1], 4) for i in range(200)} == {0, 1, 2, 3}
    assert partition_of({b"data": b"not json"}, 4) == 0
    assert partition_of({b"data": b'{"club": 5}'}, 4) == 0
    assert partition_of({}, 4) == 0
    assert partition_of(_entry(1, "m1")[1], 1) == 0


async def test_sub_batches_keep_each_members_order_and_hand_on_every_entry_once() -> None:
    lanes = MemberLanes("receipts", partitions=3, depth=2)
    seen: list[tuple[int, list[bytes]]] = []

    async def work(entries: tuple[Entry, ...], on_locked: Callable[[], None]) -> None:
        # Started in order; the database's row locks order what follows (not modelled).
        partitions = {partition_of(fields, 3) for _, fields in entries}
        assert len(partitions) == 1  # a sub-batch never mixes partitions
        seen.append((partitions.pop(), [entry_id for entry_id, _ in entries]))
        await asyncio.sleep(0.001 * len(entries))
        on_locked()

    batches = [[_entry(b * 100 + i, f"m{i % 7}") for i in range(30)] for b in range(4)]
    for batch in batches:
        await lanes.submit(batch, work)
    await lanes.drain()
    handed_on = [entry_id for _, ids in seen for entry_id in ids]
    expected = [entry_id for batch in batches for entry_id, _ in batch]
    assert sorted(handed_on) == sorted(expected)
    assert len(handed_on) == len(set(handed_on))
    for member in (f"m{i}" for i in range(7)):
        mine = [
            entry_id
            for entry_id, fields in expected_entries(batches)
            if member_of(fields) == member
        ]
        assert [entry_id for entry_id in handed_on if entry_id in set(mine)] == mine


def expected_entries(batches: list[list[Entry]]) -> list[Entry]:
    return [entry for batch in batches for entry in batch]


def member_of(fields: dict[bytes, bytes] | object) -> str:
    assert isinstance(fields, dict)
    return str(json.loads(fields[b"data"])["member_id"])
