"""`loyalty-progress deadletter list | show | requeue | purge`.

Exit codes: 0 done; 1 some named entries were missing or could not be requeued; 2 the
command was refused (no services, or a selection that needs `--yes`).

Everything printed as text passes through `printable`: ids, reasons and bodies come from
producers and must not reach the terminal as control sequences. `--json` output is
escaped by the JSON encoder (ASCII only)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from loyalty_progress.config import Settings
from loyalty_progress.contract.events import BadInput, InputStream, decode_body
from loyalty_progress.contract.outputs import DeadLetter
from loyalty_progress.deadletter_tools.entries import (
    Filters,
    LetterEntry,
    entry_id,
    fetch,
    scan,
    since_id,
)
from loyalty_progress.local_services import ServiceError, locate
from loyalty_progress.safe_text import printable, redact_url

if TYPE_CHECKING:
    from redis import Redis

LIST_LIMIT: Final = 100
REASON_WIDTH: Final = 70


class Refused(Exception):
    """The command line asks for something unsafe or contradictory (exit code 2)."""


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _filter_options(default_limit: int | None) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--reason", help="only entries whose reason contains this (any case)")
    options.add_argument(
        "--stream", help="only entries from this input stream (`points` or `loyalty.points`)"
    )
    options.add_argument(
        "--since",
        type=since_id,
        help="from this dead-letter id on (`(ID`: after it), or from an RFC 3339 instant",
    )
    shown = "no limit" if default_limit is None else str(default_limit)
    options.add_argument(
        "--limit", type=_positive, default=default_limit, help=f"at most N entries ({shown})"
    )
    options.add_argument("--json", action="store_true", help="JSON output for scripts")
    return options


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "deadletter",
        help="inspect, requeue or purge entries of <prefix>.deadletter",
        description="Entries that could not be applied are copied to <prefix>.deadletter "
        "with their original stream, entry id, body, reason and delivery count. IDs below "
        "are the entries' ids in the dead-letter stream (the first column of `list`).",
    )
    tools = parser.add_subparsers(dest="deadletter_command", required=True)
    listing = tools.add_parser(
        "list", parents=[_filter_options(LIST_LIMIT)], help="dead letters, oldest first"
    )
    listing.set_defaults(handler=_handler(cmd_list))
    show = tools.add_parser("show", help="one dead letter in full, with its body")
    show.add_argument("id", type=entry_id, metavar="ID")
    show.add_argument("--json", action="store_true", help="JSON output for scripts")
    show.set_defaults(handler=_handler(cmd_show))
    requeue = tools.add_parser(
        "requeue",
        parents=[_filter_options(None)],
        help="publish bodies again to their original streams, then delete the dead letters",
    )
    requeue.add_argument("ids", nargs="*", type=entry_id, metavar="ID")
    body = requeue.add_mutually_exclusive_group()
    body.add_argument("--body", help="with one ID: publish this corrected JSON body instead")
    body.add_argument("--body-file", type=Path, help="with one ID: the corrected body's file")
    requeue.add_argument("--yes", action="store_true", help="allow requeueing every entry")
    requeue.set_defaults(handler=_handler(cmd_requeue))
    purge = tools.add_parser(
        "purge", parents=[_filter_options(None)], help="delete dead letters for good"
    )
    purge.add_argument("ids", nargs="*", type=entry_id, metavar="ID")
    purge.add_argument("--yes", action="store_true", help="allow deleting every entry")
    purge.set_defaults(handler=_handler(cmd_purge))


@dataclass(frozen=True, slots=True)
class Context:
    redis: Redis
    settings: Settings
    key: str  # the dead-letter stream
    out: Callable[[str], None]


Command = Callable[[argparse.Namespace, Context], int]


def _handler(command: Command) -> Callable[[argparse.Namespace, Settings], int]:
    def handle(args: argparse.Namespace, settings: Settings) -> int:
        # Deferred: redis takes 95 ms to import, `deadletter --help` 0.05 s.
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            located = locate(settings, database=False)
        except ServiceError as exc:
            print(f"deadletter: {exc}", file=sys.stderr)
            return 2
        assert located.redis_url is not None
        redis = Redis.from_url(located.redis_url)
        context = Context(redis, located, located.stream("deadletter"), print)
        try:
            return command(args, context)
        except Refused as exc:
            print(f"deadletter {args.deadletter_command}: {exc}", file=sys.stderr)
            return 2
        except (RedisConnectionError, RedisTimeoutError) as exc:
            where = redact_url(located.redis_url)
            print(f"deadletter: cannot reach Redis at {where}: {exc}", file=sys.stderr)
            return 2
        finally:
            redis.close()

    return handle


# -- selection ---------------------------------------------------------------------------


def _filters(args: argparse.Namespace, settings: Settings) -> Filters:
    stream = args.stream
    if stream is not None and "." not in stream:
        stream = settings.stream(stream)  # `points` means this prefix's points stream
    since = "-" if args.since is None else args.since
    return Filters(reason=args.reason, stream=stream, since=since, limit=args.limit)


def _selected(
    args: argparse.Namespace, context: Context, action: str
) -> tuple[list[LetterEntry], list[str]]:
    """Entries named by id, or picked by the filters; the named ones not found."""
    filters = _filters(args, context.settings)
    if args.ids and (filters.narrowing or filters.limit is not None):
        raise Refused("give entry ids or filters, not both")
    if args.ids:
        return fetch(context.redis, context.key, args.ids)
    if not filters.narrowing and not args.yes:
        which = "all" if filters.limit is None else f"the {filters.limit} oldest"
        raise Refused(
            f"no entry ids or filters: add --yes to {action} {which} dead letters, or pick "
            "entries with ids, --reason, --stream or --since"
        )
    return list(scan(context.redis, context.key, filters)), []


def _report(context: Context, as_json: bool, document: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        context.out(json.dumps(document, indent=2, default=str))
    else:
        for line in lines:
            context.out(printable(line))


# -- list and show -------------------------------------------------------------------------


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _row(entry: LetterEntry) -> list[str]:
    letter = entry.letter
    if letter is None:
        return [entry.id, "?", "?", "?", "?", _shorten(entry.problem or "", REASON_WIDTH)]
    return [
        entry.id,
        letter.dead_lettered_at.isoformat(timespec="seconds"),
        letter.stream,
        letter.entry_id,
        str(letter.delivery_count),
        _shorten(letter.reason, REASON_WIDTH),
    ]


def _table(rows: Sequence[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def cmd_list(args: argparse.Namespace, context: Context) -> int:
    filters = _filters(args, context.settings)
    limit = filters.limit or LIST_LIMIT
    entries = list(scan(context.redis, context.key, filters, limit=limit + 1))
    more = len(entries) > limit
    entries = entries[:limit]
    header = ["ID", "DEAD-LETTERED AT", "STREAM", "ENTRY ID", "TRIES", "REASON"]
    lines = _table([header, *map(_row, entries)]) if entries else []
    footer = f"{len(entries)} dead letter{'s' if len(entries) != 1 else ''} in {context.key}"
    if more:
        footer += f"; more match: raise --limit, or continue with --since '({entries[-1].id}'"
    document = {"entries": [e.as_json() for e in entries], "more": more}
    _report(context, args.json, document, [*lines, footer])
    return 0


def _pretty_body(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


def _body_heading(letter: DeadLetter) -> str:
    if letter.body_size is None:
        return "  body:"
    digest = f"sha256 {letter.body_sha256}"
    if letter.body_truncated:
        kept = len(original_body(letter))
        return f"  body (first {kept} of {letter.body_size} bytes, cut; {digest}):"
    exact = "; shown with U+FFFD for bytes that are not UTF-8" if letter.body_base64 else ""
    return f"  body ({letter.body_size} bytes, {digest}{exact}):"


def cmd_show(args: argparse.Namespace, context: Context) -> int:
    found, _missing = fetch(context.redis, context.key, [args.id])
    if not found:
        print(f"deadletter show: no entry {args.id} in {context.key}", file=sys.stderr)
        return 1
    entry = found[0]
    letter = entry.letter
    if letter is None:
        lines = [f"dead letter {entry.id}: {entry.problem}", *entry.raw.splitlines()]
    else:
        lines = [
            f"dead letter {entry.id}",
            f"  dead-lettered at  {letter.dead_lettered_at.isoformat()}",
            f"  stream            {letter.stream}",
            f"  entry id          {letter.entry_id}",
            f"  deliveries        {letter.delivery_count}",
            f"  reason            {letter.reason}",
            _body_heading(letter),
            *(f"    {line}" for line in _pretty_body(letter.body).splitlines()),
        ]
    _report(context, args.json, entry.as_json(), lines)
    return 0


# -- requeue -------------------------------------------------------------------------------


def original_body(letter: DeadLetter) -> bytes:
    """The body bytes the dead letter kept: exact when they were not valid UTF-8."""
    if letter.body_base64 is not None:
        return base64.b64decode(letter.body_base64)
    return letter.body.encode("utf-8")


def _replacement(args: argparse.Namespace) -> bytes | None:
    if args.body_file is not None:
        path: Path = args.body_file
        return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    body: str | None = args.body
    return None if body is None else body.encode("utf-8")


def _input_stream(name: str, settings: Settings) -> InputStream | None:
    return next((s for s in InputStream if settings.stream(s.value) == name), None)


def _requeue_one(context: Context, entry: LetterEntry, body: bytes | None) -> dict[str, Any]:
    """Publish, then delete, in one MULTI/EXEC: both happen or neither does. Publishes
    the original bytes, unless `body` replaces them."""
    letter = entry.letter
    if letter is None:
        return {"id": entry.id, "skipped": entry.problem}
    stream = _input_stream(letter.stream, context.settings)
    if stream is None:
        prefix = context.settings.stream_prefix
        return {"id": entry.id, "skipped": f"{letter.stream} is not an input stream of {prefix}"}
    if body is None and letter.body_truncated:
        return {
            "id": entry.id,
            "skipped": f"the dead letter kept only the first part of the {letter.body_size} "
            "byte body; requeue it with --body or --body-file",
        }
    data = original_body(letter) if body is None else body
    decoded = decode_body(stream, data)
    if isinstance(decoded, BadInput):
        fix = "" if body is not None else "; correct it with --body"
        return {"id": entry.id, "skipped": f"still bad input: {decoded.reason}{fix}"}
    with context.redis.pipeline(transaction=True) as pipe:
        pipe.xadd(letter.stream, {"data": data})
        pipe.xdel(context.key, entry.id)
        new_id, deleted = pipe.execute()
    return {
        "id": entry.id,
        "stream": letter.stream,
        "new_entry_id": new_id.decode(),
        "event_id": decoded.event_id,
        # 0: someone else removed it meanwhile; the worker still applies the event once.
        "deleted": bool(deleted),
    }


def cmd_requeue(args: argparse.Namespace, context: Context) -> int:
    replacement = _replacement(args)
    if replacement is not None and len(args.ids) != 1:
        raise Refused("--body and --body-file need exactly one entry id")
    entries, missing = _selected(args, context, "requeue")
    results = [_requeue_one(context, e, replacement) for e in entries]
    done = [r for r in results if "skipped" not in r]
    skipped = [r for r in results if "skipped" in r]
    lines = [
        f"requeued {r['id']} -> {r['stream']} as {r['new_entry_id']} (event {r['event_id']})"
        + ("" if r["deleted"] else "; it was already gone from the dead-letter stream")
        for r in done
    ]
    lines += [f"skipped {r['id']}: {r['skipped']}" for r in skipped]
    lines += [f"not found: {i}" for i in missing]
    lines.append(f"{len(done)} requeued, {len(skipped)} skipped, {len(missing)} not found")
    document = {"requeued": done, "skipped": skipped, "missing": missing}
    _report(context, args.json, document, lines)
    return 1 if skipped or missing else 0


# -- purge ---------------------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace, context: Context) -> int:
    entries, missing = _selected(args, context, "delete")
    ids = [e.id for e in entries]
    deleted = 0
    for start in range(0, len(ids), 500):
        deleted += int(context.redis.xdel(context.key, *ids[start : start + 500]))
    lines = [f"not found: {i}" for i in missing]
    lines.append(f"purged {deleted} dead letter{'s' if deleted != 1 else ''} from {context.key}")
    document = {"purged": ids, "deleted": deleted, "missing": missing}
    _report(context, args.json, document, lines)
    return 1 if missing else 0
