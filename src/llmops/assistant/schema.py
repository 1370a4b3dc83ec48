"""The Email Gatekeeper's data at its edges: the email it reads and the triage it returns."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.sdk import TokenUsage


class Category(StrEnum):
    URGENT = "urgent"
    ACTION_REQUIRED = "action_required"
    FYI = "fyi"
    SPAM = "spam"
    PERSONAL = "personal"


class Email(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200_000)

    sender: str = Field(
        min_length=3,
        max_length=320,
        json_schema_extra={"pattern": "@"},
        description="From address, optionally with a name; must contain `@`.",
    )
    recipients: list[Annotated[str, Field(max_length=320, json_schema_extra={"pattern": "@"})]] = Field(
        min_length=1, max_length=100, description="To addresses; each must contain `@`."
    )
    subject: str = Field("", max_length=1000)
    body: str = Field("", max_length=200_000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)

    def size(self) -> int:
        """Characters of input the model reads (what a budget reservation is estimated from)."""
        return len(self.subject) + len(self.body) + len(self.sender) + sum(map(len, self.recipients))

    @field_validator("sender")
    @classmethod
    def _sender_has_address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("sender must contain an email address")
        return value

    @field_validator("recipients")
    @classmethod
    def _recipients_have_addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            if "@" not in item or len(item) > 320:
                raise ValueError("each recipient must be an email address of at most 320 characters")
        return value


class TriageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    user_id: str | None = Field(
        None, max_length=200, description="Caller's user id (pseudonymised in telemetry)."
    )


TriageField = Literal["category", "priority", "summary", "action_items", "draft_reply"]


class Triage(BaseModel):
    category: Category
    priority: int = Field(ge=1, le=5, description="1 is most urgent, 5 least.")
    summary: str = Field(min_length=1, max_length=600)
    action_items: list[str] = Field(default_factory=list, max_length=10)
    draft_reply: str = Field("", max_length=2000)
    provenance: dict[TriageField, Literal["model", "rules"]] = Field(
        default_factory=dict,
        description="Who wrote each field: `model`, or `rules` (the rule-based suggestion and the "
        "deterministic composer, which fill what the model did not write usably). Empty when not tracked.",
    )


class TriageReply(BaseModel):
    request_id: str
    triage: Triage
    prompt_version: str
    model: str
    provider: str
    usage: TokenUsage
    latency_ms: float
    retries: int
    degraded: bool
    cost_usd: float | None = Field(
        None, description="What the model calls cost, in USD; null when the price is unknown."
    )
