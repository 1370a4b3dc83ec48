"""`llmops feedback list|export`: user feedback joined to the requests it rates."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.table import Table

from llmops.cli.common import database, fail, load_settings, stderr, stdout
from llmops.cli.report import SINCE_HELP

app = typer.Typer(help="User feedback on triage replies (notes are stored redacted).", no_args_is_help=True)

SinceOption = Annotated[str, typer.Option(help=SINCE_HELP)]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def since_start(value: str) -> datetime | None:
    """The start of a `--since` window ending now (None: all); a bad value is a usage error."""
    from llmops.reporting.window import Window, parse_since

    try:
        return Window.last(parse_since(value)).start
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


@contextmanager
def output(path: Path | None) -> Iterator[IO[str]]:
    """`path` opened for writing, or stdout when it is None."""
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as stream:
        yield stream


@app.command("list")
def list_feedback(
    rating: Annotated[int | None, typer.Option(min=-1, max=1, help="Only this rating: -1, 0 or 1.")] = None,
    since: SinceOption = "7d",
    prompt_version: Annotated[str | None, typer.Option(help="Only replies of this prompt version.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (up to 500), newest first.")] = 50,
) -> None:
    """Show recent feedback with the prompt version, model and trace it belongs to."""
    from llmops.feedback.store import FeedbackStore

    start = since_start(since)
    with database(load_settings()) as engine:
        try:
            page = FeedbackStore(engine).list(
                rating=rating, prompt_version=prompt_version, since=start, limit=limit
            )
        except ValueError as exc:
            fail(str(exc))
    table = Table("created", "rating", "request id", "prompt version", "model", "trace id", "notes")
    for item in page.items:
        table.add_row(
            item.created_at.isoformat(timespec="seconds"),
            f"{item.rating:+d}" if item.rating else "0",
            item.request_id,
            item.prompt_version or "—",
            item.model or "—",
            item.trace_id or "—",
            item.notes or "",
        )
    stdout().print(table)
    if not page.items:
        stderr().print("No feedback in this window.")


@app.command("export")
def export_feedback(
    format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (default) or csv.")
    ] = ExportFormat.jsonl,
    path: Annotated[
        Path | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
    since: SinceOption = "all",
) -> None:
    """Write all feedback joined to its requests, newest first (notes are already redacted)."""
    import csv

    from llmops.feedback.models import FeedbackItem
    from llmops.feedback.store import FeedbackStore

    start = since_start(since)
    with database(load_settings()) as engine, output(path) as stream:
        items = FeedbackStore(engine).iter_all(since=start)
        if format is ExportFormat.csv:
            writer = csv.DictWriter(stream, fieldnames=list(FeedbackItem.model_fields))
            writer.writeheader()
            for item in items:
                writer.writerow(item.model_dump(mode="json"))
        else:
            for item in items:
                stream.write(item.model_dump_json() + "\n")
