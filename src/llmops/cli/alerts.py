"""`llmops alerts list|test|history`: alert rules, their states and notification history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from llmops.cli.common import database, fail, load_settings, redactor, stdout

if TYPE_CHECKING:
    from llmops.alerts.engine import AlertEngine

app = typer.Typer(help="Alert rules, their states and notification history.", no_args_is_help=True)


@contextmanager
def _alerts() -> Iterator[AlertEngine]:
    from llmops.alerts.setup import build_alert_engine
    from llmops.budgets.store import BudgetStore

    settings = load_settings()
    with database(settings) as engine:
        try:
            alerts = build_alert_engine(settings, engine, redactor(settings), BudgetStore(engine))
        except ValueError as exc:
            fail(str(exc))
        yield alerts


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


@app.command("list")
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
        stdout().print(table)


@app.command("test")
def test_alert(
    rule: Annotated[str | None, typer.Argument(help="Rule to name in the test (default: the first).")] = None,
) -> None:
    """Send a test notification through the configured notifiers; exit 1 when one did not deliver."""
    with _alerts() as alerts:
        if rule is not None and rule not in {r.name for r in alerts.rules}:
            fail(f"no alert rule named {rule}")
        event = alerts.send_test(rule)
    for delivery in event.details["deliveries"]:
        status = "delivered" if delivery["delivered"] else f"NOT delivered ({delivery['error']})"
        stdout().print(f"{delivery['notifier']}: {status} after {delivery['attempts']} attempt(s)")
    if not event.delivered:
        raise typer.Exit(1)


@app.command("history")
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
    stdout().print(table)
