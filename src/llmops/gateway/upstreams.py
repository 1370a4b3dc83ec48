"""The gateway's upstreams and model aliases, from `LLMOPS_GATEWAY_UPSTREAMS` (a YAML/JSON file or inline JSON).

    upstreams:
      - name: vllm                      # the gen_ai.provider.name of calls to it
        base_url: http://10.0.0.5:8000/v1
        api_key_secret: vllm_key        # a file in the secrets directory (or api_key_env: VLLM_KEY)
    models:
      - alias: llama                    # what clients send as `model`
        upstream: vllm
        model: meta-llama/Llama-3.1-8B-Instruct    # the upstream's model id (default: the alias)
        price: {input_per_mtok: 0.1, output_per_mtok: 0.2}   # self-hosted: priced by configuration
        fallbacks: [gpt-4o-mini]        # other aliases, tried in order when this one fails
        canary: {alias: llama-next, share: 0.1}   # a sticky share of users goes to another alias
    passthrough: openai                 # optional: unknown model names go to this upstream unchanged

Empty, the gateway has one upstream, `openai` (`OPENAI_BASE_URL`, `OPENAI_API_KEY`), the alias
`LLMOPS_OPENAI_MODEL`, and passes any other model name through to it. An upstream named `openai`
without a key of its own uses `OPENAI_API_KEY`. Upstream keys stay on the server: they are sent only to
their upstream and masked by exact value by the redactor (`upstream_secrets`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from llmops.config import DEFAULT_SECRETS_DIR, Settings
from llmops.telemetry.cost import LocalPrices

DEFAULT_UPSTREAM = "openai"


class GatewayConfigError(ValueError):
    """The gateway configuration cannot be read or does not hold together; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamConfig(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    base_url: str = Field(min_length=1)
    api_key_secret: str | None = Field(None, description="File name in the secrets directory.")
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    timeout_s: float = Field(60.0, gt=0)


class CanaryConfig(_Strict):
    alias: str
    share: float = Field(ge=0, le=1)


class ModelConfig(_Strict):
    alias: str = Field(min_length=1, max_length=256)
    upstream: str
    model: str | None = None
    price: LocalPrices | None = None
    fallbacks: list[str] = Field(default_factory=list)
    canary: CanaryConfig | None = None


class GatewayConfig(_Strict):
    upstreams: list[UpstreamConfig] = Field(min_length=1)
    models: list[ModelConfig] = Field(default_factory=list)
    passthrough: str | None = None

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        names = [upstream.name for upstream in self.upstreams]
        if len(set(names)) != len(names):
            raise ValueError("upstream names must be unique")
        aliases = [model.alias for model in self.models]
        if len(set(aliases)) != len(aliases):
            raise ValueError("model aliases must be unique")
        for model in self.models:
            if model.upstream not in names:
                raise ValueError(f"model {model.alias!r} names an unknown upstream {model.upstream!r}")
            for other in [*model.fallbacks, *([model.canary.alias] if model.canary else [])]:
                if other not in aliases or other == model.alias:
                    raise ValueError(f"model {model.alias!r} refers to {other!r}, which is not another alias")
        if self.passthrough is not None and self.passthrough not in names:
            raise ValueError(f"passthrough names an unknown upstream {self.passthrough!r}")
        return self


@dataclass(frozen=True, slots=True)
class Upstream:
    """An OpenAI-compatible endpoint and the key llmops (never the client) sends to it."""

    name: str
    base_url: str
    api_key: SecretStr | None
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Target:
    """One model on one upstream: where a request for an alias actually goes."""

    upstream: Upstream
    model: str
    price: LocalPrices | None = None


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """An alias: its target, the fallback targets in order, and an optional canary (another alias and
    the share of users it serves)."""

    alias: str
    target: Target
    fallbacks: tuple[Target, ...] = ()
    canary: tuple[str, float] | None = None


class Routes:
    """Resolves the `model` a client sent to the targets to try, in order."""

    def __init__(
        self, upstreams: dict[str, Upstream], models: dict[str, ModelRoute], passthrough: str | None
    ):
        self.upstreams = upstreams
        self.models = models
        self.passthrough = upstreams[passthrough] if passthrough else None

    def resolve(self, model: str) -> ModelRoute | None:
        route = self.models.get(model)
        if route is None and self.passthrough is not None:
            return ModelRoute(model, Target(self.passthrough, model))
        return route


def parse_config(raw: str) -> GatewayConfig:
    """Inline JSON (starts with `{`), else a path to a YAML or JSON file."""
    text = raw.strip()
    where = "LLMOPS_GATEWAY_UPSTREAMS"
    if not text.startswith("{"):
        path = Path(text)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise GatewayConfigError(
                f"gateway upstreams file {where} cannot be read ({exc.strerror})"
            ) from None
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        raise GatewayConfigError(f"gateway upstreams in {where} are not valid JSON or YAML") from None
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'config'}: {error['msg']}" for error in exc.errors()
        )
        raise GatewayConfigError(f"gateway upstreams in {where} are invalid: {problems}") from None


