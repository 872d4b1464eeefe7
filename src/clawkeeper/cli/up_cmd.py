"""`clawkeeper up`: the keeper daemon in the foreground — collect, alert, notify, export, schedule."""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from clawkeeper.agent import TARGET_HELP
from clawkeeper.cli.context import recorded
from clawkeeper.cli.render import console, emit_json, err_console
from clawkeeper.errors import AgentNotFound, UsageError
from clawkeeper.monitor.daemon import KeeperSnapshot
from clawkeeper.monitor.durations import format_duration, parse_duration
from clawkeeper.monitor.model import Alert, AlertState

if TYPE_CHECKING:
    from clawkeeper.config import Settings
    from clawkeeper.monitor.assembly import KeeperParts

STATE_STYLE = {AlertState.PENDING: "yellow", AlertState.FIRING: "bold red", AlertState.RESOLVED: "green"}
# What the live view shows from the store, in this order: (metric, label, format)
KEY_METRICS = (
    ("gateway_ready", "gateway ready", "bool"),
    ("gateway_live", "gateway live", "bool"),
    ("gateway_probe_latency_seconds", "probe latency", "seconds"),
    ("gateway_process_rss_bytes", "gateway RSS", "bytes"),
    ("gateway_process_cpu_percent", "gateway CPU", "percent"),
    ("host_cpu_percent", "host CPU", "percent"),
    ("host_memory_used_percent", "host memory", "percent"),
    ("host_disk_used_percent", "disk used", "percent"),
    ("backup_last_verified_age_seconds", "last verified backup", "age"),
    ("keeper_rss_bytes", "keeper RSS", "bytes"),
)


def _duration_option(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(str(exc), hint="e.g. --interval 10s, --duration 10m") from None


def up(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option("--target", "-t", help=TARGET_HELP)] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Collection interval, e.g. 10s (default: monitor.interval)."),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration", help="Stop (draining) after this long, e.g. 10m; default: run until stopped."
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Collect once, evaluate the rules, print the result and exit.")
    ] = False,
    no_live_view: Annotated[
        bool,
        typer.Option("--no-live-view", help="Log lines instead of the live view (for services and pipes)."),
    ] = False,
    no_schedule: Annotated[
        bool,
        typer.Option("--no-schedule", help="Don't run the maintenance schedule (collect and alert only)."),
    ] = False,
    exporter_port: Annotated[
        int | None,
        typer.Option(
            "--exporter-port",
            min=0,
            max=65535,
            help="/metrics port (default: monitor.exporter.port; 0: any).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final state as JSON (see docs/json-output.md).")
    ] = False,
) -> None:
    """Run the keeper: collectors, alert rules, notifications, /metrics and the maintenance schedule.

    Runs in the foreground until Ctrl-C or SIGTERM, which drain: running collections and jobs
    finish (jobs within monitor.schedule.drain_grace), a last evaluation runs, state is saved.
    """
    from clawkeeper.monitor.assembly import open_keeper, single_keeper
    from clawkeeper.targets import resolve_target

    interval_s, duration_s = _duration_option(interval), _duration_option(duration)
    args = {
        "target": target,
        "interval": interval,
        "duration": duration,
        "once": once,
        "no_schedule": no_schedule,
        "exporter_port": exporter_port,
    }
    with recorded(ctx, "up", args) as app:
        settings = app.settings
        monitor_updates: dict[str, Any] = {}
        if interval_s is not None:
            monitor_updates["interval"] = interval_s
        if exporter_port is not None:
            monitor_updates["exporter"] = settings.monitor.exporter.model_copy(update={"port": exporter_port})
        if monitor_updates:
            settings = settings.model_copy(
                update={"monitor": settings.monitor.model_copy(update=monitor_updates)}
            )

        agent = None
        adapter = None
        if settings.agent.kind == "openclaw":
            try:
                agent = resolve_target(settings, target)
            except AgentNotFound as exc:
                if target is not None and not _known_lab_instance(settings, target):
                    raise  # a typo or a live install that isn't there: nothing to wait for
                # a lab instance that is down now is watched anyway: that is when it needs watching
                err_console.print(
                    f"[yellow]{exc.message}: watching for it; its metrics read as stale until it answers[/]"
                )
        else:
            from clawkeeper.targets import resolve_adapter

            adapter = resolve_adapter(settings, target)
        if agent is not None:
            from clawkeeper.agent.openclaw.adapter import OpenClawAdapter

            adapter = OpenClawAdapter(agent, timeout=settings.agent.openclaw.command_timeout)
            if app.run_id is not None:
                app.ledger.set_run_target(app.run_id, agent.label)

        live_view = not (no_live_view or once or as_json) and sys.stdout.isatty()
        view = _View(live_view)
        with single_keeper(settings.monitor.store.path):
            parts = open_keeper(
                settings,
                config_path=app.loaded.path,
                target=agent,
                adapter=adapter,
                on_tick=view.update,
                with_schedule=not (no_schedule or once),
                choice=target,
            )
            view.parts = parts
            try:
                snapshot = _once(parts) if once else _run(parts, view, duration_s)
                if as_json:
                    emit_json("keeper", {"target": parts.target_label, **snapshot.to_json()})
                elif once:
                    console.print(_render(snapshot, parts))
            finally:
                parts.close()


