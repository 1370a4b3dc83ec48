"""`llmops eval label FILE --dataset OUT`: give mined cases their expectations and append them to a
dataset, so the next `llmops eval run --dataset OUT` scores them.

For scripts, `--accept ID` takes a case's proposal and `--set ID:FIELD=VALUE` corrects one field. On a
terminal (or with `--interactive`) each case waiting for a label is shown with its email, the reply the
caller got and the feedback, and the category, priority and criticality are asked for; each answer is
appended at once, so quitting (`q`, Ctrl-C, end of input) keeps what was labelled."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from llmops.cli.common import fail

if TYPE_CHECKING:
    from llmops.evals.datasets import EvalCase
    from llmops.evals.labelling import Correction, Label

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SHOWN_BODY = 800
Stop = Literal["skip", "quit"]


def label(
    file: Annotated[Path, typer.Argument(help="JSONL of mined or candidate cases (`llmops eval mine`).")],
    dataset: Annotated[
        Path, typer.Option(help="Dataset the labelled cases are appended to (created when missing).")
    ],
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            help="Case id whose proposal is right (its own `expected`, else the category and priority "
            "of the reply it got). Repeatable.",
        ),
    ] = None,
    corrections: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="CASE_ID:FIELD=VALUE, FIELD one of category, priority (N or LOW-HIGH), critical, "
            "must_contain, must_not_contain, judge_rubric. Repeatable.",
        ),
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive",
            help="Ask case by case. Default: on a terminal when neither --accept nor --set is given.",
        ),
    ] = None,
) -> None:
    """Accept or correct the expected fields of mined cases and append them to a dataset."""
    import sys

    from llmops.evals.datasets import DatasetError, load_dataset
    from llmops.evals.labelling import LabelError, dataset_ids

    try:
        mined = load_dataset(file)
        done = dataset_ids(dataset)
    except (DatasetError, LabelError) as exc:
        fail(f"Dataset error: {exc}")
    scripted = bool(accept or corrections)
    if interactive is None:
        interactive = not scripted and sys.stdin.isatty()
    if interactive and scripted:
        fail("Give --accept/--set or --interactive, not both.")
    waiting = [case for case in mined.unlabelled if case.id not in done]
    if interactive:
        added = _ask(waiting, dataset)
    elif scripted:
        added = _scripted(mined.cases, done, dataset, accept or [], corrections or [])
    else:
        fail("Nothing to do: give --accept CASE_ID or --set CASE_ID:FIELD=VALUE, or --interactive.")
    left = len([case for case in waiting if case.id not in added])
    typer.echo(f"Labelled {len(added)} case(s) into {dataset}; {left} still need a label.", err=True)


def _scripted(
    cases: list[EvalCase], done: set[str], dataset: Path, accept: list[str], specs: list[str]
) -> list[str]:
    from llmops.evals.datasets import DatasetError
    from llmops.evals.labelling import LabelError, append_cases, labelled, make_label, parse_correction

    by_id = {case.id: case for case in cases}
    try:
        parsed = [parse_correction(spec) for spec in specs]
        chosen = list(dict.fromkeys([*accept, *(c.case_id for c in parsed)]))
        for case_id in chosen:
            if case_id not in by_id:
                raise LabelError("no such case in the file", case_id)
        ready = [
            labelled(by_id[case_id], make_label(by_id[case_id], case_id in accept, _of(parsed, case_id)))
            for case_id in chosen
            if case_id not in done
        ]
        appended = append_cases(dataset, ready)
    except (DatasetError, LabelError) as exc:
        fail(f"Cannot label: {exc}")
    for case_id in sorted({*appended.present, *(c for c in chosen if c in done)}):
        typer.echo(f"{case_id}: already in {dataset.name}, left as it is", err=True)
    return appended.added


def _of(corrections: list[Correction], case_id: str) -> list[Correction]:
    return [correction for correction in corrections if correction.case_id == case_id]


def _ask(waiting: list[EvalCase], dataset: Path) -> list[str]:
    """One case after another: show it, ask for each field, append it."""
    from llmops.evals.datasets import DatasetError
    from llmops.evals.labelling import LabelError, append_cases, labelled

    added: list[str] = []
    runnable = [case for case in waiting if case.email is not None or case.input is not None]
    for number, case in enumerate(runnable, start=1):
        _show(case, number, len(runnable))
        answer = _answers(case)
        if answer == "quit":
            break
        if answer == "skip":
            continue
        try:
            added += append_cases(dataset, [labelled(case, answer)]).added
        except (DatasetError, LabelError) as exc:
            fail(f"Cannot label: {exc}")
    return added


def _answers(case: EvalCase) -> Label | Stop:
    """The case's label, or whether to skip it or stop; each answer is checked like a `--set` value."""
    from llmops.evals.labelling import CATEGORIES, Label, LabelError, corrected, expectations, proposal

    expected, critical = proposal(case), case.critical
    shown = {
        "category": str(expected.get("category", "")),
        "priority": "-".join(str(n) for n in expected.get("priority", [])),
        "critical": "y" if critical else "n",
    }
    hints = {
        "category": f"{', '.join(CATEGORIES)}; s skips the case, q quits",
        "priority": "N or LOW-HIGH, 1 most urgent",
        "critical": "y or n",
    }
    for field in ("category", "priority", "critical"):
        while True:
            try:
                value = typer.prompt(f"{field} ({hints[field]})", default=shown[field], show_default=True)
            except typer.Abort:  # end of input or Ctrl-C: what was appended stays
                typer.echo()
                return "quit"
            if field == "category" and value.strip().lower() in ("s", "q"):
                return "skip" if value.strip().lower() == "s" else "quit"
            if not value.strip() and field != "critical":
                break  # left unset
            try:
                expected, critical = corrected(expected, critical, field, value)
            except LabelError as exc:
                typer.echo(exc.detail)
                continue
            break
    try:
        return Label(expectations(case.id, expected), critical)
    except LabelError as exc:
        typer.echo(f"{exc}; skipped")
        return "skip"


def _show(case: EvalCase, number: int, total: int) -> None:
    source = case.source
    why = ", ".join(
        part
        for part in (
            source.reason if source else None,
            f"rating {source.rating}" if source and source.rating is not None else None,
        )
        if part
    )
    lines = [f"[{number}/{total}] {case.id}" + (f" ({why})" if why else "")]
    if case.email is not None:
        body = case.email.body[:_SHOWN_BODY] + ("…" if len(case.email.body) > _SHOWN_BODY else "")
        lines += [f"  From:    {case.email.sender}", f"  Subject: {case.email.subject}", f"  Body:    {body}"]
    if source is not None and source.notes:
        lines.append(f"  Notes:   {source.notes}")
    if source is not None and source.bad_output:
        lines.append(f"  Replied: {source.bad_output}")
    typer.echo(_CONTROL.sub("", "\n".join(lines)))
