"""`llmops alerts list|test|history`: Typer commands; the main app registers them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmops.alerts.engine import AlertEngine

alerts_app = typer.Typer(help="Alert rules, their states and notification history.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@contextmanager
def _alerts() -> Iterator[AlertEngine]:
    from llmops.alerts.setup import build_alert_engine
    from llmops.api.app import build_redactor
    from llmops.budgets.store import BudgetStore
    from llmops.config import load_settings
    from llmops.storage.migrate import migrated_engine

    settings = load_settings()
    with migrated_engine(settings.resolved_database_url) as engine:
        try:
            alerts = build_alert_engine(settings, engine, build_redactor(settings), BudgetStore(engine))
        except ValueError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        yield alerts


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


@alerts_app.command("list")
def list_alerts() -> None:
    """Every rule with its kind, state, last value and since when it is in that state."""
    with _alerts() as alerts:
        states = {state.rule: state for state in alerts.states()}
        table = Table("rule", "kind", "window", "state", "value", "since")
        for rule in alerts.rules:
            state = states[rule.name]
            since = state.since.isoformat(timespec="seconds") if state.since else "—"
            table.add_row(
                rule.name,
                rule.kind,
                f"{rule.window_s}s",
                state.state if rule.enabled else "disabled",
                _figure(state.value),
                since,
            )
        out.print(table)


@alerts_app.command("test")
def test_alert(
    rule: Annotated[str | None, typer.Argument(help="Rule to name in the test (default: the first).")] = None,
) -> None:
    """Send a test notification through the configured notifiers; exit 1 when one did not deliver."""
    with _alerts() as alerts:
        if rule is not None and rule not in {r.name for r in alerts.rules}:
            err.print(f"[red]no alert rule named {rule}[/red]")
            raise typer.Exit(2)
        event = alerts.send_test(rule)
    for delivery in event.details["deliveries"]:
        status = "delivered" if delivery["delivered"] else f"NOT delivered ({delivery['error']})"
        out.print(f"{delivery['notifier']}: {status} after {delivery['attempts']} attempt(s)")
    if not event.delivered:
        raise typer.Exit(1)


@alerts_app.command("history")
def history(
    rule: Annotated[str | None, typer.Option(help="Only this rule's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most events to show.")] = 50,
) -> None:
    """Transitions and notifications, newest first, with their delivery results."""
    with _alerts() as alerts:
        events = alerts.history(rule, limit)
    table = Table("when", "rule", "event", "value", "threshold", "delivered", "attempts", "error")
    for event in events:
        table.add_row(
            event.created_at.isoformat(timespec="seconds"),
            event.rule,
            event.kind,
            _figure(event.value),
            _figure(event.threshold),
            "yes" if event.delivered else "no",
            str(event.attempts),
            event.error or "",
        )
    out.print(table)
