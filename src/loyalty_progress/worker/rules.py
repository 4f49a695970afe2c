"""The former name of `worker.rule_protocols`, kept only until `worker.attendance` and
`worker.challenges` import `BatchContext` from there."""

from loyalty_progress.worker.rule_protocols import BatchContext

__all__ = ["BatchContext"]
