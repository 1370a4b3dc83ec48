"""The FastAPI app factory. Everything with a lifetime is built in the lifespan, per worker process."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

from fastapi import Depends, FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from llmops import __version__
from llmops.alerts import build_alert_engine, run_alert_loop
from llmops.api.auth import require_api_key
from llmops.api.errors import install_error_handlers
from llmops.api.middleware import BodyLimitMiddleware, RequestIdMiddleware, RequestMetricsMiddleware
from llmops.api.request_ids import RequestIds
from llmops.api.routes import feedback, health, metrics, triage
from llmops.api.state import Services
from llmops.assistant.knowledge import KnowledgeBase
from llmops.assistant.pipeline import Gatekeeper
from llmops.assistant.tools import Toolbox
from llmops.budgets.enforce import BudgetEnforcer
from llmops.budgets.models import parse_budgets
from llmops.budgets.store import BudgetStore
from llmops.canary.compare import Guardrails
from llmops.canary.controller import CanaryController, run_controller
from llmops.canary.routing import CanaryRouter
from llmops.config import Settings, load_settings
from llmops.dashboard import install as install_dashboard
from llmops.prompts.labels import LabelStore, PromptResolver
from llmops.prompts.registry import PromptRegistry
from llmops.providers.registry import build_chain
from llmops.redaction import RedactionConfig, Redactor, secrets_from_settings
from llmops.storage.api_keys import ApiKeyStore
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from llmops.storage.request_rows import request_exists
from llmops.storage.retention import apply_retention
from llmops.storage.service_state import get_or_create
from llmops.telemetry.logging import configure_logging
from llmops.telemetry.setup import setup_telemetry

logger = logging.getLogger("llmops")
PSEUDONYM_KEY = "pseudonym_key"


def build_redactor(settings: Settings) -> Redactor:
    """The one redactor for every sink, masking the service's own secrets by exact value too."""
    secrets = secrets_from_settings(settings)
    password = make_url(settings.resolved_database_url).password
    if password:
        secrets.append(SecretStr(str(password)))
    return Redactor(RedactionConfig(hmac_key=settings.redaction_hmac_key, secrets=secrets))


async def build_services(settings: Settings, routes: set[str] | None = None) -> Services:
    """Connect the database, set up telemetry, load prompts, knowledge and tools, start every provider."""
    redactor = build_redactor(settings)
    engine = make_engine(settings.resolved_database_url)
    await asyncio.to_thread(upgrade, engine)
    pseudonym_key = await asyncio.to_thread(
        get_or_create, engine, PSEUDONYM_KEY, lambda: secrets.token_hex(32)
    )
    telemetry_setup = setup_telemetry(
        settings, engine, redactor, bytes.fromhex(pseudonym_key), routes or set()
    )
    keys = ApiKeyStore(engine, [key.get_secret_value() for key in settings.api_keys])
    budget_store = BudgetStore(engine)
    await asyncio.to_thread(budget_store.set, parse_budgets(settings.budgets, settings.budget_soft_ratio))
    chain = build_chain(settings, telemetry_setup.telemetry)
    await chain.start()
    knowledge = KnowledgeBase.bundled()
    prompts = PromptRegistry.from_directory()
    labels = LabelStore(engine, prompts)
    resolver = PromptResolver(labels, settings.prompt_version, ttl_s=settings.prompt_label_ttl_s)
    gatekeeper = Gatekeeper(
        chain=chain,
        prompts=prompts,
        toolbox=Toolbox.bundled(knowledge),
        knowledge=knowledge,
        default_version=settings.prompt_version,
        max_output_tokens=settings.max_output_tokens,
        telemetry=telemetry_setup.telemetry,
        resolver=resolver,
    )
    return Services(
        settings=settings,
        engine=engine,
        keys=keys,
        chain=chain,
        gatekeeper=gatekeeper,
        redactor=redactor,
        telemetry_setup=telemetry_setup,
        budgets=BudgetEnforcer(budget_store, settings),
        alerts=build_alert_engine(settings, engine, redactor, budget_store),
        canary_router=CanaryRouter(labels, ttl_s=settings.prompt_label_ttl_s),
        canary=CanaryController(engine, labels, Guardrails.from_settings(settings), settings.prompt_version),
        request_ids=RequestIds(partial(request_exists, engine)),
    )


async def close_services(services: Services) -> None:
    await services.chain.aclose()
    await asyncio.to_thread(services.telemetry_setup.shutdown)
    services.engine.dispose()


async def run_retention(services: Services) -> None:
    """The periodic retention job: delete old traces in batches, off the event loop, forever."""
    settings = services.settings
    while True:
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=settings.retention_days)
        feedback_cutoff = now - timedelta(days=settings.feedback_retention_days)
        try:
            await asyncio.to_thread(
                apply_retention, services.engine, cutoff, feedback_older_than=feedback_cutoff
            )
        except Exception as exc:
            logger.error("retention run failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(settings.retention_interval_s)


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
        routes = set(app.openapi()["paths"])  # route templates: the only values `http.route` may take
        services = await build_services(settings, routes)
        log_handler = configure_logging(settings.log_level, services.redactor)
        new_key = await asyncio.to_thread(services.keys.ensure_initial_key)
        if new_key:
            print_new_key(new_key)
        app.state.services = services
        retention = asyncio.create_task(run_retention(services))
        canary = asyncio.create_task(run_controller(services.canary, settings.canary_interval_s))
        alerting = asyncio.create_task(run_alert_loop(services.alerts, settings.alert_interval_s))
        try:
            yield
        finally:
            retention.cancel()
            canary.cancel()
            alerting.cancel()
            await close_services(services)
            logging.getLogger().removeHandler(log_handler)

    app = FastAPI(
        title="llmops",
        version=__version__,
        summary="The Email Gatekeeper over HTTP, observable and safe to change.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(triage.router, dependencies=[Depends(require_api_key)])
    app.include_router(metrics.router, dependencies=[Depends(require_api_key)])
    app.include_router(feedback.router, dependencies=[Depends(require_api_key)])
    install_dashboard(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