def _known_lab_instance(settings: Settings, target: str) -> bool:
    """`lab` or `lab:<name>` of an instance that exists (stopped now, perhaps)."""
    from clawkeeper.agent.sandbox.layout import LabLayout

    if target == "lab":
        return True
    name = target.removeprefix("lab:")
    return target.startswith("lab:") and name in LabLayout(settings.lab.root).instance_names()


def _once(parts: KeeperParts) -> KeeperSnapshot:
    keeper = parts.keeper
    keeper.collect_all()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and keeper.collecting():
        time.sleep(0.05)
    keeper.evaluate_now()
    return keeper.snapshot()


def _run(parts: KeeperParts, view: _View, duration_s: float | None) -> KeeperSnapshot:
    keeper = parts.keeper

    def stop(_signum: int, _frame: FrameType | None) -> None:
        keeper.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    timer = None
    if duration_s is not None:
        import threading

        timer = threading.Timer(duration_s, keeper.request_stop)
        timer.daemon = True
        timer.start()
    where = f" · /metrics on {parts.exporter.url.rstrip('/')}/metrics" if parts.exporter is not None else ""
    err_console.print(
        f"clawkeeper keeper: {parts.target_label or 'no agent yet'} · {len(parts.collectors)} collectors · "
        f"{parts.rules} rules · notifiers: {', '.join(parts.notifiers) or 'none'}{where}"
    )
    try:
        with view:
            snapshot = keeper.run()
    finally:
        if timer is not None:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err_console.print(f"clawkeeper keeper: stopped after {snapshot.ticks} ticks; state saved")
    return snapshot


class _View:
    """The live view (a terminal) or log lines (a service, a pipe): alert and collector changes."""

    def __init__(self, live: bool) -> None:
        self.parts: Any = None
        self._live = Live(console=console, auto_refresh=False, transient=False) if live else None
        self._alerts: dict[str, AlertState] = {}
        self._collectors: dict[str, bool] = {}

    def __enter__(self) -> _View:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, snapshot: KeeperSnapshot) -> None:
        if self._live is not None and self.parts is not None:
            self._live.update(_render(snapshot, self.parts), refresh=True)
            return
        self._log_changes(snapshot)

    def _log_changes(self, snapshot: KeeperSnapshot) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        alerts = {_alert_key(a): a for a in snapshot.alerts}
        for key, alert in alerts.items():
            if self._alerts.get(key) != alert.state:
                value = "" if alert.value is None else f" value={alert.value:g}"
                err_console.print(f"{stamp} alert {alert.state.value.upper()} {key}{value}")
        for key in set(self._alerts) - set(alerts):
            err_console.print(f"{stamp} alert INACTIVE {key}")
        self._alerts = {k: a.state for k, a in alerts.items()}
        for status in snapshot.collectors:
            if status.last_run is None:
                continue
            if self._collectors.get(status.name, True) != status.ok:
                detail = "ok again" if status.ok else f"failing: {status.error}"
                err_console.print(f"{stamp} collector {status.name} {detail}")
            self._collectors[status.name] = status.ok


