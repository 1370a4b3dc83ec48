"""`llmops prompts`: list, show and diff prompt versions; move labels; read the label history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

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
    from llmops.prompts.labels import LabelRecord, LabelStore
    from llmops.prompts.registry import PromptRegistry, PromptVersion

app = typer.Typer(
    help="Prompt versions, labels (production, canary, …) and their history.", no_args_is_help=True
)

PromptOption = Annotated[str, typer.Option("--prompt", help="Prompt name.")]


@contextmanager
def _store() -> Iterator[LabelStore]:
    """The label store on the configured database, migrated, disposed afterwards."""
    from llmops.prompts.labels import LabelStore

    settings = load_settings()
    registry, _ = prompts(settings)
    with database(settings) as engine:
        yield LabelStore(engine, registry)


def _version(registry: PromptRegistry, version_id: str) -> PromptVersion:
    from llmops.prompts.registry import PromptNotFound

    try:
        return registry.get(version_id)
    except PromptNotFound as exc:
        fail(exc.args[0])


def _labels_by_version(records: list[LabelRecord]) -> dict[str, list[str]]:
    """Labels per version; a canary shows its share, and a finished one (share 0: rolled back or
    promoted, the label kept for its history) shows nowhere, as on the dashboard."""
    from llmops.prompts.labels import CANARY

    found: dict[str, list[str]] = {}
    for record in records:
        if record.label == CANARY:
            if record.traffic_share:
                found.setdefault(record.version_id, []).append(f"canary {record.traffic_share:.0%}")
            continue
        found.setdefault(record.version_id, []).append(record.label)
    return found


def _checked_label(name: str) -> str:
    from llmops.prompts.labels import LabelError, validate_label

    try:
        return validate_label(name)
    except LabelError as exc:
        fail(str(exc))


@app.command("list")
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
    stdout().print(table)


@app.command("show")
def show(version_id: Annotated[str, typer.Argument(metavar="VERSION", help="e.g. email_triage_v7")]) -> None:
    """One version: model parameters, prefill, system prompt, examples, output schema and labels."""
    with _store() as store:
        version = _version(store.registry, version_id)
        labels = _labels_by_version(store.labels(version.name)).get(version.id, [])
    params = version.model_params
    stdout().print(f"[bold]{version.id}[/bold]  sha256 {version.content_hash}")
    stdout().print(f"changelog:     {escape(version.changelog)}")
    stdout().print(f"labels:        {', '.join(labels) or '-'}")
    stdout().print(
        f"model params:  temperature={params.temperature} max_tokens={params.max_tokens} stop={params.stop!r}"
    )
    stdout().print(f"prefill:       {escape(repr(version.prefill)) if version.prefill is not None else '-'}")
    stdout().print(f"examples:      {len(version.examples)}")
    stdout().print(f"output model:  {version.output_model}")
    stdout().print("\n[bold]system prompt[/bold]")
    stdout().print(Text(version.system.strip()))
    stdout().print("\n[bold]output schema[/bold]")
    stdout().print(Text(json.dumps(version.output_schema(), indent=2)))


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="The older version id.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The newer version id.")],
) -> None:
    """A unified diff of two versions' files (coloured on a terminal)."""
    import difflib

    registry, _ = prompts(load_settings())
    old, new = _version(registry, a), _version(registry, b)
    out = stdout()
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


@app.command("label")
def label(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Label: production, canary or your own.")],
    version_id: Annotated[str, typer.Argument(metavar="VERSION", help="Version the label should point at.")],
    prompt: PromptOption = DEFAULT_PROMPT,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    by: Annotated[str | None, typer.Option(help="Who. Default: your login name.")] = None,
    traffic_share: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of traffic, for canary labels.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="canary with a share: start it even if the eval verdict is REGRESSION (needs --reason).",
        ),
    ] = False,
) -> None:
    """Point a label at a version (create it, move it, or roll it back); prints old → new.

    `canary` with a positive --traffic-share starts a canary, and goes through the same eval gate as
    `llmops canary start VERSION --share S`: a REGRESSION verdict is refused unless --force --reason."""
    from llmops.prompts.labels import CANARY, LabelError

    _checked_label(name)
    if name == CANARY and traffic_share:
        from llmops.cli.canary import start_canary

        start_canary(version_id, traffic_share, prompt=prompt, by=by, reason=reason, force=force)
        return
    if force:
        fail("--force applies to a canary label with a positive --traffic-share only")
    with _store() as store:
        try:
            change = store.set(
                prompt, name, version_id, by=by or default_user(), reason=reason, traffic_share=traffic_share
            )
        except LabelError as exc:
            fail(str(exc))
    stdout().print(
        f"{change.prompt_name} {change.label}: {change.previous_version_id or '(none)'} → {change.version_id}"
    )


@app.command("history")
def history(
    prompt: PromptOption = DEFAULT_PROMPT,
    label_name: Annotated[str | None, typer.Option("--label", help="Only this label.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most recent moves to show.")] = 50,
) -> None:
    """Label moves, newest first: when, label, old → new version, who and why."""
    if label_name is not None:
        _checked_label(label_name)
    with _store() as store:
        changes = store.history(prompt, label_name, limit=limit)
    if not changes:
        stderr().print("No label moves recorded.")
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
    stdout().print(table)
