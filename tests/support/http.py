"""GETs from a running worker's read side (or its ops port) over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from loyalty_progress.worker.app import Worker
from tests.support.tokens import bearer, staff_token


async def http_get(
    worker: Worker,
    path: str,
    club: str = "infinity-mall",
    token: str | None = None,
    ops: bool = False,
) -> tuple[int, Any]:
    """GET from a running worker's read side (or, with `ops`, its ops port) over real
    HTTP; (status, decoded JSON). With a staff token of `club` unless another is given."""
    port = worker.metrics_port if ops else worker.http_port
    assert port is not None, "the worker serves no HTTP (serve_http=False)"
    headers = {"X-Loyalty-Club-Slug": club, **bearer(token or staff_token(club))}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        response = await client.get(path, headers=headers)
    return response.status_code, response.json()
