"""Which rules the pipeline and the scheduler run, in order. Batch rules run in the order
listed, every batch the same, so the order in which they lock their tables is global."""

from __future__ import annotations

from loyalty_progress.config import Settings
from loyalty_progress.observability.metrics import Metrics
from loyalty_progress.worker.attendance import AttendanceRule, AttendanceTimeRule
from loyalty_progress.worker.challenges import ChallengeExpiryRule, ChallengeRule
from loyalty_progress.worker.prizes import PrizeClaimRule
from loyalty_progress.worker.retention import RetentionRule
from loyalty_progress.worker.rule_protocols import BatchRule, TimeRule


def batch_rules(metrics: Metrics | None = None) -> list[BatchRule]:
    return [AttendanceRule(), ChallengeRule(metrics), PrizeClaimRule()]


def time_rules(settings: Settings | None = None) -> list[TimeRule]:
    """The time rules; with the worker's `settings`, retention's prune runs last."""
    rules: list[TimeRule] = [AttendanceTimeRule(), ChallengeExpiryRule()]
    return rules if settings is None else [*rules, RetentionRule(settings)]
