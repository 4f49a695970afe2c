"""Where the PostgreSQL and Redis of a running worker are, for every command that talks to
them from the outside (all but `run` and `docs`): the URLs from the environment when set,
else the embedded servers that `loyalty-progress run` started without URLs. Those record
their ports in `<LOYALTY_DATA_DIR>/ports.json`; the file outlives the servers, so a port
is only trusted once something answers on it.

Also the checks every such command makes before it starts, so that each way of failing
is one line naming what to do (`ServiceError`), never a traceback: the database answers
and carries this release's schema."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loyalty_progress.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# Where the embedded servers listen (loyalty_progress.embedded.HOST; not imported, so that
# commands which never start them stay quick to load).
HOST = "127.0.0.1"
START_HINT = "start the worker first (`loyalty-progress run`)"
MIGRATE_HINT = "run `loyalty-progress migrate`"


class ServiceError(RuntimeError):
    """A command cannot use PostgreSQL or Redis; the message says why and what to do."""


class ServicesNotFound(ServiceError):
    """No usable URLs: the message says what is missing and what to do."""


class ServiceUnreachable(ServiceError):
    """A URL is set (or found) but nothing usable answers there."""


class SchemaNotReady(ServiceError):
    """The database lacks this release's migrations (or has newer ones)."""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _recorded_ports(data_dir: Path) -> dict[str, int]:
    path = data_dir / "ports.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ServicesNotFound(
            "LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL are not set and no embedded servers "
            f"have run in {data_dir} (no ports.json): {START_HINT}, or set the URLs"
        ) from None
    except (OSError, ValueError) as exc:
        raise ServicesNotFound(f"cannot read {path}: {exc}") from None
    ports = {k: v for k, v in raw.items() if isinstance(v, int)} if isinstance(raw, dict) else {}
    if not {"postgres", "redis"} <= ports.keys():
        raise ServicesNotFound(f"{path} does not name both ports: {raw!r}")
    return ports


def embedded_settings(settings: Settings) -> Settings:
    """`settings` with the URLs of the running embedded servers of its data dir."""
    data_dir = settings.data_dir.expanduser().resolve()
    ports = _recorded_ports(data_dir)
    silent = [name for name, port in sorted(ports.items()) if not _answers(port)]
    if silent:
        detail = ", ".join(f"{name} on {HOST}:{ports[name]}" for name in silent)
        raise ServicesNotFound(
            f"the embedded servers of {data_dir} are not running (nothing answers: {detail}): "
            f"{START_HINT}"
        )
    from loyalty_progress.embedded import EmbeddedServices  # deferred: 66 ms, URLs unset only

    services = EmbeddedServices(
        data_dir, postgres_port=ports["postgres"], redis_port=ports["redis"]
    )
    return settings.with_urls(services.database_url, services.redis_url)


def locate(settings: Settings, *, database: bool = True, redis: bool = True) -> Settings:
    """Settings with the URLs a command needs filled in: the environment's when every
    needed one is set, else the running embedded servers' (both) when none is set."""
    have = {"LOYALTY_DATABASE_URL": settings.database_url, "LOYALTY_REDIS_URL": settings.redis_url}
    needed = [name for name, wanted in zip(have, (database, redis), strict=True) if wanted]
    missing = [name for name in needed if not have[name]]
    if not missing:
        return settings
    if any(have.values()):
        raise ServicesNotFound(
            f"{missing[0]} is not set: set both URLs, or neither to use the embedded servers"
        )
    return embedded_settings(settings)


def _where(database_url: str) -> str:
    """host:port/database of a PostgreSQL URL, without credentials."""
    from sqlalchemy.engine import make_url  # deferred: SQLAlchemy takes 0.15 s to import

    url = make_url(database_url)
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def unreachable_reason(exc: BaseException) -> str | None:
    """One line saying why a connection failed, or None when `exc` is no connection
    failure. Looks only at modules already loaded: an exception from a library that was
    never imported cannot be raised."""
    dbapi = getattr(sys.modules.get("sqlalchemy.exc"), "DBAPIError", None)
    if dbapi is not None and isinstance(exc, dbapi):
        text = str(exc.orig or exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    redis_errors = sys.modules.get("redis.exceptions")
    if redis_errors is not None and isinstance(
        exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)
    ):
        return str(exc) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError | TimeoutError):
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def _schema_problem(current: set[str], heads: set[str]) -> str | None:
    if current == heads:
        return None
    if not current:
        return f"has no loyalty-progress schema: {MIGRATE_HINT}"
    shown, wanted = ", ".join(sorted(current)), ", ".join(sorted(heads))
    if current - _known_revisions():
        return (
            f"has schema revision {shown}, unknown to this release (which needs {wanted}): "
            "use the release that migrated it"
        )
    return f"has schema revision {shown}, this release needs {wanted}: {MIGRATE_HINT}"


def _known_revisions() -> set[str]:
    # Deferred, as below: Alembic and the migrations take 0.23 s to import.
    from alembic.script import ScriptDirectory

    from loyalty_progress.store.migrate import alembic_config

    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


async def ready_engine(
    settings: Settings, *, pool_size: int = 1, schema: bool = True
) -> AsyncEngine:
    """An engine on the settings' database, once it answers and (with `schema`) carries
    this release's migrations; raises `ServiceUnreachable` or `SchemaNotReady` otherwise."""
    # Deferred: every command imports this module, `--help` included (0.05 s); Alembic, the
    # migrations and SQLAlchemy take 0.23 s to import.
    from loyalty_progress.store import migrate
    from loyalty_progress.store.database import create_engine

    assert settings.database_url is not None
    where = _where(settings.database_url)
    engine = create_engine(settings.database_url, pool_size=pool_size)
    try:
        try:
            current, heads = await migrate.revisions(engine)
        except Exception as exc:
            reason = unreachable_reason(exc)
            if reason is None:
                raise
            raise ServiceUnreachable(f"cannot reach PostgreSQL at {where}: {reason}") from None
        problem = _schema_problem(current, heads) if schema else None
        if problem is not None:
            raise SchemaNotReady(f"the database at {where} {problem}")
    except BaseException:
        await engine.dispose()
        raise
    return engine
