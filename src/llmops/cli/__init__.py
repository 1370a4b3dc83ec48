"""The `llmops` command: one module per group, each importing what a command uses only when it runs,
so `llmops --help` loads Typer and little else. `common` holds what every command shares."""

from __future__ import annotations

import typer

from llmops.cli import alerts, budgets, canary, db, evals, feedback, keys, new, prompts
from llmops.cli.assistants import assistants
from llmops.cli.redact import redact
from llmops.cli.report import report
from llmops.cli.retention import retention
from llmops.cli.serve import serve
from llmops.cli.triage import triage

app = typer.Typer(help="Deploy your assistants over HTTP and make them observable.", no_args_is_help=True)
app.command()(serve)
app.command()(triage)
app.command()(assistants)
app.command()(report)
app.command()(retention)
app.command()(redact)
for name, group in (
    ("keys", keys.app),
    ("db", db.app),
    ("feedback", feedback.app),
    ("prompts", prompts.app),
    ("eval", evals.app),
    ("budgets", budgets.app),
    ("alerts", alerts.app),
    ("canary", canary.app),
    ("new", new.app),
):
    app.add_typer(group, name=name)

__all__ = ["app"]
