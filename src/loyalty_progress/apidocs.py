"""The contract documents of `loyalty-progress docs asyncapi|openapi`, generated from the code.

The AsyncAPI document comes from a FastStream app that declares the worker's own input
subscriptions (`worker.app.input_subscription`) and the three output streams, with the
msgspec wire types of `contract/` as payloads. The OpenAPI document is the one Litestar
generates for the worker's read side, with its bearer-token scheme (each worker also serves
it on the ops port, `/schema`). Both describe the default configuration (prefix
`loyalty`, group `progress-worker`) whatever the environment says, so that the committed
`docs/asyncapi.json` and `docs/openapi.json` are reproducible; tests/unit/test_api_docs.py
fails when they drift from the code.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import msgspec
from faststream import FastStream
from faststream.redis import RedisBroker
from faststream.specification import AsyncAPI
from litestar import Litestar
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components
from litestar.routes import HTTPRoute
from pydantic import Field, WithJsonSchema

from loyalty_progress.api.auth import SECURITY_SCHEME, ReadSideAuth, security_scheme
from loyalty_progress.api.context import ReadContext
from loyalty_progress.api.http import create_http_app
from loyalty_progress.clock import Clock
from loyalty_progress.config import Settings
from loyalty_progress.contract.events import (
    _REQUIRED_BY_KIND,
    EARLIEST,
    EVENT_TYPES,
    LATEST,
    MAX_AMOUNT,
    MAX_AMOUNT_SCALE,
    MAX_BODY_BYTES,
    InputStream,
    MemberEvent,
    ReceiptEvent,
    decode_body,
)
from loyalty_progress.contract.outputs import (
    DeadLetter,
    Notification,
    OutputStream,
    RewardIssuance,
)
from loyalty_progress.definitions.cache import DefinitionsCache
from loyalty_progress.observability.health import Health
from loyalty_progress.store.database import create_engine
from loyalty_progress.worker.subscriptions import input_subscription

# The version of the contract the documents describe; bump it by hand on a breaking change.
CONTRACT_VERSION: Final = "1.0.0"
# Placeholders: nothing connects to them, they only appear as the documented servers.
DOCUMENTED_SETTINGS: Final = Settings(
    database_url="postgresql://localhost:5432/loyalty",
    redis_url="redis://localhost:6379",
    consumer_name="<LOYALTY_CONSUMER_NAME>",
)

_GENERATED: Final = (
    "Generated from the code by `loyalty-progress docs {kind}`, for the default configuration; "
    "the version changes only with a breaking change of the contract."
)
_ENTRY_FORMAT: Final = (
    "Every entry has one field `data` holding one UTF-8 JSON object of at most "
    f"{MAX_BODY_BYTES // 1024} KiB"
)
_OUTPUTS: Final[dict[OutputStream, tuple[type[msgspec.Struct], str]]] = {
    OutputStream.NOTIFICATIONS: (
        Notification,
        "Notifications for the push service, published from the transactional outbox at "
        "least once: consumers dedupe on `notification_id`",
    ),
    OutputStream.REWARDS: (
        RewardIssuance,
        "Reward issuances for the rewards system, published from the transactional outbox "
        "at least once: consumers dedupe on `reward_id`",
    ),
    OutputStream.DEADLETTER: (
        DeadLetter,
        "Every input entry that could not be applied (bad input, or `LOYALTY_MAX_DELIVERIES` "
        "failed deliveries) with the reason; the entry itself is acknowledged",
    ),
}


# --------------------------------------------------------------------------- AsyncAPI


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace `$ref`s by the schemas they name: FastStream's pydantic layer accepts a
    self-contained schema only (the wire types have no recursive references)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
        inlined = {key: _inline(value, definitions) for key, value in node.items()}
        if isinstance(inlined.get("description"), str):  # msgspec keeps docstring indents
            inlined["description"] = inspect.cleandoc(inlined["description"])
        return inlined
    if isinstance(node, list):
        return [_inline(value, definitions) for value in node]
    return node


def wire_schema(cls: type[msgspec.Struct]) -> dict[str, Any]:
    """msgspec's JSON Schema of one wire type, self-contained."""
    (schema,), definitions = msgspec.json.schema_components([cls])
    inlined: dict[str, Any] = _inline(schema, definitions)
    return inlined


