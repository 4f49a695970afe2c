"""Playing the story against a running worker: apply the definitions, publish the events
in simulated order, run the scheduler's ticks at the story's instants, wait for what must
come out, print the closing table."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TextIO

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.cache import PICKUP_SECONDS
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.definitions.definition_set import DefinitionSet
from loyalty_progress.definitions.loader import parse_definition
from loyalty_progress.demo.lines import day_label, input_line
from loyalty_progress.demo.scenario import CLUB, SOURCE, Publish, Scenario, Tick, build
from loyalty_progress.demo.summary import summary_lines
from loyalty_progress.demo.watch import OutputWatch
from loyalty_progress.local_services import ready_engine
from loyalty_progress.safe_text import printable
from loyalty_progress.store.challenges import check_challenge_set
from loyalty_progress.store.definitions import apply_definitions
from loyalty_progress.worker.registry import time_rules
from loyalty_progress.worker.relay import OutboxRelay

# Workers reload definitions on a poll (`DefinitionsCache.run`): events published before
# every replica has the new ones would not count for them.
DEFINITIONS_PICKUP_SECONDS: Final = PICKUP_SECONDS
# The first event shows whether a worker is there at all: it is applied in well under a
# second by a live one.
FIRST_EVENT_SECONDS: Final = 15.0
# Any gap of the story longer than this is skipped over, not waited out.
MAX_PAUSE_SECONDS: Final = 1.0
POLL_SECONDS: Final = 0.1


class DemoFailed(RuntimeError):
    """The demo cannot go on; the message says why and what to check."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    members: int = 3
    speed: float = 4.0  # simulated days per second; 0 publishes without pauses
    timeout: float = 60.0  # for the worker's results, once everything is published
    show_inputs: bool = True


async def has_consumer_group(redis: Redis, settings: Settings) -> bool:
    """Workers create their group on every input stream when they start."""
    try:
        groups = await redis.xinfo_groups(settings.stream("receipts"))
    except ResponseError:
        return False  # no such stream
    names = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}
    return settings.consumer_group in names


def _parsed(
    scenario: Scenario,
) -> tuple[list[ChallengeDefinition], list[AttendanceEdition]]:
    challenges: list[ChallengeDefinition] = []
    editions: list[AttendanceEdition] = []
    for raw in scenario.definitions:
        definition = parse_definition(raw, SOURCE)
        (editions if isinstance(definition, AttendanceEdition) else challenges).append(definition)
    return challenges, editions


