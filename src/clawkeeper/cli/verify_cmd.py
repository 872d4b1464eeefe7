"""`clawkeeper verify`: run a probe suite against the agent and report each probe's evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from clawkeeper.agent import TARGET_HELP
from clawkeeper.cli.context import AppContext, recorded
from clawkeeper.cli.render import console, emit_json, err_console
from clawkeeper.errors import Inconclusive, UsageError, VerificationFailed
from clawkeeper.outcomes import Verdict
from clawkeeper.probes.baseline import LedgerBaselines
from clawkeeper.probes.kinds import KINDS
from clawkeeper.probes.provider import ProbeIds, ProbeRegistration
from clawkeeper.probes.record import record_report
from clawkeeper.probes.runner import MeasurementRecord, ProbeReport, SuiteReport
from clawkeeper.probes.spec import ProbeSpec
from clawkeeper.probes.suites import SuiteLibrary
from clawkeeper.probes.verification import VerifyRequest, remove_probe_agent, workdir_for
from clawkeeper.probes.verification import verify as run_verification

VERDICT_STYLE = {
    Verdict.PASSED: ("green", "PASS"),
    Verdict.FAILED: ("red", "FAIL"),
    Verdict.INCONCLUSIVE: ("yellow", "????"),
    Verdict.SKIPPED: ("dim", "skip"),
}


class _LiveProgress:
    """One line per probe as it finishes, and a transient status line while it measures."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.status: Any = None
        self.total = 0
        self.index = 0

    def probe_started(self, spec: ProbeSpec, index: int, total: int) -> None:
        self.index, self.total = index, total
        self._status(f"[{index + 1}/{total}] {spec.name}: measuring…")

    def measured(self, spec: ProbeSpec, record: MeasurementRecord) -> None:
        count = spec.limits.count
        if count > 1:
            self._status(
                f"[{self.index + 1}/{self.total}] {spec.name}: {record.index + 1}/{count} {record.phase}"
            )

    def probe_finished(self, report: ProbeReport) -> None:
        self._stop()
        style, word = VERDICT_STYLE[report.verdict]
        self.out.print(
            f"[{style}]{word}[/] [bold]{report.name}[/] [dim]({report.duration_s:.1f}s)[/]  {report.reason}",
            highlight=False,
        )

    def _status(self, text: str) -> None:
        if self.status is None:
            self.status = self.out.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def _stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def verify(
    ctx: typer.Context,
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="Suite to run: smoke, regression, full, or yours.")
    ] = "smoke",
    target: Annotated[str | None, typer.Option("--target", "-t", help=f"Which agent: {TARGET_HELP}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (shape in docs/probes.md).")] = False,
    probe: Annotated[
        list[str] | None, typer.Option("--probe", "-p", help="Run only this probe of the suite (repeatable).")
    ] = None,
    suite_file: Annotated[
        list[Path] | None,
        typer.Option("--suite-file", help="Also load suites from this TOML file (repeatable)."),
    ] = None,
    list_suites: Annotated[
        bool, typer.Option("--list", help="List the suites and probe kinds, then exit.")
    ] = False,
    remove_agent: Annotated[
        bool,
        typer.Option(
            "--remove-probe-agent", help="Remove clawkeeper's probe agent and provider from the target."
        ),
    ] = False,
) -> None:
    """Prove the agent works: run a probe suite (Argo-style analysis) and report each probe's evidence.

    Exit code 0 when the suite passed, 1 when a probe failed, 20 when it is inconclusive (a human
    must look).
    """
    args = {
        "suite": suite,
        "target": target,
        "json": as_json,
        "probe": probe or [],
        "suite_file": [str(p) for p in suite_file or []],
        "list": list_suites,
        "remove_probe_agent": remove_agent,
    }
    with recorded(ctx, "verify", args) as app:
        settings = app.settings.probes
        library = SuiteLibrary(settings.all_suite_dirs(), suite_file or [])
        if list_suites:
            _list(library, as_json)
            return
        chosen = library.get(suite)
        unknown = [name for name in probe or [] if name not in chosen.probe_names()]
        if unknown:
            raise UsageError(
                f"suite {suite!r} has no probe {unknown[0]!r}",
                hint=f"its probes: {', '.join(chosen.probe_names())}",
            )
        resolved, sandbox = _resolve(app, target)
        app.ledger.set_run_target(_run_id(app), resolved.label)
        if remove_agent:
            registration = ProbeRegistration(
                _env_for(resolved),
                workdir_for(settings, resolved.label),
                ProbeIds(provider=settings.provider_id, agent=settings.agent_id),
            )
            notes = remove_probe_agent(
                registration, lambda name, intent: app.ledger.step(_run_id(app), name, intent)
            )
            if as_json:
                emit_json("verify-remove-probe-agent", {"target": resolved.label, "notes": notes})
            else:
                for note in notes:
                    console.print(note)
            return
        request = VerifyRequest(
            suite=chosen,
            target=resolved,
            target_label=resolved.label,
            sandbox=sandbox,
            settings=settings,
            baselines=LedgerBaselines(app.ledger, resolved.label, exclude_run=app.run_id),
            only=probe or (),
        )
        out = err_console if as_json else console
        if not as_json:
            console.print(
                f"Verifying [bold]{resolved.label}[/] with suite [bold]{chosen.name}[/]"
                f" ({len(request.only) or len(chosen.probes)} probes)"
            )
        report = run_verification(
            request,
            progress=None if as_json else _LiveProgress(out),
            record_step=lambda name, intent: app.ledger.step(_run_id(app), name, intent),
        )
        record_report(app.ledger, _run_id(app), report)
        if as_json:
            emit_json("verify", {"run_id": app.run_id, **report.to_json()})
        else:
            _summary(report)
        _raise_for_verdict(report)


