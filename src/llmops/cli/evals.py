"""`llmops eval run|compare|mine|candidates|label`: score a prompt version on a dataset, compare two runs
and gate CI on the verdict, and turn bad replies into cases to label and labelled cases (active
learning)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli.common import database, fail, load_settings, redactor, stderr
from llmops.cli.eval_label import label
from llmops.cli.feedback import SinceOption, output, since_start

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmops.config import Settings
    from llmops.evals.compare import Comparison
    from llmops.evals.datasets import Dataset
    from llmops.evals.runner import CaseResult, EvalRun, EvalTarget

SPAN_EXPORT_MARGIN_S = 2.0  # time to write one export batch, on top of the queue's delay

app = typer.Typer(help="Evaluate prompt versions on datasets and compare runs.", no_args_is_help=True)


class ReportFormat(StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"
    JUNIT = "junit"


def _dataset(path: Path | None) -> Dataset:
    from llmops.evals.datasets import DatasetError, bundled_dataset_path, load_dataset

    try:
        return load_dataset(path or bundled_dataset_path())
    except DatasetError as exc:
        fail(f"Dataset error: {exc}")


async def _run(
    dataset: Dataset,
    prompt_version: str,
    settings: Settings,
    *,
    target_url: str | None,
    api_key: str | None,
    concurrency: int,
    judge_provider: str | None,
    use_cache: bool,
) -> EvalRun:
    """The run against a deployed service (`target_url`) or in-process services built for it."""
    from llmops.evals.runner import HttpTarget
    from llmops.service import InProcessTarget, open_services

    if target_url is not None:
        assistant = _assistant(settings, dataset.assistant)
        output_model = assistant.output_model if assistant is not None else None
        async with HttpTarget(
            target_url, prompt_version, api_key, assistant=dataset.assistant, output_model=output_model
        ) as target:
            return await _scored(dataset, target, settings, concurrency, judge_provider, use_cache)
    async with open_services(settings) as services:
        return await _scored(
            dataset,
            InProcessTarget(services, prompt_version),
            settings,
            concurrency,
            judge_provider,
            use_cache,
        )


async def _scored(
    dataset: Dataset,
    target: EvalTarget,
    settings: Settings,
    concurrency: int,
    judge_provider: str | None,
    use_cache: bool,
) -> EvalRun:
    from llmops.evals.judge import build_judge
    from llmops.evals.runner import CACHE_DIR, run_eval

    judge = build_judge(settings, judge_provider) if judge_provider else None
    if judge is not None:
        await judge.start()
    try:
        with _progress(len(dataset.scored)) as advance:
            return await run_eval(
                dataset,
                target,
                redactor=redactor(settings),
                cache_dir=settings.data_dir / CACHE_DIR if use_cache else None,
                concurrency=concurrency,
                judge=judge,
                progress=advance,
            )
    finally:
        if judge is not None:
            await judge.aclose()


@contextmanager
def _progress(total: int) -> Iterator[Callable[[CaseResult], None]]:
    """A bar with the ETA on a terminal; otherwise (CI, a pipe) a line at each further 10 %."""
    console = stderr()
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task("cases", total=total)
            yield lambda _: progress.advance(task)
        return
    import time

    started, done, reported = time.monotonic(), 0, 0

    def advance(_: CaseResult) -> None:
        nonlocal done, reported
        done += 1
        tenth = done * 10 // max(total, 1)
        if tenth > reported:
            reported = tenth
            elapsed = time.monotonic() - started
            eta = elapsed / done * (total - done)
            console.print(
                f"eval: {done}/{total} cases ({done * 100 // total}%), {elapsed:.0f} s, ETA {eta:.0f} s"
            )

    yield advance


def run_and_store(
    settings: Settings,
    data: Dataset,
    version: str,
    *,
    target_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    judge_provider: str | None = None,
    use_cache: bool = True,
) -> EvalRun:
    """Run `data` on `version` (in-process unless `target_url`), store the run and return it: `eval run`
    and `llmops canary start`'s gate (exit 2 when the run cannot be made)."""
    import asyncio

    from llmops.evals.store import save_run

    try:
        run = asyncio.run(
            _run(
                data,
                version,
                settings,
                target_url=target_url,
                api_key=api_key,
                concurrency=concurrency,
                judge_provider=judge_provider,
                use_cache=use_cache,
            )
        )
    except ValueError as exc:
        fail(f"Cannot run the eval: {str(exc).splitlines()[0][:200]}")
    with database(settings) as engine:
        save_run(engine, run, redactor(settings))
    return run


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
        *([f"needs label     {len(run.unlabelled)} case(s), not scored"] if run.unlabelled else []),
    ]


@app.command("run")
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
    settings = load_settings()
    data = _dataset(dataset)
    if not data.scored:
        fail(f"Every case of dataset {data.name} needs a label: label them with `llmops eval label`.")
    version = prompt_version or _default_version(settings, data.assistant)
    if target is None and version not in _known_versions(settings):
        fail(f"Unknown prompt version: {version}")
    run = run_and_store(
        settings,
        data,
        version,
        target_url=target,
        api_key=api_key,
        concurrency=concurrency,
        judge_provider=judge,
        use_cache=not no_cache,
    )
    for warning in run.warnings:
        stderr().print(f"[yellow]warning:[/yellow] {warning}")
    sys.stdout.write(run.id + "\n" + "\n".join(_summary_lines(run)) + "\n")


def _loaded(settings: Settings) -> dict[str, Any]:
    """Every assistant this installation serves (clean exit 2 naming a bad spec)."""
    from llmops.assistants import AssistantLoadError, load_assistants

    try:
        return {name: item.assistant for name, item in load_assistants(settings).items()}
    except AssistantLoadError as exc:
        fail(str(exc))


