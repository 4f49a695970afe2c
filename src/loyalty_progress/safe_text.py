"""Text that is safe to show: producer data with terminal control characters escaped, and
connection URLs without their passwords.

Producers write ids, reasons and bodies that the CLI prints; a raw ESC or CSI in them
would drive the operator's terminal (move the cursor, rewrite earlier lines, set the
window title). Connection URLs carry credentials; no message or log line shows them.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK: Final = "***"

# C0 controls, DEL, C1 controls (CSI is U+009B) and the bidirectional overrides and
# isolates, which reorder what the terminal shows.
_UNSAFE: Final = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
]


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ESCAPES: Final = {code: _escape(code) for code in _UNSAFE}
_ESCAPES_KEEPING_LINES: Final = {
    code: text for code, text in _ESCAPES.items() if code not in (0x0A, 0x09)
}


def shortened(text: str, limit: int) -> str:
    """`text` cut in the middle to at most `limit` characters, saying how much was cut.
    The end stays: that is where msgspec and the definition parsers name the field."""
    if len(text) <= limit:
        return text
    cut = f" ...({len(text) - limit} characters cut)... "
    tail = limit // 4
    head = max(0, limit - tail - len(cut))
    return text[:head] + cut + text[len(text) - tail :]


def printable(text: str, *, keep_lines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\x1b`); with
    `keep_lines`, newlines and tabs stay as they are."""
    return text.translate(_ESCAPES_KEEPING_LINES if keep_lines else _ESCAPES)


_SECRET_QUERY_KEYS: Final = frozenset({"password", "passwd", "pwd", "secret", "token"})


def redact_url(url: str) -> str:
    """`url` with its password (and any password-like query parameter) replaced by `***`:
    `redis://:s3cret@host:6379/0` -> `redis://:***@host:6379/0`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be parsed>"
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            query = urlencode(
                [(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs],
                safe="*",
            )
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide: as given (a rebuild would normalise `unix:///path`)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


_URL: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")


def redact_urls(text: str) -> str:
    """Every URL inside `text` passed through `redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match.group(0)), text)
