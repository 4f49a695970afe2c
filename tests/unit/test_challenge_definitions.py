"""Challenge definitions: the example file's format, and errors naming file, code and field."""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from loyalty_progress.definitions.challenge import (
    ChallengeDefinition,
    check_challenges,
    parse_challenge,
)
from loyalty_progress.definitions.errors import DefinitionError

EXAMPLE = """
- kind: challenge
  code: earn-1000
  club: infinity-mall
  name: Earn 1000 Points
  description: Earn 1000 points this month and win 40% off a Buffalo Burger.
  category: {id: 3, name: Food}
  image: https://cdn.example.com/challenges/earn-1000.png
  starts_at: 2026-11-01T00:00:00+01:00
  ends_at: 2026-12-01T00:00:00+01:00
  enrollment: auto
  visible: true
  scope: member
  groups:
    - operator: AND
      triggers:
        - {id: 1, name: Earn 1000 Points, type: earned_points, target: 1000, operator: AND}
  milestones:
    - code: completed
      reached_when: challenge
      prizes:
        - {type: voucher, value: BURGER40, description: 40% off Buffalo Burger, expires_in_days: 30}
"""


def raw() -> dict[str, Any]:
    loaded: list[dict[str, Any]] = yaml.safe_load(EXAMPLE)
    return copy.deepcopy(loaded[0])


def error(data: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_challenge(data, "defs/challenges.yaml")
    return caught.value


def test_the_example_file_format_parses_with_yaml_timestamps() -> None:
    definition = parse_challenge(raw(), "examples/definitions.yaml")
    assert isinstance(definition, ChallengeDefinition)
    assert definition.starts_at.utcoffset() is not None
    [group] = definition.groups
    assert group.id == 1
    [trigger] = group.triggers
    assert (trigger.type, trigger.target) == ("earned_points", Decimal(1000))
    [milestone] = definition.milestones
    assert milestone.group is None
    assert milestone.prizes[0].value == "BURGER40"
    assert definition.category is not None
    assert definition.category.name == "Food"


def test_the_loader_dispatches_challenges_to_parse_challenge(tmp_path: Path) -> None:
    pytest.importorskip("loyalty_progress.definitions.attendance")
    from loyalty_progress.definitions.loader import load_definitions

    path = tmp_path / "defs.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    [loaded] = load_definitions([path])
    definition = getattr(loaded, "definition", loaded)
    assert isinstance(definition, ChallengeDefinition)
    _ = definition.triggers  # a cached property must not disturb equality
    body = getattr(loaded, "body", None)
    if body is not None:  # the stored JSON body parses back to the same definition
        assert parse_challenge(body, "database") == definition


def test_seed_001_numeric_trigger_types_are_accepted() -> None:
    data = raw()
    numbered = [
        {"id": n, "type": n, "target": 10, "operator": "or" if n > 1 else "AND"}
        for n in range(1, 7)
    ]
    data["groups"][0]["triggers"] = numbered
    definition = parse_challenge(data, "x.yaml")
    assert [t.type for t in definition.triggers] == [
        "earned_points",
        "subscribed_vouchers",
        "redeemed_points",
        "redeemed_vouchers",
        "points_balance",
        "tier",
    ]
    assert definition.triggers[1].operator == "OR"
    assert definition.triggers[0].name == "earned_points"


def test_json_style_timestamps_and_every_optional_field() -> None:
    data = raw()
    data.update(
        starts_at="2026-11-01T00:00:00Z",
        ends_at="2026-12-01T00:00:00+00:00",
        enrollment="opt_in",
        requires="earn-500",
        max_winners=100,
        recurrence="weekly",
        charities=["red-cross", {"code": "unicef", "name": "UNICEF", "icon": "u"}],
    )
    data["groups"].append(
        {
            "id": 7,
            "operator": "OR",
            "triggers": [
                {"id": 2, "type": "receipt_amount", "target": "99.5", "store_ids": ["s1"]},
                {"id": 3, "type": "distinct_items", "target": 3, "items": ["a", "b", "c"]},
            ],
        }
    )
    data["milestones"].append(
        {
            "code": "half",
            "reached_when": {"group": 7},
            "prizes": [
                {"type": "points", "value": 150},
                {"type": "reward", "reward_id": 1442920, "expires_at": "2027-01-01T00:00:00Z"},
            ],
        }
    )
    definition = parse_challenge(data, "x.json")
    assert definition.triggers[1].target == Decimal("99.5")
    assert definition.milestones[1].group == 7
    assert [c.code for c in definition.charities] == ["red-cross", "unicef"]


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (
            lambda d: d["groups"][0]["triggers"][0].update(target=-5),
            "groups[0].triggers[0].target",
            "> 0",
        ),
        (
            lambda d: d["groups"][0]["triggers"][0].update(target="x"),
            "groups[0].triggers[0].target",
            "number",
        ),
        (
            lambda d: d["groups"][0]["triggers"][0].update(target=2.5),
            "groups[0].triggers[0].target",
            "whole",
        ),
        (
            lambda d: d["groups"][0]["triggers"][0].update(type=9),
            "groups[0].triggers[0].type",
            "1-6",
        ),
        (
            lambda d: d["groups"][0]["triggers"][0].update(type="visits"),
            "groups[0].triggers[0].type",
            "one of",
        ),
        (
            lambda d: d["groups"][0]["triggers"][0].update(tagret=5),
            "groups[0].triggers[0].tagret",
            "unknown",
        ),
        (
            lambda d: d["groups"][0]["triggers"][0].update(store_ids=["s1"]),
            "groups[0].triggers[0].store_ids",
            "receipt",
        ),
        (lambda d: d["groups"][0]["triggers"][0].pop("id"), "groups[0].triggers[0].id", "required"),
        (lambda d: d["groups"][0].update(operator="XOR"), "groups[0].operator", "AND, OR"),
        (lambda d: d["groups"][0].update(triggers=[]), "groups[0].triggers", "empty"),
        (lambda d: d.update(groups=[]), "groups", "empty"),
        (lambda d: d.update(starts_at=datetime(2026, 11, 1)), "starts_at", "offset"),
        (lambda d: d.update(starts_at=date(2026, 11, 1)), "starts_at", "date without time"),
        (lambda d: d.update(ends_at="2026-10-01T00:00:00+01:00"), "ends_at", "after starts_at"),
        (lambda d: d.update(enrollment="manual"), "enrollment", "auto, opt_in"),
        (lambda d: d.update(scope="team"), "scope", "member, group"),
        (lambda d: d.update(recurrence="daily"), "recurrence", "weekly, monthly"),
        (lambda d: d.update(max_winners=0), "max_winners", ">= 1"),
        (lambda d: d.update(visible="yes"), "visible", "true or false"),
        (lambda d: d.update(notify="reward_issued"), "notify", "list"),
        (lambda d: d.update(notify=["reward_issued", "push"]), "notify[1]", "one of"),
        (lambda d: d.update(notify=["reward_issued"] * 2), "notify[1]", "duplicate"),
        (lambda d: d.update(requires="earn-1000"), "requires", "itself"),
        (lambda d: d.update(scope="group", requires="x"), "requires", "member-scope"),
        (lambda d: d.update(colour="red"), "colour", "unknown"),
        (lambda d: d.pop("name"), "name", "required"),
        (lambda d: d.update(category={"id": "3", "name": "Food"}), "category.id", "integer"),
        (
            lambda d: d["milestones"][0].update(reached_when={"group": 2}),
            "milestones[0].reached_when.group",
            "no group",
        ),
        (
            lambda d: d["milestones"][0].update(reached_when="sometimes"),
            "milestones[0].reached_when",
            "challenge",
        ),
        (
            lambda d: d["milestones"][0]["prizes"][0].pop("value"),
            "milestones[0].prizes[0].value",
            "required",
        ),
        (
            lambda d: d["milestones"][0]["prizes"][0].update(type="cash"),
            "milestones[0].prizes[0].type",
            "one of",
        ),
        (
            lambda d: d["milestones"][0]["prizes"][0].update(expires_at="2027-01-01T00:00:00Z"),
            "milestones[0].prizes[0].expires_at",
            "not both",
        ),
        (
            lambda d: d["milestones"].append(dict(d["milestones"][0])),
            "milestones[1].code",
            "duplicate",
        ),
        (
            lambda d: d["groups"][0]["triggers"].append({"id": 1, "type": "tier", "target": 2}),
            "groups[0].triggers[1].id",
            "duplicate",
        ),
    ],
)
def test_a_bad_definition_names_the_file_the_code_and_the_field(
    change: Any, field: str, problem: str
) -> None:
    data = raw()
    change(data)
    found = error(data)
    assert (found.source, found.code, found.field) == ("defs/challenges.yaml", "earn-1000", field)
    assert problem in found.problem
    assert str(found).startswith(f"defs/challenges.yaml: definition `earn-1000`: field `{field}`: ")


