"""Applying and checking Alembic migrations on our async engine."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

# Any replica may run migrations on start; the lock makes the others wait, then no-op.
MIGRATION_LOCK = 7_301_004_211


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "loyalty_progress.store:migrations")
    return config


def _upgrade(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    # "heads": feature migrations may branch from the same parent until merged.
    command.upgrade(config, "heads")


async def upgrade(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _revisions(connection: Connection) -> tuple[set[str], set[str]]:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return set(MigrationContext.configure(connection).get_current_heads()), heads


async def revisions(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    """(the database's current revisions, this release's heads); equal when current."""
    async with engine.connect() as conn:
        return await conn.run_sync(_revisions)


async def is_current(engine: AsyncEngine) -> bool:
    current, heads = await revisions(engine)
    return current == heads
