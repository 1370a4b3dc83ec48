"""The system's lifetime: build every part from `Settings` once, and close it all."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from llmops.alerts.engine import AlertEngine
from llmops.alerts.setup import build_alert_engine
from llmops.assistants import LoadedAssistant, default_versions, load_assistants, prompt_registry
from llmops.budgets.enforce import BudgetEnforcer
from llmops.budgets.models import parse_budgets
from llmops.budgets.store import BudgetStore
from llmops.canary.compare import Guardrails
from llmops.canary.controller import CanaryController
from llmops.config import Settings
from llmops.gateway import Gateway, build_gateway, upstream_secrets
from llmops.ingest import IngestReceiver, build_receiver
from llmops.ingest.metrics import observe_refusals
from llmops.prompts.labels import LabelStore
from llmops.prompts.registry import PromptRegistry
from llmops.prompts.router import PromptRouter
from llmops.providers.registry import build_chain
from llmops.providers.resilience import ProviderChain
from llmops.redaction import RedactionConfig, Redactor, secrets_from_settings
from llmops.redaction.remembering import RememberingRedactor
from llmops.sdk import Assistant
from llmops.storage.api_keys import ApiKeyStore
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from llmops.storage.request_rows import RequestIds, request_exists
from llmops.storage.retention import apply_retention
from llmops.storage.service_state import get_or_create
from llmops.storage.tables import DEFAULT_ASSISTANT
from llmops.telemetry.metrics import METER_NAME
from llmops.telemetry.runtime import Telemetry
from llmops.telemetry.setup import TelemetrySetup, setup_telemetry

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

from llmops.service.recording import RowWriter

logger = logging.getLogger("llmops")
PSEUDONYM_KEY = "pseudonym_key"
GATEKEEPER = DEFAULT_ASSISTANT  # the Email Gatekeeper, whose route is `POST /v1/triage`
# Why a reply may be degraded (the SDK's conventions); their counters exist at 0 from the start.
DEGRADED_REASONS = ("providers_failed", "invalid_output")
AnyAssistant = Assistant[Any, Any]


class AssistantNotFound(LookupError):
    """No loaded assistant has that name."""


@dataclass
class Services:
    """Everything with a lifetime: built by `build_services`, torn down by `close_services`."""

    settings: Settings
    engine: Engine
    keys: ApiKeyStore
    chain: ProviderChain
    prompts: PromptRegistry
    labels: LabelStore
    assistants: dict[str, AnyAssistant]
    redactor: Redactor
    telemetry_setup: TelemetrySetup
    budgets: BudgetEnforcer
    alerts: AlertEngine
    router: PromptRouter
    canaries: dict[str, CanaryController]  # one per loaded assistant's prompt and per model canary
    request_ids: RequestIds
    ingest: IngestReceiver
    gateway: Gateway
    rows: RowWriter  # request rows before their replies, in group commits (every route that runs a model)

    @property
    def telemetry(self) -> Telemetry:
        return self.telemetry_setup.telemetry

    def assistant(self, name: str) -> AnyAssistant:
        try:
            return self.assistants[name]
        except KeyError:
            raise AssistantNotFound(f"no assistant named {name!r} is loaded") from None


def services_of(connection: HTTPConnection) -> Services:
    """The `Services` the web app's lifespan built, from a request (routes and dashboard pages)."""
    services: Services = connection.app.state.services
    return services


def build_redactor(settings: Settings) -> Redactor:
    """The one redactor for every sink, masking the service's own secrets by exact value too; it
    remembers what it redacted (request rows, access lines and replies repeat most of their strings)."""
    configured = secrets_from_settings(settings)
    password = make_url(settings.resolved_database_url).password
    if password:
        configured.append(SecretStr(str(password)))
    configured.extend(upstream_secrets(settings))
    return RememberingRedactor(RedactionConfig(hmac_key=settings.redaction_hmac_key, secrets=configured))


async def build_services(
    settings: Settings,
    routes: set[str] | None = None,
    assistants: dict[str, LoadedAssistant] | None = None,
) -> Services:
    """Connect the database, set up telemetry, load the assistants and their prompts, start every
    provider and assistant.

    `routes` are the HTTP route templates the request metric may name (none outside the server);
    `assistants` are the ones the app registered routes for (default: `load_assistants(settings)`)."""
    if assistants is None:
        assistants = load_assistants(settings)
    loaded = {name: item.assistant for name, item in assistants.items()}
    prompts = prompt_registry(loaded.values())
    defaults = default_versions(loaded.values(), prompts, settings)
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
    telemetry_setup.telemetry.instruments.prime(degraded=DEGRADED_REASONS)
    budgets = BudgetEnforcer(budget_store, settings)
    rows = RowWriter(engine, redactor)
    gateway = build_gateway(settings, telemetry_setup.telemetry, budgets, persist=rows.store, engine=engine)
    model_canaries = gateway.canaries.labels if gateway.canaries is not None else {}
    if gateway.canaries is not None:
        await asyncio.to_thread(gateway.canaries.seed)
    for assistant in loaded.values():
        await assistant.start()
    labels = LabelStore(engine, prompts)
    guardrails = Guardrails.from_settings(settings)
    ingest = build_receiver(settings, engine, redactor, bytes.fromhex(pseudonym_key))
    if telemetry_setup.meter_provider is not None:
        observe_refusals(telemetry_setup.meter_provider.get_meter(METER_NAME), ingest)
    return Services(
        settings=settings,
        engine=engine,
        keys=keys,
        chain=chain,
        prompts=prompts,
        labels=labels,
        assistants=loaded,
        redactor=redactor,
        telemetry_setup=telemetry_setup,
        budgets=budgets,
        alerts=build_alert_engine(settings, engine, redactor, budget_store),
        router=PromptRouter(labels, defaults, ttl_s=settings.prompt_label_ttl_s),
        canaries={
            **{
                prompt: CanaryController(engine, labels, guardrails, version, prompt_name=prompt)
                for prompt, version in defaults.items()
            },
            **{
                store.subject: CanaryController(engine, store, guardrails, alias, prompt_name=store.subject)
                for alias, store in model_canaries.items()
            },
        },
        request_ids=RequestIds(partial(request_exists, engine)),
        ingest=ingest,
        gateway=gateway,
        rows=rows,
    )


async def close_services(services: Services) -> None:
    """Stop assistants, providers and the gateway, write queued ingest batches, flush and stop
    telemetry (pending spans reach the store), close the database."""
    for assistant in services.assistants.values():
        await assistant.aclose()
    await services.chain.aclose()
    await asyncio.to_thread(services.ingest.close)
    await services.gateway.aclose()
    await asyncio.to_thread(services.telemetry_setup.shutdown)
    services.engine.dispose()


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    services = await build_services(settings)
    try:
        yield services
    finally:
        await close_services(services)


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


def announce_new_key(key: str) -> None:
    """Show a generated key once, on stderr, and never again (only its hash is stored)."""
    sys.stderr.write(
        "\nNo API key was configured, so one was generated. It is shown only this once:\n\n"
        f"    {key}\n\nSend it as 'Authorization: Bearer <key>'. Set LLMOPS_API_KEYS to use your own.\n\n"
    )
    sys.stderr.flush()