class _Demo:
    def __init__(
        self,
        settings: Settings,
        options: DemoOptions,
        out: TextIO,
        redis: Redis,
        engine: AsyncEngine,
    ) -> None:
        self.settings, self.options, self.out = settings, options, out
        self.redis, self.engine = redis, engine
        self.scenario = build(secrets.token_hex(3), options.members, datetime.now(UTC))
        self.challenges, editions = _parsed(self.scenario)
        # The demo ticks only its own definitions: a tick ahead of the real clock must
        # never touch anybody else's challenges.
        self.own = DefinitionSet(-1, tuple(self.challenges), tuple(editions))
        self.watch = OutputWatch(redis, settings, self.scenario, out)
        self.published: list[Publish] = []

    def say(self, line: str) -> None:
        self.out.write(printable(line) + "\n")
        self.out.flush()

    async def run(self) -> None:
        settings, scenario = self.settings, self.scenario
        if not await has_consumer_group(self.redis, settings):
            raise DemoFailed(
                f"no worker has run against {settings.stream_prefix}.* (no consumer group "
                f"{settings.consumer_group} on {settings.stream('receipts')}): start one with "
                "`loyalty-progress run` first"
            )
        first, last = scenario.members[0].member_id, scenario.members[-1].member_id
        self.say(
            f"demo run {scenario.run}: {len(scenario.members)} members ({first} .. {last}) "
            f"of club {CLUB}, stage {scenario.stage}, "
            f"streams {settings.stream_prefix}.*"
        )
        await self.apply_definitions()
        await self.watch.mark_start()
        stop = asyncio.Event()
        follower = asyncio.create_task(self.watch.follow(stop), name="demo-output-watch")
        try:
            await self.play()
            await self.wait_for_outputs(follower)
        finally:
            stop.set()
            await asyncio.wait_for(follower, timeout=10)
        async with self.engine.connect() as conn:
            lines = await summary_lines(conn, scenario, self.challenges)
        self.say("")
        for line in lines:
            self.say(line)

    async def apply_definitions(self) -> None:
        items = [
            (str(raw["kind"]), str(raw["club"]), str(raw["code"]), raw, SOURCE)
            for raw in (
                msgspec.json.decode(msgspec.json.encode(d)) for d in self.scenario.definitions
            )
        ]
        async with self.engine.begin() as conn:
            await check_challenge_set(conn, [(d, SOURCE) for d in self.challenges])
            results = await apply_definitions(conn, items)
        for r in results:
            state = f"v{r.version}" + ("" if r.changed else " (unchanged)")
            self.say(f"definition {r.kind} {r.code} {state}")
        if any(r.changed for r in results):
            self.say(f"waiting {DEFINITIONS_PICKUP_SECONDS:.0f} s for the workers to load them")
            await asyncio.sleep(DEFINITIONS_PICKUP_SECONDS)

    async def play(self) -> None:
        previous: datetime | None = None
        deadline: float | None = None
        for step in self.scenario.steps:
            if previous is not None:
                await self.pause(previous, step.at)
            previous = step.at
            if isinstance(step, Publish):
                await self.publish(step)
                if len(self.published) == 1:
                    await self.wait_for_a_worker()
                continue
            if deadline is None:  # everything is published: the worker's turn
                deadline = time.monotonic() + self.options.timeout
            await self.wait_until_applied(deadline)
            await self.tick(step)

    async def pause(self, before: datetime, after: datetime) -> None:
        if self.options.speed <= 0:
            return
        days = (after - before).total_seconds() / 86_400
        await asyncio.sleep(min(days / self.options.speed, MAX_PAUSE_SECONDS))

    async def publish(self, step: Publish) -> None:
        data = msgspec.json.encode(step.body)
        await self.redis.xadd(self.settings.stream(step.stream), {"data": data})
        self.published.append(step)
        if self.options.show_inputs:
            self.say(input_line(step))

    async def wait_for_a_worker(self) -> None:
        seconds = min(FIRST_EVENT_SECONDS, self.options.timeout)
        if not await self.applied_all(time.monotonic() + seconds):
            raise DemoFailed(
                f"no worker applied the demo's first event within {seconds:.0f} s: is one "
                f"running against {self.settings.stream_prefix}.* (consumer group "
                f"{self.settings.consumer_group})? Start one with `loyalty-progress run`"
            )

    async def wait_until_applied(self, deadline: float) -> None:
        """The ticks judge the members' state: it must hold every event published."""
        if not await self.applied_all(deadline):
            raise DemoFailed(
                f"the worker did not apply all {len(self.published)} demo events within "
                f"{self.options.timeout:.0f} s: is it still running? (dead letters: "
                "`loyalty-progress deadletter list`)"
            )

    async def applied_all(self, deadline: float) -> bool:
        by_stream: dict[str, list[str]] = defaultdict(list)
        for step in self.published:
            by_stream[step.stream].append(step.body["event_id"])
        while await _applied(self.engine, by_stream) < len(self.published):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True

    async def tick(self, step: Tick) -> None:
        self.say(f"{day_label(step.at)} scheduler tick at {step.at.isoformat()}: {step.why}")
        ids: list[int] = []
        for rule in time_rules():
            ids += await rule.tick(self.engine, self.own, step.at)
        await OutboxRelay(self.engine, self.redis, self.settings).publish(ids)

    async def wait_for_outputs(self, follower: asyncio.Task[None]) -> None:
        deadline = time.monotonic() + self.options.timeout
        expected = self.scenario.expected()
        while missing := self.watch.missing(expected):
            if follower.done():
                await follower  # it failed: its error says why
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"expected outputs did not arrive within {self.options.timeout:.0f} s: "
                    + ", ".join(missing)
                )
            await asyncio.sleep(POLL_SECONDS)


_APPLIED = text(
    "SELECT count(*) FROM processed_events WHERE stream = :stream AND event_id = ANY(:ids)"
)


async def _applied(engine: AsyncEngine, by_stream: dict[str, list[str]]) -> int:
    async with engine.connect() as conn:
        total = 0
        for stream, ids in sorted(by_stream.items()):
            result = await conn.execute(_APPLIED, {"stream": stream, "ids": ids})
            total += int(result.scalar_one())
        return total


async def run_demo(settings: Settings, options: DemoOptions, out: TextIO) -> None:
    """Play the demo against the worker behind `settings`; raises `DemoFailed`."""
    if settings.database_url is None or settings.redis_url is None:
        raise DemoFailed("the demo needs LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL")
    engine = await ready_engine(settings, pool_size=2)
    redis: Redis = Redis.from_url(settings.redis_url)
    try:
        await _Demo(settings, options, out, redis, engine).run()
    finally:
        await redis.aclose()
        await engine.dispose()
