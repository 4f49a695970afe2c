"""Tracing is off unless asked for; asked for without the `tracing` extra, it says how to
get it instead of failing somewhere in the start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loyalty_progress.apidocs import DOCUMENTED_SETTINGS
from loyalty_progress.config import Settings
from loyalty_progress.observability import tracing
from loyalty_progress.worker.app import Worker

# Importing this fails as it does where the extra is not installed.
EXPORTER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def test_tracing_is_off_by_default() -> None:
    assert Settings().tracing is False
    assert Settings.from_env({}).tracing is False
    assert tracing.broker_middlewares(Settings()) == ()
    assert tracing.http_plugins(Settings()) == []
    worker = Worker(DOCUMENTED_SETTINGS, serve_http=False)
    assert not worker.broker.middlewares


def test_enabling_it_without_the_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, EXPORTER, None)
    monkeypatch.setattr(tracing, "_provider", None)
    enabled = Settings.from_env({"LOYALTY_TRACING": "true"})
    assert enabled.tracing is True
    for build in (tracing.require, tracing.broker_middlewares, tracing.http_plugins):
        with pytest.raises(tracing.TracingUnavailable, match=r"loyalty-progress\[tracing\]"):
            build(enabled)


def test_run_with_tracing_and_without_the_extra_is_one_line() -> None:
    program = (
        f"import sys; sys.modules[{EXPORTER!r}] = None; "
        "from loyalty_progress.cli import main; sys.exit(main(['run']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env={"LOYALTY_TRACING": "true", "LOYALTY_DATA_DIR": "/nonexistent/never-created"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "pip install 'loyalty-progress[tracing]'" in result.stderr
