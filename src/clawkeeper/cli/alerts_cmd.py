"""`clawkeeper alerts ...`: what fires and why, the history, silences, and the rules themselves.

Alerts are evaluated by the keeper (`clawkeeper up`), which keeps their state in the monitor
database (`monitor.store.path`); these commands read that database, so they show what the running
keeper sees. Silences are written there and take effect at the keeper's next evaluation.
"""

from __future__ import annotations

import getpass
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clawkeeper.cli.context import AppContext, recorded
from clawkeeper.cli.render import console, emit_json, err_console
from clawkeeper.errors import NotFound, UsageError
from clawkeeper.monitor.durations import format_duration, parse_duration
from clawkeeper.monitor.model import AlertState
from clawkeeper.monitor.rules import AlertStateStore, RuleSet, RuleSpec, describe, load_rules
from clawkeeper.monitor.rules.explain import Explanation, explain, format_value, labels_text, when
from clawkeeper.monitor.rules.records import StoredInstance, json_number
from clawkeeper.monitor.rules.silences import Silence
from clawkeeper.monitor.tsdb.matchers import parse_matcher

app = typer.Typer(
    help="Alerts: what is pending or firing and why, their history, silences, and the rules.",
    invoke_without_command=True,
)
silence_app = typer.Typer(help="Silence alerts for a while, with a reason.", no_args_is_help=True)
app.add_typer(silence_app, name="silence")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Also list the rules that are not firing.")]
STATE_STYLE = {
    "firing": "red",
    "pending": "yellow",
    "inactive": "green",
    "disabled": "dim",
    "resolved": "green",
}


# --- shared plumbing ----------------------------------------------------------------------------------


@contextmanager
def _reader(app_ctx: AppContext) -> Iterator[AlertStateStore | None]:
    """The alert state, read-only; None when the keeper never created the database."""
    path = app_ctx.settings.monitor.store.path
    if not path.exists():
        yield None
        return
    store = AlertStateStore.open(path, readonly=True)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _writer(app_ctx: AppContext) -> Iterator[AlertStateStore]:
    store = AlertStateStore.open(app_ctx.settings.monitor.store.path)
    try:
        yield store
    finally:
        store.close()


def _stale_after(app_ctx: AppContext) -> float:
    monitor = app_ctx.settings.monitor
    every = monitor.rules.evaluation_interval or monitor.interval
    return max(60.0, 3 * every)


def _keeper_note(store: AlertStateStore | None, app_ctx: AppContext, now: float) -> str | None:
    """A warning when the alert state is missing or old (the keeper is not running)."""
    last = store.last_evaluation_at() if store is not None else None
    if last is None:
        return (
            "The keeper has not evaluated any rules yet (start it with `clawkeeper up`); "
            f"database: {app_ctx.settings.monitor.store.path}"
        )
    if now - last > _stale_after(app_ctx):
        return f"The keeper last evaluated the rules {format_duration(now - last)} ago: is it running?"
    return None


def _value_text(value: float | None) -> str:
    if value is None:
        return "—"
    return str(json_number(value)) if not math.isfinite(value) else f"{value:.4g}"


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "—"
    return f"{format_duration(max(0.0, now - ts))} ago"


def _shown_labels(instance: StoredInstance) -> str:
    extra = [(k, v) for k, v in instance.labels if k not in ("alertname", "severity")]
    return labels_text(tuple(extra)) if extra else ""


def _silence_for(instance: StoredInstance, silences: list[Silence]) -> Silence | None:
    return next((s for s in silences if s.matches(instance.labels)), None)


def _find_rule(ruleset: RuleSet, name: str) -> RuleSpec:
    rule = ruleset.by_name(name) or next((r for r in ruleset.rules if r.name.lower() == name.lower()), None)
    if rule is None:
        raise NotFound(f"no alert rule named {name!r}", hint=f"the rules are: {', '.join(ruleset.names())}")
    return rule


# --- alerts / alerts list -----------------------------------------------------------------------------


@app.callback()
def main(ctx: typer.Context, all_rules: AllOpt = False, as_json: JsonOpt = False) -> None:
    """List pending and firing alerts (the same as `alerts list`)."""
    if ctx.invoked_subcommand is None:
        _list(ctx, all_rules=all_rules, as_json=as_json)


