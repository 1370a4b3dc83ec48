"""`llmops report`: the one reporting layer, printed as text or JSON."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llmops.cli.common import database, load_settings

SINCE_HELP = "Window ending now: a number with m, h, d or w (30m, 24h, 7d), or `all`."


def report(
    since: Annotated[str, typer.Option(help=SINCE_HELP)] = "24h",
    prompt_version: Annotated[
        str | None, typer.Option(help="Only requests served by this prompt version.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only requests answered by this model.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only requests answered by this provider.")] = None,
    assistant: Annotated[
        str | None, typer.Option(help="Only requests of this assistant (or ingested service).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Summarise requests, latency, cost, tools and prompt versions over a time window."""
    from llmops.reporting.filters import Filters
    from llmops.reporting.queries import build_report
    from llmops.reporting.render import render_json, render_text
    from llmops.reporting.window import Window, parse_since

    try:
        window = Window.last(parse_since(since))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    filters = Filters(prompt_version=prompt_version, model=model, provider=provider, assistant=assistant)
    with database(load_settings()) as engine:
        result = build_report(engine, window, filters)
    sys.stdout.write(render_json(result) + "\n" if as_json else render_text(result))