def test_the_second_trigger_of_a_group_is_named_by_its_position() -> None:
    data = raw()
    data["groups"][0]["triggers"].append({"id": 2, "type": "tier", "target": 0})
    assert error(data).field == "groups[0].triggers[1].target"


def test_a_definition_without_a_code_still_names_the_file_and_field() -> None:
    data = raw()
    del data["code"]
    found = error(data)
    assert (found.code, found.field) == (None, "code")


def _with(**changes: Any) -> ChallengeDefinition:
    data = raw()
    data.update(changes)
    return parse_challenge(data, "x.yaml")


def test_requirements_must_name_an_existing_member_challenge_without_cycles() -> None:
    parent = _with(code="parent")
    child = _with(code="child", requires="parent")
    check_challenges([parent, child], "set")
    with pytest.raises(DefinitionError, match="no challenge `parent`"):
        check_challenges([child], "set")
    with pytest.raises(DefinitionError, match="cycle"):
        check_challenges([_with(code="a", requires="b"), _with(code="b", requires="a")], "set")
    with pytest.raises(DefinitionError, match="group challenge"):
        check_challenges([_with(code="parent", scope="group"), child], "set")
    with pytest.raises(DefinitionError, match="defined twice"):
        check_challenges([parent, parent], "set")


def test_notifications_default_to_every_kind_when_visible_and_to_rewards_when_hidden() -> None:
    assert parse_challenge(raw(), "x.yaml").notices == {
        "challenge_completed",
        "milestone_reached",
        "reward_issued",
        "challenge_expired",
    }
    hidden = parse_challenge({**raw(), "visible": False}, "x.yaml")
    assert (hidden.notify, hidden.notices) == (None, frozenset({"reward_issued"}))
    explicit = {**raw(), "visible": False, "notify": ["challenge_expired", "challenge_completed"]}
    assert parse_challenge(explicit, "x.yaml").notify == (
        "challenge_completed",
        "challenge_expired",
    )
    assert parse_challenge({**raw(), "notify": []}, "x.yaml").notices == frozenset()
    assert parse_challenge({**raw(), "notify": None}, "x.yaml").notify is None
