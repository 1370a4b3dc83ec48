"""The FastAPI app factory. Everything with a lifetime is built in the lifespan, per worker process."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from llmops import __version__
from llmops.api.auth import require_api_key
from llmops.api.errors import install_error_handlers
from llmops.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from llmops.api.routes import health, triage
from llmops.api.state import Services
from llmops.assistant.knowledge import KnowledgeBase
from llmops.assistant.pipeline import Gatekeeper
from llmops.assistant.tools import Toolbox
from llmops.config import Settings, load_settings
from llmops.prompts.registry import PromptRegistry
from llmops.providers.registry import build_chain
from llmops.storage.api_keys import ApiKeyStore
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade

logger = logging.getLogger("llmops")


async def build_services(settings: Settings) -> Services:
    """Connect the database, load the prompts, knowledge and tools, and start every provider."""
    engine = make_engine(settings.resolved_database_url)
    await asyncio.to_thread(upgrade, engine)
    keys = ApiKeyStore(engine, [key.get_secret_value() for key in settings.api_keys])
    chain = build_chain(settings)
    await chain.start()
    knowledge = KnowledgeBase.bundled()
    gatekeeper = Gatekeeper(
        chain=chain,
        prompts=PromptRegistry.from_directory(),
        toolbox=Toolbox.bundled(knowledge),
        knowledge=knowledge,
        default_version=settings.prompt_version,
        max_output_tokens=settings.max_output_tokens,
    )
    return Services(settings=settings, engine=engine, keys=keys, chain=chain, gatekeeper=gatekeeper)


async def close_services(services: Services) -> None:
    await services.chain.aclose()
    services.engine.dispose()


def print_new_key(key: str) -> None:
    """Show a generated key once, on stderr, and never again (only its hash is stored)."""
    sys.stderr.write(
        "\nNo API key was configured, so one was generated. It is shown only this once:\n\n"
        f"    {key}\n\nSend it as 'Authorization: Bearer <key>'. Set LLMOPS_API_KEYS to use your own.\n\n"
    )
    sys.stderr.flush()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        new_key = await asyncio.to_thread(services.keys.ensure_initial_key)
        if new_key:
            print_new_key(new_key)
        app.state.services = services
        try:
            yield
        finally:
            await close_services(services)

    app = FastAPI(
        title="llmops",
        version=__version__,
        summary="The Email Gatekeeper over HTTP, observable and safe to change.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(triage.router, dependencies=[Depends(require_api_key)])
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
