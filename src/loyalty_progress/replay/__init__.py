"""Replay / backfill: historical events through the worker's own pipeline, in bulks, with a
seed-004-shaped job report; and recompute of one challenge or edition from the stored
events after a definition fix. See docs/replay.md."""

from loyalty_progress.replay.job import DEFAULT_BULK_SIZE, ReplayJob
from loyalty_progress.replay.source import JsonlFile, StreamRange

__all__ = ["DEFAULT_BULK_SIZE", "JsonlFile", "ReplayJob", "StreamRange"]