def _alert_key(alert: Alert) -> str:
    extra = ",".join(f"{k}={v}" for k, v in alert.labels if k not in ("alertname", "severity"))
    return f"{alert.name}{{{extra}}}" if extra else alert.name


def _render(snapshot: KeeperSnapshot, parts: Any) -> Group:
    header = Text.assemble(
        ("clawkeeper keeper", "bold"),
        f" · {parts.target_label or 'no agent yet'} · every {format_duration(snapshot.interval_s)}"
        f" · up {format_duration(snapshot.now - snapshot.started_at)} · {snapshot.ticks} ticks",
        (" · stopping" if snapshot.stopping else ""),
    )
    metrics = Table(title="now", show_header=False, box=None, padding=(0, 2))
    for name, label, kind in KEY_METRICS:
        for series in parts.store.latest(name):
            point = series.last
            if point is None:
                continue
            extra = ",".join(v for _, v in series.labels)
            metrics.add_row(f"{label}{f' ({extra})' if extra else ''}", _format(point.value, kind))
    alerts = Table(title="alerts", expand=False)
    for column in ("alert", "state", "since", "value"):
        alerts.add_column(column)
    for alert in snapshot.alerts:
        since = alert.fired_at or alert.active_since
        alerts.add_row(
            _alert_key(alert),
            Text(
                alert.state.value + (" (silenced)" if alert.silenced_by else ""),
                style=STATE_STYLE.get(alert.state, ""),
            ),
            format_duration(snapshot.now - since) + " ago" if since else "-",
            "-" if alert.value is None else f"{alert.value:g}",
        )
    if not snapshot.alerts:
        alerts.add_row("none", Text("ok", style="green"), "", "")
    collectors = Table(title="collectors")
    for column in ("collector", "ok", "last run", "took", "samples / error"):
        collectors.add_column(column, overflow="fold")
    for status in snapshot.collectors:
        collectors.add_row(
            status.name,
            Text("yes", style="green") if status.ok else Text("STALE", style="red"),
            "-"
            if status.last_run is None
            else f"{format_duration(max(0.0, snapshot.now - status.last_run))} ago",
            "-" if status.duration_s is None else f"{status.duration_s * 1000:.0f} ms",
            str(status.samples) if status.ok else (status.error or ""),
        )
    parts_list: list[Any] = [header, metrics, alerts, collectors]
    if snapshot.jobs:
        jobs = Table(title="schedule")
        for column in ("job", "next run", "last outcome"):
            jobs.add_column(column)
        for job in snapshot.jobs:
            jobs.add_row(
                str(job.get("name")), str(job.get("next_run") or "-"), str(job.get("last_outcome") or "-")
            )
        parts_list.append(jobs)
    if snapshot.errors:
        parts_list.append(Text("\n".join(snapshot.errors[-3:]), style="yellow"))
    return Group(*parts_list)


def _format(value: float, kind: str) -> str:
    if kind == "bool":
        return "[green]yes[/]" if value >= 1 else "[red]no[/]"
    if kind == "percent":
        return f"{value:.1f}%"
    if kind == "seconds":
        return f"{value * 1000:.0f} ms"
    if kind == "age":
        return "never" if value > 10 * 365 * 86400 else format_duration(value)
    if kind == "bytes":
        return f"{value / 2**20:.0f} MiB"
    return f"{value:g}"
