"""`llmops canary`: start a canary (gated on the golden set's verdict against production), read its
live comparison, promote, roll back, or let the guardrails decide (`evaluate`, what the server runs
every `LLMOPS_CANARY_INTERVAL_S`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmops.cli.common import (
    DEFAULT_PROMPT,
    database,
    default_user,
    fail,
    load_settings,
    prompts,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from llmops.canary.compare import Comparison
    from llmops.canary.controller import CanaryController, Decision, DecisionRecord
    from llmops.canary.gate import EvalEvidence
    from llmops.config import Settings
    from llmops.evals.datasets import Dataset

app = typer.Typer(
    help="Canary releases of prompt versions and gateway models: sticky share of users, live comparison, "
    "promote or roll back.",
    no_args_is_help=True,
)

PromptOption = Annotated[
    str, typer.Option("--prompt", help="Prompt name, or model:ALIAS for a gateway model canary.")
]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides. Default: your login name.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, recorded with the decision.")]


@contextmanager
def _controller(prompt: str) -> Iterator[CanaryController]:
    from llmops.canary.compare import Guardrails
    from llmops.canary.controller import CanaryController
    from llmops.prompts.labels import LabelStore

    settings = load_settings()
    if prompt.startswith("model:"):
        with _model_controller(settings, prompt.removeprefix("model:")) as controller:
            yield controller
        return
    registry, defaults = prompts(settings)
    if prompt not in defaults:
        fail(f"No loaded assistant uses a prompt named {prompt!r} (known: {', '.join(sorted(defaults))})")
    with database(settings) as engine:
        labels = LabelStore(engine, registry)
        yield CanaryController(
            engine, labels, Guardrails.from_settings(settings), defaults[prompt], prompt_name=prompt
        )


@contextmanager
def _model_controller(settings: Settings, alias: str) -> Iterator[CanaryController]:
    """The controller of the gateway model canary of `alias` (started by the gateway's configuration)."""
    from llmops.canary.compare import Guardrails
    from llmops.canary.controller import CanaryController
    from llmops.gateway import GatewayConfigError
    from llmops.gateway.model_canaries import AliasLabels
    from llmops.gateway.upstreams import build_routes

    try:
        routes = build_routes(settings)
    except GatewayConfigError as exc:
        fail(str(exc))
    route = routes.models.get(alias)
    if route is None or route.canary is None:
        known = ", ".join(f"model:{a}" for a, r in sorted(routes.models.items()) if r.canary) or "none"
        fail(f"No gateway alias {alias[:100]!r} has a configured canary (model canaries: {known})")
    with database(settings) as engine:
        labels = AliasLabels(engine, alias, route.canary[0])
        yield CanaryController(
            engine, labels, Guardrails.from_settings(settings), alias, prompt_name=labels.subject
        )


@app.command()
def start(
    version: Annotated[str, typer.Argument(help="Prompt version to serve to the canary share.")],
    share: Annotated[float, typer.Option("--share", help="Share of users in the canary, (0, 1].")] = 0.1,
    prompt: PromptOption = DEFAULT_PROMPT,
    by: ByOption = None,
    reason: ReasonOption = "",
    force: Annotated[
        bool,
        typer.Option("--force", help="Start even if the eval verdict is REGRESSION (needs --reason)."),
    ] = False,
    dataset: Annotated[
        Path | None,
        typer.Option(
            help="JSONL dataset to gate on. Default: the bundled golden set of the prompt's assistant."
        ),
    ] = None,
) -> None:
    """Serve VERSION to a sticky share of users unless the golden set says it regressed.

    The golden set runs on VERSION and on production first; a REGRESSION verdict is refused (exit 1)
    unless --force with --reason. Raising the share of a running canary only adds users."""
    start_canary(version, share, prompt=prompt, by=by, reason=reason, force=force, dataset=dataset)


def start_canary(
    version: str,
    share: float,
    *,
    prompt: str,
    by: str | None,
    reason: str,
    force: bool,
    dataset: Path | None = None,
) -> None:
    """The one way a canary starts (`canary start`, `prompts label canary V --traffic-share S`): the eval
    gate, then the label, with who and why in its history."""
    from llmops.canary.controller import ForceWithoutReasonError
    from llmops.canary.gate import EvalRegressionError

    if prompt.startswith("model:"):
        fail("a model canary is started by the gateway's configuration (`canary` on the alias)")
    if not 0.0 < share <= 1.0:
        fail("the canary share must be above 0 and at most 1")
    if force and not reason.strip():
        fail("--force needs --reason: who forced the canary and why are recorded")
    settings = load_settings()
    with _controller(prompt) as controller:
        production = controller.production_version()
        _check_version(controller, version, production)
    evidence = _eval_gate(settings, _gate_dataset(settings, prompt, dataset), production, version)
    with _controller(prompt) as controller:
        try:
            canary = controller.start(
                version, share, by=by or default_user(), reason=reason, evidence=evidence, force=force
            )
        except EvalRegressionError as exc:
            fail(f"{exc} (use --force --reason WHY to start it anyway)", code=1)
        except ForceWithoutReasonError as exc:
            fail(str(exc))
        except ValueError as exc:  # LabelError is a ValueError
            fail(str(exc))
    stdout().print(escape(evidence.line()) if evidence else "no eval verdict: the runs share no dataset")
    stdout().print(
        f"canary {canary.version} at {canary.traffic_share:.0%} against production "
        f"{canary.production_version}, since {canary.started_at:%Y-%m-%d %H:%M:%S} UTC"
    )


def _check_version(controller: CanaryController, version: str, production: str) -> None:
    """Fail before the eval runs when VERSION cannot be a canary of this prompt."""
    from llmops.prompts.registry import PromptNotFound

    try:
        found = controller.labels.registry.get(version)
    except PromptNotFound as exc:
        fail(exc.args[0])
    if found.name != controller.prompt_name:
        fail(f"version {version!r} belongs to prompt {found.name!r}, not {controller.prompt_name!r}")
    if version == production:
        fail(f"{version} is already production: a canary needs another version to compare")


def _gate_dataset(settings: Settings, prompt: str, path: Path | None) -> Dataset:
    """The dataset to gate on: `path`, else the bundled golden set when it is the prompt's assistant's."""
    from llmops.assistants import load_assistants
    from llmops.evals.datasets import DatasetError, bundled_dataset_path, load_dataset

    try:
        data = load_dataset(path or bundled_dataset_path())
    except DatasetError as exc:
        fail(f"Dataset error: {exc}")
    owners = {
        name for name, item in load_assistants(settings).items() if item.assistant.prompt_name == prompt
    }
    if data.assistant not in owners:
        fail(
            f"The dataset is for assistant {data.assistant!r}, which does not use prompt {prompt!r}: "
            "gate on another with `llmops canary start VERSION --dataset FILE`"
        )
    return data


def _eval_gate(settings: Settings, data: Dataset, production: str, version: str) -> EvalEvidence | None:
    """Run `data` on production and on VERSION (cached, stored) and read the verdict of the pair."""
    from llmops.canary.gate import VerdictReader
    from llmops.cli.evals import run_and_store

    for side in (production, version):
        stderr().print(f"eval: {data.name} on {side}")
        run_and_store(settings, data, side)
    with database(settings) as engine:
        return VerdictReader(engine).latest_verdict(production, version)


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
        ("rule_disagreement_rate", "disagreement with rules"),
    ):
        table.add_row(
            label, _cell(getattr(comparison.canary, field)), _cell(getattr(comparison.production, field))
        )
    out.print(table)
    if comparison.tail_p_value is not None:
        out.print(
            f"canary above production's p95 more often: p = {comparison.tail_p_value:.3g} (one-sided Fisher)"
        )
    if comparison.eval is not None:
        out.print(escape(comparison.eval.line()))
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
