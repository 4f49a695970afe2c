"""`loyalty-progress docs asyncapi|openapi [--out PATH]`: the parser, light to import; the
documents themselves come from `loyalty_progress.apidocs` when the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loyalty_progress.config import Settings

ASYNCAPI_PATH = Path("docs/asyncapi.json")
OPENAPI_PATH = Path("docs/openapi.json")


def _write(args: argparse.Namespace, _settings: Settings) -> int:
    from loyalty_progress.apidocs import DOCUMENTS, render  # deferred: 0.5 s, for `docs --help`

    text = render(DOCUMENTS[args.docs_command]())
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = commands.add_parser("docs", help="write the AsyncAPI or OpenAPI document (JSON)")
    documents = docs.add_subparsers(dest="docs_command", required=True)
    for name, what, path in (
        ("asyncapi", "AsyncAPI document of the streams", ASYNCAPI_PATH),
        ("openapi", "OpenAPI document of the HTTP read side", OPENAPI_PATH),
    ):
        parser = documents.add_parser(name, help=f"the {what}")
        parser.add_argument(
            "--out", type=Path, help=f"write to this file (committed as {path}); default stdout"
        )
        parser.set_defaults(handler=_write)
