"""Run a dataset through the Email Gatekeeper, in-process or over HTTP, and score every case.

In-process, the services are built once and each case runs inside its own root span (like a
`POST /v1/triage`), so every case has a request id and a trace in the store. Over HTTP, the runner
sends its own `X-Request-ID` and a W3C `traceparent`; the server joins that trace, so the trace id is
known without reading the server's database. The HTTP API has no per-request prompt version: the
version the server reports is recorded, with a warning when it is not the one asked for.

Identical calls are cached on disk (`<data_dir>/eval-cache/<key>.json`), keyed by the prompt's content
hash (or, over HTTP, the target and version), provider, model and the canonical email JSON. The cache
holds outputs after redaction, as the service replies them; a cached case keeps the request and trace
ids of the call that produced it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from llmops.assistant.schema import EVAL_HEADER, Email, TriageReply
from llmops.config import Settings
from llmops.evals.datasets import Dataset, EvalCase
from llmops.evals.scorers import CaseOutput, CaseScore, Scorer, ScoreResult, ascore_case, scorers_for

if TYPE_CHECKING:
    from llmops.api.state import Services

logger = logging.getLogger("llmops.evals")

IN_PROCESS = "in-process"
CACHE_DIR = "eval-cache"
HTTP_TIMEOUT_S = 300.0

Progress = Callable[["CaseResult"], None]


class CaseResult(BaseModel):
    """One case of a run: the (redacted) output, its scores and where to find its trace."""

    case_id: str
    passed: bool
    score: float
    critical: bool = False
    scores: list[ScoreResult] = Field(default_factory=list)
    output: dict[str, Any] | None = None
    error: str | None = None
    degraded: bool = False
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    request_id: str | None = None
    trace_id: str | None = None
    prompt_version: str | None = Field(None, description="The version that answered, as reported.")
    cached: bool = False


class EvalRun(BaseModel):
    id: str
    dataset: str
    dataset_hash: str
    prompt_version: str
    target: str
    provider: str | None = None
    model: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "completed"
    warnings: list[str] = Field(default_factory=list)
    results: list[CaseResult] = Field(default_factory=list)

    @property
    def cases(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    def summary(self) -> dict[str, Any]:
        """The run's headline numbers (stored as `eval_runs.summary` and printed by the CLI)."""
        results = self.results
        latencies = [r.latency_ms for r in results if r.latency_ms is not None]
        costs = [r.cost_usd for r in results if r.cost_usd is not None]
        return {
            "cases": self.cases,
            "passed": self.passed,
            "pass_rate": self.passed / self.cases if results else 0.0,
            "mean_score": sum(r.score for r in results) / len(results) if results else 0.0,
            "mean_latency_ms": sum(latencies) / len(latencies) if latencies else None,
            "input_tokens": sum(r.input_tokens or 0 for r in results),
            "output_tokens": sum(r.output_tokens or 0 for r in results),
            "cost_usd": sum(costs) if costs else None,
            "errors": sum(r.error is not None for r in results),
            "degraded": sum(r.degraded for r in results),
            "cached": sum(r.cached for r in results),
            "warnings": self.warnings,
        }


class CachedCall(BaseModel):
    """What one system call produced, as kept in the eval cache."""

    triage: dict[str, Any] | None
    error: str | None = None
    degraded: bool = False
    prompt_version: str
    provider: str | None = None
    model: str | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    request_id: str | None = None
    trace_id: str | None = None


class EvalCache:
    """Outputs of identical calls, one JSON file per key; unreadable entries are treated as misses."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(version_key: str, provider: str, model: str, email: Email) -> str:
        canonical = json.dumps(email.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        material = "\x1f".join((version_key, provider, model, canonical))
        return hashlib.sha256(material.encode()).hexdigest()

    def get(self, key: str) -> CachedCall | None:
        path = self.directory / f"{key}.json"
        try:
            return CachedCall.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None

    def put(self, key: str, call: CachedCall) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{key}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(call.model_dump_json(), encoding="utf-8")
        tmp.replace(self.directory / f"{key}.json")


def _error_text(exc: BaseException) -> str:
    """An error's type only: messages may quote a reply or an email."""
    return type(exc).__name__


