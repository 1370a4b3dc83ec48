"""Labelled cases in the database, by dataset name: what the dashboard's /annotate page writes.

A label made on any replica lands in the one database (`labelled_cases`), so the queue every replica
shows leaves it out and `llmops eval export NAME` writes every replica's labels as one dataset file for
`llmops eval run --dataset`. A case is stored as its JSON line, as it would be appended to a file: rebuilt
from the stored, redacted trace and redacted again (`llmops.evals.mining.build_case`). A dataset holds
one assistant's cases, and a case id once (the unique key settles two replicas labelling it at once).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from llmops.evals.datasets import EvalCase, case_line, parse_case
from llmops.evals.labelling import LabelError
from llmops.storage.tables import labelled_cases

MAX_BY_CHARS = 128
DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def checked_name(name: str) -> str:
    """A dataset name: lowercase letters, digits, `-` and `_` (ValueError otherwise)."""
    if not DATASET_NAME.match(name):
        raise ValueError("dataset names are lowercase letters, digits, `-` and `_`")
    return name


def stored_ids(engine: Engine, dataset: str) -> set[str]:
    """Ids of the cases the named dataset holds."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(labelled_cases.c.case_id).where(labelled_cases.c.dataset == dataset)
        ).all()
    return {row.case_id for row in rows}


def add_case(
    engine: Engine,
    dataset: str,
    case: EvalCase,
    *,
    by: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bool:
    """Store a labelled case in the named dataset; False when the dataset already holds its id."""
    if case.needs_label:
        raise LabelError("label the case before adding it to a dataset", case.id)
    table = labelled_cases.c
    try:
        with engine.begin() as connection:
            other = connection.execute(
                select(table.assistant)
                .where(table.dataset == dataset, table.assistant != case.assistant)
                .limit(1)
            ).scalar_one_or_none()
            if other is not None:
                raise LabelError(f"the dataset holds cases of {other!r}", case.id)
            connection.execute(
                insert(labelled_cases).values(
                    dataset=dataset,
                    case_id=case.id,
                    assistant=case.assistant,
                    case=case_line(case),
                    labelled_by=by[:MAX_BY_CHARS],
                    created_at=clock(),
                )
            )
    except IntegrityError:
        return False
    return True


def stored_cases(engine: Engine, dataset: str) -> list[EvalCase]:
    """The named dataset's cases, in the order they were labelled."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(labelled_cases.c.case)
            .where(labelled_cases.c.dataset == dataset)
            .order_by(labelled_cases.c.id)
        ).all()
    return [parse_case(row.case, number) for number, row in enumerate(rows, start=1)]
