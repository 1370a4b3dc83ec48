"""Point lookups on the requests table shared by the API's request-id claims and feedback."""

from __future__ import annotations

from sqlalchemy import Engine, select

from llmops.storage.tables import requests


def request_exists(engine: Engine, request_id: str) -> bool:
    with engine.connect() as connection:
        found = connection.execute(select(requests.c.id).where(requests.c.request_id == request_id)).first()
    return found is not None
