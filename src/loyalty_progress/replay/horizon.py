"""How far back `replay recompute` can look: the events it rebuilds from and the message
ids that keep it from issuing a message twice are pruned by retention, so a rebuild that
needs anything older than what was pruned is refused, not run on partial history
(docs/replay.md, "Horizon")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_progress.store.retention import marks


async def beyond_horizon(
    conn: AsyncConnection,
    club: str,
    what: str,
    starts_at: datetime,
    streams: Sequence[str],
    member_facts: bool,
) -> str | None:
    """Why `what` (starting at `starts_at`, rebuilt from `streams`) cannot be recomputed
    from what retention left, or None when it can. `member_facts`: the rebuild replays
    opt-ins or group joins, which count from whenever they happened, not from the start."""
    found = await marks(conn, club, streams)
    for stream, pruned in sorted(found.events.items()):
        if member_facts and stream == "members":
            return (
                f"{what} needs every members event of club {club} (opt-ins and group "
                f"joins count from whenever they happened), and those processed up to "
                f"{pruned.isoformat()} were pruned (LOYALTY_DEDUPE_RETENTION_DAYS)"
            )
        if pruned >= starts_at:
            return (
                f"{what} starts at {starts_at.isoformat()}, and {stream} events of club "
                f"{club} processed up to {pruned.isoformat()} were pruned "
                "(LOYALTY_DEDUPE_RETENTION_DAYS)"
            )
    if found.outbox is not None and found.outbox >= starts_at:
        return (
            f"{what} starts at {starts_at.isoformat()}, and outbox rows written up to "
            f"{found.outbox.isoformat()} were pruned (LOYALTY_OUTBOX_RETENTION_DAYS): "
            "their messages would be issued again"
        )
    return None
