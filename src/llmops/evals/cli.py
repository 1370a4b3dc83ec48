"""`llmops eval run|compare`: score a prompt version on a dataset, compare two runs, gate CI on it."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llmops.config import Settings, load_settings
from llmops.evals.datasets import Dataset, DatasetError, bundled_dataset_path, load_dataset
from llmops.evals.runner import CaseResult, EvalRun, run_eval

if TYPE_CHECKING:
    from llmops.evals.compare import Comparison

eval_app = typer.Typer(help="Evaluate prompt versions on datasets and compare runs.", no_args_is_help=True)
err = Console(stderr=True)


class ReportFormat(StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"
    JUNIT = "junit"


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        err.print(f"[red]Invalid settings:[/red]\n{exc}")
        raise typer.Exit(2) from None


def _dataset(path: Path | None) -> Dataset:
    try:
        return load_dataset(path or bundled_dataset_path())
    except DatasetError as exc:
        err.print(f"[red]Dataset error:[/red] {exc}")
        raise typer.Exit(2) from None


async def _run(
    dataset: Dataset,
    prompt_version: str,
    settings: Settings,
    *,
    target: str | None,
    api_key: str | None,
    concurrency: int,
    judge_provider: str | None,
    use_cache: bool,
) -> EvalRun:
    from llmops.evals.judge import build_judge

    judge = build_judge(settings, judge_provider) if judge_provider else None
    if judge is not None:
        await judge.start()
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("cases", total=len(dataset.cases))

            def advance(_: CaseResult) -> None:
                progress.advance(task)

            return await run_eval(
                dataset,
                prompt_version,
                settings=settings,
                target=target,
                api_key=api_key,
                concurrency=concurrency,
                judge=judge,
                progress=advance,
                use_cache=use_cache,
            )
    finally:
        if judge is not None:
            await judge.aclose()


def _summary_lines(run: EvalRun) -> list[str]:
    s = run.summary()
    latency = "–" if s["mean_latency_ms"] is None else f"{s['mean_latency_ms']:.1f} ms"
    cost = "unknown" if s["cost_usd"] is None else f"{s['cost_usd']:.6f} USD"
    return [
        f"prompt version  {run.prompt_version}",
        f"dataset         {run.dataset} ({run.dataset_hash[:12]})",
        f"pass rate       {s['pass_rate']:.1%} ({s['passed']}/{s['cases']})",
        f"mean score      {s['mean_score']:.4f}",
        f"mean latency    {latency}",
        f"tokens          {s['input_tokens']} in, {s['output_tokens']} out",
        f"cost            {cost}",
        f"errors          {s['errors']}, degraded {s['degraded']}, cached {s['cached']}",
    ]


@eval_app.command("run")
def run_command(
    dataset: Annotated[
        Path | None, typer.Option(help="JSONL dataset. Default: the bundled Email Gatekeeper golden set.")
    ] = None,
    prompt_version: Annotated[
        str | None, typer.Option(help="Prompt version to evaluate. Default: LLMOPS_PROMPT_VERSION.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Base URL of a running service; default: run in-process.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Bearer key for --target.", envvar="LLMOPS_EVAL_API_KEY")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Cases in flight at once.")] = 4,
    judge: Annotated[
        str | None, typer.Option(help="Provider for the LLM judge (local, openai, scripted); off by default.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Call the system even for cached cases.")
    ] = False,
) -> None:
    """Run a dataset through a prompt version, score each case, store the run and print its id."""
    from llmops.api.app import build_redactor
    from llmops.evals.store import save_run
    from llmops.storage.migrate import migrated_engine

    settings = _settings()
    data = _dataset(dataset)
    version = prompt_version or settings.prompt_version
    if target is None and version not in _known_versions():
        err.print(f"[red]Unknown prompt version:[/red] {version}")
        raise typer.Exit(2)
    try:
        run = asyncio.run(
            _run(
                data,
                version,
                settings,
                target=target,
                api_key=api_key,
                concurrency=concurrency,
                judge_provider=judge,
                use_cache=not no_cache,
            )
        )
    except ValueError as exc:
        err.print(f"[red]Cannot run the eval:[/red] {str(exc).splitlines()[0][:200]}")
        raise typer.Exit(2) from None
    with migrated_engine(settings.resolved_database_url) as engine:
        save_run(engine, run, build_redactor(settings))
    for warning in run.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    sys.stdout.write(run.id + "\n" + "\n".join(_summary_lines(run)) + "\n")


def _known_versions() -> set[str]:
    from llmops.prompts.registry import PromptRegistry

    return {version.id for version in PromptRegistry.from_directory().versions()}


@eval_app.command("compare")
def compare_command(
    baseline: Annotated[str, typer.Argument(help="Run id, or a prompt version (its latest run).")],
    candidate: Annotated[str, typer.Argument(help="Run id, or a prompt version (its latest run).")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name to pick a prompt version's latest run from.")
    ] = None,
    report_format: Annotated[ReportFormat, typer.Option("--format", help="Report format.")] = ReportFormat.MD,
    output: Annotated[Path | None, typer.Option(help="Write the report here instead of stdout.")] = None,
    alpha: Annotated[float, typer.Option(min=0.001, max=0.5, help="Significance level.")] = 0.05,
    margin: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Non-inferiority margin on mean score.")
    ] = 0.02,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Compare two stored runs case by case; exit 1 when the verdict is REGRESSION."""
    from llmops.api.app import build_redactor
    from llmops.evals.compare import Verdict, compare_runs
    from llmops.evals.reports import RENDERERS
    from llmops.evals.store import RunNotFound, resolve_run
    from llmops.storage.migrate import migrated_engine

    settings = _settings()
    try:
        with migrated_engine(settings.resolved_database_url) as engine:
            base_run = resolve_run(engine, baseline, dataset)
            cand_run = resolve_run(engine, candidate, dataset)
    except RunNotFound as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    comparison = compare_runs(base_run, cand_run, alpha=alpha, margin=margin, seed=seed)
    text = RENDERERS[report_format.value](comparison, build_redactor(settings))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"{comparison.verdict.value}: report written to {output}")
    _alert_on(settings, comparison)
    if comparison.verdict is Verdict.REGRESSION:
        raise typer.Exit(1)


def _alert_on(settings: Settings, comparison: Comparison) -> None:
    """Feed the verdict to the eval_regression alert (fires on REGRESSION, resolves otherwise)."""
    from llmops.alerts import notify_eval_regression
    from llmops.api.app import build_redactor
    from llmops.storage.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        notify_eval_regression(settings, engine, build_redactor(settings), comparison)
    finally:
        engine.dispose()
