"""The README's Quick start, followed literally: `loyalty-progress run` without any URL (as
`make run` does), then the second terminal's commands exactly as the README shows them —
apply the example definitions, publish with redis-cli and with Python, read progress over
HTTP, see the notifications and rewards. Only the HTTP port is changed (to a free one) and
`.venv/bin/` points at this interpreter's venv."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty_progress.embedded import EmbeddedServices

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# What a person does between publishing and reading: wait a moment for the worker.
WAIT_FOR_REWARDS = (
    'until [ "$(.venv/bin/redis-cli -u "$LOYALTY_REDIS_URL" XLEN loyalty.rewards)" -ge 2 ]; '
    "do sleep 0.2; done"
)


def quickstart_blocks() -> list[str]:
    """The `sh` blocks of the README's Quick start that run in the second terminal."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [b for b in blocks if not b.lstrip().startswith("make ")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _environment(home: Path) -> dict[str, str]:
    # A fresh user: no LOYALTY_* variables, the default data dir under HOME.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOYALTY_", "XDG_")) and k != "VIRTUAL_ENV"
    }
    env["HOME"] = str(home)
    return env


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under pytest's tmp_path, for the reasons given in test_demo.py's fixture.
    path = Path(tempfile.mkdtemp(prefix="loyalty-progress-quickstart-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _wait_until_ready(worker: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 90
    while "worker ready:" not in output.read_text(errors="replace"):
        assert worker.poll() is None, output.read_text(errors="replace")
        assert time.monotonic() < deadline, output.read_text(errors="replace")
        time.sleep(0.2)


def _stop(worker: subprocess.Popen[bytes], data_dir: Path) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
    if worker.returncode not in (None, 0):
        # Killed before it stopped its servers: a start on the same dir stops the leftovers.
        leftover = EmbeddedServices(data_dir)
        leftover.start()
        leftover.stop()


def test_the_readme_has_the_steps_the_walkthrough_runs() -> None:
    blocks = quickstart_blocks()
    assert len(blocks) == 4, blocks
    assert 'eval "$(.venv/bin/loyalty-progress env)"' in blocks[0]
    assert "definitions apply examples/definitions.yaml" in blocks[0]
    assert ".venv/bin/redis-cli" in blocks[1]
    assert "loyalty_progress.producer" in blocks[2]
    assert "curl" in blocks[3]
    assert "XRANGE loyalty.notifications" in blocks[3]


@pytest.mark.timeout(180)
def test_the_quickstart_works_as_written(home: Path) -> None:
    env = _environment(home)
    data_dir = home / ".local" / "share" / "loyalty-progress"
    port = _free_port()
    output = home / "worker.out"
    with output.open("wb") as out:
        worker = subprocess.Popen(
            [str(BIN / "loyalty-progress"), "run"],
            env={**env, "LOYALTY_HTTP_HOST": "127.0.0.1", "LOYALTY_HTTP_PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        _wait_until_ready(worker, output)
        setup, with_redis_cli, with_python, read = quickstart_blocks()
        script = "\n".join(["set -eu", setup, with_redis_cli, with_python, WAIT_FOR_REWARDS, read])
        script = script.replace(".venv/bin/", f"{BIN}/").replace(":8080", f":{port}")
        walkthrough = subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # Without any URL in the environment, the commands find the running servers too.
        listed = subprocess.run(
            [str(BIN / "loyalty-progress"), "definitions", "list"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        ticked = subprocess.run(
            [str(BIN / "loyalty-progress"), "tick"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        _stop(worker, data_dir)
    printed = walkthrough.stdout
    assert walkthrough.returncode == 0, walkthrough.stderr + output.read_text(errors="replace")
    assert "Traceback" not in walkthrough.stderr, walkthrough.stderr
    worker_output = output.read_text(errors="replace")
    assert f"HTTP read side on http://127.0.0.1:{port}" in worker_output
    # The example definitions were applied, each as version 1.
    for code in ("earn-500-points", "three-receipts-a-month", "shop-every-month"):
        assert re.search(rf"{code}\s+v1\b", printed), printed
    # Progress over HTTP: the member-app challenge list and the attendance challenge.
    assert '"earn-500-points"' in printed
    assert '"shop-every-month"' in printed
    # The notifications and rewards the README promises.
    assert printed.count('"type":"challenge_completed"') == 2, printed
    assert printed.count('"type":"reward_issued"') == 2, printed
    assert '"value":100' in printed
    assert '"TENOFF"' in printed
    assert worker.returncode == 0, worker_output
    assert listed.returncode == 0, listed.stderr
    assert len(re.findall(r"^\S+\s+infinity-mall\s", listed.stdout, re.M)) == 4, listed.stdout
    assert ticked.returncode == 0, ticked.stderr
    assert ticked.stdout.startswith("tick at "), ticked.stdout
