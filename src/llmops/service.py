"""The composition root: build the whole system from `Settings`, run one triage, close it all.

The HTTP app, the CLI, the eval runner and the benchmarks all start here, so each part is wired once
and nothing below this module knows how the parts meet. `open_services` is the usual entry point:

    async with open_services(settings) as services:
        run = await run_triage(services, email, RunOptions(request_id=new_request_id()))

`run_triage` is the one place a triage runs inside its root span: budget reservation, prompt routing
(explicit version, canary share, production label), the pipeline, and the root span's attributes, which
the store exporter turns into the request row. Whoever calls it (the route, `llmops triage`, the eval
runner) gets the same trace, the same row and the same reply.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from llmops.alerts.engine import AlertEngine
from llmops.alerts.setup import build_alert_engine
from llmops.assistant.knowledge import KnowledgeBase
from llmops.assistant.pipeline import ASSISTANT_NAME, PROMPT_NAME, Gatekeeper, TriageOutcome
from llmops.assistant.schema import Email, Triage, TriageReply
from llmops.assistant.tools import Toolbox
from llmops.budgets.enforce import BudgetEnforcer
from llmops.budgets.models import parse_budgets
from llmops.budgets.store import BudgetStore, Subjects
from llmops.canary.compare import Guardrails
from llmops.canary.controller import CanaryController
from llmops.config import Settings
from llmops.evals.runner import CachedCall, EvalTarget
from llmops.gateway import Gateway, build_gateway, upstream_secrets
from llmops.ingest import IngestReceiver, build_receiver
from llmops.prompts.labels import LabelStore
from llmops.prompts.registry import PromptRegistry
from llmops.prompts.router import PromptRouter, Route
from llmops.providers.registry import build_chain
from llmops.providers.resilience import ProviderChain
from llmops.redaction import RedactionConfig, Redactor, secrets_from_settings
from llmops.storage.api_keys import ApiKeyStore
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from llmops.storage.request_rows import RequestIds, new_request_id, request_exists
from llmops.storage.retention import apply_retention
from llmops.storage.service_state import get_or_create
from llmops.telemetry import conventions as c
from llmops.telemetry.messages import text_message
from llmops.telemetry.request_writer import root_request_record, store_request
from llmops.telemetry.runtime import Telemetry
from llmops.telemetry.setup import TelemetrySetup, setup_telemetry

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

logger = logging.getLogger("llmops")
PSEUDONYM_KEY = "pseudonym_key"


@dataclass
class Services:
    """Everything with a lifetime: built by `build_services`, torn down by `close_services`."""

    settings: Settings
    engine: Engine
    keys: ApiKeyStore
    chain: ProviderChain
    prompts: PromptRegistry
    labels: LabelStore
    gatekeeper: Gatekeeper
    redactor: Redactor
    telemetry_setup: TelemetrySetup
    budgets: BudgetEnforcer
    alerts: AlertEngine
    router: PromptRouter
    canary: CanaryController
    request_ids: RequestIds
    ingest: IngestReceiver
    gateway: Gateway

    @property
    def telemetry(self) -> Telemetry:
        return self.telemetry_setup.telemetry


def services_of(connection: HTTPConnection) -> Services:
    """The `Services` the web app's lifespan built, from a request (routes and dashboard pages)."""
    services: Services = connection.app.state.services
    return services


def build_redactor(settings: Settings) -> Redactor:
    """The one redactor for every sink, masking the service's own secrets by exact value too."""
    configured = secrets_from_settings(settings)
    password = make_url(settings.resolved_database_url).password
    if password:
        configured.append(SecretStr(str(password)))
    configured.extend(upstream_secrets(settings))
    return Redactor(RedactionConfig(hmac_key=settings.redaction_hmac_key, secrets=configured))


async def build_services(settings: Settings, routes: set[str] | None = None) -> Services:
    """Connect the database, set up telemetry, load prompts, knowledge and tools, start every provider.

    `routes` are the HTTP route templates the request metric may name (none outside the server)."""
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
    budgets = BudgetEnforcer(budget_store, settings)
    gateway = build_gateway(settings, telemetry_setup.telemetry, budgets)
    knowledge = KnowledgeBase.bundled()
    prompts = PromptRegistry.from_directory()
    labels = LabelStore(engine, prompts)
    gatekeeper = Gatekeeper(
        chain=chain,
        prompts=prompts,
        toolbox=Toolbox.bundled(knowledge),
        knowledge=knowledge,
        max_output_tokens=settings.max_output_tokens,
        telemetry=telemetry_setup.telemetry,
    )
    return Services(
        settings=settings,
        engine=engine,
        keys=keys,
        chain=chain,
        prompts=prompts,
        labels=labels,
        gatekeeper=gatekeeper,
        redactor=redactor,
        telemetry_setup=telemetry_setup,
        budgets=budgets,
        alerts=build_alert_engine(settings, engine, redactor, budget_store),
        router=PromptRouter(
            labels, {PROMPT_NAME: settings.prompt_version}, ttl_s=settings.prompt_label_ttl_s
        ),
        canary=CanaryController(engine, labels, Guardrails.from_settings(settings), settings.prompt_version),
        request_ids=RequestIds(partial(request_exists, engine)),
        ingest=build_receiver(settings, engine, redactor, bytes.fromhex(pseudonym_key)),
        gateway=gateway,
    )


