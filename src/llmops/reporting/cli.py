"""`llmops report`: the Typer command function; the main app registers it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llmops.config import load_settings
from llmops.reporting.queries import build_report
from llmops.reporting.render import render_json, render_text
from llmops.reporting.window import parse_since


def report(
    since: Annotated[
        str, typer.Option(help="Window ending now: a number with m, h, d or w (30m, 24h, 7d), or `all`.")
    ] = "24h",
    prompt_version: Annotated[
        str | None, typer.Option(help="Only requests served by this prompt version.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only requests answered by this model.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only requests answered by this provider.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Summarise requests, latency, cost, tools and prompt versions over a time window."""
    from llmops.storage.migrate import migrated_engine

    try:
        window = parse_since(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    with migrated_engine(load_settings().resolved_database_url) as engine:
        result = build_report(engine, window, prompt_version=prompt_version, model=model, provider=provider)
    sys.stdout.write(render_json(result) + "\n" if as_json else render_text(result))
