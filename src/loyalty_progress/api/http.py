"""The HTTP apps served by the worker process (Litestar: validated parameters, msgspec
responses, OpenAPI). Each feature module contributes its routes.

Two ports (docs/security.md):
- the read side (`LOYALTY_HTTP_PORT`): `/v1/...` behind bearer tokens, and the
  unauthenticated probes `/healthz` and `/readyz` (booleans and a short reason only);
- the ops port (`LOYALTY_METRICS_PORT`, loopback unless told otherwise): `/metrics`, the
  OpenAPI document at `/schema`, and `/readyz` with the last error in full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Final

from litestar import Litestar, Router, asgi, get
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.params import FromQuery
from litestar.response import Response
from litestar.types import Receive, Scope, Send
from prometheus_client import CollectorRegistry, make_asgi_app

from loyalty_progress.api.access import member_for
from loyalty_progress.api.attendance import attendance_routes
from loyalty_progress.api.auth import SECURITY_SCHEME, CallerParam, ReadSideAuth, request_caller
from loyalty_progress.api.challenges import challenge_routes
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.params import VALIDATION_HANDLERS, Club, SubjectId
from loyalty_progress.api.prizes import prize_routes
from loyalty_progress.api.query_names import case_insensitive_query
from loyalty_progress.api.replay import replay_routes
from loyalty_progress.observability.health import Health
from loyalty_progress.store.totals import MemberTotals, member_totals

log = logging.getLogger(__name__)


def totals_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    @get("/v1/members/{member_id:str}/totals")
    async def totals(
        member_id: SubjectId,
        club: Club,
        caller: CallerParam,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> MemberTotals:
        """A member's running totals over whole UTC days in [since, until)."""
        member_id = member_for(caller, club, member_id)
        async with ctx.engine.connect() as conn:
            return await member_totals(conn, club, member_id, since or date.min, until or date.max)

    return [totals]


def read_routes(ctx: ReadContext) -> list[HTTPRouteHandler]:
    return [
        *totals_routes(ctx),
        *attendance_routes(ctx),
        *challenge_routes(ctx),
        *prize_routes(ctx),
        *replay_routes(ctx),
    ]


def _read_router(ctx: ReadContext, auth: ReadSideAuth) -> Router:
    return Router(
        "/",
        route_handlers=read_routes(ctx),
        guards=[auth.guard],
        middleware=[case_insensitive_query],
        dependencies={"caller": Provide(request_caller, sync_to_thread=False)},
        exception_handlers=VALIDATION_HANDLERS,
        security=[{SECURITY_SCHEME: []}],
    )


# What a dependency's failure looks like from outside: which one, never its message.
_NOT_READY: Final = {
    "database": "database unreachable",
    "redis": "redis unreachable",
    "migrations_current": "database schema is not at the current migration",
    "groups_joined": "not consuming: consumer groups not joined",
}


def public_readiness(health: Health) -> dict[str, Any]:
    """`/readyz` on the read side: the flags and a short reason, not the error text (it may
    name hosts, users or SQL); the ops port's `/readyz` has it."""
    body: dict[str, Any] = {k: v for k, v in health.as_dict().items() if isinstance(v, bool)}
    failed = [name for name, value in body.items() if value is False and name != "ready"]
    reason = _NOT_READY.get(failed[0], f"{failed[0]} is false") if failed else None
    if health.stopping:
        reason = "shutting down"
    elif health.starting is not None and (reason is None or failed[0] == "groups_joined"):
        reason = "starting"
    elif health.lost_groups and (reason is None or failed[0] == "groups_joined"):
        reason = "consumer group lost, being recreated"
    body["reason"] = None if health.ready else reason or "not ready"
    return body


def _probes(health: Health, body: Callable[[Health], dict[str, Any]]) -> list[HTTPRouteHandler]:
    @get("/healthz", sync_to_thread=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @get("/readyz", sync_to_thread=False)
    def readyz() -> Response[dict[str, Any]]:
        return Response(body(health), status_code=200 if health.ready else 503)

    return [healthz, readyz]


async def _log_unexpected(exc: Exception, scope: Scope) -> None:
    # Litestar answers 500 without a log line (its logging is off: ours is configured).
    if not isinstance(exc, HTTPException):
        log.error("read side: %s %s failed", scope.get("method"), scope.get("path"), exc_info=exc)


def create_http_app(
    ctx: ReadContext,
    health: Health,
    auth: ReadSideAuth,
    openapi: OpenAPIConfig | None = None,
    plugins: Sequence[Any] = (),
) -> Litestar:
    """The read side: the probes over `health` and the `/v1` routes over `ctx`. Served
    without an OpenAPI config (the document is on the ops port); `openapi` is for
    generating that document."""
    # logging_config=None: Litestar would otherwise replace the root handler (JSON lines,
    # LOYALTY_LOG_LEVEL) with its own text format at INFO.
    return Litestar(
        route_handlers=[*_probes(health, public_readiness), _read_router(ctx, auth)],
        openapi_config=openapi,
        after_exception=[_log_unexpected],
        logging_config=None,
        plugins=list(plugins),
    )


def create_ops_app(
    health: Health, registry: CollectorRegistry, render_schema: Callable[[], str]
) -> Litestar:
    """Metrics, the OpenAPI document (`render_schema()` makes it, once) and the full readiness,
    for operators and Prometheus."""
    metrics_app = make_asgi_app(registry=registry)

    @asgi("/metrics", is_mount=True, copy_scope=True)
    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        await metrics_app(scope, receive, send)

    rendered: list[str] = []

    @get(["/schema", "/schema/openapi.json"], sync_to_thread=False, media_type="application/json")
    def schema() -> str:
        """The read side's OpenAPI document, the same text as docs/openapi.json."""
        if not rendered:
            rendered.append(render_schema())
        return rendered[0]

    return Litestar(
        route_handlers=[*_probes(health, Health.as_dict), metrics, schema],
        openapi_config=None,
        after_exception=[_log_unexpected],
        logging_config=None,
    )
