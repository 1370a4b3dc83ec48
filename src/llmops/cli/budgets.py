"""`llmops budgets list|set|remove|usage`: token and cost caps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from llmops.cli.common import database, fail, load_settings, stdout

if TYPE_CHECKING:
    from llmops.budgets.store import BudgetStore

app = typer.Typer(
    help="Token and cost caps per user, per API key and global, over rolling windows.", no_args_is_help=True
)
EACH = ""  # the subject of a budget that applies to each user or key separately

SubjectOption = Annotated[
    str,
    typer.Option(
        help="A pseudonymous user id (`u_…`) or an API key fingerprint; empty: each user or key separately."
    ),
]


@contextmanager
def _store() -> Iterator[BudgetStore]:
    from llmops.budgets.store import BudgetStore

    with database(load_settings()) as engine:
        yield BudgetStore(engine)


@app.command("list")
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
    stdout().print(table)


@app.command("set")
def set_budget(
    scope: Annotated[str, typer.Argument(help="global, user, api_key or assistant.")],
    window: Annotated[str, typer.Argument(help="Rolling window: hour, day or month (30 days).")],
    metric: Annotated[str, typer.Argument(help="tokens (input + output) or cost_usd.")],
    limit: Annotated[float, typer.Argument(help="Hard cap over the window.")],
    subject: SubjectOption = EACH,
    soft_ratio: Annotated[float | None, typer.Option(help="Default: LLMOPS_BUDGET_SOFT_RATIO.")] = None,
) -> None:
    """Create or replace a budget."""
    from pydantic import ValidationError

    from llmops.budgets.models import Budget

    try:
        budget = Budget.model_validate(
            {
                "scope": scope,
                "subject": subject,
                "window": window,
                "metric": metric,
                "hard_limit": limit,
                "soft_ratio": soft_ratio if soft_ratio is not None else load_settings().budget_soft_ratio,
            }
        )
    except ValidationError as exc:
        error = exc.errors(include_input=False)[0]
        fail(f"Invalid budget: {error['loc'][0]}: {error['msg']}")
    with _store() as store:
        store.set([budget])
    stdout().print(f"set {budget.label()} = {budget.hard_limit:g}")


@app.command("remove")
def remove_budget(
    scope: Annotated[str, typer.Argument(help="global, user, api_key or assistant.")],
    window: Annotated[str, typer.Argument(help="hour, day or month.")],
    metric: Annotated[str, typer.Argument(help="tokens or cost_usd.")],
    subject: SubjectOption = EACH,
) -> None:
    """Delete a budget (a settings-defined one comes back at the next start unless removed there too)."""
    with _store() as store:
        removed = store.remove(scope, subject, window, metric)
    if not removed:
        fail("no such budget", code=1)
    stdout().print(f"removed {scope}:{window}:{metric}")


@app.command("usage")
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
    stdout().print(table)
