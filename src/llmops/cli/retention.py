"""`llmops retention`: delete what is older than the retention period (a dry run unless --apply)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from llmops.cli.common import database, load_settings, stderr

if TYPE_CHECKING:
    from llmops.storage.retention import RetentionResult


def retention(
    apply: Annotated[
        bool, typer.Option("--apply", help="Delete. Without it, only count what would go.")
    ] = False,
    days: Annotated[
        int | None, typer.Option(min=1, help="Keep this many days. Default: LLMOPS_RETENTION_DAYS (30).")
    ] = None,
) -> None:
    """Delete traces and request records older than the retention period (a dry run unless --apply)."""
    from llmops.storage.retention import apply_retention

    settings = load_settings()
    keep_days = days if days is not None else settings.retention_days
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=keep_days)
    feedback_cutoff = now - timedelta(days=settings.feedback_retention_days)
    with database(settings) as engine:
        if apply:
            with stderr().status("Deleting…") as status:
                deleted = {"spans": 0, "requests": 0, "feedback": 0}

                def progress(table: str, count: int) -> None:
                    deleted[table] += count
                    status.update(
                        f"Deleting… {deleted['spans']:,} spans, {deleted['requests']:,} requests, "
                        f"{deleted['feedback']:,} feedback"
                    )

                result = apply_retention(
                    engine, cutoff, feedback_older_than=feedback_cutoff, on_batch=progress
                )
        else:
            result = apply_retention(engine, cutoff, feedback_older_than=feedback_cutoff, dry_run=True)
    sys.stdout.write(summary(result, keep_days))


def summary(result: RetentionResult, days: int) -> str:
    when = result.cutoff.isoformat(timespec="seconds")
    if result.dry_run:
        return (
            f"Would delete {result.spans:,} spans and {result.requests:,} requests older than {when} "
            f"({days} days) and {result.feedback:,} feedback entries past their own retention. "
            "Run with --apply to delete; hourly rollups are kept.\n"
        )
    return (
        f"Deleted {result.spans:,} spans and {result.requests:,} requests older than {when} ({days} days) "
        f"and {result.feedback:,} feedback entries in {result.batches} batches; hourly rollups are kept.\n"
    )
