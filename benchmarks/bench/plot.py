"""PNG charts of the runs (`--plot DIR`), one pair per batch size: entries acknowledged over
time per input stream (one panel per variant) and the end-to-end latency distribution (one
curve per variant). matplotlib is imported here only, and this module only with `--plot`;
figures are drawn on the Agg canvas, never on a display."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from bench.run import LATENCY_STEPS, RunResult
from bench.workload import INPUT_STREAMS

# One colour per input stream, the same in every panel and file.
STREAM_COLOURS = {
    "receipts": "#1f77b4",
    "points": "#ff7f0e",
    "vouchers": "#2ca02c",
    "members": "#9467bd",
}
VARIANT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
DPI = 100


def representative(runs: Sequence[RunResult]) -> RunResult:
    """The run with the median events/s (the lower middle one of an even count), so a
    chart shows a typical run rather than the best or an unlucky one."""
    ordered = sorted(runs, key=lambda r: r.events_per_s)
    return ordered[(len(ordered) - 1) // 2]


def _which_run(chosen: RunResult, runs: int) -> str:
    return f"run {chosen.run}, median of {runs}" if runs > 1 else f"run {chosen.run}"


def _thousands(value: float, _position: float) -> str:
    return f"{value:,.0f}"


def _draw_progress(axes: Axes, result: RunResult, runs: int) -> None:
    samples = result.progress
    times = [sample["t"] for sample in samples]
    for name in INPUT_STREAMS:
        values = [sample.get(name) for sample in samples]
        points = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
        if not points:
            continue
        colour = STREAM_COLOURS.get(name)
        axes.plot([t for t, _ in points], [v for _, v in points], label=name, color=colour)
        drained = result.stream_seconds.get(name)
        if drained is not None:
            axes.plot([drained], [points[-1][1]], marker="o", color=colour, linestyle="none")
    axes.axvline(
        result.publish_seconds, color="grey", linestyle="--", linewidth=1, label="all published"
    )
    axes.set_title(
        f"[{result.variant}] batch {result.batch_size}: {result.events_per_s:,.0f} events/s, "
        f"drained in {result.seconds:.1f} s ({_which_run(result, runs)})"
        + (", DISTURBED by other load" if result.disturbed else ""),
        fontsize=10,
    )
    axes.set_ylabel("entries acknowledged")
    axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8, title="stream (dot: drained)", title_fontsize=8)


def plot_progress(groups: Sequence[Sequence[RunResult]], path: Path) -> Path:
    """One panel per variant (runs of one batch size), stacked on a shared time axis."""
    figure = Figure(figsize=(9, 1.2 + 3.0 * len(groups)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    for axes, runs in zip(panels, groups, strict=True):
        _draw_progress(axes, representative(runs), len(runs))
    panels[-1].set_xlabel("seconds since the first XADD (Redis clock)")
    figure.suptitle("Entries acknowledged over time, per input stream", fontsize=12)
    figure.savefig(path, format="png")
    return path


def _latency_unit(groups: Sequence[Sequence[RunResult]]) -> tuple[str, float]:
    """Seconds when the slowest curve reaches beyond 5 s (a flood), else milliseconds."""
    longest = max(representative(runs).latency_quantiles_ms[-1] for runs in groups)
    return ("s", 1000.0) if longest > 5000 else ("ms", 1.0)


def plot_latency(groups: Sequence[Sequence[RunResult]], path: Path) -> Path:
    """The cumulative distribution of per-notification latency, one curve per variant,
    p50 and p99 marked."""
    unit, divisor = _latency_unit(groups)
    figure = Figure(figsize=(9, 5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    shares = [i / LATENCY_STEPS for i in range(LATENCY_STEPS + 1)]
    for number, runs in enumerate(groups):
        result = representative(runs)
        values = [v / divisor for v in result.latency_quantiles_ms]
        colour = VARIANT_COLOURS[number % len(VARIANT_COLOURS)]
        p50, p99 = values[LATENCY_STEPS // 2], values[LATENCY_STEPS * 99 // 100]
        axes.plot(
            values,
            shares,
            color=colour,
            label=f"[{result.variant}] {result.events_per_s:,.0f} events/s, "
            f"{result.notifications:,} notifications ({_which_run(result, len(runs))})"
            + (", DISTURBED" if result.disturbed else ""),
        )
        for share, value, name in ((0.5, p50, "p50"), (0.99, p99, "p99")):
            axes.plot([value], [share], marker="o", color=colour, linestyle="none")
            # p50 to the right of its dot, p99 to the left (the curve's end is near the edge)
            axes.annotate(
                f"{name} {value:,.1f} {unit}" if unit == "s" else f"{name} {value:,.0f} {unit}",
                (value, share),
                textcoords="offset points",
                xytext=(6, -12) if name == "p50" else (-6, 2),
                horizontalalignment="left" if name == "p50" else "right",
                fontsize=8,
                color=colour,
            )
    batch = groups[0][0].batch_size
    axes.set_title(
        f"End-to-end latency per notification, batch {batch} "
        "(notification entry id minus the entry id of its cause)",
        fontsize=11,
    )
    axes.set_xlabel(f"latency ({unit})")
    axes.xaxis.set_major_formatter(FuncFormatter(_thousands) if unit == "ms" else "{x:g}")
    axes.set_ylabel("notifications at or below")
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    axes.set_xlim(left=0)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, format="png")
    return path


def write_plots(results: Sequence[RunResult], directory: Path) -> list[Path]:
    """Per batch size: `progress-batch<N>.png` and, when some variant has latency samples,
    `latency-batch<N>.png`. Variants keep the order in which they ran."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for size in dict.fromkeys(r.batch_size for r in results):
        mine = [r for r in results if r.batch_size == size]
        groups = [
            [r for r in mine if r.variant == variant]
            for variant in dict.fromkeys(r.variant for r in mine)
        ]
        written.append(plot_progress(groups, directory / f"progress-batch{size}.png"))
        timed = [[r for r in runs if r.latency_quantiles_ms] for runs in groups]
        timed = [runs for runs in timed if runs]
        if timed:
            written.append(plot_latency(timed, directory / f"latency-batch{size}.png"))
    return written
