"""Reading definition files is bounded by the file: YAML aliases (which expand a few hundred
bytes into gigabytes) are refused before anything is built, and an error quoting a huge
value stays short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty_progress.definitions.errors import DefinitionError
from loyalty_progress.definitions.loader import load_definitions, read_documents

pytestmark = pytest.mark.timeout(10)

# Nine levels of nine aliases: 9**9 (387 million) strings once expanded, in 505 bytes.
BOMB = "\n".join(
    [
        "- kind: challenge",
        '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"  {name}: &{name} [{','.join(['*' + prev] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "  code: *i",
    ]
)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB.encode()) < 600
    with pytest.raises(DefinitionError) as refused:
        load_definitions([path])
    message = str(refused.value)
    assert "aliases (*a) are not allowed" in message
    assert len(message) < 500
    assert "lol" not in message.replace('"lol"', "")  # no expanded value is rendered


def test_merge_keys_are_aliases_too(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("- &base {kind: challenge, club: c}\n- <<: *base\n  code: x\n")
    with pytest.raises(DefinitionError, match=r"aliases \(\*base\)"):
        read_documents(path)


def test_anchors_without_aliases_still_read(tmp_path: Path) -> None:
    path = tmp_path / "anchor.yaml"
    path.write_text("- &first {kind: challenge, code: c}\n")
    assert read_documents(path) == [{"kind": "challenge", "code": "c"}]


def test_an_error_quoting_a_huge_value_is_short(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_text(json.dumps([{"kind": "x" * 200_000, "code": "y" * 100_000}]))
    with pytest.raises(DefinitionError) as refused:
        load_definitions([path])
    message = str(refused.value)
    assert len(message) < 1000
    assert "field `kind`" in message
    assert "characters cut" in message
