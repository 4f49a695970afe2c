"""The worker's log setup survives building the HTTP apps: one JSON line per record at the
level from the environment (Litestar would install its own text handler at INFO); and
the format follows where the logs go."""

import json
import logging
import os
from pathlib import Path

from loyalty_progress.api.auth import read_side_auth
from loyalty_progress.api.http import create_http_app, create_ops_app
from loyalty_progress.apidocs import DOCUMENTED_SETTINGS
from loyalty_progress.observability.logs import JsonFormatter, TextFormatter, configure_logging
from loyalty_progress.worker.app import Worker


def test_building_the_http_app_keeps_the_configured_root_logger() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("WARNING", "json")
        worker = Worker(DOCUMENTED_SETTINGS, serve_http=False)
        create_http_app(worker.read_context, worker.health, read_side_auth(DOCUMENTED_SETTINGS))
        create_ops_app(worker.health, worker.metrics.registry, lambda: "{}")
        assert root.level == logging.WARNING
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "loyalty_progress.worker", logging.INFO, __file__, 1, message, (), None
    )
    record.__dict__.update(extra)
    return record


def test_auto_is_human_readable_on_a_terminal_and_json_elsewhere(tmp_path: Path) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    master, replica = os.openpty()
    try:
        with open(replica, "w") as terminal, (tmp_path / "log").open("w") as file:
            configure_logging("INFO", "auto", terminal)
            assert isinstance(root.handlers[0], RichHandler)
            configure_logging("INFO", "json", terminal)  # the variable still overrides
            assert isinstance(root.handlers[0].formatter, JsonFormatter)
            configure_logging("INFO", "auto", file)
            assert isinstance(root.handlers[0].formatter, JsonFormatter)
            configure_logging("INFO", "text", file)
            logging.getLogger("loyalty_progress.worker").info("batch", extra={"entries": 3})
        assert (tmp_path / "log").read_text().rstrip().endswith("batch entries=3")
    finally:
        os.close(master)
        root.handlers[:], level = saved
        root.setLevel(level)


def test_text_lines_carry_the_fields_a_json_line_would() -> None:
    record = _record("batch applied", stream="loyalty.points", entries=12)
    line = TextFormatter("%(message)s").format(record)
    assert line == "batch applied stream=loyalty.points entries=12"
    assert json.loads(JsonFormatter().format(record))["entries"] == 12
