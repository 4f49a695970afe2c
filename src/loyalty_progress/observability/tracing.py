"""Optional OpenTelemetry tracing, off by default (`LOYALTY_TRACING=true` turns it on).

It uses the frameworks' own instrumentation: FastStream's `RedisTelemetryMiddleware` (a
span per consumed batch and per publish through the broker) and Litestar's
`OpenTelemetryPlugin` (a span per HTTP request). Spans are exported over OTLP/HTTP; the
exporter reads the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, ...). The libraries are the `tracing`
extra (`pip install 'loyalty-progress[tracing]'`): enabling tracing without them stops
the start with `TracingUnavailable`, which names the extra."""

from __future__ import annotations

from typing import Any, Final

from loyalty_progress.config import Settings

EXTRA_HINT: Final = "pip install 'loyalty-progress[tracing]'"
DEFAULT_SERVICE_NAME: Final = "loyalty-progress"


class TracingUnavailable(RuntimeError):
    """Tracing is enabled but its libraries are not installed."""


_provider: Any = None  # one TracerProvider per process, set up on first use


def _tracer_provider() -> Any:
    global _provider
    if _provider is not None:
        return _provider
    try:  # deferred: the optional `tracing` extra, imported only with tracing on
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(
            f"LOYALTY_TRACING is on but OpenTelemetry is not installed ({exc.name} is "
            f"missing): {EXTRA_HINT}, or set LOYALTY_TRACING=false"
        ) from None
    resource = Resource.create({"service.name": DEFAULT_SERVICE_NAME}).merge(
        OTELResourceDetector().detect()
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider = provider
    return provider


def require(settings: Settings) -> None:
    """Raise `TracingUnavailable` now if tracing is on without its libraries."""
    if settings.tracing:
        _tracer_provider()


def broker_middlewares(settings: Settings) -> tuple[Any, ...]:
    """Middlewares for the worker's RedisBroker: none unless tracing is on."""
    if not settings.tracing:
        return ()
    provider = _tracer_provider()
    # Only with tracing on: it needs the optional `tracing` extra (OpenTelemetry).
    from faststream.redis.opentelemetry import RedisTelemetryMiddleware

    return (RedisTelemetryMiddleware(tracer_provider=provider, include_messages_counters=False),)


def http_plugins(settings: Settings) -> list[Any]:
    """Plugins for the Litestar read side: none unless tracing is on."""
    if not settings.tracing:
        return []
    provider = _tracer_provider()
    # Only with tracing on: it needs the optional `tracing` extra (OpenTelemetry).
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return [OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider))]
