"""`llmops canary`: start a canary, read its live comparison, promote, roll back, or let the
guardrails decide (`evaluate`, what the server runs every `LLMOPS_CANARY_INTERVAL_S`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmops.cli.common import database, default_user, fail, load_settings, prompts, stdout
from llmops.cli.prompts import DEFAULT_PROMPT

if TYPE_CHECKING:
    from llmops.canary.compare import Comparison
    from llmops.canary.controller import CanaryController, Decision, DecisionRecord

app = typer.Typer(
    help="Canary releases of prompt versions: sticky share of users, live comparison, promote or roll back.",
    no_args_is_help=True,
)

PromptOption = Annotated[str, typer.Option("--prompt", help="Prompt name.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides. Default: your login name.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, recorded with the decision.")]


@contextmanager
def _controller(prompt: str) -> Iterator[CanaryController]:
    from llmops.canary.compare import Guardrails
    from llmops.canary.controller import CanaryController
    from llmops.prompts.labels import LabelStore

    settings = load_settings()
    registry, defaults = prompts(settings)
    if prompt not in defaults:
        fail(f"No loaded assistant uses a prompt named {prompt!r} (known: {', '.join(sorted(defaults))})")
    with database(settings) as engine:
        labels = LabelStore(engine, registry)
        yield CanaryController(
            engine, labels, Guardrails.from_settings(settings), defaults[prompt], prompt_name=prompt
        )


@app.command()
def start(
    version: Annotated[str, typer.Argument(help="Prompt version to serve to the canary share.")],
    share: Annotated[float, typer.Option("--share", help="Share of users in the canary, (0, 1].")] = 0.1,
    prompt: PromptOption = DEFAULT_PROMPT,
    by: ByOption = None,
    reason: ReasonOption = "",
) -> None:
    """Serve VERSION to a sticky share of users (raising the share of a running canary only adds users)."""
    with _controller(prompt) as controller:
        try:
            canary = controller.start(version, share, by=by or default_user(), reason=reason)
        except ValueError as exc:  # LabelError is a ValueError
            fail(str(exc))
    stdout().print(
        f"canary {canary.version} at {canary.traffic_share:.0%} against production "
        f"{canary.production_version}, since {canary.started_at:%Y-%m-%d %H:%M:%S} UTC"
    )


@app.command()
def status(
    prompt: PromptOption = DEFAULT_PROMPT,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """The running canary's live comparison with production and the latest decisions."""
    from llmops.canary.controller import NoCanaryError

    out = stdout()
    with _controller(prompt) as controller:
        try:
            comparison = controller.compare()
        except NoCanaryError:
            comparison = None
        decisions = controller.decisions(limit=5)
    if as_json:
        payload = {
            "comparison": comparison.model_dump(mode="json") if comparison else None,
            "decisions": [d.model_dump(mode="json") for d in decisions],
        }
        out.print_json(json.dumps(payload))
        return
    if comparison is None:
        out.print(f"no canary is running for {prompt}")
    else:
        _print_comparison(comparison)
    for decision in decisions:
        out.print(_decision_line(decision))


@app.command()
def evaluate(prompt: PromptOption = DEFAULT_PROMPT) -> None:
    """Compare the arms now and act on the guardrails: promote, roll back or hold (recorded)."""
    with _controller(prompt) as controller:
        record = controller.run_once(by=default_user())
    if record is None:
        stdout().print(f"no canary is running for {prompt}")
        return
    stdout().print(_decision_line(record))


@app.command()
def promote(prompt: PromptOption = DEFAULT_PROMPT, by: ByOption = None, reason: ReasonOption = "") -> None:
    """Move `production` to the canary version now and clear the canary, whatever the figures."""
    from llmops.canary.controller import Decision

    _by_hand(Decision.PROMOTE, prompt, by, reason)


@app.command()
def rollback(prompt: PromptOption = DEFAULT_PROMPT, by: ByOption = None, reason: ReasonOption = "") -> None:
    """Clear the canary now (share 0): every user is served production again."""
    from llmops.canary.controller import Decision

    _by_hand(Decision.ROLLBACK, prompt, by, reason)


def _by_hand(decision: Decision, prompt: str, by: str | None, reason: str) -> None:
    from llmops.canary.controller import NoCanaryError
    from llmops.prompts.labels import LabelMovedError

    with _controller(prompt) as controller:
        try:
            record = controller.decide_by_hand(decision, by=by or default_user(), reason=reason)
        except NoCanaryError as exc:
            fail(str(exc))
        except LabelMovedError:
            fail("the canary changed while deciding (another replica or person acted); run it again")
    stdout().print(_decision_line(record))


def _print_comparison(comparison: Comparison) -> None:
    out = stdout()
    out.print(
        f"canary {comparison.canary.version} at {comparison.traffic_share:.0%} vs production "
        f"{comparison.production.version}, since {comparison.started_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    table = Table("metric", "canary", "production")
    for field, label in (
        ("requests", "requests"),
        ("error_rate", "error rate"),
        ("median_latency_ms", "median latency (ms)"),
        ("p95_latency_ms", "p95 latency (ms)"),
        ("cost_per_request_usd", "cost / request (USD)"),
        ("schema_valid_rate", "schema-valid rate"),
        ("negative_feedback_rate", "negative feedback rate"),
    ):
        table.add_row(
            label, _cell(getattr(comparison.canary, field)), _cell(getattr(comparison.production, field))
        )
    out.print(table)
    if comparison.tail_p_value is not None:
        out.print(
            f"canary above production's p95 more often: p = {comparison.tail_p_value:.3g} (one-sided Fisher)"
        )
    for line in comparison.inconclusive:
        out.print(f"inconclusive: {escape(line)}")
    for line in comparison.failures:
        out.print(f"[red]guardrail: {escape(line)}[/red]")


def _cell(value: float | int | None) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def _decision_line(record: DecisionRecord) -> str:
    return (
        f"{record.created_at:%Y-%m-%d %H:%M:%S} {record.decision.upper()} {record.canary_version} "
        f"(production {record.production_version}) by {escape(record.decided_by)}"
    )
