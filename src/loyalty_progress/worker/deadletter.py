"""Dead-lettering: every input entry that cannot be applied is copied, with its reason,
to `<prefix>.deadletter` (through the outbox) and acknowledged.

A dead letter's size is bounded whatever the entry held: the body is kept up to
`DEAD_LETTER_BODY_BYTES` (with the original's size and sha256), the reason up to
`DEAD_LETTER_REASON_CHARS`."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Final

from redis.asyncio import Redis

from loyalty_progress.contract.events import bounded_reason
from loyalty_progress.contract.outputs import DEAD_LETTER_BODY_BYTES, DeadLetter

DEAD_LETTER_REASON_CHARS: Final = 1000


def _kept_prefix(body: bytes, limit: int) -> bytes:
    """The first `limit` bytes, less a UTF-8 sequence the cut would split."""
    kept = body[:limit]
    if len(kept) == len(body):
        return kept
    for back in range(1, min(4, len(kept)) + 1):
        byte = kept[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: ASCII or a sequence's lead
            length = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return kept[:-back] if back < length else kept
    return kept


def dead_letter(
    stream: str, entry_id: str, body: bytes, reason: str, deliveries: int, now: datetime
) -> DeadLetter:
    kept = _kept_prefix(body, DEAD_LETTER_BODY_BYTES)
    text = kept.decode("utf-8", errors="replace")
    exact = text.encode("utf-8") == kept
    return DeadLetter(
        stream=stream,
        entry_id=entry_id,
        body=text,
        reason=bounded_reason(reason, DEAD_LETTER_REASON_CHARS),
        delivery_count=deliveries,
        dead_lettered_at=now,
        body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        body_truncated=len(kept) < len(body),
        body_base64=None if exact else base64.b64encode(kept).decode("ascii"),
    )


class FailureLog:
    """The last error of entries that failed on their own, kept in Redis so that whichever
    replica finally dead-letters the entry can say why."""

    def __init__(self, redis: Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    @staticmethod
    def _field(stream: str, entry_id: str) -> str:
        return f"{stream}|{entry_id}"

    async def record(self, stream: str, entry_id: str, reason: str) -> None:
        await self._redis.hset(self._key, self._field(stream, entry_id), reason[:2000])

    async def reasons(self, stream: str, entry_ids: list[str]) -> dict[str, str]:
        if not entry_ids:
            return {}
        values = await self._redis.hmget(self._key, [self._field(stream, i) for i in entry_ids])
        return {
            i: v.decode() if isinstance(v, bytes) else str(v)
            for i, v in zip(entry_ids, values, strict=True)
            if v is not None
        }

    async def forget(self, stream: str, entry_ids: list[str]) -> None:
        if entry_ids:
            await self._redis.hdel(self._key, *(self._field(stream, i) for i in entry_ids))