@app.command("list")
def list_alerts(ctx: typer.Context, all_rules: AllOpt = False, as_json: JsonOpt = False) -> None:
    """List pending and firing alerts: since when, value, severity, silences.

    With --all, every rule is listed, the quiet and disabled ones too.
    """
    _list(ctx, all_rules=all_rules, as_json=as_json)


def _list(ctx: typer.Context, *, all_rules: bool, as_json: bool) -> None:
    with recorded(ctx, "alerts list", {"all": all_rules, "json": as_json}) as app_ctx:
        now = time.time()
        ruleset = load_rules(app_ctx.settings.monitor) if all_rules else None
        with _reader(app_ctx) as store:
            instances = store.instances() if store is not None else []
            silences = store.silences.active(now) if store is not None else []
            last = store.last_evaluation_at() if store is not None else None
            note = _keeper_note(store, app_ctx, now)
        rows = [_instance_row(i, silences) for i in instances]
        quiet: list[dict[str, Any]] = []
        if ruleset is not None:
            active = {i.rule for i in instances}
            for rule in (*ruleset.rules, *ruleset.disabled):
                if rule.name not in active:
                    state = "inactive" if rule.enabled else "disabled"
                    quiet.append({"name": rule.name, "state": state, "severity": rule.severity})
        if as_json:
            payload: dict[str, Any] = {"last_evaluation_at": last, "alerts": rows, "note": note}
            if ruleset is not None:
                payload["quiet_rules"] = quiet
            emit_json("alerts.list", payload)
            return
        if note:
            err_console.print(f"[yellow]{escape(note)}[/]")
        _print_alerts(instances, silences, quiet, now)


def _instance_row(instance: StoredInstance, silences: list[Silence]) -> dict[str, Any]:
    row = instance.to_json()
    silence = _silence_for(instance, silences)
    row["silenced_by"] = silence.id if silence is not None else None
    row["severity"] = dict(instance.labels).get("severity")
    return row


def _print_alerts(
    instances: list[StoredInstance], silences: list[Silence], quiet: list[dict[str, Any]], now: float
) -> None:
    if not instances and not quiet:
        console.print("[green]No alerts are pending or firing.[/]")
        return
    table = Table(title="clawkeeper alerts")
    for column in ("alert", "state", "since", "value", "severity", "labels", "silenced", "summary"):
        table.add_column(column, overflow="fold")
    for i in instances:
        state = i.state.state.value + (" (flapping)" if i.state.flapping else "")
        since = i.state.fired_at if i.state.state is AlertState.FIRING else i.state.active_since
        silence = _silence_for(i, silences)
        table.add_row(
            i.rule,
            f"[{STATE_STYLE.get(i.state.state.value, 'white')}]{state}[/]",
            _ago(since, now),
            _value_text(i.value),
            dict(i.labels).get("severity", ""),
            escape(_shown_labels(i)),
            silence.id if silence is not None else "",
            escape(dict(i.annotations).get("summary", "")),
        )
    for row in quiet:
        style = STATE_STYLE.get(row["state"], "white")
        table.add_row(row["name"], f"[{style}]{row['state']}[/]", "", "", row["severity"], "", "", "")
    console.print(table)


# --- alerts explain -------------------------------------------------------------------------------------


