"""The Support Desk's tools over bundled JSON: a knowledge-base search and an order lookup.

Each tool has an OpenAI-style spec (the model may choose it) and a plain function (the planner calls
it when the model cannot choose tools). Searching is keyword overlap over titles, tags and text:
small, deterministic, good enough for a dozen articles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.sdk import ToolSpec
from support_desk.models import Article, Intent, Order

DATA = Path(__file__).resolve().parent / "data"
ORDER_ID = re.compile(r"\bNW-\d{4}\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "can",
        "do",
        "for",
        "from",
        "how",
        "i",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "what",
        "when",
        "where",
        "why",
        "with",
        "you",
    ]
)

SEARCH_KB = ToolSpec(
    name="search_kb",
    description="Search Northwind's help-center articles; returns the best matches with their text.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to look for."}},
        "required": ["query"],
    },
)
GET_ORDER_STATUS = ToolSpec(
    name="get_order_status",
    description="Look up an order by its number (NW-1234): status, carrier, expected delivery, items.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "pattern": "^NW-\\d{4}$"}},
        "required": ["order_id"],
    },
)
TOOLS = [SEARCH_KB, GET_ORDER_STATUS]

_INTENTS: list[tuple[Intent, frozenset[str]]] = [
    ("complaint", frozenset({"complaint", "unacceptable", "lawyer", "furious", "worst", "chargeback"})),
    ("returns", frozenset({"return", "refund", "exchange", "damaged", "broken", "wrong", "defective"})),
    ("account", frozenset({"password", "login", "account", "locked", "sign"})),
    ("payment", frozenset({"pay", "payment", "card", "paypal", "invoice", "charged", "gift", "voucher"})),
    (
        "shipping",
        frozenset({"shipping", "ship", "international", "customs", "deliver", "delivery", "address"}),
    ),
    ("product", frozenset({"warranty", "repair", "stopped", "working", "faulty"})),
]


def words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _STOP}


@dataclass(frozen=True)
class Desk:
    """The bundled articles and orders, with the two tools over them."""

    articles: tuple[Article, ...]
    orders: dict[str, Order]

    @classmethod
    def bundled(cls) -> Desk:
        articles = [Article.model_validate(a) for a in json.loads((DATA / "articles.json").read_text())]
        orders = [Order.model_validate(o) for o in json.loads((DATA / "orders.json").read_text())]
        return cls(tuple(articles), {order.order_id: order for order in orders})

    def search_kb(self, query: str, limit: int = 2) -> list[Article]:
        """Articles sharing the most words with the query (tags count double); none below one match."""
        wanted = words(query)
        scored = []
        for position, article in enumerate(self.articles):
            score = 2 * len(wanted & set(article.tags)) + len(
                wanted & words(f"{article.title} {article.text}")
            )
            if score:
                scored.append((-score, position, article))
        return [article for _, _, article in sorted(scored)[:limit]]

    def get_order_status(self, order_id: str) -> Order | None:
        return self.orders.get(order_id.strip().upper())

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[object, list[Article], Order | None]:
        """Run a tool by name: (result for the model, articles found, order found). Unknown tools and
        bad arguments are a ValueError naming what was wrong."""
        if name == SEARCH_KB.name:
            query = arguments.get("query")
            if not isinstance(query, str) or not query.strip():
                raise ValueError("search_kb needs a non-empty `query`")
            found = self.search_kb(query)
            return [a.model_dump(exclude={"tags"}) for a in found], found, None
        if name == GET_ORDER_STATUS.name:
            order_id = arguments.get("order_id")
            if not isinstance(order_id, str):
                raise ValueError("get_order_status needs an `order_id`")
            order = self.get_order_status(order_id)
            result = order.model_dump() if order else {"error": "no such order"}
            return result, [], order
        raise ValueError(f"unknown tool {name!r}")


def order_id_in(text: str, given: str | None) -> str | None:
    if given:
        return given.upper()
    match = ORDER_ID.search(text)
    return match.group(0).upper() if match else None


def classify(question: str, order_id: str | None) -> Intent:
    found = words(question)
    for intent, keys in _INTENTS:
        if found & keys:
            return intent
    if order_id or found & {"order", "parcel", "package", "tracking", "where"}:
        return "order_status"
    return "other"
