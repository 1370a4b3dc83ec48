"""Request ids: point lookups on the requests table, and claims that keep client-chosen ids unique.

A client may send `X-Request-ID`, and a client retrying after a timeout often sends the same value
again. Both are real requests — they spend tokens and count against budgets — but
`requests.request_id` is unique, so the second row would be dropped at export. An id that is taken
(stored already, or claimed by this process since it started) is therefore replaced by a fresh one,
which the reply and its `X-Request-ID` header carry; the client's value stays on the root span as
`llmops.client_request_id`. Generated ids are unique by construction and skip the check.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import Engine, select

from llmops.storage.tables import requests, spans


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_exists(engine: Engine, request_id: str) -> bool:
    with engine.connect() as connection:
        found = connection.execute(select(requests.c.id).where(requests.c.request_id == request_id)).first()
    return found is not None


def root_span_stored(engine: Engine, request_id: str) -> bool | None:
    """Whether the request's root span is stored; None when there is no such request."""
    root = spans.alias("root")
    query = (
        select(root.c.span_id)
        .select_from(
            requests.outerjoin(
                root, (root.c.trace_id == requests.c.trace_id) & (root.c.span_id == requests.c.span_id)
            )
        )
        .where(requests.c.request_id == request_id)
    )
    with engine.connect() as connection:
        found = connection.execute(query).first()
    return None if found is None else found.span_id is not None


class RequestIds:
    def __init__(self, stored: Callable[[str], bool], capacity: int = 65_536) -> None:
        self._stored = stored
        self._capacity = capacity
        self._claimed: OrderedDict[str, None] = OrderedDict()

    async def claim(self, client_id: str) -> str:
        """`client_id` when no other request has it, else a fresh id.

        The in-process claim is taken before the database is asked, so two concurrent requests with
        the same id cannot both win; the database catches ids stored by earlier runs or replicas.
        """
        if client_id in self._claimed:
            return new_request_id()
        self._claimed[client_id] = None
        if len(self._claimed) > self._capacity:
            self._claimed.popitem(last=False)
        if await asyncio.to_thread(self._stored, client_id):
            return new_request_id()
        return client_id
