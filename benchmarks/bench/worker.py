"""One `python -m loyalty_progress run` process, its output in a temporary file."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


class WorkerProcess:
    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_progress", "run"],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def stop(self, timeout: float = 30.0) -> tuple[int | None, float]:
        """SIGTERM, then wait; SIGKILL after `timeout`. Returns (exit code, seconds)."""
        started = time.monotonic()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                return None, time.monotonic() - started
        self._log.close()
        return self.process.returncode, time.monotonic() - started
