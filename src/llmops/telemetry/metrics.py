"""The service's metric instruments, behind one typed method per thing it records.

Callers never hand attributes to an instrument directly: each method takes typed arguments and builds
the attributes itself from fixed sets or guarded values, so a label can never carry a user id, an email
address or a request id. Anything outside a known set, or not matching a conservative pattern, is
recorded as `other` (see `guard_label`).

Each app builds its own `MeterProvider` (`build_meter_provider`); nothing here touches the global one.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from functools import partial

from opentelemetry.metrics import CallbackOptions, Meter, NoOpMeter, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue

from llmops import __version__
from llmops.telemetry import conventions as c

METER_NAME = "llmops"

TOKEN_USAGE = "gen_ai.client.token.usage"  # noqa: S105 (a metric name, not a secret)
OPERATION_DURATION = "gen_ai.client.operation.duration"
REQUESTS = "llmops.requests"
REQUEST_DURATION = "llmops.request.duration"
ERRORS = "llmops.errors"
RETRIES = "llmops.retries"
DEGRADED = "llmops.degraded"
COST = "llmops.cost"
TOOL_DURATION = "llmops.tool.duration"
STEP_DURATION = "llmops.step.duration"
SPANS_DROPPED = "llmops.spans.dropped"

HTTP_ROUTE = "http.route"
HTTP_STATUS_CODE = "http.response.status_code"

# Advisory bucket boundaries from the GenAI semantic conventions:
# tokens 1, 4, 16 … 67108864 (4^0 … 4^13); seconds 0.01, 0.02, 0.04 … 81.92 (0.01 × 2^0 … 2^13).
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))
DURATION_BUCKETS: tuple[float, ...] = tuple(0.01 * 2**i for i in range(14))

OTHER = "other"
LABEL_SETS = 1024  # attribute sets remembered per `Instruments` (the label space is small by design)
TOTALS = 2000  # attribute sets a `Totals` counts apart (the SDK's own cardinality limit), then overflow
OVERFLOW: dict[str, AttributeValue] = {"otel.metric.overflow": True}  # the SDK's name for the rest
GEN_AI_OPERATIONS = frozenset(
    {
        "chat",
        "create_agent",
        "embeddings",
        "execute_tool",
        "generate_content",
        "invoke_agent",
        "retrieval",
        "text_completion",
    }
)

_SAFE_LABEL = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
# Shapes of identifiers that fit the safe alphabet but must never become labels: UUIDs, long hex
# digests or tokens, long digit runs (phone and account numbers).
_ID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{16,}|[0-9]{9,}", re.IGNORECASE)


def guard_label(value: object, known: Collection[str] | None = None) -> str:
    """`value` if it is safe as a metric label, else `other`.

    With `known`, only members pass. Without, a value passes when it is 1-64 characters of
    `[A-Za-z0-9._:/-]` and does not look like an identifier. The alphabet excludes `@`, spaces and
    quotes, so email addresses and free text (error messages) never pass.
    """
    if not isinstance(value, str):
        return OTHER
    if known is not None:
        return value if value in known else OTHER
    if _SAFE_LABEL.fullmatch(value) and not _ID_LIKE.search(value):
        return value
    return OTHER


def _measurable(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def build_meter_provider(resource: Resource, readers: Sequence[MetricReader]) -> MeterProvider:
    """An app's own MeterProvider. Not registered globally and no atexit hook: the app shuts it down.

    Exemplars are off unless `OTEL_METRICS_EXEMPLAR_FILTER` asks for them: sampling one per measurement
    costs more on the request path than all the recordings themselves, and traces are stored anyway.
    """
    exemplar_filter = None if os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
    return MeterProvider(
        metric_readers=list(readers),
        resource=resource,
        exemplar_filter=exemplar_filter,
        shutdown_on_exit=False,
    )


class Totals:
    """A counter's running totals per attribute set, reported by an observable counter when the
    metrics are collected: the same cumulative sums a synchronous counter exposes.

    For the counters every request adds to: the SDK's `Counter.add` cleans, copies and hashes the
    attributes on every call (the two it served were 2.7 % of a gateway call's CPU, py-spy), a sum
    here is one dictionary update. Safe to share between threads."""

    def __init__(self) -> None:
        self._sums: dict[Hashable, tuple[dict[str, AttributeValue], float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def counted(cls, meter: Meter, name: str, *, unit: str, description: str) -> Totals:
        """New totals, reported by an observable counter `name` on `meter`."""
        totals = cls()
        meter.create_observable_counter(name, callbacks=[totals.observe], unit=unit, description=description)
        return totals

    def add(self, key: Hashable, attributes: dict[str, AttributeValue], amount: float) -> None:
        """Add `amount` under `key` (which names `attributes`); past `TOTALS` keys, under the overflow set."""
        with self._lock:
            found = self._sums.get(key)
            if found is None and len(self._sums) >= TOTALS:
                key, attributes = "overflow", OVERFLOW
                found = self._sums.get(key)
            self._sums[key] = (attributes, amount if found is None else found[1] + amount)

    def observe(self, _options: CallbackOptions) -> list[Observation]:
        with self._lock:
            sums = list(self._sums.values())
        return [Observation(total, attributes) for attributes, total in sums]


class Instruments:
    """Every metric the service records, one method each.

    Methods never raise and never block: a negative or non-finite measurement is dropped, and a
    label value that fails its guard becomes `other`. `routes`, when given, is the closed set of
    route templates (`/v1/triage`) so a raw path with an id in it cannot become a label.

    The guarded attribute sets are built once per distinct input and reused (never mutated), so a
    recording allocates nothing and runs no label pattern.
    """

    def __init__(self, meter: Meter, *, routes: Collection[str] | None = None) -> None:
        self._routes = frozenset(routes) if routes is not None else None
        self._label_sets: dict[Hashable, dict[str, AttributeValue]] = {}
        self._token_usage = meter.create_histogram(
            TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per model call, by token type.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._operation_duration = meter.create_histogram(
            OPERATION_DURATION,
            unit="s",
            description="Duration of one model call, failed calls included.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._requests = Totals.counted(
            meter,
            REQUESTS,
            unit="{request}",
            description="HTTP requests served, by route, status and prompt version.",
        )
        self._request_duration = meter.create_histogram(
            REQUEST_DURATION,
            unit="s",
            description="End-to-end duration of an HTTP request.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._errors = meter.create_counter(ERRORS, unit="{error}", description="Errors, by error type.")
        self._retries = meter.create_counter(
            RETRIES, unit="{retry}", description="Provider call retries, by provider and the error retried."
        )
        self._degraded = meter.create_counter(
            DEGRADED, unit="{reply}", description="Replies served by the degraded fallback, by reason."
        )
        self._cost = Totals.counted(
            meter,
            COST,
            unit="USD",
            description="Model spend in US dollars, by provider, model and prompt version.",
        )
        self._tool_duration = meter.create_histogram(
            TOOL_DURATION,
            unit="s",
            description="Duration of one tool call.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._step_duration = meter.create_histogram(
            STEP_DURATION,
            unit="s",
            description="Duration of one pipeline step.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._spans_dropped = meter.create_counter(
            SPANS_DROPPED,
            unit="{span}",
            description="Spans dropped because the export queue was full (request rows are never dropped).",
        )
        self._spans_dropped.add(0)  # exposed from the start, so rate() sees the first drop

    @classmethod
    def noop(cls) -> Instruments:
        """Instruments that record nothing, for when telemetry is disabled."""
        return cls(NoOpMeter(METER_NAME, version=__version__))

    @classmethod
    def from_provider(cls, provider: MeterProvider, *, routes: Collection[str] | None = None) -> Instruments:
        return cls(provider.get_meter(METER_NAME, version=__version__), routes=routes)

    def record_token_usage(
        self, *, provider: str, model: str, input_tokens: int, output_tokens: int, operation: str = "chat"
    ) -> None:
        """Tokens of one model call as the provider reported them (never estimated)."""
        for token_type, count in (("input", input_tokens), ("output", output_tokens)):
            if _measurable(count):
                key = ("tokens", provider, model, operation, token_type)
                attributes = self._labels(
                    key, partial(self._token_attributes, provider, model, operation, token_type)
                )
                self._token_usage.record(count, attributes)

    def _token_attributes(
        self, provider: str, model: str, operation: str, token_type: str
    ) -> dict[str, AttributeValue]:
        return {**self._model_attributes(provider, model, operation), c.GEN_AI_TOKEN_TYPE: token_type}

    def record_operation_duration(
        self,
        *,
        provider: str,
        model: str,
        seconds: float,
        error_type: str | None = None,
        operation: str = "chat",
    ) -> None:
        """Duration of one model call attempt; `error_type` set when it failed."""
        if not _measurable(seconds):
            return

        def build() -> dict[str, AttributeValue]:
            attributes = self._model_attributes(provider, model, operation)
            if error_type is not None:
                attributes[c.ERROR_TYPE] = guard_label(error_type)
            return attributes

        self._operation_duration.record(
            seconds, self._labels(("operation", provider, model, operation, error_type), build)
        )

    def record_request(
        self, *, route: str, status_code: int, seconds: float, prompt_version: str | None = None
    ) -> None:
        """One finished HTTP request: counted, and its duration recorded."""

        def build() -> dict[str, AttributeValue]:
            attributes: dict[str, AttributeValue] = {
                HTTP_ROUTE: guard_label(route, self._routes),
                HTTP_STATUS_CODE: status_code if 100 <= status_code <= 599 else OTHER,
            }
            if prompt_version is not None:
                attributes[c.PROMPT_VERSION] = guard_label(prompt_version)
            return attributes

        key = ("request", route, status_code, prompt_version)
        attributes = self._labels(key, build)
        self._requests.add(key, attributes, 1)
        if _measurable(seconds):
            self._request_duration.record(seconds, attributes)

    def prime(
        self,
        *,
        retries: Iterable[tuple[str, str]] = (),
        errors: Iterable[str] = (),
        degraded: Iterable[str] = (),
    ) -> None:
        """Create these counter series at 0 before their first event.

        Prometheus' `rate()` and `increase()` take a series' first sample as its baseline, so a counter
        that first appears at 1 loses that event. Counters whose label sets are known up front
        (provider × retried error, error types, degraded reasons) are therefore exposed from the start.
        """
        for provider, error_type in retries:
            self._retries.add(
                0, {c.GEN_AI_PROVIDER_NAME: guard_label(provider), c.ERROR_TYPE: guard_label(error_type)}
            )
        for error_type in errors:
            self._errors.add(0, {c.ERROR_TYPE: guard_label(error_type)})
        for reason in degraded:
            self._degraded.add(0, {c.DEGRADED_REASON: guard_label(reason)})

    def record_error(self, *, error_type: str) -> None:
        self._errors.add(
            1, self._labels(("error", error_type), lambda: {c.ERROR_TYPE: guard_label(error_type)})
        )

    def record_retry(self, *, provider: str, error_type: str) -> None:
        """One retry of a provider call, labelled with the error that caused it."""
        self._retries.add(
            1,
            self._labels(
                ("retry", provider, error_type),
                lambda: {
                    c.GEN_AI_PROVIDER_NAME: guard_label(provider),
                    c.ERROR_TYPE: guard_label(error_type),
                },
            ),
        )

    def record_degraded(self, *, reason: str) -> None:
        self._degraded.add(
            1, self._labels(("degraded", reason), lambda: {c.DEGRADED_REASON: guard_label(reason)})
        )

    def record_cost(
        self, *, provider: str, model: str, usd: float | None, prompt_version: str | None = None
    ) -> None:
        """Spend of one model call; an unknown price (`None`) is not recorded, never guessed."""
        if usd is None or not _measurable(usd):
            return

        def build() -> dict[str, AttributeValue]:
            attributes: dict[str, AttributeValue] = {
                c.GEN_AI_PROVIDER_NAME: guard_label(provider),
                c.GEN_AI_REQUEST_MODEL: guard_label(model),
            }
            if prompt_version is not None:
                attributes[c.PROMPT_VERSION] = guard_label(prompt_version)
            return attributes

        key = ("cost", provider, model, prompt_version)
        self._cost.add(key, self._labels(key, build), usd)

    def record_tool_duration(self, *, tool: str, seconds: float, error_type: str | None = None) -> None:
        if not _measurable(seconds):
            return

        def build() -> dict[str, AttributeValue]:
            attributes: dict[str, AttributeValue] = {c.GEN_AI_TOOL_NAME: guard_label(tool)}
            if error_type is not None:
                attributes[c.ERROR_TYPE] = guard_label(error_type)
            return attributes

        self._tool_duration.record(seconds, self._labels(("tool", tool, error_type), build))

    def record_step_duration(self, *, step: str, seconds: float) -> None:
        if _measurable(seconds):
            attributes = self._labels(("step", step), lambda: {c.STEP: guard_label(step)})
            self._step_duration.record(seconds, attributes)

    def record_span_dropped(self) -> None:
        """One span the export queue had no room for."""
        self._spans_dropped.add(1)

    def _labels(
        self, key: Hashable, build: Callable[[], dict[str, AttributeValue]]
    ) -> dict[str, AttributeValue]:
        """The attribute set for these inputs, built (and guarded) the first time only; bounded, so
        inputs that vary (a guarded free value) cannot grow it without limit."""
        attributes = self._label_sets.get(key)
        if attributes is None:
            if len(self._label_sets) >= LABEL_SETS:
                self._label_sets.clear()
            attributes = self._label_sets[key] = build()
        return attributes

    @staticmethod
    def _model_attributes(provider: str, model: str, operation: str) -> dict[str, AttributeValue]:
        return {
            c.GEN_AI_OPERATION_NAME: guard_label(operation, GEN_AI_OPERATIONS),
            c.GEN_AI_PROVIDER_NAME: guard_label(provider),
            c.GEN_AI_REQUEST_MODEL: guard_label(model),
        }
