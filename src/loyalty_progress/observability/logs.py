"""Structured logs: one JSON object per line (or plain text for people at a terminal).

Both formats pass every line through `redact_urls`: a connection URL that reaches a log
message (a library's error text, a setting quoted back) never shows its password."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

from loyalty_progress.safe_text import printable, redact_urls

_STANDARD: Final = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_urls(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact_urls(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact_urls(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal: URLs redacted, control characters escaped (messages
    can quote producer data)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(redact_urls(super().format(record)), keep_lines=True)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
