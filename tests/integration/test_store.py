"""Storage against real PostgreSQL: migrations match the metadata, definitions version."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from loyalty_progress.config import Settings
from loyalty_progress.store import migrate
from loyalty_progress.store.database import create_engine
from loyalty_progress.store.definitions import apply_definitions, latest_definitions, revision
from loyalty_progress.store.tables import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_create_exactly_the_declared_schema(settings: Settings) -> None:
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        assert await migrate.is_current(engine)
        await migrate.upgrade(engine)  # a second run is a no-op
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []


async def test_definitions_get_a_new_version_only_when_they_change(settings: Settings) -> None:
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1)
    body = {"kind": "challenge", "code": "earn-1000", "name": "Earn 1000 Points"}
    try:
        async with engine.begin() as conn:
            before = await revision(conn)
            first = await apply_definitions(conn, [("challenge", "c", "earn-1000", body, "a.yaml")])
        async with engine.begin() as conn:
            same = await apply_definitions(conn, [("challenge", "c", "earn-1000", body, "a.yaml")])
            unchanged_revision = await revision(conn)
        changed_body = {**body, "name": "Earn 1000 Points!"}
        async with engine.begin() as conn:
            second = await apply_definitions(
                conn, [("challenge", "c", "earn-1000", changed_body, "b.yaml")]
            )
            after = await revision(conn)
            latest = await latest_definitions(conn)
    finally:
        await engine.dispose()
    assert (first[0].version, first[0].changed) == (1, True)
    assert (same[0].version, same[0].changed) == (1, False)
    assert (second[0].version, second[0].changed) == (2, True)
    assert before < unchanged_revision == after - 1
    assert [(d.code, d.version, d.body["name"]) for d in latest] == [
        ("earn-1000", 2, "Earn 1000 Points!")
    ]
