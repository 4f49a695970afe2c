"""How the worker reads each input stream: one FastStream batch subscriber per stream in the
shared consumer group. The AsyncAPI document (`apidocs`) declares the same."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.redis import StreamSub

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import InputStream


@dataclass(frozen=True, slots=True)
class InputSubscription:
    """How the worker reads one input stream; the AsyncAPI document declares the same."""

    stream: StreamSub
    title: str
    description: str


def input_subscription(settings: Settings, stream: InputStream) -> InputSubscription:
    return InputSubscription(
        stream=StreamSub(
            settings.stream(stream.value),
            group=settings.consumer_group,
            consumer=settings.consumer_name,
            batch=True,
            max_records=settings.batch_size,
            polling_interval=settings.poll_ms,
        ),
        title=f"{stream.value}-batch",
        description=f"{stream.value} events, applied in batches of up to "
        f"{settings.batch_size} entries",
    )
