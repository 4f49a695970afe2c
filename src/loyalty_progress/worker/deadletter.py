"""Dead-lettering: every input entry that cannot be applied is copied, with its reason,
to `<prefix>.deadletter` (through the outbox) and acknowledged."""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from loyalty_progress.contract.outputs import DeadLetter


def dead_letter(
    stream: str, entry_id: str, body: bytes, reason: str, deliveries: int, now: datetime
) -> DeadLetter:
    return DeadLetter(
        stream=stream,
        entry_id=entry_id,
        body=body.decode("utf-8", errors="replace"),
        reason=reason,
        delivery_count=deliveries,
        dead_lettered_at=now,
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
