"""Connecting to PostgreSQL: URL normalisation and the async engine."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Accept the usual `postgresql://` forms; the driver is our business (asyncpg)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"LOYALTY_DATABASE_URL must be a postgresql:// URL, got {parsed.drivername}://"
    )


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it would cost a round trip per transaction; a dead connection
        # surfaces as a transient error and the batch is retried on a fresh one.
        pool_pre_ping=False,
        pool_recycle=1800,
    )