async def close_services(services: Services) -> None:
    """Stop providers, write queued ingest batches, flush and stop telemetry (pending spans reach the
    store), close the database."""
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


@dataclass(frozen=True)
class RunOptions:
    """Who asks for a triage and how. `route` is the HTTP route template (None in-process); `parent`
    is the caller's trace context; `prompt_version` overrides the router; `eval` stores the request
    outside live figures."""

    request_id: str
    user_id: str | None = None
    api_key_fingerprint: str | None = None
    client_request_id: str | None = None
    prompt_version: str | None = None
    route: str | None = None
    parent: Context | None = None
    eval: bool = False


@dataclass
class TriageRun:
    """One triage as served: the pipeline's outcome, the reply triage (redacted when configured)."""

    request_id: str
    outcome: TriageOutcome
    triage: Triage
    latency_ms: float
    trace_id: str | None = None

    def reply(self) -> TriageReply:
        outcome = self.outcome
        return TriageReply(
            request_id=self.request_id,
            triage=self.triage,
            prompt_version=outcome.prompt_version,
            model=outcome.model,
            provider=outcome.provider,
            usage=outcome.usage,
            latency_ms=round(self.latency_ms, 3),
            retries=outcome.retries,
            degraded=outcome.degraded,
            cost_usd=outcome.cost_usd,
        )


async def run_triage(services: Services, email: Email, options: RunOptions) -> TriageRun:
    """Triage one email inside its root span, within the caller's budgets.

    Raises `BudgetExceededError` before any work when a budget has no room, and `PromptNotFound` for
    an unknown explicit version; the pipeline itself never fails on a provider (it degrades). The
    reservation is sized from the prompt the model call will really be sent and its `max_tokens`."""
    started = time.perf_counter()
    user = services.telemetry.pseudonymise(options.user_id)
    subjects = Subjects(user=user, api_key=options.api_key_fingerprint)
    route = await services.router.route(PROMPT_NAME, user or options.request_id, options.prompt_version)
    plan = partial(services.gatekeeper.planned_call, email, route.version)  # only run under a budget
    async with services.budgets.hold(subjects, plan) as hold:
        run = await _run_in_root_span(services, email, options, user, started, route)
        usage = run.outcome.usage
        hold.record(usage.input_tokens + usage.output_tokens, run.outcome.cost_usd)
    return run


async def _run_in_root_span(
    services: Services, email: Email, options: RunOptions, user: str | None, started: float, route: Route
) -> TriageRun:
    telemetry = services.telemetry
    attributes = root_attributes(options, user)
    name = f"POST {options.route}" if options.route else c.IN_PROCESS_ROOT_SPAN
    kind = SpanKind.SERVER if options.route else SpanKind.INTERNAL
    with telemetry.tracer.start_as_current_span(
        name, context=options.parent, kind=kind, attributes=attributes
    ) as span:
        context = span.get_span_context()
        trace_id = format(context.trace_id, "032x") if context.is_valid else None
        span.set_attribute(c.CANARY, route.canary)
        try:
            with services.chain.deadline(services.settings.request_deadline_s):
                outcome = await services.gatekeeper.triage(email, route.version)
        except Exception as exc:
            span.set_attributes({c.STATUS: "error", c.ERROR_TYPE: type(exc).__name__})
            if options.route:
                span.set_attribute("http.response.status_code", 500)
            span.set_status(Status(StatusCode.ERROR))
            telemetry.instruments.record_error(error_type="internal_error")
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        if outcome.degraded:
            logger.warning(
                "degraded reply", extra={"reason": outcome.degraded_reason, "latency_ms": round(latency_ms)}
            )
        outcome_attrs = outcome_attributes(outcome, latency_ms)
        if options.route:
            outcome_attrs["http.response.status_code"] = 200
        span.set_attributes(outcome_attrs)
        # What the caller received (the model's triage or the rules' degraded one), under content capture.
        telemetry.content(
            span,
            c.GEN_AI_OUTPUT_MESSAGES,
            [text_message("assistant", outcome.triage.model_dump_json())],
        )
    request_id = await persist_request(services, span) or options.request_id
    triage = outcome.triage
    if services.settings.redact_replies:
        triage = redact_triage(services.redactor, triage)
    return TriageRun(request_id, outcome, triage, latency_ms, trace_id)


