# Over 400 lines: the definition Structs and their field-by-field checks read as one schema.
"""Counter challenge definitions (SPEC §2; the member-app challenge list, the challenge
service): the Structs and their validation.

`parse_challenge(raw, source)` turns one mapping of a definition file into a frozen
`ChallengeDefinition`, or raises `DefinitionError` naming the file, the challenge code and
the dotted field path (`groups[0].triggers[1].target`). Unknown fields are errors: in a
hand-written file they are almost always typos.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, NoReturn, TypeVar, get_args

import msgspec

from loyalty_progress.definitions.errors import DefinitionError

TriggerType = Literal[
    "earned_points",
    "subscribed_vouchers",
    "redeemed_points",
    "redeemed_vouchers",
    "points_balance",
    "tier",
    "receipt_count",
    "receipt_amount",
    "distinct_stores",
    "distinct_items",
]
Operator = Literal["AND", "OR"]
Enrollment = Literal["auto", "opt_in"]
Scope = Literal["member", "group"]
Recurrence = Literal["weekly", "monthly"]
PrizeType = Literal["points", "voucher", "reward"]
# The member notifications a challenge sends (`notify`); reward issuances are not among
# them: a prize is always issued, `reward_issued` only tells the member about it.
Notice = Literal["challenge_completed", "milestone_reached", "reward_issued", "challenge_expired"]

TRIGGER_TYPES: Final[tuple[TriggerType, ...]] = get_args(TriggerType)
# The member-app challenge list numbers its trigger types 1-6; files may use either form.
TRIGGER_NUMBERS: Final[dict[int, TriggerType]] = {
    1: "earned_points",
    2: "subscribed_vouchers",
    3: "redeemed_points",
    4: "redeemed_vouchers",
    5: "points_balance",
    6: "tier",
}
RECEIPT_TRIGGERS: Final = frozenset(
    {"receipt_count", "receipt_amount", "distinct_stores", "distinct_items"}
)
GAUGE_TRIGGERS: Final = frozenset({"points_balance", "tier"})
DISTINCT_TRIGGERS: Final = frozenset({"distinct_stores", "distinct_items"})
# Only a money amount may have a fractional target; everything else counts whole things.
FRACTIONAL_TARGETS: Final = frozenset({"receipt_amount"})
MAX_CODE_LENGTH: Final = 128
NOTICES: Final[tuple[Notice, ...]] = get_args(Notice)
# A hidden challenge is a surprise: the member hears of the prize, never of a challenge
# they were not shown (no completion, milestone or expiry messages).
HIDDEN_NOTICES: Final[tuple[Notice, ...]] = ("reward_issued",)


class Category(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str


class Charity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A charitable organisation a member may name on opt-in (Paytronix)."""

    code: str
    name: str | None = None
    icon: str | None = None


