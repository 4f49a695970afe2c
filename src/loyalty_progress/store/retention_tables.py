"""Retention's share of the schema (migration `0008_retention` creates exactly this): the
indexes the prune walks, and how far each kind of row has been pruned.

`retention_marks` holds, per club and input stream, the newest `processed_at` of a
processed event the prune deleted (and, under club and stream '', the newest `created_at`
of a deleted outbox row). `replay recompute` reads it to refuse a rebuild that would need
events or message ids that are gone (docs/replay.md, "Horizon").
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, PrimaryKeyConstraint, Table, Text

from loyalty_progress.store.schema import metadata, outbox, processed_events

retention_marks = Table(
    "retention_marks",
    metadata,
    Column("table_name", Text, nullable=False),
    Column("club", Text, nullable=False),
    Column("stream", Text, nullable=False),
    Column("pruned_through", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("table_name", "club", "stream"),
)

# The prune deletes the oldest rows first, a bounded chunk at a time.
Index("processed_events_processed_at", processed_events.c.processed_at)
Index("outbox_created_at", outbox.c.created_at)
