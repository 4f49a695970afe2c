"""The worker-process helper the fault tests and the benchmark share does what they rely
on: it waits for `/readyz`, reports a worker that dies while starting, stops one with
SIGTERM, and kills one that does not stop in time."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from loyalty_progress.config import Settings
from loyalty_progress.testing.worker_process import WorkerExited
from tests.faults.endpoints import free_port
from tests.faults.replicas import worker_process

pytestmark = pytest.mark.timeout(90)


async def test_wait_ready_returns_once_readyz_answers_and_sigterm_stops_the_worker_with_0(
    settings: Settings, tmp_path: Path
) -> None:
    with worker_process(settings, "ready", tmp_path, LOYALTY_HTTP_PORT=str(free_port())) as worker:
        await worker.wait_ready(timeout=60)
        stopped = await worker.stop(timeout=20)
    assert (stopped.returncode, stopped.killed) == (0, False), worker.log_tail()
    assert worker.returncode == 0


async def test_a_worker_that_does_not_stop_within_the_timeout_is_killed(
    settings: Settings, tmp_path: Path
) -> None:
    port = str(free_port())
    with worker_process(settings, "frozen", tmp_path, LOYALTY_HTTP_PORT=port) as worker:
        await worker.wait_ready(timeout=60)  # its SIGTERM handler is in place by now
        worker.signal(signal.SIGSTOP)  # SIGTERM stays pending: it cannot stop
        stopped = await worker.stop(timeout=1)
    assert (stopped.returncode, stopped.killed) == (-signal.SIGKILL, True)
    assert 1 <= stopped.seconds < 15


async def test_wait_ready_reports_a_worker_that_exits_while_starting_with_its_log(
    settings: Settings, tmp_path: Path
) -> None:
    with (
        worker_process(
            settings,
            "misconfigured",
            tmp_path,
            LOYALTY_HTTP_PORT=str(free_port()),
            LOYALTY_BATCH_SIZE="lots",
        ) as worker,
        pytest.raises(WorkerExited, match="LOYALTY_BATCH_SIZE must be an integer"),
    ):
        await worker.wait_ready(timeout=60)
    assert worker.returncode == 2


async def test_wait_ready_needs_a_port_known_in_advance(settings: Settings, tmp_path: Path) -> None:
    with (
        worker_process(settings, "anywhere", tmp_path) as worker,
        pytest.raises(ValueError, match="port"),
    ):
        await worker.wait_ready(timeout=1)