class Trigger(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One counter. `operator` joins it to the previous trigger of its group (ignored on the
    first). `store_ids` / `items` filter receipt triggers; empty means no filter."""

    id: int
    name: str
    type: TriggerType
    target: Decimal
    operator: Operator = "AND"
    store_ids: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


class TriggerGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Ordered triggers. `operator` joins the group to the previous one (ignored on the first).
    `id` defaults to the group's 1-based position; milestones refer to groups by it."""

    id: int
    operator: Operator = "AND"
    triggers: tuple[Trigger, ...]


class ChallengePrize(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`points` (int `value`), `voucher` (code `value`) or `reward` (`reward_id`); optional
    expiry, either relative (`expires_in_days`, counted from issuance) or absolute."""

    type: PrizeType
    value: int | str | None = None
    reward_id: int | None = None
    description: str | None = None
    expires_in_days: int | None = None
    expires_at: datetime | None = None


class Milestone(msgspec.Struct, frozen=True, kw_only=True):
    """Reached when the whole challenge (`group is None`, file form `reached_when: challenge`)
    or the group with id `group` (file form `reached_when: {group: N}`) is satisfied."""

    code: str
    group: int | None = None
    prizes: tuple[ChallengePrize, ...] = ()


class ChallengeDefinition(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    code: str
    club: str
    name: str
    starts_at: datetime
    ends_at: datetime
    groups: tuple[TriggerGroup, ...]
    description: str = ""
    category: Category | None = None
    image: str | None = None
    visible: bool = True
    enrollment: Enrollment = "auto"
    requires: str | None = None
    max_winners: int | None = None
    scope: Scope = "member"
    recurrence: Recurrence | None = None
    charities: tuple[Charity, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    notify: tuple[Notice, ...] | None = None  # None: as `visible` says (see `notices`)

    @functools.cached_property
    def triggers(self) -> tuple[Trigger, ...]:
        """Every trigger, groups in order (computed once per definition)."""
        return tuple(t for g in self.groups for t in g.triggers)

    @functools.cached_property
    def notices(self) -> frozenset[Notice]:
        """The notification types the challenge sends: `notify`, or by default every type
        when it is visible and only `reward_issued` when it is hidden."""
        if self.notify is not None:
            return frozenset(self.notify)
        return frozenset(NOTICES if self.visible else HIDDEN_NOTICES)


# --------------------------------------------------------------------------- validation

T = TypeVar("T")
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


class _Reader:
    """Knows where it is (file, challenge code) so every check can name the field."""

    def __init__(self, source: str, code: str | None) -> None:
        self.source, self.code = source, code

    def fail(self, path: str, problem: str) -> NoReturn:
        raise DefinitionError(self.source, self.code, path or None, problem)

    def mapping(self, value: object, path: str, allowed: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"must be a mapping, got {_shown(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.fail(
                    _join(path, str(key)), f"unknown field (known: {', '.join(sorted(allowed))})"
                )
        return dict(value)

    def sequence(self, value: object, path: str, *, non_empty: bool = False) -> list[Any]:
        if not isinstance(value, list | tuple):
            self.fail(path, f"must be a list, got {_shown(value)}")
        if non_empty and not value:
            self.fail(path, "must not be empty")
        return list(value)

    def required(self, raw: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in raw or raw[key] is None:
            self.fail(_join(path, key), "is required")
        return raw[key]

    def text(self, value: object, path: str, *, max_length: int | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {_shown(value)}")
        if max_length is not None and len(value) > max_length:
            self.fail(path, f"must be at most {max_length} characters")
        if "\x00" in value:
            self.fail(path, "must not contain NUL characters")
        return value

    def integer(self, value: object, path: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be an integer, got {_shown(value)}")
        if minimum is not None and value < minimum:
            self.fail(path, f"must be >= {minimum}, got {value}")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {_shown(value)}")
        return value

    def decimal(self, value: object, path: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            self.fail(path, f"must be a number, got {_shown(value)}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(path, f"must be a number, got {_shown(value)}")
        if not number.is_finite():
            self.fail(path, f"must be a finite number, got {_shown(value)}")
        return number

    def timestamp(self, value: object, path: str) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.fail(path, f"must be an RFC 3339 timestamp with offset, got {_shown(value)}")
        if not isinstance(value, datetime):
            kind = "a date without time" if isinstance(value, date) else _shown(value)
            self.fail(path, f"must be an RFC 3339 timestamp with offset, got {kind}")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail(path, f"must have a UTC offset (e.g. +01:00 or Z), got {value.isoformat()}")
        return value

    def choice(self, value: object, path: str, options: tuple[T, ...]) -> T:
        if value not in options:
            shown = ", ".join(str(o) for o in options)
            self.fail(path, f"must be one of {shown}, got {_shown(value)}")
        return value

    def optional(
        self, raw: Mapping[str, Any], key: str, path: str, read: Callable[[object, str], T]
    ) -> T | None:
        value = raw.get(key)
        return None if value is None else read(value, _join(path, key))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_challenge(raw: dict[str, Any], source: str) -> ChallengeDefinition:
    """Validate one definition mapping; the first problem raises `DefinitionError`."""
    code = raw.get("code") if isinstance(raw, Mapping) else None
    r = _Reader(source, code if isinstance(code, str) else None)
    raw = r.mapping(raw, "", _TOP_FIELDS)
    if raw.get("kind", "challenge") != "challenge":
        r.fail("kind", f"must be `challenge`, got {_shown(raw['kind'])}")
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


def _notify(r: _Reader, value: object, path: str) -> tuple[Notice, ...]:
    """The notification types listed (`[]`: none), in their canonical order."""
    kinds = [r.choice(v, f"{path}[{i}]", NOTICES) for i, v in enumerate(r.sequence(value, path))]
    _unique(r, [(k, f"{path}[{i}]") for i, k in enumerate(kinds)])
    return tuple(k for k in NOTICES if k in kinds)


def _plain_text(r: _Reader, value: object, path: str) -> str:
    if not isinstance(value, str):
        r.fail(path, f"must be a string, got {_shown(value)}")
    return value


def _category(r: _Reader, value: object, path: str) -> Category:
    raw = r.mapping(value, path, frozenset({"id", "name"}))
    return Category(
        id=r.integer(r.required(raw, "id", path), _join(path, "id")),
        name=r.text(r.required(raw, "name", path), _join(path, "name")),
    )


def _charities(r: _Reader, value: object) -> tuple[Charity, ...]:
    charities: list[Charity] = []
    for i, item in enumerate(r.sequence(value, "charities")):
        path = f"charities[{i}]"
        if isinstance(item, str):
            charities.append(Charity(code=r.text(item, path, max_length=MAX_CODE_LENGTH)))
            continue
        raw = r.mapping(item, path, frozenset({"code", "name", "icon"}))
        charities.append(
            Charity(
                code=r.text(r.required(raw, "code", path), _join(path, "code"), max_length=128),
                name=r.optional(raw, "name", path, r.text),
                icon=r.optional(raw, "icon", path, r.text),
            )
        )
    _unique(r, [(c.code, f"charities[{i}].code") for i, c in enumerate(charities)])
    return tuple(charities)


def _groups(r: _Reader, value: object) -> tuple[TriggerGroup, ...]:
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


def _operator(r: _Reader, value: object, path: str) -> Operator:
    normalized = value.upper() if isinstance(value, str) else value
    return r.choice(normalized, path, get_args(Operator))


def _trigger_type(r: _Reader, value: object, path: str) -> TriggerType:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in TRIGGER_NUMBERS:
            r.fail(
                path,
                f"numeric trigger types are 1-6 (as in the member-app challenge list), got {value}",
            )
        return TRIGGER_NUMBERS[value]
    return r.choice(value, path, TRIGGER_TYPES)


def _trigger(r: _Reader, value: object, path: str) -> Trigger:
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


def _codes(r: _Reader, value: object, path: str) -> tuple[str, ...]:
    codes = [
        r.text(v, f"{path}[{i}]", max_length=MAX_CODE_LENGTH)
        for i, v in enumerate(r.sequence(value, path))
    ]
    _unique(r, [(c, f"{path}[{i}]") for i, c in enumerate(codes)])
    return tuple(codes)


def _milestones(r: _Reader, value: object, groups: Sequence[TriggerGroup]) -> tuple[Milestone, ...]:
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


def _reached_when(r: _Reader, value: object, path: str) -> int | None:
    if value == "challenge":
        return None
    if isinstance(value, Mapping):
        raw = r.mapping(value, path, frozenset({"group"}))
        return r.integer(r.required(raw, "group", path), f"{path}.group")
    return r.fail(path, f"must be `challenge` or {{group: N}}, got {_shown(value)}")


def _prize(r: _Reader, value: object, path: str) -> ChallengePrize:
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


def _unique(r: _Reader, values: Sequence[tuple[object, str]]) -> None:
    seen: set[object] = set()
    for value, path in values:
        if value in seen:
            r.fail(path, f"duplicate value {_shown(value)}")
        seen.add(value)


# ------------------------------------------------------------------ across definitions


def check_challenges(definitions: Sequence[ChallengeDefinition], source: str) -> None:
    """Checks that need the whole set: unique (club, code), and `requires` naming an existing
    member-scope challenge of the same club without cycles. Run it on the union of stored
    and newly applied definitions (a parent may live in another file)."""
    by_key: dict[tuple[str, str], ChallengeDefinition] = {}
    for d in definitions:
        if (d.club, d.code) in by_key:
            raise DefinitionError(source, d.code, "code", f"defined twice in club `{d.club}`")
        by_key[(d.club, d.code)] = d
    for d in definitions:
        if d.requires is None:
            continue
        parent = by_key.get((d.club, d.requires))
        if parent is None:
            raise DefinitionError(
                source, d.code, "requires", f"no challenge `{d.requires}` in club `{d.club}`"
            )
        if parent.scope != "member":
            raise DefinitionError(
                source, d.code, "requires", f"`{d.requires}` is a group challenge"
            )
        seen = {d.code}
        while parent is not None and parent.requires is not None:
            if parent.requires in seen:
                raise DefinitionError(source, d.code, "requires", "requirements form a cycle")
            seen.add(parent.requires)
            parent = by_key.get((d.club, parent.requires))