def _decimal_as_number_or_string(node: Any) -> Any:
    # msgspec documents a Decimal as a string; its decoder takes a JSON number as well.
    if isinstance(node, dict):
        if node.get("format") == "decimal":
            return {"anyOf": [{"type": "number"}, node]}
        return {key: _decimal_as_number_or_string(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decimal_as_number_or_string(value) for value in node]
    return node


def input_schema(stream: InputStream) -> dict[str, Any]:
    """The event schema plus the checks the event types make in `__post_init__`."""
    cls = EVENT_TYPES[stream]
    schema: dict[str, Any] = _decimal_as_number_or_string(wire_schema(cls))
    if cls is ReceiptEvent:
        amount = schema["properties"]["amount"]
        amount["description"] = (
            f"A finite decimal, 0 <= amount <= {MAX_AMOUNT}, with at most "
            f"{MAX_AMOUNT_SCALE} digits after the decimal point, as a JSON number or string."
        )
        amount["anyOf"][0].update(minimum=0, maximum=int(MAX_AMOUNT))
    schema["properties"]["occurred_at"]["description"] = (
        "With a UTC offset from -14:00 to +14:00; from "
        f"{EARLIEST:%Y-%m-%d} (included) to {LATEST:%Y-%m-%d} (excluded), UTC."
    )
    if cls is MemberEvent:
        schema["allOf"] = [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"required": [field], "properties": {field: {"not": {"type": "null"}}}},
            }
            for kind, field in _REQUIRED_BY_KIND.items()
        ]
    return schema


def _payload(title: str, schema: dict[str, Any]) -> Any:
    """A type FastStream documents with the given schema (it builds payloads with pydantic,
    which knows nothing of msgspec Structs)."""
    return Annotated[Any, WithJsonSchema(schema), Field(title=title)]


def _documented_handler(stream: InputStream) -> Callable[[Any], Awaitable[object]]:
    """Stands for the worker's handler, which takes raw batches: FastStream reads the
    payload from the handler's signature, so this one names the event type. Run (the
    documentation app never is), it would check each message against the contract."""

    async def handler(event: Any) -> object:
        return decode_body(stream, msgspec.json.encode(event))

    handler.__annotations__ = {
        "event": _payload(EVENT_TYPES[stream].__name__, input_schema(stream)),
        "return": object,
    }
    handler.__name__ = f"apply_{stream.value}"
    return handler


def documentation_app(settings: Settings = DOCUMENTED_SETTINGS) -> FastStream:
    """A FastStream app that is never started: the worker's input subscriptions and the
    output streams, for the AsyncAPI document."""
    assert settings.redis_url is not None
    broker = RedisBroker(
        settings.redis_url,
        description="Redis Streams; stream names are `<LOYALTY_STREAM_PREFIX>.<name>`",
    )
    for stream in InputStream:
        subscription = input_subscription(settings, stream)
        broker.subscriber(
            stream=subscription.stream,
            title=subscription.title,
            description=f"{subscription.description}. {_ENTRY_FORMAT}.",
        )(_documented_handler(stream))
    for output, (cls, description) in _OUTPUTS.items():
        broker.publisher(
            stream=settings.stream(output.value),
            title=output.value,
            description=f"{description}. {_ENTRY_FORMAT}, the same as the inputs.",
            schema=_payload(cls.__name__, wire_schema(cls)),
        )
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="loyalty-progress streams",
            version=CONTRACT_VERSION,
            description=(
                "Input events consumed by the loyalty-progress worker through consumer group "
                f"`{settings.consumer_group}` (`LOYALTY_CONSUMER_GROUP`), and the messages it "
                f"publishes. Streams are `<prefix>.<name>` with prefix `{settings.stream_prefix}`"
                " by default (`LOYALTY_STREAM_PREFIX`). "
                f"{_ENTRY_FORMAT}; unknown JSON fields are ignored, bad input is dead-lettered "
                "with the reason. See docs/wire-contract.md. "
                f"{_GENERATED.format(kind='asyncapi')}"
            ),
        ),
    )


