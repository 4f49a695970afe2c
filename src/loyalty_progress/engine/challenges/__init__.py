"""Counter challenges (docs/counter-challenges.md), pure: rows + inputs + definitions +
now -> rows + effects.

Modules, one concern each:

- `state`: the persisted rows (msgspec Structs) and ledger entries;
- `occurrences`: weekly / monthly periods of a challenge;
- `triggers`: what an input adds to each trigger;
- `timeline`: opt-in/out and group membership facts, locks;
- `tally`: per-member tallies and the counter values they add up to;
- `expression`: AND/OR evaluation, ActionLeft and Progress;
- `milestones`: reaching milestones, completion, limited winners;
- `effects`: notifications and reward issuances with deterministic ids;
- `inputs`: which of a batch's events are challenge inputs (the rule's first step);
- `routes`: what each source of a batch feeds, worked out once for the batch;
- `plan`: which rows a batch must lock and load;
- `apply`: the batch driver, over the rows of `workspace`;
- `settle`: `satisfied_at` of completions made without the earlier entries at hand;
- `expiry`: `challenge_expired` for ended, unfinished occurrences;
- `catalog`, `catalog_cache`: the routing index, one per definitions revision;
- `status`, `lists`, `responses`, `views`: for the read side, Paytronix statuses, which
  occurrences a list shows, the seed 001/002 response shapes and the mapping into them;
- `won_prizes`: the prizes a member won and has not claimed, as the list shows them.
"""

from loyalty_progress.engine.challenges.apply import ChallengeInput, apply_challenges
from loyalty_progress.engine.challenges.catalog import Catalog
from loyalty_progress.engine.challenges.expiry import (
    ExpiryOutcome,
    expire_occurrences,
    progress_flags,
)
from loyalty_progress.engine.challenges.expression import (
    action_left,
    challenge_satisfied,
    progress_percent,
)
from loyalty_progress.engine.challenges.occurrences import (
    Occurrence,
    occurrence,
    occurrence_at,
    occurrences,
)
from loyalty_progress.engine.challenges.plan import (
    LineSelector,
    LoadPlan,
    RowSelector,
    entries_selectors,
    lines_of,
    load_plan,
    member_keys,
    unsettled_selectors,
    winner_keys,
)
from loyalty_progress.engine.challenges.settle import settle
from loyalty_progress.engine.challenges.state import (
    Delta,
    Entry,
    GroupKey,
    GroupRecord,
    LedgerEntry,
    MemberFact,
    MemberKey,
    MemberRecord,
    OccurrenceKey,
    Participation,
    ParticipationKey,
    Progress,
    ProgressKey,
    Reached,
    Reading,
    Reason,
    Tally,
    kept_participation,
)
from loyalty_progress.engine.challenges.status import (
    Status,
    group_status,
    is_locked,
    member_status,
)
from loyalty_progress.engine.challenges.tally import counter_values
from loyalty_progress.engine.challenges.views import ChallengeView, progress_view
from loyalty_progress.engine.challenges.workspace import (
    ChallengeOutcome,
    ChallengeState,
    EntriesKey,
    EntriesNotLoaded,
    WinnersNotLoaded,
)

__all__ = [
    "Catalog",
    "ChallengeInput",
    "ChallengeOutcome",
    "ChallengeState",
    "ChallengeView",
    "Delta",
    "EntriesKey",
    "EntriesNotLoaded",
    "Entry",
    "ExpiryOutcome",
    "GroupKey",
    "GroupRecord",
    "LedgerEntry",
    "LineSelector",
    "LoadPlan",
    "MemberFact",
    "MemberKey",
    "MemberRecord",
    "Occurrence",
    "OccurrenceKey",
    "Participation",
    "ParticipationKey",
    "Progress",
    "ProgressKey",
    "Reached",
    "Reading",
    "Reason",
    "RowSelector",
    "Status",
    "Tally",
    "WinnersNotLoaded",
    "action_left",
    "apply_challenges",
    "challenge_satisfied",
    "counter_values",
    "entries_selectors",
    "expire_occurrences",
    "group_status",
    "is_locked",
    "kept_participation",
    "lines_of",
    "load_plan",
    "member_keys",
    "member_status",
    "occurrence",
    "occurrence_at",
    "occurrences",
    "progress_flags",
    "progress_percent",
    "progress_view",
    "settle",
    "unsettled_selectors",
    "winner_keys",
]
