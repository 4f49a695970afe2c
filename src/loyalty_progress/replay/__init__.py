"""Replay / backfill: historical events through the worker's own pipeline, in bulks, with
an import-style job report; and recompute of one challenge or edition from the stored
events after a definition fix. See docs/replay.md.

Kept free of imports so that `loyalty-progress replay --help` loads nothing heavy: the
job is `loyalty_progress.replay.job.ReplayJob`, the sources are in `replay.source`."""

DEFAULT_BULK_SIZE = 1000

__all__ = ["DEFAULT_BULK_SIZE"]
