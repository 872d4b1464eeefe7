"""`clawkeeper metrics`: what the keeper has recorded, from its time-series store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clawkeeper.cli.context import recorded
from clawkeeper.cli.render import console, emit_json
from clawkeeper.errors import UsageError
from clawkeeper.monitor.durations import format_duration, parse_duration
from clawkeeper.monitor.model import MetricKind
from clawkeeper.monitor.sparkline import combine_max, sparkline
from clawkeeper.monitor.tsdb import TimeSeriesStore, parse_matcher
from clawkeeper.monitor.tsdb.overview import MetricView, SeriesView, overview

SLOTS = 30  # sparkline width in characters


def metrics(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="One metric (e.g. host_cpu_percent): a row per series.")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="How far back the trend reaches: 1h, 6h, 24h, 7d, 30d, ...")
    ] = "1h",
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", "-l", help="Only series matching k=v, k!=v, k=~regex or k!~regex (repeatable)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")] = False,
    points: Annotated[
        bool, typer.Option("--points", help="With --json: include the points of --since.")
    ] = False,
    step: Annotated[
        str | None, typer.Option("--step", help="With --points: average points into buckets of this width.")
    ] = None,
    db_path: Annotated[
        Path | None, typer.Option("--db", help="The monitor database (default: monitor.store.path).")
    ] = None,
) -> None:
    """Show the metrics the keeper recorded: latest value, trend sparkline, staleness.

    Without NAME: one row per metric (a metric with several series shows the highest of them in
    its trend; a counter's trend shows its growth per slot). With NAME: one row per series.
    """
    args = {
        "name": name,
        "since": since,
        "label": label or [],
        "json": as_json,
        "points": points,
        "step": step,
        "db": str(db_path) if db_path else None,
    }
    with recorded(ctx, "metrics", args) as app:
        window = _duration("--since", since)
        step_s = _duration("--step", step) if step is not None else None
        if window <= 0 or (step_s is not None and step_s <= 0):
            raise UsageError("--since and --step must be longer than zero", hint="e.g. --since 6h --step 1m")
        if (points or step) and not as_json:
            raise UsageError("--points and --step only apply to --json output", hint="add --json")
        matchers = [parse_matcher(text) for text in label or []]
        store_settings = app.settings.monitor.store
        path = db_path or store_settings.path
        now = time.time()
        with TimeSeriesStore(path, settings=store_settings, readonly=True) as store:
            views = overview(
                store,
                name=name,
                matchers=matchers,
                now=now,
                window=window,
                slots=SLOTS,
                with_points=points,
                points_step=step_s,
            )
        if as_json:
            emit_json(
                "metrics",
                {
                    "db": str(path),
                    "now": now,
                    "since_s": window,
                    "metrics": [v.to_json() for v in views],
                },
            )
            return
        if name is None:
            _print_metrics(views, now, since)
        else:
            _print_series(views, now, since)


def _duration(option: str, text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def _print_metrics(views: list[MetricView], now: float, since: str) -> None:
    if not views:
        console.print("No metrics recorded yet (or none match the --label filters).")
        return
    table = Table(title="clawkeeper metrics", show_lines=False)
    table.add_column("metric", no_wrap=True)
    table.add_column("series", justify="right")
    table.add_column("latest", overflow="fold")
    table.add_column("age", no_wrap=True)
    table.add_column(f"trend ({since})", no_wrap=True)
    table.add_column("stale", overflow="fold")
    for view in views:
        latest = [s.latest for s in view.series if s.latest is not None]
        if len(view.series) == 1:
            value_text = format_value(view.name, latest[0].value, now) if latest else "—"
        elif latest:
            low = min(p.value for p in latest)
            high = max(p.value for p in latest)
            value_text = (
                format_value(view.name, low, now)
                if low == high
                else f"{format_value(view.name, low, now)} … {format_value(view.name, high, now)}"
            )
        else:
            value_text = "—"
        newest = max((p.ts for p in latest), default=None)
        trend = _spark(view.kind, combine_max([list(s.trend) for s in view.series]))
        stale = [s for s in view.series if s.stale]
        table.add_row(
            view.name,
            str(len(view.series)),
            value_text,
            _age(newest, now),
            trend,
            _stale_text(stale[0]) if stale else "",
        )
    console.print(table)


def _print_series(views: list[MetricView], now: float, since: str) -> None:
    for view in views:
        kind = " (counter)" if view.kind is MetricKind.COUNTER else ""
        table = Table(title=f"{view.name}{kind}", show_lines=False)
        table.add_column("labels", overflow="fold")
        table.add_column("latest", overflow="fold")
        table.add_column("age", no_wrap=True)
        table.add_column(f"trend ({since})", no_wrap=True)
        table.add_column("stale", overflow="fold")
        for series in view.series:
            labels = ", ".join(f"{k}={v}" for k, v in series.labels) or "—"
            table.add_row(
                escape(labels),
                format_value(view.name, series.latest.value, now) if series.latest else "—",
                _age(series.latest.ts if series.latest else None, now),
                _spark(view.kind, list(series.trend)),
                _stale_text(series) if series.stale else "",
            )
        console.print(table)


def _spark(kind: MetricKind, values: list[float | None]) -> str:
    # a counter's growth is never negative: scale from zero, so "a little less" isn't drawn as none
    return sparkline(values, lo=0.0) if kind is MetricKind.COUNTER else sparkline(values)


def _stale_text(series: SeriesView) -> str:
    reason = (series.stale_reason or "collector failed")[:80]
    return f"[yellow]stale[/] {escape(reason)}"


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "—"
    return format_duration(max(0.0, now - ts)) if now - ts >= 1 else "now"


def format_value(name: str, value: float, now: float) -> str:
    """A value in the unit its name says (Prometheus naming: `_bytes`, `_seconds`, `_percent`, ...)."""
    if name.endswith("_timestamp_seconds") or name.endswith("_time_seconds"):
        if value <= 0:
            return "never"
        stamp = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{stamp} ({format_duration(max(0.0, now - value))} ago)"
    if name.endswith("_bytes_per_second"):
        return f"{_bytes(value)}/s"
    if name.endswith("_bytes"):
        return _bytes(value)
    if name.endswith("_seconds"):
        if abs(value) < 1:
            return f"{value * 1000:.3g}ms"
        if abs(value) < 60:
            return f"{value:.3g}s"
        return format_duration(value)
    if name.endswith("_percent"):
        return f"{value:.1f}%"
    if name.endswith("_ratio"):
        return f"{value * 100:.1f}%"
    return _number(value)


def _bytes(value: float) -> str:
    size = float(value)
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    index = 0
    while abs(size) >= 1024 and index < len(units) - 1:
        size /= 1024
        index += 1
    return f"{size:.0f} B" if index == 0 else f"{size:.1f} {units[index]}"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"
