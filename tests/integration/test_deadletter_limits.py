"""Dead letters stay small and safe to look at: an oversized body is kept as a prefix with
its size and digest, requeue publishes the exact original bytes (or refuses a cut body
without `--body`), producer text never reaches the terminal as control sequences, and the
Redis password never appears in a message."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from loyalty_progress.cli import build_parser
from loyalty_progress.config import Settings
from loyalty_progress.contract.outputs import DEAD_LETTER_BODY_BYTES, encode
from loyalty_progress.worker.deadletter import dead_letter
from tests.support.event_bodies import points
from tests.support.streams import stream_entries

pytestmark = pytest.mark.timeout(60)

AT = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _cli(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["deadletter", *argv])
    return int(args.handler(args, settings))


async def _add_letter(
    redis: Redis, settings: Settings, body: bytes, reason: str = "bad", entry_id: str = "1-0"
) -> str:
    """A dead letter exactly as the worker writes it (same function, same encoding)."""
    letter = dead_letter(settings.stream("points"), entry_id, body, reason, 1, AT)
    new_id: Any = await redis.xadd(settings.stream("deadletter"), {"data": encode(letter)})
    return str(new_id.decode())


def test_an_oversized_body_keeps_a_prefix_with_size_and_digest() -> None:
    body = json.dumps(points(padding="é" * 600_000)).encode()  # over 1 MB
    letter = dead_letter("loyalty.points", "1-0", body, "x" * 50_000 + " - at `$.amount`", 1, AT)
    kept = letter.body.encode()
    assert letter.body_truncated
    assert letter.body_size == len(body)
    assert letter.body_sha256 == hashlib.sha256(body).hexdigest()
    # Cut on a character boundary, at most the documented prefix, and nothing invented.
    assert DEAD_LETTER_BODY_BYTES - 4 < len(kept) <= DEAD_LETTER_BODY_BYTES
    assert body.startswith(kept)
    assert letter.body_base64 is None
    assert len(encode(letter)) < 3 * DEAD_LETTER_BODY_BYTES
    # The reason is bounded too, and still names the field at its end.
    assert len(letter.reason) <= 1000
    assert letter.reason.endswith("- at `$.amount`")


def test_a_small_body_is_kept_whole_and_invalid_utf8_exactly() -> None:
    body = b'{"event_id": "p-1", "note": "\xff\xfe"}'
    letter = dead_letter("loyalty.points", "1-0", body, "bad", 1, AT)
    assert not letter.body_truncated
    assert letter.body_size == len(body)
    assert letter.body == body.decode("utf-8", errors="replace")
    assert letter.body_base64 is not None
    assert base64.b64decode(letter.body_base64) == body
    assert dead_letter("s", "1-0", b'{"a": 1}', "bad", 1, AT).body_base64 is None


async def test_requeue_publishes_the_original_bytes_even_when_not_utf8(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # Decodes (the invalid bytes sit in a field the contract ignores), so it can be
    # requeued; a text round trip would replace them with U+FFFD.
    body = json.dumps(points(event_id="p-bytes")).encode()[:-1] + b', "note": "\xff\xfe"}'
    letter_id = await _add_letter(redis, settings, body)
    assert _cli(settings, "requeue", letter_id, "--json") == 0
    [(_, fields)] = await stream_entries(redis, settings.stream("points"))
    assert fields[b"data"] == body
    assert await redis.xlen(settings.stream("deadletter")) == 0
    assert capsys.readouterr().out


async def test_a_cut_body_is_shown_as_such_and_requeued_only_with_a_replacement(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps(points(event_id="p-big", padding="x" * 100_000)).encode()
    letter_id = await _add_letter(redis, settings, body, "body is 100164 bytes, over the limit")

    assert _cli(settings, "show", letter_id) == 0
    shown = capsys.readouterr().out
    assert f"first {DEAD_LETTER_BODY_BYTES} of {len(body)} bytes, cut" in shown
    assert hashlib.sha256(body).hexdigest() in shown

    assert _cli(settings, "requeue", letter_id, "--json") == 1
    [skipped] = json.loads(capsys.readouterr().out)["skipped"]
    assert "--body" in skipped["skipped"]
    assert not await redis.exists(settings.stream("points"))

    fixed = json.dumps(points(event_id="p-big"))
    assert _cli(settings, "requeue", letter_id, "--body", fixed) == 0
    [(_, fields)] = await stream_entries(redis, settings.stream("points"))
    assert fields[b"data"] == fixed.encode()


async def test_control_characters_of_producers_are_escaped_in_list_and_show(
    redis: Redis, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J\u009b31m\u202e"
    body = json.dumps(points(member_id=hostile), ensure_ascii=False).encode()
    letter_id = await _add_letter(
        redis, settings, body, reason=f"Invalid enum value '{hostile}'", entry_id="1-0"
    )
    # Not a dead letter at all: shown raw, and escaped as well.
    await redis.xadd(settings.stream("deadletter"), {"data": f"junk {hostile}\nline 2"})

    for argv in (("list",), ("show", letter_id)):
        assert _cli(settings, *argv) == 0
        out = capsys.readouterr().out
        assert not any(ch in out for ch in "\x1b\x07\u009b\u202e"), argv
        assert "\\x1b]0;owned\\x07" in out, argv
        assert "\\u202e" in out, argv
    assert _cli(settings, "list", "--json") == 0
    raw = capsys.readouterr().out
    assert not any(ch in raw for ch in "\x1b\x07\u009b\u202e")
    assert json.loads(raw)["entries"][0]["body"] == body.decode()  # kept, as JSON escapes


async def test_a_connection_error_never_prints_the_redis_password(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = replace(settings, redis_url="redis://:s3cret-pw@127.0.0.1:1/0")
    assert _cli(unreachable, "list") == 2
    err = capsys.readouterr().err
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in err
    assert "s3cret-pw" not in err
