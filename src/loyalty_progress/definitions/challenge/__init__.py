"""Counter challenge definitions (docs/counter-challenges.md, "Definitions"; the fields in
docs/definitions-reference.md): the Structs and their validation.

- `model`: the frozen Structs (`ChallengeDefinition` and its parts) and the vocabularies
  their fields take;
- `reader`: reading a mapping field by field, each error naming file, code and field;
- `parse`: `parse_challenge(raw, source)`, one mapping of a definition file -> a
  `ChallengeDefinition`, or `DefinitionError`;
- `set_check`: `check_challenges`, the checks that need the whole set (unique codes,
  `requires`).

Everything public is importable from here, as before the split.
"""

from loyalty_progress.definitions.challenge.model import (
    DISTINCT_TRIGGERS,
    FRACTIONAL_TARGETS,
    GAUGE_TRIGGERS,
    HIDDEN_NOTICES,
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
from loyalty_progress.definitions.challenge.parse import parse_challenge
from loyalty_progress.definitions.challenge.set_check import check_challenges

__all__ = [
    "DISTINCT_TRIGGERS",
    "FRACTIONAL_TARGETS",
    "GAUGE_TRIGGERS",
    "HIDDEN_NOTICES",
    "MAX_CODE_LENGTH",
    "NOTICES",
    "RECEIPT_TRIGGERS",
    "TRIGGER_NUMBERS",
    "TRIGGER_TYPES",
    "Category",
    "ChallengeDefinition",
    "ChallengePrize",
    "Charity",
    "Enrollment",
    "Milestone",
    "Notice",
    "Operator",
    "PrizeType",
    "Recurrence",
    "Scope",
    "Trigger",
    "TriggerGroup",
    "TriggerType",
    "check_challenges",
    "parse_challenge",
]
