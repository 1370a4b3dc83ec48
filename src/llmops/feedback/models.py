"""Pydantic shapes of feedback at the edges: what a caller submits, what is stored, what is listed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_NOTES_CHARS = 4000


def _whole_number(value: object) -> object:
    """A JSON number with no fraction (`1`, `-1.0`: JSON Schema's integer) as an int; anything else
    (booleans, strings, `0.5`) is left for strict validation to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Rating = Annotated[
    int,
    Field(ge=-1, le=1, strict=True, description="-1 bad, 0 so-so, 1 good."),
    BeforeValidator(_whole_number),
]


class FeedbackIn(BaseModel):
    """`POST /v1/feedback`: a rating of one reply, by the request id the reply carried."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="The `request_id` of a triage reply.")
    rating: Rating
    notes: str | None = Field(
        None,
        max_length=MAX_NOTES_CHARS,
        description="Free text; stored only after redaction. NUL characters are removed.",
    )

    @field_validator("notes")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        """Free text is kept as sent except NUL (no database text type stores it), and text that is
        not valid Unicode (lone surrogates) is refused."""
        if value is None:
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("notes must be valid Unicode text") from None
        return value.replace("\x00", "")


class Feedback(BaseModel):
    """Stored feedback: the latest rating and notes; `revisions` counts how often they were replaced."""

    request_id: str
    rating: int
    notes: str | None = Field(description="As stored: secrets and personal data masked.")
    created_at: datetime
    updated_at: datetime
    revisions: int


class FeedbackItem(Feedback):
    """Feedback joined to its request, so it links to the trace and the prompt version that served it.

    The request fields are null once retention has deleted the request (feedback is kept longer).
    """

    trace_id: str | None
    prompt_version: str | None
    model: str | None
    provider: str | None
    category: str | None
    request_created_at: datetime | None


class FeedbackPage(BaseModel):
    items: list[FeedbackItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
