"""`llmops db upgrade`: the database schema."""

from __future__ import annotations

import typer

from llmops.cli.common import database, load_settings, stderr

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations to the configured database."""
    with database(load_settings()):
        stderr().print("Database is up to date.")
