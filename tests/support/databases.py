"""A database of its own for every test: created from a migrated template (a copy is
much cheaper than migrating) and dropped afterwards, named after this test run so that
runs sharing a server never collide."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url

from loyalty_progress.config import Settings

RUN_ID = uuid.uuid4().hex[:8]
_others = itertools.count()


def with_database(url: str, name: str) -> str:
    """`url` (SQLAlchemy form) pointing at the database `name` of the same server."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """`url` in the form asyncpg connects with (no `+driver`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await admin.close()


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def another_database(
    settings: Settings, admin_url: str, template: str
) -> AsyncIterator[Settings]:
    """A second, empty (migrated) database for the same test, with its own settings."""
    name = f"lp_{RUN_ID}_other_{next(_others)}"
    await create_database(admin_url, name, template)
    try:
        yield dataclasses.replace(settings, database_url=with_database(admin_url, name))
    finally:
        await drop_database(admin_url, name)
