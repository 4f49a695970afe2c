"""Logs: one JSON object per line for log shippers, human-readable lines for people.

`LOYALTY_LOG_FORMAT=auto` (the default) picks by where stderr goes: a terminal gets
coloured lines from rich (time, level, message, then the record's extra fields as
`key=value`), anything else (a file, a pipe, a container runtime) gets JSON lines. `json`
and `text` force one or the other; `text` is the plain one-line format without colour.

Every format passes every line through `redact_urls`: a connection URL that reaches a log
message (a library's error text, a setting quoted back) never shows its password; the
human-readable ones also escape control characters (messages can quote producer data)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final

from loyalty_progress.safe_text import printable, redact_urls

_STANDARD: Final = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: redact_urls(value) if isinstance(value, str) else value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_urls(record.getMessage()),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = redact_urls(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """The message, then the extra fields a JSON line would carry, as `key=value`; URLs
    redacted, control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        return f"{line} {extras}" if extras else line

    def format(self, record: logging.LogRecord) -> str:
        return printable(redact_urls(super().format(record)), keep_lines=True)


def resolved_format(fmt: str, stream: IO[str]) -> str:
    """The format in effect: `auto` becomes `terminal` on a terminal, else `json`."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "terminal" if isatty is not None and isatty() else "json"


def _handler(fmt: str, stream: IO[str]) -> logging.Handler:
    resolved = resolved_format(fmt, stream)
    if resolved == "json":
        handler: logging.Handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
    elif resolved == "terminal":
        # Deferred: rich takes 18 ms to import, and only a terminal needs it.
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(file=stream),
            show_path=False,
            markup=False,
            rich_tracebacks=False,
            log_time_format="%H:%M:%S",
        )
        handler.setFormatter(TextFormatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_handler(fmt, sys.stderr if stream is None else stream)]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
