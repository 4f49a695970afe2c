"""Pure logic of riding out faults: how errors are classed, backoff with jitter, retries
that tell outages from contention, start-up steps a stop interrupts, what `/readyz`
says, and the session-timeout settings."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
import sqlalchemy.exc

from loyalty_progress.config import Settings, SettingsError
from loyalty_progress.observability.health import Health
from loyalty_progress.store.database import CLIENT_MARGIN_S, SessionTimeouts
from loyalty_progress.worker.retry import (
    Backoff,
    ShuttingDown,
    is_contention,
    is_outage,
    is_transient,
    retry_transient,
)
from loyalty_progress.worker.startup import start_step, unless_stopped


def _wrapped(exc: Exception) -> sqlalchemy.exc.DBAPIError:
    """How SQLAlchemy hands a driver error over: the driver's as `orig`."""
    return sqlalchemy.exc.DBAPIError("SELECT 1", None, exc)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.IdleInTransactionSessionTimeoutError("terminating connection"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    ],
    ids=["55P03 lock_timeout", "57014 statement_timeout", "25P03 idle", "40001", "40P01"],
)
def test_session_timeouts_and_concurrency_aborts_are_contention_retried_in_place(
    error: Exception,
) -> None:
    for exc in (error, _wrapped(error)):
        assert is_contention(exc)
        assert is_transient(exc)
        assert not is_outage(exc)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    ],
)
def test_connection_troubles_are_outages(error: Exception) -> None:
    assert is_outage(error)
    assert is_outage(_wrapped(error))
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"),
        ValueError("a bug"),
    ],
)
def test_failures_of_the_work_are_neither(error: Exception) -> None:
    assert not is_transient(error)
    assert not is_transient(_wrapped(error))


def test_backoff_doubles_to_its_cap_with_each_wait_jittered_into_its_upper_half() -> None:
    backoff = Backoff(first=0.1, cap=1.0, rng=random.Random(7))
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    waits = [backoff.next_wait() for _ in ceilings]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling
    # Jitter: replicas that failed together do not retry together.
    other = Backoff(first=0.1, cap=1.0, rng=random.Random(8))
    assert [other.next_wait() for _ in ceilings] != waits
    backoff.reset()
    assert backoff.next_wait() <= 0.1


async def test_retry_marks_a_dependency_down_for_outages_only() -> None:
    failures = iter(
        [
            asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
            ConnectionRefusedError(111, "Connection refused"),
        ]
    )
    down: list[BaseException] = []
    up: list[bool] = []

    async def action() -> str:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return "done"

    result = await retry_transient(
        action, asyncio.Event(), down.append, lambda: up.append(True), "t"
    )

    assert result == "done"
    assert [type(e) for e in down] == [ConnectionRefusedError]
    assert up == [True]


async def test_retry_rethrows_a_failure_of_the_work_at_once() -> None:
    calls = 0

    async def action() -> None:
        nonlocal calls
        calls += 1
        raise asyncpg.exceptions.UniqueViolationError("duplicate key")

    with pytest.raises(asyncpg.exceptions.UniqueViolationError):
        await retry_transient(action, asyncio.Event(), lambda _: None, lambda: None, "t")
    assert calls == 1


async def test_a_stop_cancels_a_start_up_attempt_in_flight() -> None:
    stopping = asyncio.Event()
    cancelled = asyncio.Event()

    async def never_answers() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    attempt = asyncio.create_task(unless_stopped(never_answers, stopping))
    await asyncio.sleep(0.01)
    stopping.set()
    with pytest.raises(ShuttingDown):
        await asyncio.wait_for(attempt, timeout=5)
    assert cancelled.is_set()


async def test_a_start_up_step_says_what_it_waits_for_and_ends_on_a_stop() -> None:
    stopping = asyncio.Event()
    health = Health()

    async def unreachable() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    failed = asyncio.Event()
    step = asyncio.create_task(
        start_step(unreachable, stopping, health, "database", "PostgreSQL", lambda _: failed.set())
    )
    await asyncio.wait_for(failed.wait(), timeout=5)
    assert health.reasons() == [
        "starting: database: waiting for PostgreSQL "
        "(ConnectionRefusedError: [Errno 111] Connection refused)"
    ]
    stopping.set()
    with pytest.raises(ShuttingDown):
        await asyncio.wait_for(step, timeout=5)


