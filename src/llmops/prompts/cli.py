"""`llmops prompts`: list, show and diff prompt versions; move labels; read the label history."""

from __future__ import annotations

import difflib
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llmops.config import load_settings
from llmops.prompts.labels import DEFAULT_PROMPT, LabelError, LabelRecord, LabelStore, validate_label
from llmops.prompts.registry import PromptNotFound, PromptRegistry, PromptVersion

prompts_app = typer.Typer(
    help="Prompt versions, labels (production, canary, …) and their history.", no_args_is_help=True
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

PromptOption = Annotated[str, typer.Option("--prompt", help="Prompt name.")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]")
    return typer.Exit(2)


@contextmanager
def _store() -> Iterator[LabelStore]:
    """The label store on the configured database, migrated, disposed afterwards."""
    from llmops.storage.migrate import migrated_engine

    try:
        settings = load_settings()
    except ValidationError as exc:
        raise _fail(f"Invalid settings:\n{exc}") from None
    with migrated_engine(settings.resolved_database_url) as engine:
        yield LabelStore(engine, PromptRegistry.from_directory())


def _version(registry: PromptRegistry, version_id: str) -> PromptVersion:
    try:
        return registry.get(version_id)
    except PromptNotFound as exc:
        raise _fail(exc.args[0]) from None


def _labels_by_version(records: list[LabelRecord]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for record in records:
        found.setdefault(record.version_id, []).append(record.label)
    return found


def default_user() -> str:
    """Who is moving a label: the login name ($USER and friends), or `unknown` when there is none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@prompts_app.command("list")
def list_versions() -> None:
    """Every prompt version: id, content hash prefix, labels pointing at it, changelog."""
    with _store() as store:
        labels = _labels_by_version(store.labels())
        table = Table(box=None, pad_edge=False)
        for column in ("version", "hash", "labels"):
            table.add_column(column, no_wrap=True)
        table.add_column("changelog")
        for version in store.registry.versions():
            table.add_row(
                version.id,
                version.content_hash[:12],
                ", ".join(labels.get(version.id, [])),
                Text(version.changelog),
            )
    out.print(table)


@prompts_app.command("show")
def show(version_id: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. email_triage_v7")]) -> None:
    """One version: model parameters, prefill, system prompt, examples, output schema and labels."""
    with _store() as store:
        version = _version(store.registry, version_id)
        labels = _labels_by_version(store.labels(version.name)).get(version.id, [])
    params = version.model_params
    out.print(f"[bold]{version.id}[/bold]  sha256 {version.content_hash}")
    out.print(f"changelog:     {escape(version.changelog)}")
    out.print(f"labels:        {', '.join(labels) or '-'}")
    out.print(
        f"model params:  temperature={params.temperature} max_tokens={params.max_tokens} stop={params.stop!r}"
    )
    out.print(f"prefill:       {escape(repr(version.prefill)) if version.prefill is not None else '-'}")
    out.print(f"examples:      {len(version.examples)}")
    out.print(f"output model:  {version.output_model}")
    out.print("\n[bold]system prompt[/bold]")
    out.print(Text(version.system.strip()))
    out.print("\n[bold]output schema[/bold]")
    out.print(Text(json.dumps(version.output_schema(), indent=2)))


@prompts_app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="The older version id.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The newer version id.")],
) -> None:
    """A unified diff of two versions' files (coloured on a terminal)."""
    registry = PromptRegistry.from_directory()
    old, new = _version(registry, a), _version(registry, b)
    lines = difflib.unified_diff(
        old.source.splitlines(keepends=True),
        new.source.splitlines(keepends=True),
        fromfile=f"{old.name}/v{old.version}.yaml",
        tofile=f"{new.name}/v{new.version}.yaml",
    )
    for line in lines:
        text = line if line.endswith("\n") else line + "\n"
        style = (
            "bold"
            if text.startswith(("---", "+++"))
            else "cyan"
            if text.startswith("@@")
            else "green"
            if text.startswith("+")
            else "red"
            if text.startswith("-")
            else None
        )
        out.print(Text(text.rstrip("\n"), style=style or ""))


@prompts_app.command("label")
def label(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Label: production, canary or your own.")],
    version_id: Annotated[str, typer.Argument(metavar="VERSION", help="Version the label should point at.")],
    prompt: PromptOption = DEFAULT_PROMPT,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    by: Annotated[str | None, typer.Option(help="Who. Default: your login name.")] = None,
    traffic_share: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of traffic, for canary labels.")
    ] = None,
) -> None:
    """Point a label at a version (create it, move it, or roll it back); prints old → new."""
    try:
        validate_label(name)
    except LabelError as exc:
        raise _fail(str(exc)) from None
    with _store() as store:
        try:
            change = store.set(
                prompt, name, version_id, by=by or default_user(), reason=reason, traffic_share=traffic_share
            )
        except LabelError as exc:
            raise _fail(str(exc)) from None
    out.print(
        f"{change.prompt_name} {change.label}: {change.previous_version_id or '(none)'} → {change.version_id}"
    )


@prompts_app.command("history")
def history(
    prompt: PromptOption = DEFAULT_PROMPT,
    label_name: Annotated[str | None, typer.Option("--label", help="Only this label.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most recent moves to show.")] = 50,
) -> None:
    """Label moves, newest first: when, label, old → new version, who and why."""
    if label_name is not None:
        try:
            validate_label(label_name)
        except LabelError as exc:
            raise _fail(str(exc)) from None
    with _store() as store:
        changes = store.history(prompt, label_name, limit=limit)
    if not changes:
        err.print("No label moves recorded.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("changed at (UTC)", "label", "from", "to", "by"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for change in changes:
        table.add_row(
            change.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
            change.label,
            change.previous_version_id or "-",
            change.version_id or "-",
            Text(change.changed_by),
            Text(change.reason),
        )
    out.print(table)
