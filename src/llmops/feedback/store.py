"""The feedback repository: a race-safe upsert (one row per request) and keyset-paginated listing.

Replace rule: feedback on a request that already has some replaces its rating and notes, keeps
`created_at`, moves `updated_at` and increments `revisions` (0 on first feedback). The upsert is one
`INSERT … ON CONFLICT (request_id) DO UPDATE … RETURNING`, so concurrent posts on SQLite or Postgres
never lose a revision or fail on the unique key. Notes arrive here already redacted.

Listing is newest first by `created_at` then `id`; the cursor is that pair, opaque to callers, so
pages stay stable while new feedback arrives or old feedback is replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, and_, or_, select

from llmops.feedback.models import Feedback, FeedbackItem, FeedbackPage
from llmops.storage.cursor import decode_cursor, encode_cursor
from llmops.storage.dialect import insert_for
from llmops.storage.tables import feedback, requests
from llmops.storage.timeutil import utc

MAX_PAGE = 500


def window_start(window: timedelta | None, now: datetime | None = None) -> datetime | None:
    """The start of a window ending now; None (no bound) for `all` or a window longer than time."""
    if window is None:
        return None
    try:
        return (now or datetime.now(UTC)) - window
    except OverflowError:
        return None


def _feedback(row: object) -> Feedback:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    return Feedback(
        request_id=values["request_id"],
        rating=values["rating"],
        notes=values["notes"],
        created_at=utc(values["created_at"]),
        updated_at=utc(values["updated_at"]),
        revisions=values["revisions"],
    )


class FeedbackStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(self, request_id: str, rating: int, notes: str | None, now: datetime) -> tuple[Feedback, bool]:
        """Store feedback (notes must be redacted already); returns it and whether it was the first."""
        now = utc(now)
        insert = insert_for(self.engine, feedback).values(
            request_id=request_id, rating=rating, notes=notes, created_at=now, updated_at=now, revisions=0
        )
        statement = insert.on_conflict_do_update(
            index_elements=[feedback.c.request_id],
            set_={
                "rating": insert.excluded.rating,
                "notes": insert.excluded.notes,
                "updated_at": insert.excluded.updated_at,
                "revisions": feedback.c.revisions + 1,
            },
        ).returning(*feedback.c)
        with self.engine.begin() as connection:
            row = connection.execute(statement).one()
        stored = _feedback(row)
        return stored, stored.revisions == 0

    def get(self, request_id: str) -> Feedback | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(feedback).where(feedback.c.request_id == request_id)).first()
        return None if row is None else _feedback(row)

    def list(
        self,
        *,
        rating: int | None = None,
        prompt_version: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> FeedbackPage:
        """One page, newest first; raises CursorError for a cursor it did not produce."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        query = _joined().order_by(feedback.c.created_at.desc(), feedback.c.id.desc()).limit(limit + 1)
        if rating is not None:
            query = query.where(feedback.c.rating == rating)
        if prompt_version is not None:
            query = query.where(requests.c.prompt_version == prompt_version)
        if since is not None:
            query = query.where(feedback.c.created_at >= utc(since))
        if cursor is not None:
            created, row_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    feedback.c.created_at < created,
                    and_(feedback.c.created_at == created, feedback.c.id < row_id),
                )
            )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return FeedbackPage(items=[_item(row) for row in page], next_cursor=next_cursor)

    def iter_all(
        self,
        *,
        rating: int | None = None,
        prompt_version: str | None = None,
        since: datetime | None = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[FeedbackItem]:
        """Every matching item, newest first, a page at a time (for exports of any size)."""
        cursor: str | None = None
        while True:
            page = self.list(
                rating=rating, prompt_version=prompt_version, since=since, limit=page_size, cursor=cursor
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


def _joined() -> Select[Any]:
    """Feedback with its request; an outer join, because requests expire before their feedback."""
    return select(
        feedback.c.id,
        feedback.c.request_id,
        feedback.c.rating,
        feedback.c.notes,
        feedback.c.created_at,
        feedback.c.updated_at,
        feedback.c.revisions,
        requests.c.trace_id,
        requests.c.prompt_version,
        requests.c.model,
        requests.c.provider,
        requests.c.category,
        requests.c.created_at.label("request_created_at"),
    ).select_from(feedback.outerjoin(requests, requests.c.request_id == feedback.c.request_id))


def _item(row: object) -> FeedbackItem:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    request_created = values.pop("request_created_at")
    values.pop("id")
    return FeedbackItem(
        **{**values, "created_at": utc(values["created_at"]), "updated_at": utc(values["updated_at"])},
        request_created_at=None if request_created is None else utc(request_created),
    )
