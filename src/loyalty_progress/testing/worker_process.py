"""A worker (`python -m loyalty_progress run`) as a child process, as the fault tests and
the benchmark run it: started with the environment it is given and its output in a log
file, waited for until `/readyz` answers 200, stopped with SIGTERM (SIGKILL past a
deadline), signalled (SIGSTOP, SIGCONT, ...) or killed outright."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

HOST: Final = "127.0.0.1"
_POLL_SECONDS: Final = 0.05
_READY_POLL_SECONDS: Final = 0.1


class WorkerExited(RuntimeError):
    """The worker process ended while it was being waited for."""


@dataclass(frozen=True, slots=True)
class Stopped:
    """How a stop went."""

    returncode: int  # -SIGKILL when `killed`
    seconds: float  # from SIGTERM until the process was gone
    killed: bool  # SIGTERM was not enough within the timeout


class WorkerProcess:
    """One worker process; its stdout and stderr go to `log_path`. Used as a context
    manager, it is killed on the way out if it still runs."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, http_port: int) -> None:
        self._process = process
        self.log_path = log_path
        self.http_port = http_port

    @classmethod
    def start(cls, env: Mapping[str, str], log_path: Path, *, http_port: int = 0) -> WorkerProcess:
        """Start `run` with `env` as its whole environment (callers begin from
        `os.environ`). It serves HTTP on 127.0.0.1:`http_port`, whatever `env` says; 0 lets
        the kernel pick a port, and then `/readyz` cannot be asked. Its ops server takes any
        free port unless `env` names one, so workers started side by side never fight over
        the default."""
        child_env = {
            "LOYALTY_METRICS_PORT": "0",
            **env,
            "LOYALTY_HTTP_HOST": HOST,
            "LOYALTY_HTTP_PORT": str(http_port),
        }
        # The child holds its own copy of the log's descriptor; ours is not needed.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "loyalty_progress", "run"],
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return cls(process, log_path, http_port)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (-N for signal N), else None."""
        return self._process.poll()

    def alive(self) -> bool:
        return self.returncode is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, sig: signal.Signals) -> None:
        self._process.send_signal(sig)

    async def wait(self, timeout: float) -> int:
        """The exit code, once the process has ended; TimeoutError if it still runs."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.returncode
            if code is not None:
                return code
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"worker process still running after {timeout}s:\n{self.log_tail()}"
                )
            await asyncio.sleep(_POLL_SECONDS)

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Until `/readyz` answers 200: migrations current, groups created, subscribers
        started. WorkerExited if the process ends first, TimeoutError after `timeout`.

        (The consumer itself cannot be waited for: Redis < 7.2 registers a consumer
        blocked on an empty stream only when the first entry arrives.)"""
        if not self.http_port:
            raise ValueError("the worker was started on a port of the kernel's choosing")
        url = f"http://{HOST}:{self.http_port}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise WorkerExited(
                    f"worker exited with {self.returncode} while starting:\n{self.log_tail()}"
                )
            if await asyncio.to_thread(_answers_200, url):
                return
            await asyncio.sleep(_READY_POLL_SECONDS)
        raise TimeoutError(f"worker not ready after {timeout:.0f}s:\n{self.log_tail()}")

    async def stop(self, timeout: float = 30.0) -> Stopped:
        """SIGTERM, then wait for the worker to finish its batches in flight and exit;
        SIGKILL if it has not after `timeout`."""
        started = time.monotonic()
        if self.alive():
            self.signal(signal.SIGTERM)
        try:
            code = await self.wait(timeout)
            killed = False
        except TimeoutError:
            self._process.kill()
            code = await self.wait(10)
            killed = True
        return Stopped(code, time.monotonic() - started, killed)

    def kill(self) -> None:
        """SIGKILL if it still runs, and reap it."""
        if self.alive():
            self._process.kill()
            self._process.wait(timeout=10)


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
