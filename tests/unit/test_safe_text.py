"""Text safe to show: control characters escaped, passwords out of URLs and log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from loyalty_progress.observability.logs import JsonFormatter, TextFormatter
from loyalty_progress.safe_text import printable, redact_url, redact_urls, shortened


def test_printable_escapes_every_terminal_control_character() -> None:
    hostile = "id\x1b[2J\x1b]0;title\x07\u009b31m\x7f\r\u202eevil\u2066\u2028end"
    shown = printable(hostile)
    assert shown == ("id\\x1b[2J\\x1b]0;title\\x07\\x9b31m\\x7f\\x0d\\u202eevil\\u2066\\u2028end")
    assert all(ch.isprintable() for ch in shown)
    assert printable("a\tb\nc\x1b", keep_lines=True) == "a\tb\nc\\x1b"
    assert printable("plain ünïcode 𝔪 text") == "plain ünïcode 𝔪 text"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis.internal:6379/0", "redis://:***@redis.internal:6379/0"),
        ("redis://app:s3cret@redis:6379", "redis://app:***@redis:6379"),
        ("rediss://default:p%40ss@host/1", "rediss://default:***@host/1"),
        (
            "postgresql://loyalty:pw@db:5432/loyalty?sslmode=require",
            "postgresql://loyalty:***@db:5432/loyalty?sslmode=require",
        ),
        ("redis://host:6379/0?password=s3cret&db=1", "redis://host:6379/0?password=***&db=1"),
        ("postgresql://loyalty@db/loyalty", "postgresql://loyalty@db/loyalty"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("unix:///var/run/redis.sock", "unix:///var/run/redis.sock"),
    ],
)
def test_redact_url_hides_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_urls_finds_urls_inside_any_text() -> None:
    text = "cannot connect to 'redis://:s3cret@r:6379/0' or postgresql://u:pw@db/x, retrying"
    assert redact_urls(text) == (
        "cannot connect to 'redis://:***@r:6379/0' or postgresql://u:***@db/x, retrying"
    )
    assert redact_urls("no url here") == "no url here"


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "t", "levelno": logging.ERROR, "levelname": "ERROR", "msg": message}
    )
    record.args = args
    record.__dict__.update(extra)
    return record


def test_log_lines_never_show_a_password_in_either_format() -> None:
    record = _record(
        "connecting to %s failed", "redis://:s3cret@r:6379", where="postgresql://u:pw@db/x"
    )
    try:
        raise ConnectionError("refused by redis://:s3cret@r:6379")
    except ConnectionError:
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "connecting to redis://:***@r:6379 failed"
    assert entry["where"] == "postgresql://u:***@db/x"
    assert "s3cret" not in entry["exception"]
    record.exc_text = None
    line = TextFormatter("%(levelname)s %(message)s").format(record)
    assert "s3cret" not in line
    assert "redis://:***@r:6379" in line


def test_text_logs_escape_control_characters_of_producer_data() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter("%(message)s"))
    logger = logging.getLogger("tests.safe_text")
    logger.addHandler(handler)
    try:
        logger.warning("entry %s failed", "m\x1b[31m")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "entry m\\x1b[31m failed\n"


def test_shortened_cuts_the_middle_and_keeps_the_end() -> None:
    text = "start " + "x" * 10_000 + " - at `$.kind`"
    cut = shortened(text, 200)
    assert len(cut) <= 200
    assert cut.startswith("start xxx")
    assert cut.endswith("- at `$.kind`")
    assert "characters cut" in cut
    assert shortened("short", 200) == "short"
