"""`llmops budgets list|set|remove|usage`: Typer commands; the main app registers them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from llmops.budgets.models import EACH, Budget, Metric, Scope, Window
from llmops.budgets.store import BudgetStore
from llmops.config import load_settings

budgets_app = typer.Typer(
    help="Token and cost caps per user, per API key and global, over rolling windows.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

SubjectOption = Annotated[
    str,
    typer.Option(
        help="A pseudonymous user id (`u_…`) or an API key fingerprint; empty: each user or key separately."
    ),
]


@contextmanager
def _store() -> Iterator[BudgetStore]:
    from llmops.storage.migrate import migrated_engine

    with migrated_engine(load_settings().resolved_database_url) as engine:
        yield BudgetStore(engine)


@budgets_app.command("list")
def list_budgets() -> None:
    """Every budget: scope, subject, window, metric, hard cap and soft ratio."""
    with _store() as store:
        items = store.list()
    table = Table("scope", "subject", "window", "metric", "hard limit", "soft ratio")
    for item in items:
        table.add_row(
            item.scope,
            item.subject or "(each)",
            item.window,
            item.metric,
            f"{item.hard_limit:g}",
            f"{item.soft_ratio:g}",
        )
    out.print(table)


@budgets_app.command("set")
def set_budget(
    scope: Annotated[Scope, typer.Argument(help="global, user or api_key.")],
    window: Annotated[Window, typer.Argument(help="Rolling window: hour, day or month (30 days).")],
    metric: Annotated[Metric, typer.Argument(help="tokens (input + output) or cost_usd.")],
    limit: Annotated[float, typer.Argument(help="Hard cap over the window.")],
    subject: SubjectOption = EACH,
    soft_ratio: Annotated[float | None, typer.Option(help="Default: LLMOPS_BUDGET_SOFT_RATIO.")] = None,
) -> None:
    """Create or replace a budget."""
    try:
        budget = Budget(
            scope=scope,
            subject=subject,
            window=window,
            metric=metric,
            hard_limit=limit,
            soft_ratio=soft_ratio if soft_ratio is not None else load_settings().budget_soft_ratio,
        )
    except ValidationError as exc:
        err.print(f"[red]Invalid budget:[/red] {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    with _store() as store:
        store.set([budget])
    out.print(f"set {budget.label()} = {budget.hard_limit:g}")


@budgets_app.command("remove")
def remove_budget(
    scope: Annotated[Scope, typer.Argument(help="global, user or api_key.")],
    window: Annotated[Window, typer.Argument(help="hour, day or month.")],
    metric: Annotated[Metric, typer.Argument(help="tokens or cost_usd.")],
    subject: SubjectOption = EACH,
) -> None:
    """Delete a budget (a settings-defined one comes back at the next start unless removed there too)."""
    with _store() as store:
        removed = store.remove(scope, subject, window, metric)
    if not removed:
        err.print("no such budget")
        raise typer.Exit(1)
    out.print(f"removed {scope}:{window}:{metric}")


@budgets_app.command("usage")
def usage(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every budget's usage now; an each-user/each-key budget shows its fullest subject."""
    with _store() as store:
        statuses = store.status()
    if as_json:
        print(json.dumps([status.model_dump() for status in statuses], indent=2))
        return
    table = Table("budget", "subject", "used", "reserved", "limit", "ratio", "state")
    for status in statuses:
        state = "HARD" if status.hard_exceeded else "soft" if status.soft_exceeded else "ok"
        table.add_row(
            status.budget.label(),
            status.subject or "-",
            f"{status.usage.used:g}",
            f"{status.usage.reserved:g}",
            f"{status.usage.limit:g}",
            f"{status.usage.ratio:.1%}",
            state,
        )
    out.print(table)
