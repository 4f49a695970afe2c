"""Where the benchmark database's backends spend the drain: `pg_stat_activity` sampled
every ~100 ms, counted by state, wait event and the first 60 characters of the query.

A backend `active` without a wait event is on CPU; `Lock:transactionid` waits for another
transaction's row lock (a lock convoy); `idle in transaction` holds a transaction open
while the worker computes or the round trip travels. Idle pool connections are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from typing import Final

import asyncpg

INTERVAL: Final = 0.1
_QUERY: Final = """
    SELECT state, wait_event_type, wait_event, left(query, 200) AS query
    FROM pg_stat_activity
    WHERE datname = $1 AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'
"""
_SPACE: Final = re.compile(r"\s+")


def _statement(query: str | None) -> str:
    text = _SPACE.sub(" ", query or "").strip()
    return text if len(text) <= 60 else text[:60] + "..."


def wait_key(
    state: str, wait_type: str | None, wait_event: str | None, query: str | None
) -> tuple[str, str]:
    """(what the backend does, in which statement): `CPU`, `Lock:transactionid`, ..."""
    if state == "active" and wait_type is None:
        return "CPU", ""
    if state == "active":
        return f"{wait_type}:{wait_event}", f"in {_statement(query)}"
    return state, f"after {_statement(query)}"


class WaitSampler:
    """Samples on its own connection (to the server's admin database), whose backend the
    CPU accounting counts as the benchmark's."""

    def __init__(self, admin_dsn: str, database: str) -> None:
        self.admin_dsn = admin_dsn
        self.database = database
        self.counts: Counter[tuple[str, str]] = Counter()
        self.samples = 0
        self.backend_pid: int | None = None
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.admin_dsn)
        self.backend_pid = int(await self._conn.fetchval("SELECT pg_backend_pid()"))
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._conn is not None
        while True:
            rows = await self._conn.fetch(_QUERY, self.database)
            self.samples += 1
            for row in rows:
                key = wait_key(
                    row["state"], row["wait_event_type"], row["wait_event"], row["query"]
                )
                self.counts[key] += 1
            await asyncio.sleep(INTERVAL)

    async def stop(self) -> dict[str, int]:
        """Stop sampling; the histogram, most frequent first, as `"what|statement": n`."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()
        return {f"{what}|{where}": n for (what, where), n in self.counts.most_common()}


def describe_waits(samples: int, counts: dict[str, int], top: int = 6) -> str:
    if not samples:
        return "waits: not sampled"
    shown = ", ".join(
        " ".join(p for p in (key.partition("|")[0], f"{n:,}", key.partition("|")[2]) if p)
        for key, n in list(counts.items())[:top]
    )
    rest = sum(list(counts.values())[top:])
    more = f", other {rest:,}" if rest else ""
    return f"waits ({samples:,} samples of the bench db's busy backends): {shown or 'none'}{more}"
