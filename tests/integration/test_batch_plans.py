"""The plans of the batch statements on the worker's sessions, against real PostgreSQL.

A batch looks its rows up by key; the worker's sessions plan with `random_page_cost` 1.1
(`LOYALTY_DB_RANDOM_PAGE_COST`), so a batch's keys are index lookups on a table of fifteen
thousand rows, where the server default (4.0) hash-joins them over a sequential scan
of the whole table. They also plan every execution anew (`LOYALTY_DB_PLAN_CACHE_MODE`,
`force_custom_plan`): a plan a session caches while a table is small would keep scanning it
whole after it has grown (docs/scaling.md, "Plans of the batch statements")."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loyalty_progress.config import Settings
from loyalty_progress.store.database import create_engine
from loyalty_progress.worker.app import Worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROWS = 15_000
KEYS = 500

# The shape of the ledger lookup of `store.challenge_writes.lock_rows`.
_LOOKUP = """
EXPLAIN (FORMAT JSON)
SELECT l.event_id FROM challenge_ledger AS l
JOIN (SELECT CAST(r->>0 AS text) AS club, CAST(r->>1 AS text) AS code,
             CAST(r->>2 AS text) AS member_id
      FROM jsonb_array_elements(CAST(:keys AS jsonb)) AS e(r)) AS s
  ON l.club = s.club AND l.member_id = s.member_id AND l.code = s.code AND l.tracked
"""


def _nodes(plan: dict[str, object]) -> list[str]:
    found = [f"{plan['Node Type']} {plan.get('Relation Name', '')}".strip()]
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found += _nodes(child)
    return found


async def _plan(engine: AsyncEngine) -> list[str]:
    keys = json.dumps([["club-a", "spend", f"m{i:05}"] for i in range(KEYS)])
    async with engine.connect() as conn:
        result = await conn.execute(text(_LOOKUP), {"keys": keys})
        return _nodes(result.scalar_one()[0]["Plan"])


async def _fill_ledger(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO challenge_ledger (club, member_id, code, event_id, occurred_at,
                    source, reason, counted, entry, recorded_at, tracked)
                SELECT 'club-a', 'm' || lpad(CAST(i % 20000 AS text), 5, '0'), 'spend',
                       'e' || i, now(), 'points.earned', 'counted', true,
                       CAST('{"deltas": []}' AS jsonb), now(), true
                FROM generate_series(1, :rows) AS i
                """
            ),
            {"rows": ROWS},
        )


async def test_batch_lookups_are_index_scans_on_the_worker_sessions(
    settings: Settings, database_url: str
) -> None:
    setup = create_engine(database_url, pool_size=1)
    await _fill_ledger(setup)
    worker = Worker(settings)
    try:
        server_default = await _plan(setup)
        on_worker = await _plan(worker.engine)
    finally:
        await worker.engine.dispose()
        await setup.dispose()
    assert "Seq Scan challenge_ledger" in server_default  # what the setting is for
    assert "Seq Scan challenge_ledger" not in on_worker
    assert "Index Scan challenge_ledger" in on_worker


# The same lookup as a prepared statement of the session, so that its cached plan shows.
_PREPARE = _LOOKUP.replace("EXPLAIN (FORMAT JSON)", "PREPARE lookup(jsonb) AS").replace(
    ":keys", "$1"
)


async def _plans_before_and_after_growth(
    engine: AsyncEngine, setup: AsyncEngine
) -> tuple[list[str], list[str]]:
    """The plans one session uses for the lookup while the ledger is empty (after the
    executions that make PostgreSQL settle on a cached plan) and once it has grown."""
    # EXECUTE takes no bind parameters: the keys (no quotes in them) go in as a literal.
    keys = json.dumps([["club-a", "spend", f"m{i:05}"] for i in range(KEYS)])
    execute = f"EXECUTE lookup('{keys}')"
    explain = text(f"EXPLAIN (FORMAT JSON) {execute}")
    async with engine.connect() as conn:
        await conn.execute(text(_PREPARE))
        for _ in range(6):
            await conn.execute(text(execute))
        small = _nodes((await conn.execute(explain)).scalar_one()[0]["Plan"])
        await _fill_ledger(setup)
        grown = _nodes((await conn.execute(explain)).scalar_one()[0]["Plan"])
        await conn.execute(text("DEALLOCATE lookup"))
    return small, grown


async def test_a_plan_made_while_a_table_was_small_is_not_kept_on_the_worker_sessions(
    settings: Settings, database_url: str
) -> None:
    setup = create_engine(database_url, pool_size=1)
    # The server's plan cache, with the worker's costs: only the cache mode differs.
    cached = create_engine(database_url, pool_size=1, random_page_cost=1.1)
    worker = Worker(settings)
    try:
        small, grown = await _plans_before_and_after_growth(cached, setup)
        async with setup.begin() as conn:
            await conn.execute(text("TRUNCATE challenge_ledger"))
        on_worker_small, on_worker_grown = await _plans_before_and_after_growth(
            worker.engine, setup
        )
    finally:
        await worker.engine.dispose()
        await cached.dispose()
        await setup.dispose()
    assert "Seq Scan challenge_ledger" in small
    assert "Seq Scan challenge_ledger" in grown  # the cached plan outlives the growth
    assert "Seq Scan challenge_ledger" in on_worker_small  # right for an empty table
    assert "Index Scan challenge_ledger" in on_worker_grown