def asyncapi_document(settings: Settings = DOCUMENTED_SETTINGS) -> dict[str, Any]:
    document: dict[str, Any] = documentation_app(settings).schema.to_specification().to_jsonable()
    return document


# --------------------------------------------------------------------------- OpenAPI


def _answers_422(route: HTTPRoute) -> bool:
    return any(
        ValidationException in handler.resolve_exception_handlers()
        for handler in route.route_handlers
    )


def _validation_responses(app: Litestar, document: dict[str, Any]) -> None:
    """Routes with their own `ValidationException` handler answer 422, not Litestar's 400."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not _answers_422(route):
            continue
        for operation in document["paths"].get(route.path_format, {}).values():
            response = operation.get("responses", {}).pop("400", None)
            if response is None:
                continue
            schema = response["content"]["application/json"]["schema"]
            schema["description"] = "Validation failed; `detail` names each bad parameter"
            schema["examples"] = [
                {"detail": "Validation failed: ...", "extra": [], "status_code": 422}
            ]
            response["description"] = "A parameter or the club header is missing or invalid"
            operation["responses"]["422"] = response


_ERROR_BODY: Final = {
    "type": "object",
    "properties": {"status_code": {"type": "integer"}, "detail": {"type": "string"}},
    "required": ["status_code", "detail"],
}


def _auth_responses(document: dict[str, Any]) -> None:
    """Operations behind the bearer token say what they answer without one."""
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or not operation.get("security"):
                continue
            responses = operation.setdefault("responses", {})
            responses["401"] = {
                "description": "No bearer token, or one that is invalid or expired",
                "headers": {
                    "WWW-Authenticate": {
                        "description": 'RFC 6750 challenge, e.g. `Bearer realm="loyalty-progress",'
                        ' error="invalid_token", error_description="the token has expired"`',
                        "schema": {"type": "string"},
                    }
                },
                "content": {"application/json": {"schema": _ERROR_BODY}},
            }
            responses["403"] = {
                "description": "The token is for another club, or a member token names another "
                "member or a group its member is not in",
                "content": {"application/json": {"schema": _ERROR_BODY}},
            }


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="loyalty-progress read API",
        version=CONTRACT_VERSION,
        components=Components(security_schemes={SECURITY_SCHEME: security_scheme()}),
    )


def read_side_document(ctx: ReadContext) -> dict[str, Any]:
    """The OpenAPI document of a worker's read side (also served on its ops port), from
    its routes with an OpenAPI config; the app is never served (its guard lets everyone
    in)."""
    app = create_http_app(ctx, Health(), ReadSideAuth(None), openapi_config())
    document: dict[str, Any] = app.openapi_schema.to_schema()
    document["info"] = {
        "title": "loyalty-progress read API",
        "version": CONTRACT_VERSION,
        "description": (
            "The HTTP read side served by each worker (`LOYALTY_HTTP_PORT`). Every `/v1` "
            "route needs a bearer token (JWT, see the security scheme and docs/security.md); "
            "the club comes from the `X-Loyalty-Club-Slug` header and must be the token's, "
            "and the current time from the worker's clock (`LOYALTY_NOW`). `/healthz` and "
            "`/readyz` need no token; `/readyz` answers 503 with the same body while not "
            "ready, with a short `reason`. `/metrics` (Prometheus text format), this document "
            "(`/schema`) and `/readyz` with the last error are on the ops port "
            "(`LOYALTY_METRICS_PORT`, docs/runbook.md). "
            f"{_GENERATED.format(kind='openapi')}"
        ),
    }
    _validation_responses(app, document)
    _auth_responses(document)
    return document


def openapi_document(settings: Settings = DOCUMENTED_SETTINGS) -> dict[str, Any]:
    assert settings.database_url is not None
    # The routes want a read context; building its engine opens no connection.
    engine = create_engine(settings.database_url, pool_size=1)
    return read_side_document(ReadContext(engine, DefinitionsCache(engine), Clock(settings.now)))


# --------------------------------------------------------------------------- CLI


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, one trailing newline."""
    encoded = msgspec.json.Encoder(order="sorted", decimal_format="number").encode(document)
    return msgspec.json.format(encoded, indent=2).decode() + "\n"


DOCUMENTS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    "asyncapi": asyncapi_document,
    "openapi": openapi_document,
}