@app.command("explain")
def explain_alert(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The alert name (see `alerts rules`).")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="History entries shown.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Explain one alert: the rule in words, its current value against the threshold, why it is
    (not) firing, and its recent state changes."""
    with recorded(ctx, "alerts explain", {"name": name, "limit": limit, "json": as_json}) as app_ctx:
        now = time.time()
        ruleset = load_rules(app_ctx.settings.monitor)
        rule = _find_rule(ruleset, name)
        with _reader(app_ctx) as store:
            result = explain(
                rule,
                enabled=rule.enabled,
                status=store.statuses().get(rule.name) if store is not None else None,
                instances=store.instances() if store is not None else [],
                history=store.transitions(rule=rule.name, limit=limit) if store is not None else [],
                silences=store.silences.active(now) if store is not None else [],
                now=now,
                stale_after=_stale_after(app_ctx),
            )
        if as_json:
            emit_json("alerts.explain", result.to_json())
            return
        _print_explanation(result, now)


def _print_explanation(result: Explanation, now: float) -> None:
    rule = result.rule
    state = "disabled" if not result.enabled else "inactive"
    if result.instances:
        state = "firing" if any(i.state.state is AlertState.FIRING for i in result.instances) else "pending"
    console.print(
        f"[bold]{rule.name}[/]  [{STATE_STYLE[state]}]{state}[/]  severity {rule.severity}  "
        f"source {escape(rule.source)}"
    )
    console.print(f"  {escape(result.words)}")
    console.print(f"  PromQL: {escape(result.promql)}")
    if result.status is not None:
        console.print(
            f"  last evaluated {_ago(result.status.evaluated_at, now)} ({when(result.status.evaluated_at)})"
        )
    console.print("[bold]Now[/]")
    for line in result.reasons:
        console.print(f"  - {escape(line)}")
    if rule.runbook:
        console.print("[bold]Runbook[/]")
        console.print(f"  {escape(rule.runbook)}")
    console.print("[bold]History[/] (newest first)")
    if not result.history:
        console.print("  no state changes recorded")
    for t in result.history:
        value = format_value(rule, t.value)
        note = f"  ({t.note})" if t.note else ""
        who = escape(labels_text(_series(t.labels)))
        console.print(
            f"  {when(t.at)}  {t.from_state.value} -> {t.to_state.value}  {who}  value {value}{escape(note)}"
        )


def _series(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in labels if k not in ("alertname", "severity"))


# --- alerts history -------------------------------------------------------------------------------------


@app.command("history")
def history(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", help="Only this alert.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only changes in this period, e.g. 24h, 7d.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=20000, help="How many changes.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List alert state changes, newest first: pending, firing, resolved."""
    args = {"name": name, "since": since, "limit": limit, "json": as_json}
    with recorded(ctx, "alerts history", args) as app_ctx:
        now = time.time()
        start = now - _duration("--since", since) if since is not None else None
        with _reader(app_ctx) as store:
            changes = store.transitions(rule=name, since=start, limit=limit) if store is not None else []
        if as_json:
            emit_json("alerts.history", {"transitions": [t.to_json() for t in changes]})
            return
        if not changes:
            console.print("No alert state changes recorded.")
            return
        table = Table(title="alert history")
        for column in ("when (UTC)", "alert", "labels", "change", "value", "note"):
            table.add_column(column, overflow="fold")
        for t in changes:
            style = STATE_STYLE.get(t.to_state.value, "white")
            table.add_row(
                when(t.at).removesuffix(" UTC"),
                t.rule,
                escape(labels_text(_series(t.labels))),
                f"{t.from_state.value} -> [{style}]{t.to_state.value}[/]",
                _value_text(t.value),
                escape(t.note),
            )
        console.print(table)


def _duration(option: str, text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}", hint="e.g. 30m, 2h, 7d") from None


# --- alerts silence ... ---------------------------------------------------------------------------------


def _until(for_: str | None, until: str | None, now: float) -> float:
    if (for_ is None) == (until is None):
        raise UsageError(
            "give exactly one of --for and --until", hint="e.g. --for 2h or --until 2025-06-01T08:00"
        )
    if for_ is not None:
        return now + _duration("--for", for_)
    try:
        moment = datetime.fromisoformat(str(until))
    except ValueError:
        raise UsageError(
            f"--until {until!r} is not an ISO date and time",
            hint="e.g. 2025-06-01T08:00 (local time) or ...Z",
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without zone is the local time
    return moment.timestamp()


@silence_app.command("add")
def silence_add(
    ctx: typer.Context,
    match: Annotated[
        list[str],
        typer.Option(
            "--match", "-m", help="Label matcher: alertname=X, job!=y, mountpoint=~/srv.* (repeat)."
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why these alerts can wait (required).")],
    for_: Annotated[str | None, typer.Option("--for", help="How long, e.g. 2h, 30m, 1d.")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until when, ISO 8601 (local time if no zone).")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who silences (default: your user name).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be silenced; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Silence the alerts matching every --match until a time: they are still evaluated and listed,
    but not notified. An end time and a reason are required."""
    args = {
        "match": match,
        "for": for_,
        "until": until,
        "reason": reason,
        "dry_run": dry_run,
        "json": as_json,
    }
    with recorded(ctx, "alerts silence add", args) as app_ctx:
        now = time.time()
        matchers = [parse_matcher(text) for text in match]
        ends_at = _until(for_, until, now)
        creator = by or _user()
        from clawkeeper.monitor.rules.silences import check_silence

        check_silence(matchers, ends_at, reason, now)
        preview = Silence("(new)", tuple(matchers), now, ends_at, reason.strip(), creator, now)
        with _reader(app_ctx) as store:
            hits = [i for i in (store.instances() if store is not None else []) if preview.matches(i.labels)]
        silence_id = None
        if not dry_run:
            with _writer(app_ctx) as writer:
                silence_id = writer.silences.add(matchers, ends_at, reason, creator, now=now)
        if as_json:
            emit_json(
                "alerts.silence.add",
                {
                    "dry_run": dry_run,
                    "silence": {**preview.to_json(now), "id": silence_id},
                    "matching_alerts": [i.to_json() for i in hits],
                },
            )
            return
        verb = "Would silence" if dry_run else f"Silence [bold]{silence_id}[/]:"
        console.print(
            f"{verb} {escape(preview.matcher_text())} until {when(ends_at)} — {escape(preview.reason)}"
        )
        if hits:
            console.print(
                f"  matches {len(hits)} active alert(s): " + ", ".join(sorted({i.rule for i in hits}))
            )
        else:
            console.print("  matches no active alert right now (it applies to future ones too)")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@silence_app.command("list")
def silence_list(
    ctx: typer.Context,
    include_ended: Annotated[
        bool, typer.Option("--all", help="Also list ended and expired silences.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List silences: id, matchers, until when, why and by whom."""
    with recorded(ctx, "alerts silence list", {"all": include_ended, "json": as_json}) as app_ctx:
        now = time.time()
        with _reader(app_ctx) as store:
            found = [] if store is None else store.silences.list(active_only=not include_ended, now=now)
        if as_json:
            emit_json("alerts.silence.list", {"silences": [s.to_json(now) for s in found]})
            return
        if not found:
            console.print("No active silences." if not include_ended else "No silences.")
            return
        table = Table(title="silences")
        for column in ("id", "matchers", "until (UTC)", "state", "reason", "by"):
            table.add_column(column, overflow="fold")
        for s in found:
            state = "active" if s.active(now) else ("expired" if s.expired_at is not None else "ended")
            table.add_row(
                s.id,
                escape(s.matcher_text()),
                when(s.ends_at).removesuffix(" UTC"),
                state,
                escape(s.reason),
                s.created_by,
            )
        console.print(table)


@silence_app.command("expire")
def silence_expire(
    ctx: typer.Context,
    silence_id: Annotated[str, typer.Argument(metavar="ID", help="The silence id (or a unique prefix).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be expired; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """End a silence now: the alerts it matched are notified again from the next evaluation."""
    args = {"id": silence_id, "dry_run": dry_run, "json": as_json}
    with recorded(ctx, "alerts silence expire", args) as app_ctx:
        now = time.time()
        if dry_run:
            with _reader(app_ctx) as store:
                if store is None:
                    raise NotFound(
                        f"no silence with id {silence_id!r}", hint="there is no monitor database yet"
                    )
                silence = store.silences.get(silence_id)
        else:
            with _writer(app_ctx) as writer:
                silence = writer.silences.expire(silence_id, now=now)
        was_active = silence.active(now) or (silence.expired_at is None and silence.starts_at > now)
        if as_json:
            emit_json(
                "alerts.silence.expire",
                {"dry_run": dry_run, "silence": silence.to_json(now), "was_active": was_active},
            )
            return
        if not was_active:
            console.print(f"Silence {silence.id} had already ended; nothing to do.")
            return
        verb = "Would expire" if dry_run else "Expired"
        console.print(
            f"{verb} silence {silence.id} ({escape(silence.matcher_text())}): {escape(silence.reason)}"
        )


# --- alerts rules ---------------------------------------------------------------------------------------


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    receiver: Annotated[str | None, typer.Option("--receiver", help="Only this receiver.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only this period, e.g. 24h, 7d.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=20000, help="How many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List notification deliveries, newest first: receiver, group, firing/resolved, error."""
    from clawkeeper.monitor import db
    from clawkeeper.monitor.notify import delivery_history

    args = {"receiver": receiver, "since": since, "limit": limit, "json": as_json}
    with recorded(ctx, "alerts deliveries", args) as app_ctx:
        start = time.time() - _duration("--since", since) if since is not None else None
        path = app_ctx.settings.monitor.store.path
        results = []
        if path.exists():
            conn = db.connect(path, readonly=True)
            try:
                results = delivery_history(conn, limit=limit, since=start, receiver=receiver)
            finally:
                conn.close()
        if as_json:
            rows = [
                {
                    "at": r.at,
                    "receiver": r.receiver,
                    "group_key": r.group_key,
                    "status": str(r.status),
                    "alerts": r.alerts,
                    "attempt": r.attempt,
                    "ok": r.ok,
                    "error": r.error,
                }
                for r in results
            ]
            emit_json("alerts.deliveries", {"deliveries": rows})
            return
        if not results:
            console.print("No notifications sent yet.")
            return
        table = Table(title="notification deliveries")
        for column in ("when (UTC)", "receiver", "group", "status", "alerts", "attempt", "result"):
            table.add_column(column, overflow="fold")
        for r in results:
            outcome = "[green]delivered[/]" if r.ok else f"[red]failed[/]: {escape(r.error or '')}"
            table.add_row(
                when(r.at).removesuffix(" UTC"),
                escape(r.receiver),
                escape(r.group_key),
                str(r.status),
                str(r.alerts),
                str(r.attempt),
                outcome,
            )
        console.print(table)


@app.command("rules")
def rules(
    ctx: typer.Context,
    prometheus: Annotated[
        Path | None, typer.Option("--prometheus", help="Write the rules as a Prometheus rule file here.")
    ] = None,
    grafana: Annotated[
        Path | None, typer.Option("--grafana", help="Write a Grafana dashboard (JSON) here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the alert rules in force (built-in and from rule files, after overrides), and
    optionally write them as a Prometheus rule file and a Grafana dashboard."""
    args = {
        "prometheus": str(prometheus) if prometheus else None,
        "grafana": str(grafana) if grafana else None,
    }
    with recorded(ctx, "alerts rules", {**args, "json": as_json}) as app_ctx:
        monitor = app_ctx.settings.monitor
        ruleset = load_rules(monitor)
        written = []
        if prometheus is not None:
            from clawkeeper.effects.fs import atomic_write_text
            from clawkeeper.monitor.rules.promql import prometheus_rules_yaml

            every = monitor.rules.evaluation_interval or monitor.interval
            # Prometheus runs as its own user: the file holds no secret and must be readable
            atomic_write_text(
                prometheus, prometheus_rules_yaml(ruleset.rules, evaluation_interval=every), mode=0o644
            )
            written.append(str(prometheus))
        if grafana is not None:
            from clawkeeper.effects.fs import atomic_write_json
            from clawkeeper.monitor.grafana import collector_metric_infos, dashboard

            atomic_write_json(grafana, dashboard(collector_metric_infos(), ruleset.rules), mode=0o644)
            written.append(str(grafana))
        if as_json:
            emit_json(
                "alerts.rules",
                {"rules": [_rule_json(r) for r in (*ruleset.rules, *ruleset.disabled)], "written": written},
            )
            return
        table = Table(title="alert rules")
        for column in ("alert", "severity", "rule", "source"):
            table.add_column(column, overflow="fold")
        for rule in (*ruleset.rules, *ruleset.disabled):
            name = rule.name if rule.enabled else f"[dim]{rule.name} (disabled)[/]"
            table.add_row(name, rule.severity, escape(describe(rule)), escape(rule.source))
        console.print(table)
        for path in written:
            console.print(f"Wrote {escape(path)}")


def _rule_json(rule: RuleSpec) -> dict[str, Any]:
    from clawkeeper.monitor.rules.promql import to_promql

    return {
        "name": rule.name,
        "enabled": rule.enabled,
        "source": rule.source,
        "severity": rule.severity,
        "metric": rule.metric,
        "reduce": rule.reduction.value,
        "window_s": rule.window,
        "op": rule.op.value,
        "threshold": json_number(rule.threshold),
        "resolve_threshold": json_number(rule.resolve_threshold),
        "for_s": rule.for_s,
        "keep_firing_for_s": rule.keep_firing_for_s,
        "labels": dict(rule.labels),
        "annotations": rule.all_annotations(),
        "rule": describe(rule),
        "promql": to_promql(rule),
    }
