"""The read side over real HTTP: health, readiness and totals."""

from __future__ import annotations

from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.event_bodies import points
from tests.support.http import http_get
from tests.support.streams import drained, publish
from tests.support.waiting import wait_until
from tests.support.worker import running_worker


async def test_health_readiness_and_totals_over_http(redis: Redis, settings: Settings) -> None:
    async with running_worker(settings, serve_http=True) as worker:
        assert (await http_get(worker, "/healthz"))[0] == 200
        status, ready = await http_get(worker, "/readyz")
        assert status == 200
        assert ready["ready"] is True
        await publish(redis, settings, "points", points(amount=40, balance=140))
        await wait_until(lambda: drained(redis, settings), what="stream drained")
        status, body = await http_get(worker, "/v1/members/m1/totals")
    assert status == 200
    assert (body["points_earned"], body["balance"]) == (40, 140)


async def test_totals_reject_a_malformed_date_with_a_reason(
    redis: Redis, settings: Settings
) -> None:
    async with running_worker(settings, serve_http=True) as worker:
        status, body = await http_get(worker, "/v1/members/m1/totals?since=yesterday")
    assert status == 422  # like every /v1 route (api/params.py)
    assert "`since`" in body["detail"]