class RequestNotRecorded(Exception):
    """The request row could not be made durable, so the request must not be acknowledged."""


async def persist_request(services: Services, span: Span) -> str | None:
    """Write the request row of an ended root span before its reply, and return the id it is stored
    under (a fresh one when another request, on any replica, holds the span's id).

    Every producer of root spans calls this between ending the span and replying, so an acknowledged
    request survives a crash; spans still go through the batch exporter, which then skips this row.
    None when nothing is recorded (telemetry disabled or the span not sampled)."""
    if not isinstance(span, ReadableSpan):
        return None
    record = root_request_record(span, services.redactor)
    if record is None:
        return None
    try:
        return await asyncio.to_thread(store_request, services.engine, record)
    except Exception as exc:
        logger.error("storing a request row failed", extra={"error_type": type(exc).__name__})
        raise RequestNotRecorded from None


def root_attributes(options: RunOptions, user: str | None) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        c.ROOT_SPAN_MARKER: True,
        c.REQUEST_ID: options.request_id,
        c.GEN_AI_OPERATION_NAME: "invoke_agent",
        c.GEN_AI_AGENT_NAME: ASSISTANT_NAME,
        c.PROMPT_NAME: PROMPT_NAME,
    }
    if options.route:
        attributes["http.request.method"] = "POST"
        attributes["http.route"] = options.route
    if options.client_request_id is not None and options.client_request_id != options.request_id:
        attributes[c.CLIENT_REQUEST_ID] = options.client_request_id
    if options.eval:
        attributes[c.EVAL] = True
    if user:
        attributes[c.USER_ID] = user
    return attributes


def outcome_attributes(outcome: TriageOutcome, latency_ms: float) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        c.PROMPT_VERSION: outcome.prompt_version,
        c.GEN_AI_REQUEST_MODEL: outcome.model,
        c.GEN_AI_RESPONSE_MODEL: outcome.model,
        c.GEN_AI_PROVIDER_NAME: outcome.provider,
        c.STATUS: "degraded" if outcome.degraded else "ok",
        c.TOTAL_INPUT_TOKENS: outcome.usage.input_tokens,
        c.TOTAL_OUTPUT_TOKENS: outcome.usage.output_tokens,
        c.RETRY_COUNT: outcome.retries,
        c.DEGRADED: outcome.degraded,
        c.CATEGORY: outcome.triage.category.value,
        c.LATENCY_MS: latency_ms,
        c.MODEL_CALLS: outcome.model_calls,
    }
    if outcome.degraded_reason:
        attributes[c.DEGRADED_REASON] = outcome.degraded_reason
    if outcome.cost_usd is not None:
        attributes[c.COST_USD] = outcome.cost_usd
    if outcome.price_source is not None:
        attributes[c.PRICE_SOURCE] = outcome.price_source
    return attributes


def redact_triage(redactor: Redactor, triage: Triage) -> Triage:
    """Mask secrets and personal data the model may have copied from the email into its reply."""
    return triage.model_copy(
        update={
            "summary": redactor.redact(triage.summary),
            "action_items": [redactor.redact(item) for item in triage.action_items],
            "draft_reply": redactor.redact(triage.draft_reply),
        }
    )


class InProcessTarget(EvalTarget):
    """Eval cases run through `run_triage` on these services, each stored as an eval request."""

    name = "in-process"

    def __init__(self, services: Services, prompt_version: str) -> None:
        self.services = services
        self.prompt_version = prompt_version
        self.version = services.prompts.get(prompt_version)
        settings = services.settings
        self.provider = settings.provider
        self.model = settings.model_for(settings.provider)

    def identity(self) -> tuple[str, str, str]:
        return self.version.content_hash, self.provider or "", self.model or ""

    async def call(self, email: Email) -> CachedCall:
        options = RunOptions(request_id=new_request_id(), prompt_version=self.prompt_version, eval=True)
        run = await run_triage(self.services, email, options)
        outcome = run.outcome
        return CachedCall(
            triage=run.triage.model_dump(mode="json"),
            degraded=outcome.degraded,
            prompt_version=outcome.prompt_version,
            provider=outcome.provider,
            model=outcome.model,
            latency_ms=run.latency_ms,
            input_tokens=outcome.usage.input_tokens,
            output_tokens=outcome.usage.output_tokens,
            cost_usd=outcome.cost_usd,
            request_id=run.request_id,
            trace_id=run.trace_id,
        )
