"""`loyalty-progress demo` against a running worker: the story goes in, and the rewards,
the extra-period notices and the rest come out, each fact exactly once; and against the
README's quick start, a worker on the embedded servers started without any URL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from loyalty_progress.cli import build_parser
from loyalty_progress.config import Settings
from loyalty_progress.demo.scenario import CLUB, FIRST_STAGE_REWARD_ID
from loyalty_progress.embedded import EmbeddedServices
from tests.support.streams import read_stream
from tests.support.worker import running_worker


def _demo(settings: Settings, *argv: str) -> int:
    """`loyalty-progress demo ARGV` through the real parser and handler."""
    args = build_parser().parse_args(["demo", *argv])
    return int(args.handler(args, settings))


async def _club_messages(redis: Redis, settings: Settings, stream: str) -> list[dict[str, Any]]:
    return [m for m in await read_stream(redis, settings, stream) if m["club"] == CLUB]


@pytest.mark.timeout(90)
async def test_demo_prints_rewards_and_extra_period_notices_each_fact_once(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_worker(settings):
        # The demo runs its own event loop (as on the command line) beside the worker's.
        code = await asyncio.wait_for(
            asyncio.to_thread(_demo, settings, "--no-wait", "--timeout", "30"), timeout=75
        )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = printed.out.splitlines()
    assert any(" reward_issued " in line for line in lines), printed.out
    assert any(" extra_period_ending " in line for line in lines), printed.out
    assert any(line.startswith("progress as of ") for line in lines), printed.out

    notifications = await _club_messages(redis, settings, "notifications")
    story = Counter(n["type"] for n in notifications if n["type"] not in _RECEIPT_NOTICES)
    # Three members: one regular, one collector, one late (see demo/scenario.py).
    assert story == {
        "attendance_completed": 4 + 1 + 2,
        "stage_completed": 1,
        "streak_completed": 1,
        "reward_issued": 4,
        "challenge_completed": 2,
        "extra_period_ending": 2,
        "stage_failed": 2,
        "challenge_expired": 2,
    }
    assert len({n["notification_id"] for n in notifications}) == len(notifications)
    notices = [n for n in notifications if n["type"] == "extra_period_ending"]
    assert {n["properties"]["days"] for n in notices} == {3}
    rewards = await _club_messages(redis, settings, "rewards")
    prizes = sorted(
        (r["prize"]["type"], str(r["prize"].get("value") or r["prize"].get("reward_id")))
        for r in rewards
    )
    assert prizes == [
        ("points", "150"),
        ("points", "200"),
        ("reward", str(FIRST_STAGE_REWARD_ID)),
        ("voucher", "BURGER40"),
    ]
    announced = {
        n["properties"]["reward_id"] for n in notifications if n["type"] == "reward_issued"
    }
    assert announced == {r["reward_id"] for r in rewards}


_RECEIPT_NOTICES = {"receipt_approved", "receipt_rejected"}


@pytest.mark.timeout(60)
async def test_demo_without_a_worker_says_to_start_one(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(_demo, settings, "--no-wait")
    printed = capsys.readouterr()
    assert code == 1
    assert "loyalty-progress run" in printed.err
    assert settings.stream_prefix in printed.err


# --- the README's quick start: `make run`, then `loyalty-progress demo` -------------------


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        HOME=str(home),
        LOYALTY_DATA_DIR=str(home / "data"),
        LOYALTY_HTTP_HOST="127.0.0.1",
        LOYALTY_HTTP_PORT="0",
        LOYALTY_LOG_LEVEL="WARNING",
    )
    return env


def _worker_ready(data_dir: Path) -> bool:
    """The embedded servers are up and the worker has joined its consumer group."""
    try:
        ports = json.loads((data_dir / "ports.json").read_text())
    except (OSError, ValueError):
        return False
    client = SyncRedis(port=ports["redis"], socket_timeout=2, socket_connect_timeout=2)
    try:
        groups = client.xinfo_groups("loyalty.receipts")
    except Exception:
        return False
    finally:
        client.close()
    return any(g["name"] == b"progress-worker" for g in groups)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _stop(worker: subprocess.Popen[bytes], data_dir: Path) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
    if worker.returncode not in (None, 0):
        # Killed before it stopped its servers: starting on the same data dir stops
        # what was left running, then stop() shuts everything down.
        leftover = EmbeddedServices(data_dir)
        leftover.start()
        leftover.stop()


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under pytest's tmp_path: a pytest session starting meanwhile takes the other
    # users' access away from its base dir, and the embedded PostgreSQL runs as another
    # user when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="loyalty-progress-demo-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(90)
def test_demo_against_a_worker_started_without_urls(home: Path) -> None:
    env = _environment(home)
    data_dir = home / "data"
    log_path = home / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "loyalty_progress", "run"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _worker_ready(data_dir):
            assert worker.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        demo = subprocess.run(
            [sys.executable, "-m", "loyalty_progress", "demo"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        _stop(worker, data_dir)
    assert demo.returncode == 0, demo.stderr + log_path.read_text(errors="replace")
    assert " reward_issued " in demo.stdout
    assert " extra_period_ending " in demo.stdout
    assert worker.returncode == 0, log_path.read_text(errors="replace")
    # Stopping the worker stopped its embedded servers too.
    ports = json.loads((data_dir / "ports.json").read_text())
    assert not [port for port in ports.values() if _answers(port)]
