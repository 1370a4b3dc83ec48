"""The dashboard: server-rendered pages and the JSON query API behind them, mounted on the service app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from llmops.dashboard import annotate, api, routes
from llmops.dashboard.auth import LoginRequired

STATIC_DIR = Path(__file__).parent / "static"


async def _to_login(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse("/login?" + urlencode({"next": exc.next_path}), status_code=303)


def install(app: FastAPI) -> None:
    """Add the pages, the /api routes and /static to `app`."""
    app.include_router(routes.router)
    app.include_router(annotate.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, _to_login)


__all__ = ["install"]
