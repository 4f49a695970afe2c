"""The definitions a run applies: the default program, a file, generated challenges.

`benchmarks/definitions.yaml` is the default program: a realistic October for the
workload's three clubs (counter challenges of every trigger family, opt-in, group,
limited and recurring ones, and attendance editions). `--challenges K` adds K generated
counter challenges in the busiest club, so the cost of a program's size can be measured.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from bench.workload import BASE_TIME, BUSIEST_CLUB, SKUS, STORES_PER_CLUB, sku, store_id
from loyalty_progress.definitions.attendance import AttendanceEdition
from loyalty_progress.definitions.challenge import ChallengeDefinition
from loyalty_progress.definitions.loader import load_definitions

DEFAULT_PROGRAM: Final = Path(__file__).resolve().parent.parent / "definitions.yaml"

# (trigger type, target range): every family, targets a share of active members reach.
_GENERATED: Final = (
    ("earned_points", (800, 3000)),
    ("redeemed_points", (300, 1500)),
    ("subscribed_vouchers", (1, 4)),
    ("redeemed_vouchers", (1, 3)),
    ("points_balance", (1000, 4000)),
    ("tier", (3, 5)),
    ("receipt_count", (2, 6)),
    ("receipt_amount", (200, 1200)),
    ("distinct_stores", (2, 4)),
    ("distinct_items", (4, 12)),
)


def generated_challenges(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` member challenges in the busiest club, cycling through the trigger families,
    each with a window that starts in the month's first days and ends after it, and a
    points prize; every third has a store or
    item filter (receipt triggers), every fifth a second trigger."""
    rng = random.Random(f"{seed}-challenges-{count}")
    result: list[dict[str, Any]] = []
    for number in range(count):
        kind, (low, high) = _GENERATED[number % len(_GENERATED)]
        start = BASE_TIME + timedelta(days=rng.randint(0, 10))
        # Ends after the run's "now" (the month's end), as the default program's do: an
        # occurrence that ended would expire while the run drains, and expiry is not part
        # of what the oracle predicts.
        end = BASE_TIME + timedelta(days=rng.randint(31, 40))
        trigger: dict[str, Any] = {"id": 1, "type": kind, "target": rng.randint(low, high)}
        if kind.startswith(("receipt", "distinct")) and number % 3 == 0:
            if kind == "distinct_items" or rng.random() < 0.5:
                trigger["items"] = [sku(i) for i in rng.sample(range(SKUS), 400)]
            else:
                trigger["store_ids"] = [
                    store_id(BUSIEST_CLUB, i) for i in rng.sample(range(STORES_PER_CLUB), 60)
                ]
        triggers = [trigger]
        if number % 5 == 4:
            other, (low2, high2) = _GENERATED[(number + 3) % len(_GENERATED)]
            triggers.append(
                {"id": 2, "type": other, "target": rng.randint(low2, high2), "operator": "OR"}
            )
        result.append(
            {
                "kind": "challenge",
                "code": f"bench-generated-{number + 1:03d}",
                "club": BUSIEST_CLUB,
                "name": f"Generated challenge {number + 1}",
                "starts_at": start.isoformat(),
                "ends_at": end.isoformat(),
                "groups": [{"triggers": triggers}],
                "milestones": [
                    {
                        "code": "completed",
                        "prizes": [{"type": "points", "value": 10 * (number % 9 + 1)}],
                    }
                ],
            }
        )
    return result


@dataclass(frozen=True, slots=True)
class Program:
    """What one variant of the benchmark applies before its runs."""

    label: str
    files: tuple[Path, ...] = ()
    generated: int = 0
    challenges: tuple[ChallengeDefinition, ...] = ()
    editions: tuple[AttendanceEdition, ...] = ()
    generated_body: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def empty(self) -> bool:
        return not self.files and not self.generated

    def describe(self) -> str:
        if self.empty:
            return "no definitions (the backbone)"
        clubs = sorted({c.club for c in self.challenges} | {e.club for e in self.editions})
        busiest = sum(1 for c in self.challenges if c.club == BUSIEST_CLUB)
        return (
            f"{len(self.challenges)} counter challenges ({busiest} in {BUSIEST_CLUB}) and "
            f"{len(self.editions)} attendance editions in {len(clubs)} clubs"
        )

    def write_generated(self, directory: Path) -> Path | None:
        """The generated challenges as a JSON definitions file, for `definitions apply`."""
        if not self.generated_body:
            return None
        path = directory / f"generated-{self.generated}.json"
        path.write_text(json.dumps(list(self.generated_body), indent=1) + "\n")
        return path


def load_program(label: str, files: Sequence[Path], generated: int, seed: int) -> Program:
    """Parse (and so validate) the files and the generated challenges."""
    body = generated_challenges(generated, seed)
    challenges: list[ChallengeDefinition] = []
    editions: list[AttendanceEdition] = []
    parsed = [d.definition for d in load_definitions(list(files))]
    if body:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "generated.json"
            path.write_text(json.dumps(body))
            parsed += [d.definition for d in load_definitions([path])]
    for definition in parsed:
        if isinstance(definition, ChallengeDefinition):
            challenges.append(definition)
        elif isinstance(definition, AttendanceEdition):
            editions.append(definition)
    return Program(
        label=label,
        files=tuple(files),
        generated=generated,
        challenges=tuple(challenges),
        editions=tuple(editions),
        generated_body=tuple(body),
    )
