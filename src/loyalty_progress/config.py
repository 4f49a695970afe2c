"""One settings object, read from the environment (and nowhere else)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import platformdirs


class SettingsError(ValueError):
    """A `LOYALTY_*` variable holds a value we cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _cost(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not 0 <= value < 1_000_000:  # also refuses nan and inf
        raise SettingsError(f"{name} must be >= 0, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or default).lower()
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


# `server` keeps the server's setting; the others are PostgreSQL's own values.
PLAN_CACHE_MODES = ("server", "auto", "force_custom_plan", "force_generic_plan")


def _plan_cache_mode(env: Mapping[str, str]) -> str | None:
    mode = _choice(env, "LOYALTY_DB_PLAN_CACHE_MODE", PLAN_CACHE_MODES, "force_custom_plan")
    return None if mode == "server" else mode


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


# HS256 takes a key at least as long as its hash (RFC 7518 §3.2); shorter ones are guessable.
MIN_HS256_SECRET_BYTES = 32


def _secret(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None and len(raw.encode()) < MIN_HS256_SECRET_BYTES:
        # The message gives the rule, never the value.
        raise SettingsError(f"{name} must be at least {MIN_HS256_SECRET_BYTES} bytes long")
    return raw


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


def _auth_mode(env: Mapping[str, str]) -> str | None:
    raw = env.get("LOYALTY_AUTH")
    return None if not raw else _choice(env, "LOYALTY_AUTH", ("jwt", "none"), "jwt")


def _now(env: Mapping[str, str]) -> datetime | None:
    raw = env.get("LOYALTY_NOW")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"LOYALTY_NOW must be an RFC 3339 timestamp, got {raw!r}") from None
    if value.tzinfo is None:
        raise SettingsError(f"LOYALTY_NOW must carry a UTC offset, got {raw!r}")
    return value


def default_consumer_name() -> str:
    """Unique per process: FastStream has no default and two replicas must never share one."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    stream_prefix: str = "loyalty"
    consumer_group: str = "progress-worker"
    consumer_name: str = field(default_factory=default_consumer_name)
    # Loopback unless told otherwise: containers and pods set LOYALTY_HTTP_HOST=0.0.0.0.
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8081
    # Read-side authentication (docs/security.md). `auth` None: tokens when a key is set,
    # else open on a loopback bind only.
    auth: str | None = None
    auth_hs256_secret: str | None = field(default=None, repr=False)
    auth_public_key_file: Path | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    batch_size: int = 1000
    poll_ms: int = 100
    batches_in_flight: int = 2
    member_partitions: int = 2
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    now: datetime | None = None
    data_dir: Path = field(
        default_factory=lambda: Path(platformdirs.user_data_dir("loyalty-progress"))
    )
    migrate_on_start: bool = True
    outbox_sweep_ms: int = 2_000
    scheduler_ms: int = 10_000
    output_maxlen: int = 1_000_000
    db_pool_size: int = 10
    # Server-side bounds on the worker's PostgreSQL sessions (0 turns one off); see
    # `store.database.SessionTimeouts` and docs/runbook.md.
    db_lock_timeout_ms: int = 5_000
    db_idle_in_transaction_timeout_ms: int = 10_000
    db_statement_timeout_ms: int = 30_000
    # The planner's `random_page_cost` on the worker's sessions (0: the server's); see
    # docs/scaling.md, "Plans of the batch statements".
    db_random_page_cost: float = 1.1
    # The planner's `plan_cache_mode` on the worker's sessions (None, from `server`: the
    # server's); same section.
    db_plan_cache_mode: str | None = "force_custom_plan"
    log_level: str = "INFO"
    log_format: str = "auto"  # auto: human-readable on a terminal, JSON lines otherwise
    tracing: bool = False  # OpenTelemetry spans (the `tracing` extra); observability/tracing.py
    # Retention (docs/runbook.md, "Retention"); 0 keeps rows for ever.
    dedupe_retention_days: int = 400
    outbox_retention_days: int = 400

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        consumer = env.get("LOYALTY_CONSUMER_NAME") or default_consumer_name()
        data_dir = env.get("LOYALTY_DATA_DIR")
        prefix = env.get("LOYALTY_STREAM_PREFIX", "loyalty") or "loyalty"
        http_port = _int(env, "LOYALTY_HTTP_PORT", 8080, minimum=0)
        # Any free read-side port (tests, benchmarks, several workers on one host): then
        # any free ops port too, so two such processes never fight over the default.
        metrics_default = 0 if http_port == 0 else 8081
        metrics_port = _int(env, "LOYALTY_METRICS_PORT", metrics_default, minimum=0)
        if metrics_port == http_port != 0:
            raise SettingsError(
                f"LOYALTY_METRICS_PORT must differ from LOYALTY_HTTP_PORT, both are {http_port}"
            )
        return cls(
            database_url=env.get("LOYALTY_DATABASE_URL") or None,
            redis_url=env.get("LOYALTY_REDIS_URL") or None,
            stream_prefix=prefix,
            consumer_group=env.get("LOYALTY_CONSUMER_GROUP") or "progress-worker",
            consumer_name=consumer,
            http_host=env.get("LOYALTY_HTTP_HOST") or "127.0.0.1",
            http_port=http_port,
            metrics_host=env.get("LOYALTY_METRICS_HOST") or "127.0.0.1",
            metrics_port=metrics_port,
            auth=_auth_mode(env),
            auth_hs256_secret=_secret(env, "LOYALTY_AUTH_HS256_SECRET"),
            auth_public_key_file=_path(env, "LOYALTY_AUTH_PUBLIC_KEY_FILE"),
            auth_issuer=_optional(env, "LOYALTY_AUTH_ISSUER"),
            auth_audience=_optional(env, "LOYALTY_AUTH_AUDIENCE"),
            batch_size=_int(env, "LOYALTY_BATCH_SIZE", 1000),
            poll_ms=_int(env, "LOYALTY_POLL_MS", 100),
            batches_in_flight=_int(env, "LOYALTY_BATCHES_IN_FLIGHT", 2),
            member_partitions=_int(env, "LOYALTY_MEMBER_PARTITIONS", 2),
            claim_idle_ms=_int(env, "LOYALTY_CLAIM_IDLE_MS", 30_000),
            max_deliveries=_int(env, "LOYALTY_MAX_DELIVERIES", 5),
            now=_now(env),
            data_dir=Path(data_dir)
            if data_dir
            else Path(platformdirs.user_data_dir("loyalty-progress")),
            migrate_on_start=_bool(env, "LOYALTY_MIGRATE_ON_START", True),
            outbox_sweep_ms=_int(env, "LOYALTY_OUTBOX_SWEEP_MS", 2_000),
            scheduler_ms=_int(env, "LOYALTY_SCHEDULER_MS", 10_000),
            output_maxlen=_int(env, "LOYALTY_OUTPUT_MAXLEN", 1_000_000),
            db_pool_size=_int(env, "LOYALTY_DB_POOL_SIZE", 10),
            db_lock_timeout_ms=_int(env, "LOYALTY_DB_LOCK_TIMEOUT_MS", 5_000, minimum=0),
            db_idle_in_transaction_timeout_ms=_int(
                env, "LOYALTY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10_000, minimum=0
            ),
            db_statement_timeout_ms=_int(env, "LOYALTY_DB_STATEMENT_TIMEOUT_MS", 30_000, minimum=0),
            db_random_page_cost=_cost(env, "LOYALTY_DB_RANDOM_PAGE_COST", 1.1),
            db_plan_cache_mode=_plan_cache_mode(env),
            log_level=(env.get("LOYALTY_LOG_LEVEL") or "INFO").upper(),
            log_format=_choice(env, "LOYALTY_LOG_FORMAT", ("auto", "json", "text"), "auto"),
            tracing=_bool(env, "LOYALTY_TRACING", False),
            dedupe_retention_days=_int(env, "LOYALTY_DEDUPE_RETENTION_DAYS", 400, minimum=0),
            outbox_retention_days=_int(env, "LOYALTY_OUTBOX_RETENTION_DAYS", 400, minimum=0),
        )

    def with_urls(self, database_url: str, redis_url: str) -> Settings:
        return replace(self, database_url=database_url, redis_url=redis_url)

    def stream(self, name: str) -> str:
        """Full stream name: `<prefix>.<name>`."""
        return f"{self.stream_prefix}.{name}"
