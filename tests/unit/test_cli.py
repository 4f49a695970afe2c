"""The command line's parser: every command is listed, a command's parser loads only its
own module (so `--help` stays quick), and the schema check's messages."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from loyalty_progress.cli import FEATURE_COMMANDS, build_parser
from loyalty_progress.local_services import _schema_problem

HEAVY = ("sqlalchemy", "faststream", "litestar", "redis", "asyncpg", "alembic", "uvicorn")


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_the_light_parser_lists_every_command_with_the_features_own_help() -> None:
    full = {c.dest: c.help for c in _subcommands(build_parser())._choices_actions}
    light = {c.dest: c.help for c in _subcommands(build_parser(only=""))._choices_actions}
    assert light == full
    assert set(FEATURE_COMMANDS) <= set(full)
    assert {name: summary for name, (_module, summary) in FEATURE_COMMANDS.items()} == {
        name: full[name] for name in FEATURE_COMMANDS
    }


@pytest.mark.parametrize("command", ["", "run", "definitions", "tick", "env", *FEATURE_COMMANDS])
def test_building_a_commands_parser_imports_no_server_library(command: str) -> None:
    probe = (
        "import sys; from loyalty_progress.cli import build_parser; "
        f"build_parser(only={command!r}); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"


def test_every_feature_command_parses_through_the_light_path() -> None:
    for argv in (["replay", "status", "7"], ["deadletter", "list"], ["demo", "--no-wait"]):
        args = build_parser(only=argv[0]).parse_args(argv)
        assert callable(args.handler)


def test_schema_messages_say_what_to_do() -> None:
    assert _schema_problem({"0006"}, {"0006"}) is None
    missing = _schema_problem(set(), {"0006"})
    assert missing is not None
    assert "no loyalty-progress schema" in missing
    assert "`loyalty-progress migrate`" in missing
    behind = _schema_problem({"0005"}, {"0006"})
    assert behind is not None
    assert "revision 0005" in behind
    assert "`loyalty-progress migrate`" in behind
    newer = _schema_problem({"9999"}, {"0006"})
    assert newer is not None
    assert "unknown to this release" in newer
    assert "migrate`" not in newer