def default_config(settings: Settings) -> GatewayConfig:
    """The configured OpenAI-compatible endpoint; every model name passes through to it, and the
    configured openai model (if any) is listed by `/v1/models`."""
    model = settings.model_for("openai")
    return GatewayConfig(
        upstreams=[
            UpstreamConfig.model_validate({"name": DEFAULT_UPSTREAM, "base_url": settings.openai_base_url})
        ],
        models=[ModelConfig(alias=model, upstream=DEFAULT_UPSTREAM)] if model else [],
        passthrough=DEFAULT_UPSTREAM,
    )


def load_config(settings: Settings) -> GatewayConfig:
    return (
        parse_config(settings.gateway_upstreams)
        if settings.gateway_upstreams.strip()
        else default_config(settings)
    )


def _secrets_dir() -> Path:
    configured = os.environ.get("LLMOPS_SECRETS_DIR")
    return Path(configured) if configured else DEFAULT_SECRETS_DIR


def _api_key(upstream: UpstreamConfig, settings: Settings) -> SecretStr | None:
    if upstream.api_key_secret:
        path = _secrets_dir() / upstream.api_key_secret
        if path.name != upstream.api_key_secret:
            raise GatewayConfigError(f"upstream {upstream.name!r}: api_key_secret must be a file name")
        try:
            return SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError:
            raise GatewayConfigError(
                f"upstream {upstream.name!r}: secret file {upstream.api_key_secret!r} is not in the "
                "secrets directory (LLMOPS_SECRETS_DIR)"
            ) from None
    if upstream.api_key_env:
        value = os.environ.get(upstream.api_key_env)
        if not value:
            raise GatewayConfigError(f"upstream {upstream.name!r}: {upstream.api_key_env} is not set")
        return SecretStr(value)
    if upstream.name == DEFAULT_UPSTREAM:
        return settings.openai_api_key
    return None


def build_routes(settings: Settings, config: GatewayConfig | None = None) -> Routes:
    """Resolve keys and aliases once, at startup; raises `GatewayConfigError` naming what is wrong."""
    config = config or load_config(settings)
    upstreams = {
        u.name: Upstream(u.name, u.base_url.rstrip("/"), _api_key(u, settings), u.timeout_s)
        for u in config.upstreams
    }
    targets = {m.alias: Target(upstreams[m.upstream], m.model or m.alias, m.price) for m in config.models}
    models = {
        m.alias: ModelRoute(
            m.alias,
            targets[m.alias],
            tuple(targets[name] for name in m.fallbacks),
            (m.canary.alias, m.canary.share) if m.canary else None,
        )
        for m in config.models
    }
    return Routes(upstreams, models, config.passthrough)


def upstream_secrets(settings: Settings) -> list[SecretStr]:
    """Every upstream key, for the redactor to mask by exact value wherever one might surface."""
    routes = build_routes(settings)
    return [u.api_key for u in routes.upstreams.values() if u.api_key and u.api_key.get_secret_value()]
