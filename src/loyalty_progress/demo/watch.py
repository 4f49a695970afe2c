"""Following `<prefix>.notifications` and `<prefix>.rewards` while the demo runs: every
message about the demo's members is printed as it arrives and remembered, so the demo
knows when everything it expects has come out.

Messages carry the worker's real clock in `created_at`; the line shows the story's date
instead: that of the latest input event that caused it, or the tick that produced it,
or else the member's previous line (a reward follows the notification that announced it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TextIO

import msgspec
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from loyalty_progress.contract.outputs import Notification, RewardIssuance
from loyalty_progress.demo.lines import notification_line, reward_line
from loyalty_progress.demo.scenario import Scenario
from loyalty_progress.safe_text import printable

READ_COUNT: Final = 500
_NOTIFICATION: Final = msgspec.json.Decoder(Notification)
_REWARD: Final = msgspec.json.Decoder(RewardIssuance)


class OutputWatch:
    def __init__(self, redis: Redis, settings: Settings, scenario: Scenario, out: TextIO) -> None:
        self._redis = redis
        self._out = out
        self._notifications = settings.stream("notifications")
        self._rewards = settings.stream("rewards")
        self._positions: dict[str, str] = {}
        self._members = scenario.member_ids
        self._caused_at = {s.body["event_id"]: s.at for s in scenario.events}
        self._ticks = {t.at for t in scenario.ticks}
        self._last_at: dict[str, datetime] = {}
        self._reward_at: dict[str, datetime] = {}
        self.seen: set[tuple[str, str]] = set()  # (member, notification type)
        self.announced: set[str] = set()  # reward ids named by reward_issued notifications
        self.issued: set[str] = set()  # reward ids that came out on the rewards stream

    async def mark_start(self) -> None:
        """Only what is added from now on concerns this run."""
        for stream in (self._notifications, self._rewards):
            last: Any = await self._redis.xrevrange(stream, count=1)
            self._positions[stream] = last[0][0].decode() if last else "0-0"

    def missing(self, expected: frozenset[tuple[str, str]]) -> list[str]:
        """What has not come out yet: expected notifications, announced rewards."""
        gaps = [f"member {member} {kind}" for member, kind in sorted(expected - self.seen)]
        gaps += [f"reward {reward_id}" for reward_id in sorted(self.announced - self.issued)]
        return gaps

    async def follow(self, stop: asyncio.Event, block_ms: int = 100) -> None:
        while not stop.is_set():
            await self.poll(block_ms)
        await self.poll(None)  # whatever arrived while stopping

    async def poll(self, block_ms: int | None) -> None:
        positions: Any = self._positions
        response: Any = await self._redis.xread(positions, count=READ_COUNT, block=block_ms)
        for raw_stream, entries in response or []:
            stream = raw_stream.decode() if isinstance(raw_stream, bytes) else str(raw_stream)
            for entry_id, fields in entries:
                self._positions[stream] = entry_id.decode()
                self._take(stream, fields)

    def _take(self, stream: str, fields: Mapping[bytes, bytes]) -> None:
        data = fields.get(b"data", b"")
        try:
            if stream == self._notifications:
                self._notification(_NOTIFICATION.decode(data))
            else:
                self._reward(_REWARD.decode(data))
        except msgspec.DecodeError:
            return  # not a message of this contract: not the demo's business

    def _ours(self, member_id: str) -> bool:
        return member_id in self._members

    def _notification(self, note: Notification) -> None:
        if not self._ours(note.member_id):
            return
        causes = [self._caused_at[c] for c in note.caused_by if c in self._caused_at]
        if causes:
            at = max(causes)
        elif note.created_at in self._ticks:
            at = note.created_at
        else:
            at = self._last_at.get(note.member_id, note.created_at)
        self._last_at[note.member_id] = at
        self.seen.add((note.member_id, note.type))
        reward_id = note.properties.get("reward_id")
        if note.type == "reward_issued" and isinstance(reward_id, str):
            self.announced.add(reward_id)
            self._reward_at[reward_id] = at
        self._print(notification_line(at, note))

    def _reward(self, reward: RewardIssuance) -> None:
        if not self._ours(reward.member_id):
            return
        at = self._reward_at.get(reward.reward_id) or self._last_at.get(
            reward.member_id, reward.created_at
        )
        self.issued.add(reward.reward_id)
        self._print(reward_line(at, reward))

    def _print(self, line: str) -> None:
        # Messages carry producer data (receipt and store ids) and definition names.
        self._out.write(printable(line) + "\n")
        self._out.flush()