class _System:
    """How one case reaches the system under test; each call returns what the service replied."""

    provider: str | None = None
    model: str | None = None

    def identity(self) -> tuple[str, str, str]:
        """(version key, provider, model) for the cache key; fixed for the whole run."""
        raise NotImplementedError

    async def call(self, email: Email) -> CachedCall:
        raise NotImplementedError


class _InProcess(_System):
    def __init__(self, services: Services, prompt_version: str) -> None:
        self.services = services
        self.prompt_version = prompt_version
        self.version = services.gatekeeper.prompts.get(prompt_version)
        settings = services.settings
        self.provider = settings.provider
        self.model = settings.model_for(settings.provider)

    def identity(self) -> tuple[str, str, str]:
        return self.version.content_hash, self.provider or "", self.model or ""

    async def call(self, email: Email) -> CachedCall:
        from opentelemetry.trace import SpanKind

        from llmops.api.routes.triage import outcome_attributes, redact_triage
        from llmops.telemetry import conventions as c

        services = self.services
        telemetry = services.telemetry
        request_id = uuid.uuid4().hex
        attributes: dict[str, Any] = {
            c.ROOT_SPAN_MARKER: True,
            c.REQUEST_ID: request_id,
            c.PROMPT_NAME: self.version.name,
            c.EVAL: True,
        }
        started = time.perf_counter()
        with telemetry.tracer.start_as_current_span(
            "eval_case", kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            context = span.get_span_context()
            trace_id = format(context.trace_id, "032x") if context.is_valid else None
            outcome = await services.gatekeeper.triage(email, self.prompt_version)
            latency_ms = (time.perf_counter() - started) * 1000
            span.set_attributes(outcome_attributes(outcome, latency_ms))
        triage = outcome.triage
        if services.settings.redact_replies:
            triage = redact_triage(services.redactor, triage)
        return CachedCall(
            triage=triage.model_dump(mode="json"),
            degraded=outcome.degraded,
            prompt_version=outcome.prompt_version,
            provider=outcome.provider,
            model=outcome.model,
            latency_ms=latency_ms,
            input_tokens=outcome.usage.input_tokens,
            output_tokens=outcome.usage.output_tokens,
            cost_usd=outcome.cost_usd,
            request_id=request_id,
            trace_id=trace_id,
        )


class _OverHttp(_System):
    def __init__(self, client: httpx.AsyncClient, target: str, prompt_version: str) -> None:
        self.client = client
        self.target = target
        self.prompt_version = prompt_version

    def identity(self) -> tuple[str, str, str]:
        return f"{self.target}|{self.prompt_version}", "http", ""

    async def call(self, email: Email) -> CachedCall:
        request_id = uuid.uuid4().hex
        trace_id = secrets.token_hex(16)
        headers = {
            "X-Request-ID": request_id,
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            EVAL_HEADER: "1",
        }
        started = time.perf_counter()
        try:
            response = await self.client.post(
                "/v1/triage", json={"email": email.model_dump(mode="json")}, headers=headers
            )
            latency_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                return CachedCall(
                    triage=None,
                    error=f"HTTP {response.status_code}",
                    prompt_version=self.prompt_version,
                    latency_ms=latency_ms,
                    request_id=response.headers.get("x-request-id", request_id),
                    trace_id=trace_id,
                )
            reply = TriageReply.model_validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as exc:
            return CachedCall(
                triage=None,
                error=_error_text(exc),
                prompt_version=self.prompt_version,
                latency_ms=(time.perf_counter() - started) * 1000,
                request_id=request_id,
                trace_id=trace_id,
            )
        self.provider, self.model = reply.provider, reply.model
        cost = response.json().get("cost_usd")
        return CachedCall(
            triage=reply.triage.model_dump(mode="json"),
            degraded=reply.degraded,
            prompt_version=reply.prompt_version,
            provider=reply.provider,
            model=reply.model,
            latency_ms=reply.latency_ms,
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            request_id=reply.request_id,
            trace_id=trace_id,
        )


async def _run_case(
    case: EvalCase,
    system: _System,
    *,
    cache: EvalCache | None,
    scorers: list[Scorer],
    redact: Callable[[object], object],
    semaphore: asyncio.Semaphore,
) -> tuple[CaseResult, CachedCall]:
    key = EvalCache.key(*system.identity(), case.email)
    call = cache.get(key) if cache else None
    cached = call is not None
    if call is None:
        async with semaphore:
            try:
                call = await system.call(case.email)
            except Exception as exc:
                call = CachedCall(triage=None, error=_error_text(exc), prompt_version="")
        if cache and call.error is None:
            cache.put(key, call.model_copy(update={"triage": redact(call.triage)}))
    output = CaseOutput(
        triage=call.triage,
        latency_ms=call.latency_ms,
        cost_usd=call.cost_usd,
        error=call.error,
        degraded=call.degraded,
    )
    score: CaseScore = await ascore_case(case, output, scorers)
    result = CaseResult(
        case_id=case.id,
        passed=score.passed,
        score=score.score,
        critical=case.critical,
        scores=score.results,
        output=call.triage,
        error=call.error,
        degraded=call.degraded,
        latency_ms=call.latency_ms,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cost_usd=call.cost_usd,
        request_id=call.request_id,
        trace_id=call.trace_id,
        prompt_version=call.prompt_version or None,
        cached=cached,
    )
    return result, call


async def run_eval(
    dataset: Dataset,
    prompt_version: str,
    *,
    settings: Settings,
    target: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    judge: Scorer | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    services: Services | None = None,
) -> EvalRun:
    """Run every case of `dataset` against `prompt_version` and score it; the run is not stored here
    (see `llmops.evals.store.save_run`). Pass `services` to reuse already-built in-process services."""
    from llmops.api.app import build_redactor, build_services, close_services

    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    redactor = build_redactor(settings)
    cache = EvalCache(settings.data_dir / CACHE_DIR) if use_cache else None
    run = EvalRun(
        id=uuid.uuid4().hex,
        dataset=dataset.name,
        dataset_hash=dataset.hash,
        prompt_version=prompt_version,
        target=target or IN_PROCESS,
        started_at=datetime.now(UTC),
    )
    semaphore = asyncio.Semaphore(concurrency)
    owned: Services | None = None
    client: httpx.AsyncClient | None = None
    system: _System
    if target is None:
        if services is None:
            services = owned = await build_services(settings)
        system = _InProcess(services, prompt_version)
    else:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = httpx.AsyncClient(base_url=target.rstrip("/"), headers=headers, timeout=HTTP_TIMEOUT_S)
        system = _OverHttp(client, target, prompt_version)
    run.provider, run.model = system.provider, system.model

    async def one(case: EvalCase) -> tuple[CaseResult, CachedCall]:
        outcome = await _run_case(
            case,
            system,
            cache=cache,
            scorers=scorers_for(case, judge),
            redact=redactor.redact_value,
            semaphore=semaphore,
        )
        if progress is not None:
            progress(outcome[0])
        return outcome

    try:
        outcomes = await asyncio.gather(*(one(case) for case in dataset.cases))
    finally:
        if client is not None:
            await client.aclose()
        if services is not None:
            await asyncio.to_thread(services.telemetry_setup.force_flush)
        if owned is not None:
            await close_services(owned)
    run.results = [result for result, _ in outcomes]
    reported = {call.prompt_version for _, call in outcomes if call.error is None}
    if target is not None and reported - {prompt_version}:
        run.warnings.append(
            f"the server answered with prompt version(s) {', '.join(sorted(reported))}, "
            f"not {prompt_version}: the HTTP API has no per-request version override"
        )
        if len(reported) == 1:
            run.prompt_version = reported.pop()
    run.provider = run.provider or next((call.provider for _, call in outcomes if call.provider), None)
    run.model = run.model or next((call.model for _, call in outcomes if call.model), None)
    run.finished_at = datetime.now(UTC)
    return run
