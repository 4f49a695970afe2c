"""Reading definition files: a YAML or JSON list of definitions, dispatched on `kind`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from loyalty_progress.definitions.attendance import parse_edition
from loyalty_progress.definitions.challenge import parse_challenge
from loyalty_progress.definitions.errors import DefinitionError

Parser = Callable[[dict[str, Any], str], Any]


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: `*name` is refused when the parser meets it, before
    anything is built, so a few hundred bytes of nested aliases (a "billion laughs" file)
    cannot expand into gigabytes. Anchors alone are harmless and stay allowed."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases (*{event.anchor}) are not allowed in definition files: "
                "write the value out where it is used",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def _parsers() -> dict[str, Parser]:
    # Each kind's module owns its own fields and validation.
    return {"challenge": parse_challenge, "attendance_edition": parse_edition}


def read_documents(path: Path) -> list[Any]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(source, None, None, f"cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, _NoAliasLoader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise DefinitionError(source, None, None, f"not valid YAML/JSON: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise DefinitionError(source, None, None, "must be a list of definitions")
    return data


def parse_definition(raw: object, source: str, position: int = 1) -> Any:
    """One definition mapping -> its validated Struct, dispatched on `kind`."""
    if not isinstance(raw, dict):
        raise DefinitionError(source, f"#{position}", None, "must be a mapping")
    parsers = _parsers()
    kind = raw.get("kind")
    code = raw.get("code") if isinstance(raw.get("code"), str) else f"#{position}"
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        known = ", ".join(sorted(parsers))
        raise DefinitionError(source, code, "kind", f"must be one of {known}, got {kind!r}")
    return parser(raw, source)


@dataclass(frozen=True, slots=True)
class LoadedDefinition:
    """A validated definition with the plain JSON body it is stored as."""

    kind: str
    club: str
    code: str
    body: dict[str, Any]
    source: str
    definition: Any


def load_definitions(paths: Sequence[Path]) -> list[LoadedDefinition]:
    """Parse and validate every definition of every file; the first error stops all."""
    loaded: list[LoadedDefinition] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path in paths:
        source = str(path)
        for index, raw in enumerate(read_documents(path)):
            definition = parse_definition(raw, source, index + 1)
            key = (raw["kind"], definition.club, definition.code)
            if key in seen:
                raise DefinitionError(
                    source, definition.code, "code", f"defined twice (also in {seen[key]})"
                )
            seen[key] = source
            # Stored as JSON: timestamps become RFC 3339 strings, which parse back the same.
            body = msgspec.json.decode(msgspec.json.encode(raw))
            loaded.append(
                LoadedDefinition(
                    raw["kind"], definition.club, definition.code, body, source, definition
                )
            )
    return loaded