def _assistant(settings: Settings, name: str) -> Any:
    """The dataset's assistant if it is installed here (None: scored without its schema)."""
    return _loaded(settings).get(name)


def _default_version(settings: Settings, name: str) -> str:
    from llmops.assistants import default_versions, prompt_registry

    assistants = _loaded(settings)
    if name not in assistants:
        fail(f"The dataset is for assistant {name!r}, which is not installed (see `llmops assistants`)")
    registry = prompt_registry(assistants.values())
    return default_versions([assistants[name]], registry, settings)[assistants[name].prompt_name]


def _known_versions(settings: Settings) -> set[str]:
    from llmops.assistants import prompt_registry

    return {version.id for version in prompt_registry(_loaded(settings).values()).versions()}


@app.command("compare")
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
    dashboard_url: Annotated[
        str,
        typer.Option(
            help="Dashboard base URL (https://llmops.example) for each case's trace link; "
            "default: site-relative links (/requests/<id>)."
        ),
    ] = "",
) -> None:
    """Compare two stored runs case by case; exit 1 when the verdict is REGRESSION.

    Each regressed or failing case says, per scorer, what was expected and what came back, and links
    to its trace."""
    from llmops.evals.compare import Verdict, compare_runs
    from llmops.evals.reports import RENDERERS
    from llmops.evals.store import RunNotFound, resolve_run

    if dashboard_url and not dashboard_url.startswith(("http://", "https://")):
        fail("--dashboard-url must start with http:// or https://")
    settings = load_settings()
    with database(settings) as engine:
        try:
            base_run = resolve_run(engine, baseline, dataset)
            cand_run = resolve_run(engine, candidate, dataset)
        except RunNotFound as exc:
            fail(str(exc))
        comparison = compare_runs(base_run, cand_run, alpha=alpha, margin=margin, seed=seed)
        text = RENDERERS[report_format.value](comparison, redactor(settings), dashboard_url=dashboard_url)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            stderr().print(f"{comparison.verdict.value}: report written to {output}")
        _alert_on(settings, engine, comparison)
    if comparison.verdict is Verdict.REGRESSION:
        raise typer.Exit(1)


def _alert_on(settings: Settings, engine: Engine, comparison: Comparison) -> None:
    """Feed the verdict to the eval_regression alert (fires on REGRESSION, resolves otherwise)."""
    from llmops.alerts.setup import notify_eval_regression

    notify_eval_regression(settings, engine, redactor(settings), comparison)


@app.command("mine")
def mine(
    since: SinceOption = "30d",
    limit: Annotated[int, typer.Option(min=1, help="At most this many cases, worst first.")] = 50,
    path: Annotated[
        Path | None, typer.Option("--output", help="Write the JSONL to this file instead of stdout.")
    ] = None,
) -> None:
    """Turn negative feedback into candidate eval cases (JSONL, golden-set format) to label."""
    from llmops.evals.mining import mine as mine_cases
    from llmops.evals.mining import write_jsonl
    from llmops.telemetry.span_queue import schedule_delay_s

    start = since_start(since)
    settings = load_settings()
    with database(settings) as engine:
        # A request rated a moment ago on another replica may still have its spans in that replica's
        # export queue: wait for them, a little longer than the export delay at most.
        settle_s = schedule_delay_s() + SPAN_EXPORT_MARGIN_S
        cases = mine_cases(engine, redactor(settings), since=start, limit=limit, settle_s=settle_s)
    with output(path) as stream:
        written = write_jsonl(cases, stream)
    stderr().print(
        f"Mined {written} candidate case(s) from negative feedback; label them with `llmops eval label`."
    )


@app.command("candidates")
def candidates(
    limit: Annotated[int, typer.Option(min=1, help="At most this many cases.")] = 50,
    max_judge_score: Annotated[float, typer.Option(help="Judge scores below this are candidates.")] = 0.5,
    path: Annotated[
        Path | None, typer.Option("--output", help="Write the JSONL here instead of stdout.")
    ] = None,
) -> None:
    """Active learning: negative feedback, then low judge scores, then judge/user disagreement, as JSONL."""
    from llmops.evals.active_learning import select_candidates
    from llmops.evals.mining import write_jsonl

    settings = load_settings()
    with database(settings) as engine:
        cases = select_candidates(engine, redactor(settings), limit=limit, max_judge_score=max_judge_score)
    with output(path) as stream:
        write_jsonl(cases, stream)
    stderr().print(f"Selected {len(cases)} candidate case(s); label them with `llmops eval label`.")


app.command("label")(label)


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Dataset name, as on the dashboard's /annotate page.")],
    path: Annotated[
        Path | None, typer.Option("--output", help="Write the JSONL here instead of stdout.")
    ] = None,
) -> None:
    """Write a dataset labelled on the dashboard (stored in the database, by every replica) as JSONL for
    `llmops eval run --dataset`."""
    from llmops.evals.case_store import checked_name, stored_cases
    from llmops.evals.mining import write_jsonl

    try:
        checked_name(name)
    except ValueError as exc:
        fail(f"Bad dataset name: {exc}")
    settings = load_settings()
    with database(settings) as engine:
        cases = stored_cases(engine, name)
    if not cases:
        fail(f"No case is labelled in dataset {name!r} (label some on the dashboard's /annotate page).")
    with output(path) as stream:
        write_jsonl(cases, stream)
    stderr().print(f"Exported {len(cases)} labelled case(s) of dataset {name}.")
