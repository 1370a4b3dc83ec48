"""Report filters: one `Filters` object narrows every report figure, series and chart."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, Table


class Filters(BaseModel):
    """Narrow a report, the dashboard's figures and its charts; every field is optional and exact."""

    prompt_version: str | None = None
    model: str | None = None
    provider: str | None = None
    assistant: str | None = None


def filtered(query: Select[Any], table: Table, filters: Filters) -> Select[Any]:
    """Only rows of the filtered version, model, provider and assistant (every table read with it has them)."""
    for name, value in filters.model_dump(exclude_none=True).items():
        query = query.where(table.c[name] == value)
    return query
