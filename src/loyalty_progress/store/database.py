"""Connecting to PostgreSQL: URL normalisation and the async engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Server-side TCP keepalives and user timeout on the worker's sessions (TCP only; PostgreSQL
# ignores them on Unix sockets): the server notices a client that vanished (a node lost,
# a network partition) within about a minute, ends its session and frees its connection
# slot, instead of whatever the kernel defaults (two hours of silence) would allow.
_KEEPALIVE: Final = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "30000",
}
CONNECT_TIMEOUT_S: Final = 10.0
MAX_NAME_LENGTH: Final = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)
# The client gives up on a statement this long after the server's own statement timeout
# should have fired: only a server that is frozen or cut off gets that far.
CLIENT_MARGIN_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class SessionTimeouts:
    """Bounds on what one of the worker's sessions may hold or wait for (0: no bound).

    - `lock_ms` (`lock_timeout`): the longest a statement waits for a row lock;
    - `idle_in_transaction_ms` (`idle_in_transaction_session_timeout`): a session that
      stays silent this long inside a transaction (its process frozen or cut off) is
      ended by the server, which rolls back and releases its row locks;
    - `statement_ms` (`statement_timeout`): the longest one statement may run.
    """

    lock_ms: int = 5_000
    idle_in_transaction_ms: int = 10_000
    statement_ms: int = 30_000

    def server_settings(self) -> dict[str, str]:
        return {
            "lock_timeout": str(self.lock_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_ms),
            "statement_timeout": str(self.statement_ms),
            **_KEEPALIVE,
        }

    def command_timeout(self) -> float | None:
        """asyncpg's client-side bound on a statement (a frozen or unreachable server never
        answers, so no server-side timeout can fire)."""
        return self.statement_ms / 1000 + CLIENT_MARGIN_S if self.statement_ms else None


def async_url(url: str) -> str:
    """Accept the usual `postgresql://` forms; the driver is our business (asyncpg)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"LOYALTY_DATABASE_URL must be a postgresql:// URL, got {parsed.drivername}://"
    )


def create_engine(
    url: str,
    pool_size: int = 10,
    timeouts: SessionTimeouts | None = None,
    application_name: str | None = None,
    random_page_cost: float | None = None,
    plan_cache_mode: str | None = None,
) -> AsyncEngine:
    """`timeouts`: for the worker's engine. Tools, replays and migrations go without them
    (a migration may rightly run long and wait for locks). `application_name` names the
    sessions in `pg_stat_activity` (which replica holds what). `random_page_cost`: the
    planner's, for the worker's sessions (None: the server's). Its batch statements look
    rows up by key in a working set that stays cached; at the server default (4.0, a
    spinning disk's seek) PostgreSQL hash-joins a batch's keys over sequential scans of any
    table under some 100,000 rows, which cost a third of its CPU per event in the
    benchmark (docs/scaling.md, "Plans of the batch statements"). `plan_cache_mode`: the
    planner's, for the worker's sessions (None: the server's). A session keeps the generic
    plan of a statement it has run five times; made while a table was small, that plan
    scans the table whole for every batch long after it has grown, until the next
    ANALYZE of the table (same section)."""
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
    server_settings: dict[str, str] = {}
    if timeouts is not None:
        server_settings |= timeouts.server_settings()
        connect_args["command_timeout"] = timeouts.command_timeout()
    if random_page_cost is not None:
        server_settings["random_page_cost"] = f"{random_page_cost:g}"
    if plan_cache_mode is not None:
        server_settings["plan_cache_mode"] = plan_cache_mode
    if application_name:
        server_settings["application_name"] = application_name[:MAX_NAME_LENGTH]
    if server_settings:
        connect_args["server_settings"] = server_settings
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it would cost a round trip per transaction; a dead connection
        # surfaces as a transient error and the batch is retried on a fresh one.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args,
    )
