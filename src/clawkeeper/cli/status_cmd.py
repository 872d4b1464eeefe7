"""`clawkeeper status`: the agent on one screen."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import platformdirs
import typer
from rich.table import Table

from clawkeeper.agent import TARGET_HELP
from clawkeeper.cli.context import recorded
from clawkeeper.cli.render import console, emit_json, err_console, yes_no
from clawkeeper.errors import ExitCode
from clawkeeper.ledger import RunRecord
from clawkeeper.runbook.releases import ReleaseReport, ReleaseSource
from clawkeeper.status import StatusReport, collect_status
from clawkeeper.targets import resolve_adapter


def status(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option("--target", "-t", help=f"Which agent: {TARGET_HELP}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")] = False,
    gates: Annotated[
        bool, typer.Option("--gates/--no-gates", help="Run doctor lint and config validation.")
    ] = True,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not ask the npm registry for releases.")
    ] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ignore the cached release list.")] = False,
) -> None:
    """Show versions, health, busy state, doctor findings, releases and recent runs.

    Exits 0 when the gateway is live and ready, 5 when it is down or not ready.
    """
    args = {"target": target, "json": as_json, "gates": gates, "offline": offline}
    with recorded(ctx, "status", args) as app:
        settings = app.settings
        adapter = resolve_adapter(settings, target)
        source = ReleaseSource(settings.releases, Path(platformdirs.user_cache_dir("clawkeeper")))

        def releases(node_version: str | None) -> ReleaseReport:
            return source.report(node_version, refresh=refresh)

        def runs() -> list[RunRecord]:
            return [r for r in app.ledger.recent_runs(limit=6) if r.id != app.run_id][:5]

        with console.status("Asking the agent…", spinner="dots") if not as_json else nullcontext():
            report = collect_status(
                adapter, releases=None if offline else releases, recent_runs=runs, with_gates=gates
            )
        app.ledger.set_run_target(app.run_id or 0, report.target)
        if as_json:
            emit_json("status", report.to_json())
        else:
            render(report)
        if report.exit_code != ExitCode.OK:
            reason = report.health.error or (
                "failing: " + ", ".join(report.health.failing) if report.health.failing else "not ready"
            )
            state = "down" if not report.health.live else "not ready"
            err_console.print(
                f"clawkeeper: gateway of {report.target} is {state} ({reason})", markup=False, soft_wrap=True
            )
            raise typer.Exit(int(report.exit_code))


def _ago(iso: str) -> str:
    seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def render(report: StatusReport) -> None:
    d, h, b = report.discovery, report.health, report.busy
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    version = d.cli_version or "unknown"
    if d.build and d.build.get("commit"):
        version += f" ({str(d.build['commit'])[:7]})"
    table.add_row("agent", f"{d.agent} · {report.target}")
    table.add_row("CLI version", version)
    running = h.running_version or "unknown"
    if h.running_version and d.cli_version and h.running_version != d.cli_version:
        running = f"[yellow]{running} (differs from the CLI: restart pending?)[/]"
    table.add_row("running gateway", running)
    table.add_row("install", f"{d.install_kind.value}  {d.package_root or ''}")
    if d.node:
        table.add_row("node", f"{d.node.version or '?'}  {d.node.path or ''}")
    table.add_row("state dir", str(d.state_dir or "unknown"))
    gw = d.gateway
    table.add_row("gateway", f"{gw.url or '?'}  bind {gw.bind or '?'}  auth {gw.auth_mode or '?'}")
    if d.service:
        table.add_row("service", f"{d.service.manager} {d.service.name} active={d.service.active}")
    ready = yes_no(h.ready)
    if h.failing:
        ready += f" (failing: {', '.join(h.failing)})"
    table.add_row("live / ready", f"{yes_no(h.live)} / {ready}")
    if h.error:
        table.add_row("", f"[yellow]{h.error}[/]")
    if b.busy is None:
        busy = f"[yellow]unknown[/] ({b.error or 'no data'})"
    elif b.busy:
        active = ", ".join(f"{k}={v}" for k, v in b.active.items() if v)
        busy = f"[yellow]busy[/] ({active or 'active work'})"
    else:
        busy = "[green]idle[/]"
    table.add_row("busy", busy)
    if report.gates or report.gate_error:
        for gate in report.gates:
            counts: dict[str, int] = {}
            for f in gate.findings:
                counts[f.severity] = counts.get(f.severity, 0) + 1
            summary = ", ".join(f"{n} {sev}" for sev, n in sorted(counts.items())) or "no findings"
            table.add_row(gate.name, f"{_verdict(gate.outcome.verdict.value)} {summary}")
        if report.gate_error:
            table.add_row("gates", f"[yellow]{report.gate_error}[/]")
    rel = report.releases
    if rel is not None:
        if rel.channels:
            parts = []
            for c in rel.channels:
                label = c.version or "—"
                if c.source == "derived":
                    label += " (derived)"
                parts.append(f"{c.channel} {label}")
            line = " · ".join(parts)
            if rel.stale:
                line += "  [yellow](cached; registry unreachable)[/]"
            table.add_row("releases", line)
            table.add_row(
                "newest for this Node", f"{rel.newest_for_node or 'none'} (node {rel.node_version or '?'})"
            )
        else:
            table.add_row("releases", f"[yellow]unavailable[/] ({rel.error})")
    for note in (*d.notes, *report.notes):
        table.add_row("note", f"[yellow]{note}[/]")
    console.print(table)
    if report.recent_runs:
        console.print("[bold]recent runs[/]")
        for r in report.recent_runs:
            console.print(f"  #{r.id} {r.command:<16} {r.outcome:<11} {_ago(r.started_at)}", markup=False)


def _verdict(value: str) -> str:
    style = {"passed": "green", "failed": "red", "skipped": "dim", "inconclusive": "yellow"}.get(
        value, "white"
    )
    return f"[{style}]{value}[/]"
