"""`/metrics` over real HTTP (the ops port) reports what a known batch did."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from loyalty_progress.config import Settings
from tests.support.event_bodies import points, receipt
from tests.support.streams import drained, publish
from tests.support.waiting import wait_until
from tests.support.worker import running_worker


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_applied_duplicates_and_dead_letters(
    redis: Redis, settings: Settings
) -> None:
    earned = points(amount=10)
    async with running_worker(settings, serve_http=True) as worker:
        await publish(redis, settings, "points", earned, earned, points(kind="redeemed", amount=3))
        await publish(redis, settings, "receipts", receipt(status="approved"), b"not json")
        await wait_until(lambda: drained(redis, settings), what="streams drained")
        url = f"http://127.0.0.1:{worker.metrics_port}/metrics"

        async def gauges_collected() -> bool:
            async with httpx.AsyncClient() as client:
                samples = _samples((await client.get(url)).text)
            pending = ("loyalty_pending_entries", (("stream", settings.stream("points")),))
            return samples.get(("loyalty_outbox_backlog_rows", ()), -1) == 0 == samples.get(pending)

        # Gauges are collected once a second by the probe; counters are immediate.
        await wait_until(gauges_collected, what="gauges collected after the batch")
        async with httpx.AsyncClient() as client:
            samples = _samples((await client.get(url)).text)
    points_stream = settings.stream("points")
    receipts_stream = settings.stream("receipts")
    applied = "loyalty_events_applied_total"
    assert samples[(applied, (("stream", points_stream), ("type", "earned")))] == 1
    assert samples[(applied, (("stream", points_stream), ("type", "redeemed")))] == 1
    assert samples[(applied, (("stream", receipts_stream), ("type", "approved")))] == 1
    assert samples[("loyalty_duplicate_events_total", (("stream", points_stream),))] == 1
    dead = (
        "loyalty_dead_lettered_total",
        (("reason", "invalid_json"), ("stream", receipts_stream)),
    )
    assert samples[dead] == 1
    assert samples[("loyalty_outbox_published_total", (("stream", "notifications"),))] >= 1
    assert samples[("loyalty_pending_entries", (("stream", points_stream),))] == 0
    assert samples[("loyalty_batch_size_entries_count", (("stream", points_stream),))] >= 1
    assert samples[("loyalty_outbox_backlog_rows", ())] == 0
    # The standard process metrics are there too.
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("process_cpu_seconds_total", ())] > 0
    assert any(name == "python_info" for name, _labels in samples)
