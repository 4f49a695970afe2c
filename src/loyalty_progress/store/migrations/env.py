"""Alembic environment, for both ways migrations run:

- from `loyalty-progress migrate` and the worker's start (`store.migrate`), on the
  connection they hand over (they hold the advisory lock already);
- from the `alembic` command with the repository's `alembic.ini`: online on
  LOYALTY_DATABASE_URL (else the running embedded servers), under the same advisory lock;
  offline (`--sql`) as PostgreSQL SQL on stdout, without any database.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from loyalty_progress.store.tables import metadata

config = context.config


def _configure(**options: object) -> None:
    context.configure(target_metadata=metadata, compare_type=True, **options)  # type: ignore[arg-type]


def _database_url() -> str:
    from alembic.util import CommandError

    from loyalty_progress.config import Settings
    from loyalty_progress.local_services import ServiceError, locate

    try:
        url = locate(Settings.from_env(), redis=False).database_url
    except ServiceError as exc:
        raise CommandError(str(exc)) from None  # alembic prints it as one FAILED line
    assert url is not None
    return url


def _run_locked(connection: Connection) -> None:
    from loyalty_progress.store.migrate import MIGRATION_LOCK

    _configure(connection=connection)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _run_online() -> None:
    from loyalty_progress.store.database import create_engine

    engine = create_engine(_database_url(), pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_locked)
            await connection.commit()
    finally:
        await engine.dispose()


handed_over = config.attributes.get("connection")
if handed_over is not None:
    _configure(connection=handed_over)
    with context.begin_transaction():
        context.run_migrations()
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        # Only the dialect matters offline: the SQL is printed, nothing connects.
        _configure(url="postgresql://", literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_online())
