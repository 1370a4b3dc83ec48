"""`llmops feedback list|export` and `llmops eval mine`: Typer commands; the main app registers them."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from llmops.config import load_settings
from llmops.feedback.models import FeedbackItem
from llmops.feedback.store import MAX_PAGE, FeedbackStore, window_start
from llmops.reporting.window import parse_since

feedback_app = typer.Typer(
    help="User feedback on triage replies (notes are stored redacted).", no_args_is_help=True
)

SinceOption = Annotated[
    str, typer.Option(help="Window ending now: a number with m, h, d or w (30m, 24h, 7d), or `all`.")
]
EXPORT_FIELDS = list(FeedbackItem.model_fields)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _since(value: str) -> datetime | None:
    try:
        return window_start(parse_since(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


@contextmanager
def _engine() -> Iterator[Engine]:
    from llmops.storage.migrate import migrated_engine

    with migrated_engine(load_settings().resolved_database_url) as engine:
        yield engine


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as stream:
        yield stream


@feedback_app.command("list")
def list_feedback(
    rating: Annotated[int | None, typer.Option(min=-1, max=1, help="Only this rating: -1, 0 or 1.")] = None,
    since: SinceOption = "7d",
    prompt_version: Annotated[str | None, typer.Option(help="Only replies of this prompt version.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="At most this many, newest first.")] = 50,
) -> None:
    """Show recent feedback with the prompt version, model and trace it belongs to."""
    start = _since(since)
    with _engine() as engine:
        page = FeedbackStore(engine).list(
            rating=rating, prompt_version=prompt_version, since=start, limit=limit
        )
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
    Console(width=200).print(table)
    if not page.items:
        Console(stderr=True).print("No feedback in this window.")


@feedback_app.command("export")
def export_feedback(
    format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (default) or csv.")
    ] = ExportFormat.jsonl,
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    since: SinceOption = "all",
) -> None:
    """Write all feedback joined to its requests, newest first (notes are already redacted)."""
    start = _since(since)
    with _engine() as engine, _output(output) as stream:
        items = FeedbackStore(engine).iter_all(since=start)
        if format is ExportFormat.csv:
            writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for item in items:
                writer.writerow(item.model_dump(mode="json"))
        else:
            for item in items:
                stream.write(item.model_dump_json() + "\n")


def mine(
    since: SinceOption = "30d",
    limit: Annotated[int, typer.Option(min=1, help="At most this many cases, worst first.")] = 50,
    output: Annotated[
        Path | None, typer.Option(help="Write the JSONL to this file instead of stdout.")
    ] = None,
) -> None:
    """Turn negative feedback into candidate eval cases (JSONL, golden-set format) to label."""
    from llmops.api.app import build_redactor
    from llmops.feedback.mining import mine as mine_cases
    from llmops.feedback.mining import write_jsonl

    start = _since(since)
    redactor = build_redactor(load_settings())
    with _engine() as engine:
        cases = mine_cases(engine, redactor, since=start, limit=limit)
    with _output(output) as stream:
        written = write_jsonl(cases, stream)
    Console(stderr=True).print(f"Mined {written} candidate case(s) from negative feedback.")
