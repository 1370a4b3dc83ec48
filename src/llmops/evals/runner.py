"""Run a dataset through its assistant, in-process or over HTTP, and score every case.

The runner scores; a target reaches the system. In-process (`llmops.service.InProcessTarget`) each
case runs inside its own root span like a `POST /v1/assistants/{name}/runs`, so every case has a
request id and a trace in the store. Over HTTP (`HttpTarget`) the runner sends its own `X-Request-ID`
and a W3C `traceparent`; the server joins that trace, so the trace id is known without reading the
server's database. Over HTTP the server routes the prompt version as it would for live traffic (the
deployed labels are what is evaluated): the version it reports is recorded, with a warning when it is
not the one asked for.

Identical calls are cached on disk (`<data_dir>/eval-cache/<key>.json` for the CLI), keyed by the
prompt's content hash and the code version of the assistant (or, over HTTP, the target, version and
the code version the server reports in `GET /v1/assistants`), provider, model and the canonical input
JSON: after an upgrade or an edit of the assistant's code, no output of the old code is reused. The
cache holds outputs after redaction, as the service replies them; a cached case keeps the request and
trace ids of the call that produced it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import AliasChoices, BaseModel, Field, ValidationError

from llmops.evals.datasets import GATEKEEPER, Dataset, EvalCase
from llmops.evals.scorers import CaseOutput, CaseScore, Scorer, ScoreResult, ascore_case, scorers_for
from llmops.redaction import Redactor
from llmops.telemetry import conventions as c

logger = logging.getLogger("llmops.evals")

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

    def explanations(self) -> list[str]:
        """Why the case failed, a line per failed scorer (`category: expected spam, got fyi`), else its
        error; empty when it passed."""
        if self.passed:
            return []
        lines = [score.explanation() for score in self.scores if not score.passed]
        return lines or ([f"error: {self.error}"] if self.error else ["below the pass score"])


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
    unlabelled: list[str] = Field(
        default_factory=list, description="Ids of the dataset's `needs-label` cases, listed and not scored."
    )

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
            "unlabelled": self.unlabelled,
            "warnings": self.warnings,
        }


class CachedCall(BaseModel):
    """What one system call produced, as kept in the eval cache."""

    output: dict[str, Any] | None = Field(validation_alias=AliasChoices("output", "triage"))
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
    def key(version_key: str, provider: str, model: str, payload: dict[str, Any]) -> str:
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
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


class EvalTarget(ABC):
    """How one case reaches the system under test; each call returns what the service replied.

    The runner does not build the system: in-process targets come from the composition root
    (`llmops.service.InProcessTarget`), `HttpTarget` talks to a deployed service."""

    name: str
    prompt_version: str
    assistant: str = GATEKEEPER
    output_model: type[BaseModel] | None = None  # for the schema check; None: not checked
    provider: str | None = None
    model: str | None = None

    @abstractmethod
    def identity(self) -> tuple[str, str, str]:
        """(version key, provider, model) for the cache key; fixed for the whole run. The version key
        names the prompt's content and the code that runs it (`llmops.assistants.code_version`)."""

    @abstractmethod
    async def call(self, payload: dict[str, Any]) -> CachedCall:
        """Run one case's input (the assistant's input as JSON)."""


class _RunReply(BaseModel):
    """The part of a `POST /v1/assistants/{name}/runs` reply the runner reads."""

    request_id: str
    output: dict[str, Any]
    prompt_version: str
    model: str
    provider: str
    usage: dict[str, int]
    latency_ms: float
    degraded: bool
    cost_usd: float | None = None


class _AssistantInfo(BaseModel):
    name: str
    code_version: str | None = None


class _AssistantList(BaseModel):
    """The part of `GET /v1/assistants` the runner reads."""

    assistants: list[_AssistantInfo]