def _running() -> Health:
    return Health(
        database=True, redis=True, migrations_current=True, groups_joined=True, starting=None
    )


def test_readiness_reasons() -> None:
    health = _running()
    assert health.ready
    assert health.reasons() == []
    assert health.as_dict()["groups_joined"] is True

    health.lost_groups["loyalty.points"] = "consumer group g was missing; created it again at 0"
    assert not health.ready
    assert health.reasons() == [
        "loyalty.points: consumer group g was missing; created it again at 0"
    ]
    assert health.as_dict()["groups_joined"] is False

    health = _running()
    health.database = False
    health.redis = False
    assert health.reasons() == [
        "PostgreSQL unreachable (see last_error)",
        "Redis unreachable (see last_error)",
    ]

    health = _running()
    health.migrations_current = False
    assert health.reasons() == ["the database schema does not match this release's migrations"]

    health.stopping = True
    assert health.reasons() == ["shutting down"]
    assert Health().reasons() == ["starting: not started"]


def test_session_timeout_settings() -> None:
    settings = Settings.from_env({})
    assert (
        settings.db_lock_timeout_ms,
        settings.db_idle_in_transaction_timeout_ms,
        settings.db_statement_timeout_ms,
    ) == (5_000, 10_000, 30_000)
    env = {
        "LOYALTY_DB_LOCK_TIMEOUT_MS": "250",
        "LOYALTY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "0",
        "LOYALTY_DB_STATEMENT_TIMEOUT_MS": "2000",
    }
    settings = Settings.from_env(env)
    assert settings.db_lock_timeout_ms == 250
    assert settings.db_idle_in_transaction_timeout_ms == 0
    with pytest.raises(SettingsError, match="LOYALTY_DB_LOCK_TIMEOUT_MS"):
        Settings.from_env({"LOYALTY_DB_LOCK_TIMEOUT_MS": "-1"})

    timeouts = SessionTimeouts(lock_ms=250, idle_in_transaction_ms=0, statement_ms=2000)
    server = timeouts.server_settings()
    assert server["lock_timeout"] == "250"
    assert server["idle_in_transaction_session_timeout"] == "0"
    assert server["statement_timeout"] == "2000"
    assert timeouts.command_timeout() == 2.0 + CLIENT_MARGIN_S
    assert SessionTimeouts(statement_ms=0).command_timeout() is None


def test_planner_cost_setting() -> None:
    assert Settings.from_env({}).db_random_page_cost == 1.1
    assert Settings.from_env({"LOYALTY_DB_RANDOM_PAGE_COST": "0"}).db_random_page_cost == 0
    assert Settings.from_env({"LOYALTY_DB_RANDOM_PAGE_COST": "2.5"}).db_random_page_cost == 2.5
    for bad in ("-1", "fast", "nan", "inf"):
        with pytest.raises(SettingsError, match="LOYALTY_DB_RANDOM_PAGE_COST"):
            Settings.from_env({"LOYALTY_DB_RANDOM_PAGE_COST": bad})


def test_plan_cache_mode_setting() -> None:
    assert Settings.from_env({}).db_plan_cache_mode == "force_custom_plan"
    assert Settings().db_plan_cache_mode == "force_custom_plan"
    assert Settings.from_env({"LOYALTY_DB_PLAN_CACHE_MODE": "server"}).db_plan_cache_mode is None
    assert Settings.from_env({"LOYALTY_DB_PLAN_CACHE_MODE": "AUTO"}).db_plan_cache_mode == "auto"
    with pytest.raises(SettingsError, match="LOYALTY_DB_PLAN_CACHE_MODE"):
        Settings.from_env({"LOYALTY_DB_PLAN_CACHE_MODE": "generic"})
