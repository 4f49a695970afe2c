"""The HTTP read side served by the worker process (Litestar: validated parameters,
msgspec responses, OpenAPI). Each feature module contributes its routes."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Litestar, asgi, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery, HeaderParameter, PathParameter
from litestar.response import Response
from litestar.types import Receive, Scope, Send
from prometheus_client import make_asgi_app

from loyalty_progress.api.attendance import attendance_routes
from loyalty_progress.api.challenges import challenge_routes
from loyalty_progress.api.context import CLUB_HEADER, ReadContext
from loyalty_progress.observability import tracing
from loyalty_progress.store.totals import MemberTotals, member_totals

if TYPE_CHECKING:
    from loyalty_progress.worker.app import Worker


def totals_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get("/v1/members/{member_id:str}/totals")
    async def totals(
        member_id: Annotated[str, PathParameter()],
        club: Annotated[str, HeaderParameter(name=CLUB_HEADER)],
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> MemberTotals:
        """A member's running totals over whole UTC days in [since, until)."""
        async with ctx.engine.connect() as conn:
            return await member_totals(conn, club, member_id, since or date.min, until or date.max)

    return [totals]


def read_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    return [*totals_routes(ctx), *attendance_routes(ctx), *challenge_routes(ctx)]


def create_http_app(worker: Worker) -> Litestar:
    @get("/healthz", sync_to_thread=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @get("/readyz")
    async def readyz() -> Response[dict[str, Any]]:
        health = worker.health.as_dict()
        return Response(health, status_code=200 if worker.health.ready else 503)

    metrics_app = make_asgi_app(registry=worker.metrics.registry)

    @asgi("/metrics", is_mount=True, copy_scope=True)
    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        await metrics_app(scope, receive, send)

    ctx = ReadContext(worker.engine, worker.definitions, worker.clock)
    # logging_config=None: Litestar would otherwise replace the root handler (JSON lines,
    # LOYALTY_LOG_LEVEL) with its own text format at INFO.
    return Litestar(
        route_handlers=[healthz, readyz, metrics, *read_routes(ctx)],
        logging_config=None,
        plugins=tracing.http_plugins(worker.settings),
    )