def _run_id(app: AppContext) -> int:
    if app.run_id is None:  # set by recorded(); guards against misuse
        raise RuntimeError("verify must run inside recorded()")
    return app.run_id


def _resolve(app: AppContext, choice: str | None) -> tuple[Any, bool]:
    from clawkeeper.targets import resolve_target

    resolved = resolve_target(app.settings, choice)
    sandbox = resolved.label.startswith("lab:") or resolved.isolation != "none"
    return resolved, sandbox


def _env_for(target: Any) -> Any:
    from clawkeeper.probes.env import ProbeEnv

    return ProbeEnv(target=target, http_base=target.http_base)


def _raise_for_verdict(report: SuiteReport) -> None:
    counts = report.counts()
    summary = (
        f"suite {report.suite} on {report.target}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['inconclusive']} inconclusive, {counts['skipped']} skipped"
    )
    if report.verdict is Verdict.FAILED:
        failed = [p.name for p in report.probes if p.verdict is Verdict.FAILED and not p.spec.report_only]
        raise VerificationFailed(
            f"{summary} (failed: {', '.join(failed)})",
            hint="the reasons are above; `clawkeeper history --run <id>` keeps them",
        )
    if report.verdict is Verdict.INCONCLUSIVE:
        raise Inconclusive(
            f"{summary}: a human must decide", hint="the inconclusive probes say why they could not decide"
        )


def _summary(report: SuiteReport) -> None:
    table = Table(title=f"{report.suite} on {report.target}", show_lines=False)
    for column in ("probe", "verdict", "evidence / reason"):
        table.add_column(column, overflow="fold")
    for probe in report.probes:
        style, _word = VERDICT_STYLE[probe.verdict]
        name = probe.name + (" [dim](report only)[/]" if probe.spec.report_only else "")
        table.add_row(name, f"[{style}]{probe.verdict.value}[/]", probe.reason)
    console.print(table)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    style, _word = VERDICT_STYLE[report.verdict]
    console.print(f"Verdict: [{style}][bold]{report.verdict.value}[/][/] in {report.duration_s:.0f}s")


def _list(library: SuiteLibrary, as_json: bool) -> None:
    files = library.files()
    if as_json:
        emit_json(
            "verify-suites",
            {
                "suites": [
                    {
                        "name": f.name,
                        "description": f.description,
                        "builtin": f.builtin,
                        "source": str(f.path),
                        "extends": list(f.extends),
                        "probes": library.get(f.name).probe_names(),
                    }
                    for f in files
                ],
                "kinds": [
                    {"name": k.name, "summary": k.summary, "parameters": sorted(k.params.model_fields)}
                    for k in KINDS.values()
                ],
            },
        )
        return
    table = Table(title="probe suites")
    for column in ("suite", "from", "probes", "description"):
        table.add_column(column, overflow="fold")
    for f in files:
        table.add_row(
            f.name,
            "built-in" if f.builtin else str(f.path),
            ", ".join(library.get(f.name).probe_names()),
            f.description,
        )
    console.print(table)
    kinds = Table(title="probe kinds")
    kinds.add_column("kind")
    kinds.add_column("what it checks", overflow="fold")
    kinds.add_column("parameters", overflow="fold")
    for k in KINDS.values():
        kinds.add_row(k.name, k.summary, ", ".join(sorted(k.params.model_fields)) or "—")
    console.print(kinds)
