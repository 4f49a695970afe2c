"""The benchmark's `--plot` charts, drawn from synthetic runs: real PNG files, one pair per
batch size, and the latency distribution they draw agrees with the p50/p99 the tables print."""

from __future__ import annotations

import struct
from pathlib import Path

from bench.plot import representative, write_plots
from bench.run import LATENCY_STEPS, RunResult, latency_quantiles, percentile

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOTALS = {"receipts": 15_000, "points": 10_000, "vouchers": 3_000, "members": 2_000}


def _run(variant: str, run: int, seconds: float, batch_size: int = 1000) -> RunResult:
    """A run whose streams drain linearly, receipts last, and whose latencies spread
    evenly up to the drain time (a flood)."""
    shares = (1.0, 0.7, 0.6, 0.5)
    drained = {name: seconds * share for name, share in zip(TOTALS, shares, strict=True)}
    progress: list[dict[str, float]] = []
    steps = int(seconds / 0.25)
    for step in range(steps + 1):
        t = step * 0.25
        sample: dict[str, float] = {"t": round(t, 2)}
        for name, total in TOTALS.items():
            sample[name] = round(total * min(1.0, t / drained[name]))
        progress.append(sample)
    latencies = [seconds * 1000 * i / 4000 for i in range(1, 4001)]
    return RunResult(
        run=run,
        variant=variant,
        replicas=1,
        batch_size=batch_size,
        events=30_000,
        distinct=29_400,
        duplicates=600,
        members=3_000,
        seconds=seconds,
        events_per_s=round(29_400 / seconds, 1),
        publish_seconds=1.5,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        notifications=len(latencies),
        rewards=0,
        exact=True,
        stream_seconds=drained,
        progress=progress,
        latency_quantiles_ms=latency_quantiles(latencies),
    )


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plots_are_png_files_one_pair_per_batch_size(tmp_path: Path) -> None:
    results = [
        _run("definitions", 1, 9.0),
        _run("backbone", 1, 3.0),
        _run("definitions", 2, 8.0),
        _run("backbone", 2, 2.5),
        _run("definitions", 1, 20.0, batch_size=1),
    ]
    written = write_plots(results, tmp_path / "charts")
    assert [p.name for p in written] == [
        "progress-batch1000.png",
        "latency-batch1000.png",
        "progress-batch1.png",
        "latency-batch1.png",
    ]
    for path in written:
        width, height = _png_size(path)
        assert width >= 600
        assert height >= 300
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"
    # two stacked panels (definitions, backbone) are taller than the single one of batch 1
    assert _png_size(written[0])[1] > _png_size(written[2])[1]


def test_a_variant_without_notifications_gets_a_progress_chart_only(tmp_path: Path) -> None:
    quiet = _run("backbone", 1, 3.0)
    quiet.latency_quantiles_ms = []
    written = write_plots([quiet], tmp_path)
    assert [p.name for p in written] == ["progress-batch1000.png"]


def test_the_latency_quantiles_hold_the_printed_percentiles() -> None:
    values = [float(v) for v in range(7, 12_345, 7)]
    quantiles = latency_quantiles(values)
    assert len(quantiles) == LATENCY_STEPS + 1
    assert quantiles[0] == min(values)
    assert quantiles[-1] == max(values)
    assert quantiles == sorted(quantiles)
    assert quantiles[LATENCY_STEPS // 2] == percentile(values, 50)
    assert quantiles[LATENCY_STEPS * 99 // 100] == percentile(values, 99)
    assert latency_quantiles([]) == []


def test_the_chart_shows_the_median_run() -> None:
    runs = [_run("definitions", n, s) for n, s in ((1, 9.0), (2, 4.0), (3, 6.0))]
    assert representative(runs).run == 3
    assert representative(runs[:2]).run == 1  # the slower of two: never flatters
