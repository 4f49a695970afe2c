"""Prometheus metrics of one worker process (its own registry, so several workers in one
process — as in tests — never mix their numbers).

Names follow Prometheus conventions: the unit last (`_seconds`, `_entries`, `_rows`),
`_total` on counters. The registry also carries the standard `process_*` (CPU, memory,
file descriptors), `python_info` and `python_gc_*` metrics that the client library's
default registry would have."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000)
# Up to a minute: a batch of 1000 under load takes seconds, an outage retries longer.
DURATIONS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
)  # fmt: skip


def reason_class(reason: str) -> str:
    """A small, fixed set of label values for dead-letter reasons (labels must not explode)."""
    for prefix, label in (
        ("body is not valid JSON", "invalid_json"),
        ("body is not valid UTF-8", "invalid_utf8"),
        ("body cannot be decoded", "undecodable"),
        ("body is ", "too_large"),
        ("entry has no `data` field", "no_data_field"),
        ("failed ", "max_deliveries"),
        ("invalid ", "invalid_event"),
        ("unknown reward_id ", "unknown_prize"),
        ("reward_id ", "another_members_prize"),
    ):
        if reason.startswith(prefix):
            return label
    return "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The process-wide collectors (one per process, shared by every registry).
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.events_applied = Counter(
            "loyalty_events_applied_total", "Events applied", ["stream", "type"], registry=r
        )
        self.duplicates = Counter(
            "loyalty_duplicate_events_total", "Events dropped as duplicates", ["stream"], registry=r
        )
        self.dead_lettered = Counter(
            "loyalty_dead_lettered_total", "Entries dead-lettered", ["stream", "reason"], registry=r
        )
        self.batch_size = Histogram(
            "loyalty_batch_size_entries",
            "Entries per batch",
            ["stream"],
            buckets=BATCH_SIZES,
            registry=r,
        )
        self.batch_duration = Histogram(
            "loyalty_batch_duration_seconds",
            "Time to apply and commit one batch",
            ["stream"],
            buckets=DURATIONS,
            registry=r,
        )
        self.isolated_failures = Counter(
            "loyalty_isolated_failures_total",
            "Entries that failed on their own and were left pending",
            ["stream"],
            registry=r,
        )
        self.challenge_reapplied = Counter(
            "loyalty_challenge_batches_reapplied_total",
            "Batches the challenge rule applied again after loading rows its plan did not name",
            ["reason"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "loyalty_consumer_lag_entries",
            "Entries not yet delivered to the group",
            ["stream"],
            registry=r,
        )
        self.pending = Gauge(
            "loyalty_pending_entries",
            "Entries delivered but not acknowledged",
            ["stream"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "loyalty_outbox_backlog_rows", "Outbox rows not yet published", registry=r
        )
        self.outbox_published = Counter(
            "loyalty_outbox_published_total", "Outbox rows published", ["stream"], registry=r
        )
        self.publish_latency = Histogram(
            "loyalty_outbox_publish_latency_seconds",
            "From outbox row commit to XADD",
            buckets=DURATIONS,
            registry=r,
        )
        self.scheduler_runs = Counter(
            "loyalty_scheduler_runs_total", "Scheduler runs", ["outcome"], registry=r
        )
        self.claimed = Counter(
            "loyalty_claimed_entries_total", "Pending entries claimed", ["stream"], registry=r
        )
        self.groups_recreated = Counter(
            "loyalty_consumer_groups_recreated_total",
            "Consumer groups found missing and created again",
            ["stream"],
            registry=r,
        )
