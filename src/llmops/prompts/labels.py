"""Prompt labels: named pointers (`production`, `canary`, custom) from a prompt to one of its versions.

Moving a label is a release and moving it back is a rollback; each move writes the label and a
history row (who, why, the version before) in one transaction. Serving reads labels through the one
`PromptRouter` (`prompts.router`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from llmops.prompts.registry import PromptNotFound, PromptRegistry
from llmops.storage.tables import prompt_label_history, prompt_labels
from llmops.storage.timeutil import utc

logger = logging.getLogger("llmops.prompts")

PRODUCTION = "production"
CANARY = "canary"
DEFAULT_PROMPT = "email_triage"
LABEL_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")
MAX_BY_CHARS = 128
MAX_REASON_CHARS = 2000
_CREATE_ATTEMPTS = 3


class LabelError(ValueError):
    """A label move that cannot be made: a bad label name, an unknown prompt or version, a bad value."""


class LabelMovedError(RuntimeError):
    """The label moved after the caller read it: another replica or a person acted first."""


@dataclass(frozen=True, slots=True)
class LabelRecord:
    prompt_name: str
    label: str
    version_id: str
    traffic_share: float | None
    updated_at: datetime
    updated_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class LabelChange:
    """One history row: `label` moved from `previous_version_id` (None when created) to `version_id`."""

    id: int
    prompt_name: str
    label: str
    version_id: str | None
    previous_version_id: str | None
    traffic_share: float | None
    changed_at: datetime
    changed_by: str
    reason: str


def validate_label(label: str) -> str:
    """The label name if it is `production`, `canary` or a custom `[a-z][a-z0-9_-]{0,63}`."""
    if not LABEL_PATTERN.fullmatch(label):
        raise LabelError(
            f"invalid label name {label[:70]!r}: use production, canary or lower-case letters, digits, "
            "'_' and '-' (starting with a letter, at most 64 characters)"
        )
    return label


class LabelStore:
    """Labels and their history in the `prompt_labels` / `prompt_label_history` tables."""

    def __init__(
        self,
        engine: Engine,
        registry: PromptRegistry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.registry = registry
        self._clock = clock

    def known(self, version_id: str) -> bool:
        """Whether labels may point at `version_id` here (routing skips a label that does not)."""
        return version_id in self.registry

    def check_version(self, prompt_name: str, version_id: str) -> None:
        """`LabelError` unless `version_id` is a version of the loaded prompt `prompt_name`."""
        if prompt_name not in self.registry.names():
            known = ", ".join(self.registry.names()) or "none"
            raise LabelError(f"unknown prompt {prompt_name[:130]!r} (known: {known})")
        try:
            version = self.registry.get(version_id)
        except PromptNotFound as exc:
            raise LabelError(exc.args[0]) from None
        if version.name != prompt_name:
            raise LabelError(
                f"version {version_id!r} belongs to prompt {version.name!r}, not {prompt_name!r}"
            )

    def get(self, prompt_name: str, label: str) -> LabelRecord | None:
        query = select(prompt_labels).where(
            prompt_labels.c.prompt_name == prompt_name, prompt_labels.c.label == label
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).one_or_none()
        return None if row is None else _record(row)

    def labels(self, prompt_name: str | None = None) -> list[LabelRecord]:
        query = select(prompt_labels).order_by(prompt_labels.c.prompt_name, prompt_labels.c.label)
        if prompt_name is not None:
            query = query.where(prompt_labels.c.prompt_name == prompt_name)
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query)]

    def history(
        self, prompt_name: str, label: str | None = None, limit: int | None = None
    ) -> list[LabelChange]:
        """Moves of `prompt_name`'s labels (or of one label), newest first."""
        history = prompt_label_history.c
        query = (
            select(prompt_label_history)
            .where(history.prompt_name == prompt_name)
            .order_by(history.changed_at.desc(), history.id.desc())
            .limit(limit)
        )
        if label is not None:
            query = query.where(history.label == label)
        with self.engine.connect() as connection:
            return [_change(row) for row in connection.execute(query)]

    def set(
        self,
        prompt_name: str,
        label: str,
        version_id: str,
        *,
        by: str,
        reason: str,
        traffic_share: float | None = None,
        expected_change_id: int | None = None,
    ) -> LabelChange:
        """Point `label` at `version_id` (creating the label if needed) and record the move.

        With `expected_change_id` the move is conditional: it happens only while that history row is
        still the label's latest, else `LabelMovedError` (compare-and-set for automatic decisions).

        Safe under concurrent moves: the transaction first writes the label's row (on SQLite that
        takes the database's write lock) and reads it `FOR UPDATE` (the row lock on Postgres, which
        also returns the latest committed version), so the "previous" version recorded is the one
        this move replaces. Two transactions creating the same label race on the primary key; the
        loser retries and becomes a move.
        """
        self._validate(prompt_name, label, version_id, by, reason, traffic_share)
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                return self._move(
                    prompt_name, label, version_id, by.strip(), reason, traffic_share, expected_change_id
                )
            except IntegrityError:
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _validate(
        self,
        prompt_name: str,
        label: str,
        version_id: str,
        by: str,
        reason: str,
        traffic_share: float | None,
    ) -> None:
        validate_label(label)
        self.check_version(prompt_name, version_id)
        if not 1 <= len(by.strip()) <= MAX_BY_CHARS:
            raise LabelError(f"'by' must name who moves the label, in 1 to {MAX_BY_CHARS} characters")
        if len(reason) > MAX_REASON_CHARS:
            raise LabelError(f"the reason is longer than {MAX_REASON_CHARS} characters")
        if traffic_share is not None and not 0.0 <= traffic_share <= 1.0:
            raise LabelError("traffic_share must be between 0 and 1")

    def _move(
        self,
        prompt_name: str,
        label: str,
        version_id: str,
        by: str,
        reason: str,
        traffic_share: float | None,
        expected_change_id: int | None,
    ) -> LabelChange:
        now = self._clock()
        key = (prompt_labels.c.prompt_name == prompt_name, prompt_labels.c.label == label)
        values = {
            "version_id": version_id,
            "traffic_share": traffic_share,
            "updated_at": now,
            "updated_by": by,
            "reason": reason,
        }
        with self.engine.begin() as connection:
            connection.execute(
                update(prompt_labels).where(*key).values(version_id=prompt_labels.c.version_id)
            )
            previous = connection.execute(
                select(prompt_labels.c.version_id).where(*key).with_for_update()
            ).scalar_one_or_none()
            if expected_change_id is not None:
                history = prompt_label_history.c
                latest = connection.execute(
                    select(history.id)
                    .where(history.prompt_name == prompt_name, history.label == label)
                    .order_by(history.changed_at.desc(), history.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                if latest != expected_change_id:
                    raise LabelMovedError(f"the {label} label of {prompt_name} moved since it was read")
            if previous is None:
                connection.execute(
                    insert(prompt_labels).values(prompt_name=prompt_name, label=label, **values)
                )
            else:
                connection.execute(update(prompt_labels).where(*key).values(**values))
            change = {
                "prompt_name": prompt_name,
                "label": label,
                "version_id": version_id,
                "previous_version_id": previous,
                "traffic_share": traffic_share,
                "changed_at": now,
                "changed_by": by,
                "reason": reason,
            }
            new_id = connection.execute(insert(prompt_label_history).values(**change)).inserted_primary_key
        assert new_id is not None
        return LabelChange(
            id=int(new_id[0]),
            prompt_name=prompt_name,
            label=label,
            version_id=version_id,
            previous_version_id=previous,
            traffic_share=traffic_share,
            changed_at=now,
            changed_by=by,
            reason=reason,
        )


def _record(row: Row[Any]) -> LabelRecord:
    m = row._mapping
    return LabelRecord(
        prompt_name=m["prompt_name"],
        label=m["label"],
        version_id=m["version_id"],
        traffic_share=m["traffic_share"],
        updated_at=utc(m["updated_at"]),
        updated_by=m["updated_by"],
        reason=m["reason"],
    )


def _change(row: Row[Any]) -> LabelChange:
    m = row._mapping
    return LabelChange(
        id=int(m["id"]),
        prompt_name=m["prompt_name"],
        label=m["label"],
        version_id=m["version_id"],
        previous_version_id=m["previous_version_id"],
        traffic_share=m["traffic_share"],
        changed_at=utc(m["changed_at"]),
        changed_by=m["changed_by"],
        reason=m["reason"],
    )
