"""`parse_challenge(raw, source)`: one mapping of a definition file -> a frozen
`ChallengeDefinition`, or `DefinitionError` naming the file, the challenge code and the
field. Unknown fields are errors: in a hand-written file they are almost always typos."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, get_args

from loyalty_progress.definitions.challenge.model import (
    FRACTIONAL_TARGETS,
    MAX_CODE_LENGTH,
    NOTICES,
    RECEIPT_TRIGGERS,
    TRIGGER_NUMBERS,
    TRIGGER_TYPES,
    Category,
    ChallengeDefinition,
    ChallengePrize,
    Charity,
    Enrollment,
    Milestone,
    Notice,
    Operator,
    PrizeType,
    Recurrence,
    Scope,
    Trigger,
    TriggerGroup,
    TriggerType,
)
from loyalty_progress.definitions.challenge.reader import FieldReader, join_path, shown

_TOP_FIELDS: Final = frozenset(
    {
        "kind",
        "code",
        "club",
        "name",
        "description",
        "category",
        "image",
        "starts_at",
        "ends_at",
        "visible",
        "enrollment",
        "requires",
        "max_winners",
        "scope",
        "recurrence",
        "charities",
        "groups",
        "milestones",
        "notify",
    }
)
_TRIGGER_FIELDS: Final = frozenset(
    {"id", "name", "type", "target", "operator", "store_ids", "items"}
)
_PRIZE_FIELDS: Final = frozenset(
    {"type", "value", "reward_id", "description", "expires_in_days", "expires_at"}
)


def parse_challenge(raw: dict[str, Any], source: str) -> ChallengeDefinition:
    """Validate one definition mapping; the first problem raises `DefinitionError`."""
    code = raw.get("code") if isinstance(raw, Mapping) else None
    r = FieldReader(source, code if isinstance(code, str) else None)
    raw = r.mapping(raw, "", _TOP_FIELDS)
    if raw.get("kind", "challenge") != "challenge":
        r.fail("kind", f"must be `challenge`, got {shown(raw['kind'])}")
    code = r.text(r.required(raw, "code", ""), "code", max_length=MAX_CODE_LENGTH)
    club = r.text(r.required(raw, "club", ""), "club", max_length=MAX_CODE_LENGTH)
    starts_at = r.timestamp(r.required(raw, "starts_at", ""), "starts_at")
    ends_at = r.timestamp(r.required(raw, "ends_at", ""), "ends_at")
    if not starts_at < ends_at:
        r.fail("ends_at", f"must be after starts_at ({starts_at.isoformat()})")
    scope = r.choice(raw.get("scope", "member"), "scope", get_args(Scope))
    requires = r.optional(raw, "requires", "", lambda v, p: r.text(v, p, max_length=128))
    if requires == code:
        r.fail("requires", "a challenge cannot require itself")
    if requires is not None and scope == "group":
        r.fail("requires", "is supported for member-scope challenges only")
    groups = _groups(r, r.required(raw, "groups", ""))
    return ChallengeDefinition(
        code=code,
        club=club,
        name=r.text(r.required(raw, "name", ""), "name"),
        description=_plain_text(r, raw.get("description", ""), "description"),
        category=r.optional(raw, "category", "", lambda v, p: _category(r, v, p)),
        image=r.optional(raw, "image", "", r.text),
        starts_at=starts_at,
        ends_at=ends_at,
        visible=r.boolean(raw.get("visible", True), "visible"),
        enrollment=r.choice(raw.get("enrollment", "auto"), "enrollment", get_args(Enrollment)),
        requires=requires,
        max_winners=r.optional(raw, "max_winners", "", lambda v, p: r.integer(v, p, minimum=1)),
        scope=scope,
        recurrence=r.optional(
            raw, "recurrence", "", lambda v, p: r.choice(v, p, get_args(Recurrence))
        ),
        charities=_charities(r, raw.get("charities") or ()),
        groups=groups,
        milestones=_milestones(r, raw.get("milestones") or (), groups),
        notify=r.optional(raw, "notify", "", lambda v, p: _notify(r, v, p)),
    )


def _notify(r: FieldReader, value: object, path: str) -> tuple[Notice, ...]:
    """The notification types listed (`[]`: none), in their canonical order."""
    kinds = [r.choice(v, f"{path}[{i}]", NOTICES) for i, v in enumerate(r.sequence(value, path))]
    _unique(r, [(k, f"{path}[{i}]") for i, k in enumerate(kinds)])
    return tuple(k for k in NOTICES if k in kinds)


def _plain_text(r: FieldReader, value: object, path: str) -> str:
    if not isinstance(value, str):
        r.fail(path, f"must be a string, got {shown(value)}")
    return value


def _category(r: FieldReader, value: object, path: str) -> Category:
    raw = r.mapping(value, path, frozenset({"id", "name"}))
    return Category(
        id=r.integer(r.required(raw, "id", path), join_path(path, "id")),
        name=r.text(r.required(raw, "name", path), join_path(path, "name")),
    )


def _charities(r: FieldReader, value: object) -> tuple[Charity, ...]:
    charities: list[Charity] = []
    for i, item in enumerate(r.sequence(value, "charities")):
        path = f"charities[{i}]"
        if isinstance(item, str):
            charities.append(Charity(code=r.text(item, path, max_length=MAX_CODE_LENGTH)))
            continue
        raw = r.mapping(item, path, frozenset({"code", "name", "icon"}))
        charities.append(
            Charity(
                code=r.text(r.required(raw, "code", path), join_path(path, "code"), max_length=128),
                name=r.optional(raw, "name", path, r.text),
                icon=r.optional(raw, "icon", path, r.text),
            )
        )
    _unique(r, [(c.code, f"charities[{i}].code") for i, c in enumerate(charities)])
    return tuple(charities)


def _groups(r: FieldReader, value: object) -> tuple[TriggerGroup, ...]:
    groups: list[TriggerGroup] = []
    for i, item in enumerate(r.sequence(value, "groups", non_empty=True)):
        path = f"groups[{i}]"
        raw = r.mapping(item, path, frozenset({"id", "operator", "triggers"}))
        triggers = r.sequence(r.required(raw, "triggers", path), f"{path}.triggers", non_empty=True)
        groups.append(
            TriggerGroup(
                id=r.integer(raw.get("id", i + 1), f"{path}.id"),
                operator=_operator(r, raw.get("operator", "AND"), f"{path}.operator"),
                triggers=tuple(
                    _trigger(r, t, f"{path}.triggers[{j}]") for j, t in enumerate(triggers)
                ),
            )
        )
    _unique(r, [(g.id, f"groups[{i}].id") for i, g in enumerate(groups)])
    _unique(
        r,
        [
            (t.id, f"groups[{i}].triggers[{j}].id")
            for i, g in enumerate(groups)
            for j, t in enumerate(g.triggers)
        ],
    )
    return tuple(groups)


def _operator(r: FieldReader, value: object, path: str) -> Operator:
    normalized = value.upper() if isinstance(value, str) else value
    return r.choice(normalized, path, get_args(Operator))


def _trigger_type(r: FieldReader, value: object, path: str) -> TriggerType:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in TRIGGER_NUMBERS:
            r.fail(
                path,
                f"numeric trigger types are 1-6 (as in the member-app challenge list), got {value}",
            )
        return TRIGGER_NUMBERS[value]
    return r.choice(value, path, TRIGGER_TYPES)


def _trigger(r: FieldReader, value: object, path: str) -> Trigger:
    raw = r.mapping(value, path, _TRIGGER_FIELDS)
    kind = _trigger_type(r, r.required(raw, "type", path), f"{path}.type")
    target = r.decimal(r.required(raw, "target", path), f"{path}.target")
    if target <= 0:
        r.fail(f"{path}.target", f"must be > 0, got {target}")
    if kind not in FRACTIONAL_TARGETS and target != target.to_integral_value():
        r.fail(f"{path}.target", f"must be a whole number for `{kind}`, got {target}")
    store_ids = _codes(r, raw.get("store_ids") or (), f"{path}.store_ids")
    items = _codes(r, raw.get("items") or (), f"{path}.items")
    if (store_ids or items) and kind not in RECEIPT_TRIGGERS:
        field = "store_ids" if store_ids else "items"
        r.fail(f"{path}.{field}", f"filters apply to receipt triggers only, not `{kind}`")
    name = raw.get("name")
    return Trigger(
        id=r.integer(r.required(raw, "id", path), f"{path}.id"),
        name=kind if name is None else r.text(name, f"{path}.name"),
        type=kind,
        target=target if kind in FRACTIONAL_TARGETS else Decimal(int(target)),
        operator=_operator(r, raw.get("operator", "AND"), f"{path}.operator"),
        store_ids=store_ids,
        items=items,
    )


def _codes(r: FieldReader, value: object, path: str) -> tuple[str, ...]:
    codes = [
        r.text(v, f"{path}[{i}]", max_length=MAX_CODE_LENGTH)
        for i, v in enumerate(r.sequence(value, path))
    ]
    _unique(r, [(c, f"{path}[{i}]") for i, c in enumerate(codes)])
    return tuple(codes)


def _milestones(
    r: FieldReader, value: object, groups: Sequence[TriggerGroup]
) -> tuple[Milestone, ...]:
    group_ids = {g.id for g in groups}
    milestones: list[Milestone] = []
    for i, item in enumerate(r.sequence(value, "milestones")):
        path = f"milestones[{i}]"
        raw = r.mapping(item, path, frozenset({"code", "reached_when", "prizes"}))
        group = _reached_when(r, raw.get("reached_when", "challenge"), f"{path}.reached_when")
        if group is not None and group not in group_ids:
            known = ", ".join(str(g) for g in sorted(group_ids))
            r.fail(f"{path}.reached_when.group", f"no group with id {group} (ids: {known})")
        prizes = r.sequence(raw.get("prizes") or (), f"{path}.prizes")
        milestones.append(
            Milestone(
                code=r.text(r.required(raw, "code", path), f"{path}.code", max_length=128),
                group=group,
                prizes=tuple(_prize(r, p, f"{path}.prizes[{j}]") for j, p in enumerate(prizes)),
            )
        )
    _unique(r, [(m.code, f"milestones[{i}].code") for i, m in enumerate(milestones)])
    return tuple(milestones)


def _reached_when(r: FieldReader, value: object, path: str) -> int | None:
    if value == "challenge":
        return None
    if isinstance(value, Mapping):
        raw = r.mapping(value, path, frozenset({"group"}))
        return r.integer(r.required(raw, "group", path), f"{path}.group")
    return r.fail(path, f"must be `challenge` or {{group: N}}, got {shown(value)}")


def _prize(r: FieldReader, value: object, path: str) -> ChallengePrize:
    raw = r.mapping(value, path, _PRIZE_FIELDS)
    kind = r.choice(r.required(raw, "type", path), f"{path}.type", get_args(PrizeType))
    prize_value: int | str | None = None
    reward_id: int | None = None
    if kind == "points":
        prize_value = r.integer(r.required(raw, "value", path), f"{path}.value", minimum=1)
    elif kind == "voucher":
        prize_value = r.text(r.required(raw, "value", path), f"{path}.value", max_length=128)
    else:
        if raw.get("value") is not None:
            r.fail(f"{path}.value", "a `reward` prize names its `reward_id`, not a value")
        reward_id = r.integer(r.required(raw, "reward_id", path), f"{path}.reward_id", minimum=1)
    if kind != "reward" and raw.get("reward_id") is not None:
        r.fail(f"{path}.reward_id", f"only `reward` prizes have a reward_id, not `{kind}`")
    expires_in_days = r.optional(
        raw, "expires_in_days", path, lambda v, p: r.integer(v, p, minimum=1)
    )
    expires_at = r.optional(raw, "expires_at", path, r.timestamp)
    if expires_in_days is not None and expires_at is not None:
        r.fail(f"{path}.expires_at", "give either expires_in_days or expires_at, not both")
    return ChallengePrize(
        type=kind,
        value=prize_value,
        reward_id=reward_id,
        description=r.optional(raw, "description", path, r.text),
        expires_in_days=expires_in_days,
        expires_at=expires_at,
    )


def _unique(r: FieldReader, values: Sequence[tuple[object, str]]) -> None:
    seen: set[object] = set()
    for value, path in values:
        if value in seen:
            r.fail(path, f"duplicate value {shown(value)}")
        seen.add(value)
