"""What `loyalty-progress run` prints once the worker is ready: where the HTTP read side
listens, and a ready-to-paste command for each read endpoint, filled in with the README
Quick start's example (club `infinity-mall`, member `m1`, `examples/definitions.yaml`)."""

from __future__ import annotations

from typing import Final

from loyalty_progress.config import Settings

EXAMPLE_CLUB: Final = "infinity-mall"
EXAMPLE_MEMBER: Final = "m1"
EXAMPLE_GROUP: Final = "family-1"
EXAMPLE_CHALLENGE: Final = "earn-500-points"  # one occurrence: its index is 0
CLUB_HEADER: Final = "X-Loyalty-Club-Slug"

# Every read route (GET, club header) as in docs/openapi.json; tests/unit/test_quickstart.py
# fails when a route is added there and not here.
# Staff-only routes that need an id from elsewhere (a replay's job id) are left out.
NOT_SHOWN: Final = frozenset({"/v1/replays/{job_id}"})
READ_ENDPOINTS: Final = (
    "/v1/members/{member_id}/totals",
    "/v1/members/{member_id}/attendance_challenge",
    "/v1/members/{member_id}/attendance_challenge/contributions",
    "/v1/members/{member_id}/challenges",
    "/v1/members/{member_id}/challenges/active",
    "/v1/members/{member_id}/challenges/eligible",
    "/v1/members/{member_id}/challenges/historical",
    "/v1/members/{member_id}/challenges/{code}/contributions",
    "/v1/members/{member_id}/prize_history",
    "/v1/challenges/{code}/occurrences/{index}?memberId={member_id}",
    "/v1/challenges/{code}/charities",
    "/v1/groups/{group_code}/challenges/active",
    "/v1/groups/{group_code}/challenges/eligible",
    "/v1/groups/{group_code}/challenges/historical",
)
EXAMPLE_VALUES: Final = {
    "member_id": EXAMPLE_MEMBER,
    "group_code": EXAMPLE_GROUP,
    "code": EXAMPLE_CHALLENGE,
    "index": "0",
}


def base_url(host: str, port: int) -> str:
    """The URL a local client uses for a server bound to (host, port)."""
    if host in {"0.0.0.0", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def read_commands(url: str, club: str = EXAMPLE_CLUB) -> list[str]:
    return [
        f"curl -s -H '{CLUB_HEADER}: {club}' '{url}{path.format(**EXAMPLE_VALUES)}'"
        for path in READ_ENDPOINTS
    ]


def ready_banner(settings: Settings, http_port: int | None) -> str:
    lines = [
        f"worker ready: consuming {settings.stream_prefix}.* in group {settings.consumer_group}"
    ]
    if http_port is None:
        return lines[0]
    url = base_url(settings.http_host, http_port)
    lines += [
        f"HTTP read side on {url} (liveness {url}/healthz, readiness {url}/readyz)",
        f"read progress (club {EXAMPLE_CLUB}, member {EXAMPLE_MEMBER} of the README's Quick "
        "start):",
        *(f"  {command}" for command in read_commands(url)),
    ]
    return "\n".join(lines)
