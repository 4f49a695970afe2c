"""The worker's log setup survives building the HTTP apps: one JSON line per record at the
level from the environment (Litestar would install its own text handler at INFO)."""

import logging

from loyalty_progress.api.auth import read_side_auth
from loyalty_progress.api.http import create_http_app, create_ops_app
from loyalty_progress.apidocs import DOCUMENTED_SETTINGS
from loyalty_progress.observability.logs import JsonFormatter, configure_logging
from loyalty_progress.worker.app import Worker


def test_building_the_http_app_keeps_the_configured_root_logger() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("WARNING", "json")
        worker = Worker(DOCUMENTED_SETTINGS, serve_http=False)
        create_http_app(worker, read_side_auth(DOCUMENTED_SETTINGS))
        create_ops_app(worker)
        assert root.level == logging.WARNING
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
