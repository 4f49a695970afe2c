"""What `loyalty-progress run` prints when ready: one command per read endpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

from loyalty_progress.config import Settings
from loyalty_progress.quickstart import (
    NOT_SHOWN,
    READ_ENDPOINTS,
    base_url,
    read_commands,
    ready_banner,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_banner_covers_every_read_route_of_the_openapi_document() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    documented = {
        path
        for path, operations in document["paths"].items()
        if "get" in operations and path.startswith("/v1/") and path not in NOT_SHOWN
    }
    shown = {endpoint.split("?")[0] for endpoint in READ_ENDPOINTS}
    assert shown == documented


def test_commands_are_filled_in_and_ready_to_paste() -> None:
    commands = read_commands("http://127.0.0.1:8080")
    assert len(commands) == len(READ_ENDPOINTS)
    for command in commands:
        assert command.startswith("curl -s -H 'X-Loyalty-Club-Slug: infinity-mall' ")
        assert not re.search(r"[{}]", command), command
    assert "'http://127.0.0.1:8080/v1/members/m1/totals'" in commands[0]


def test_the_address_is_the_one_a_local_client_uses() -> None:
    assert base_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert base_url("127.0.0.1", 9) == "http://127.0.0.1:9"
    assert base_url("::", 8080) == "http://[::1]:8080"
    banner = ready_banner(Settings(http_host="0.0.0.0"), 41000)
    assert "HTTP read side on http://127.0.0.1:41000" in banner
    assert (
        ready_banner(Settings(), None)
        == "worker ready: consuming loyalty.* in group progress-worker"
    )
