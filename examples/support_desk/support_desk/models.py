"""The Support Desk's input and output: a customer's question in, a grounded answer out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal["order_status", "returns", "shipping", "account", "payment", "product", "complaint", "other"]


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000, description="The customer's message.")
    order_id: str | None = Field(
        None, pattern=r"^NW-\d{4}$", description="An order number, if the customer gave one (NW-1234)."
    )


class Order(BaseModel):
    order_id: str
    status: str
    carrier: str | None = None
    eta: str | None = None
    items: list[str] = Field(default_factory=list)


class Article(BaseModel):
    id: str
    title: str
    text: str
    tags: list[str] = Field(default_factory=list)


class SupportReply(BaseModel):
    answer: str = Field(min_length=1, max_length=1500, description="What the customer reads.")
    intent: Intent
    sources: list[str] = Field(default_factory=list, description="Knowledge-base articles the answer used.")
    order: Order | None = Field(None, description="The order looked up, if any.")
    escalate: bool = Field(False, description="A human should follow up.")