class HttpTarget(EvalTarget):
    """A deployed service at `url`; use it as an async context manager (it owns an HTTP client)."""

    def __init__(
        self,
        url: str,
        prompt_version: str,
        api_key: str | None = None,
        *,
        assistant: str = GATEKEEPER,
        output_model: type[BaseModel] | None = None,
    ) -> None:
        self.name = url
        self.prompt_version = prompt_version
        self.assistant = assistant
        self.output_model = output_model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=HTTP_TIMEOUT_S)

        self.code_version = f"unreported-{secrets.token_hex(8)}"  # until the server says: no reuse

    async def __aenter__(self) -> HttpTarget:
        """Read the code version the server runs the assistant with (`GET /v1/assistants`); a server
        that does not report one is never answered from the cache."""
        try:
            response = await self.client.get("/v1/assistants")
            listed = _AssistantList.model_validate_json(response.content) if response.is_success else None
        except (httpx.HTTPError, ValidationError):
            listed = None
        for info in listed.assistants if listed else []:
            if info.name == self.assistant and info.code_version:
                self.code_version = info.code_version
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()

    def identity(self) -> tuple[str, str, str]:
        return f"{self.name}|{self.prompt_version}|{self.code_version}", "http", ""

    async def call(self, payload: dict[str, Any]) -> CachedCall:
        request_id = uuid.uuid4().hex
        trace_id = secrets.token_hex(16)
        headers = {
            "X-Request-ID": request_id,
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            c.EVAL_HEADER: "1",
        }
        started = time.perf_counter()
        try:
            response = await self.client.post(
                f"/v1/assistants/{self.assistant}/runs", json={"input": payload}, headers=headers
            )
            latency_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                return CachedCall(
                    output=None,
                    error=f"HTTP {response.status_code}",
                    prompt_version=self.prompt_version,
                    latency_ms=latency_ms,
                    request_id=response.headers.get("x-request-id", request_id),
                    trace_id=trace_id,
                )
            reply = _RunReply.model_validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as exc:
            return CachedCall(
                output=None,
                error=_error_text(exc),
                prompt_version=self.prompt_version,
                latency_ms=(time.perf_counter() - started) * 1000,
                request_id=request_id,
                trace_id=trace_id,
            )
        self.provider, self.model = reply.provider, reply.model
        return CachedCall(
            output=reply.output,
            degraded=reply.degraded,
            prompt_version=reply.prompt_version,
            provider=reply.provider,
            model=reply.model,
            latency_ms=reply.latency_ms,
            input_tokens=reply.usage.get("input_tokens"),
            output_tokens=reply.usage.get("output_tokens"),
            cost_usd=reply.cost_usd,
            request_id=reply.request_id,
            trace_id=trace_id,
        )


async def _run_case(
    case: EvalCase,
    system: EvalTarget,
    *,
    cache: EvalCache | None,
    scorers: list[Scorer],
    redact: Callable[[object], object],
    semaphore: asyncio.Semaphore,
) -> tuple[CaseResult, CachedCall]:
    key = EvalCache.key(*system.identity(), case.payload)
    call = cache.get(key) if cache else None
    cached = call is not None
    if call is None:
        async with semaphore:
            try:
                call = await system.call(case.payload)
            except Exception as exc:
                call = CachedCall(output=None, error=_error_text(exc), prompt_version="")
        if cache and call.error is None:
            cache.put(key, call.model_copy(update={"output": redact(call.output)}))
    output = CaseOutput(
        output=call.output,
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
        output=call.output,
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


def _unlabelled_warning(ids: list[str], shown: int = 10) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return (
        f"{len(ids)} case(s) need a label and were not scored: {', '.join(ids[:shown])}{more} "
        "(label them with `llmops eval label`)"
    )


async def run_eval(
    dataset: Dataset,
    target: EvalTarget,
    *,
    redactor: Redactor,
    cache_dir: Path | None = None,
    concurrency: int = 4,
    judge: Scorer | None = None,
    progress: Progress | None = None,
) -> EvalRun:
    """Run every labelled case of `dataset` against `target` and score it; `needs-label` cases are
    listed in `unlabelled` and a warning. The run is not stored here (see
    `llmops.evals.store.save_run`). Outputs are cached under `cache_dir` when it is given."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if not dataset.scored:
        raise ValueError(
            f"every case of dataset {dataset.name!r} needs a label: label them with `llmops eval label`"
        )
    if dataset.assistant != target.assistant:
        raise ValueError(
            f"dataset {dataset.name!r} is for {dataset.assistant!r}, the target runs {target.assistant!r}"
        )
    cache = EvalCache(cache_dir) if cache_dir is not None else None
    prompt_version = target.prompt_version
    run = EvalRun(
        id=uuid.uuid4().hex,
        dataset=dataset.name,
        dataset_hash=dataset.hash,
        prompt_version=prompt_version,
        target=target.name,
        provider=target.provider,
        model=target.model,
        started_at=datetime.now(UTC),
        unlabelled=[case.id for case in dataset.unlabelled],
    )
    if run.unlabelled:
        run.warnings.append(_unlabelled_warning(run.unlabelled))
    semaphore = asyncio.Semaphore(concurrency)

    async def one(case: EvalCase) -> tuple[CaseResult, CachedCall]:
        outcome = await _run_case(
            case,
            target,
            cache=cache,
            scorers=scorers_for(case, judge, target.output_model),
            redact=redactor.redact_value,
            semaphore=semaphore,
        )
        if progress is not None:
            progress(outcome[0])
        return outcome

    outcomes = await asyncio.gather(*(one(case) for case in dataset.scored))
    run.results = [result for result, _ in outcomes]
    reported = {call.prompt_version for _, call in outcomes if call.error is None}
    if isinstance(target, HttpTarget) and reported - {prompt_version}:
        run.warnings.append(
            f"the server answered with prompt version(s) {', '.join(sorted(reported))}, "
            f"not {prompt_version}: over HTTP the server routes the version as for live traffic"
        )
        if len(reported) == 1:
            run.prompt_version = reported.pop()
    run.provider = run.provider or next((call.provider for _, call in outcomes if call.provider), None)
    run.model = run.model or next((call.model for _, call in outcomes if call.model), None)
    run.finished_at = datetime.now(UTC)
    return run
