"""Prometheus exposition of one app's OpenTelemetry metrics, on the app's own registry.

`PrometheusExposition` owns a pull `MetricReader` (give it to `build_meter_provider`) and a private
`CollectorRegistry`. Each scrape collects from the SDK and converts the data to Prometheus families
the way the OpenTelemetry compatibility spec describes: dots become underscores, the unit becomes a
suffix (`s` → `_seconds`, `{token}` annotations dropped), monotonic sums become counters (`_total`),
histograms get cumulative `_bucket{le}` samples plus `_sum` and `_count`, and the resource becomes one
`target_info` sample.

We convert ourselves rather than use opentelemetry-exporter-prometheus because its reader registers a
collector into prometheus_client's process-global `REGISTRY`, which breaks with several apps in one
process (duplicate registration, apps seeing each other's metrics).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from itertools import accumulate

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.util.types import Attributes
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import InfoMetricFamily
from prometheus_client.metrics_core import Metric as PromMetric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

logger = logging.getLogger("llmops.telemetry")

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9:]+|_{2,}")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9]+|_{2,}")
_UNIT_ANNOTATION = re.compile(r"\{[!-~]*\}")
_UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "1": "",
    "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
_CUMULATIVE: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.CUMULATIVE
    for kind in (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
}


def metric_name(name: str) -> str:
    """An OTel instrument name as a Prometheus metric name (no unit or type suffix)."""
    sanitized = _INVALID_NAME_CHARS.sub("_", name)
    return f"_{sanitized}" if sanitized[:1].isdigit() else sanitized


def label_name(key: str) -> str:
    """An OTel attribute key as a Prometheus label name: `gen_ai.token.type` → `gen_ai_token_type`."""
    sanitized = _INVALID_LABEL_CHARS.sub("_", key)
    return f"_{sanitized}" if sanitized[:1].isdigit() else sanitized


def unit_suffix(unit: str) -> str:
    """A UCUM unit as a name suffix: `s` → `seconds`, `{token}` → ``, `By/s` → `bytes_per_second`."""
    unit = _UNIT_ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, slash, bottom = unit.partition("/")
    if slash and (bottom := _INVALID_NAME_CHARS.sub("_", bottom).strip("_")):
        top = _INVALID_NAME_CHARS.sub("_", top).strip("_")
        top = _UNITS.get(top, top)
        bottom = _PER_UNITS.get(bottom, bottom)
        return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _INVALID_NAME_CHARS.sub("_", unit).strip("_")


def _label_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, default=str)


def _labels(attributes: Attributes) -> dict[str, str]:
    """Attributes as labels; keys that collide once sanitized are joined with `;`, sorted by key."""
    labels: dict[str, str] = {}
    for key in sorted(attributes or {}):
        name = label_name(key)
        value = _label_value((attributes or {})[key])
        labels[name] = f"{labels[name]};{value}" if name in labels else value
    return labels


def _family(metric: Metric) -> PromMetric | None:
    """One OTel metric as one Prometheus family, or None for a kind we do not expose."""
    base = metric_name(metric.name)
    unit = unit_suffix(metric.unit or "")
    data = metric.data
    if isinstance(data, Sum) and data.is_monotonic:
        base = base.removesuffix("_total")
        family = PromMetric(base, metric.description or "", "counter", unit)
        for point in data.data_points:
            family.add_sample(f"{family.name}_total", _labels(point.attributes), float(point.value))
        return family
    if isinstance(data, Sum | Gauge):
        family = PromMetric(base, metric.description or "", "gauge", unit)
        for point in data.data_points:
            family.add_sample(family.name, _labels(point.attributes), float(point.value))
        return family
    if isinstance(data, HistogramData):
        family = PromMetric(base, metric.description or "", "histogram", unit)
        for histogram_point in data.data_points:
            _add_histogram_point(family, histogram_point)
        return family
    logger.warning(
        "metric not exposed to Prometheus", extra={"metric": metric.name, "kind": type(data).__name__}
    )
    return None


def _add_histogram_point(family: PromMetric, point: HistogramDataPoint) -> None:
    labels = _labels(point.attributes)
    bounds = [floatToGoString(bound) for bound in point.explicit_bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
    for bound, cumulative in zip(bounds, accumulate(point.bucket_counts), strict=True):
        family.add_sample(f"{family.name}_bucket", {**labels, "le": bound}, float(cumulative))
    family.add_sample(f"{family.name}_count", labels, float(point.count))
    family.add_sample(f"{family.name}_sum", labels, float(point.sum))


def _target_info(attributes: Attributes) -> InfoMetricFamily | None:
    labels = _labels(attributes)
    if not labels:
        return None
    return InfoMetricFamily("target", "Target metadata", value=labels)


def to_prometheus(data: MetricsData | None) -> list[PromMetric]:
    """Convert one SDK collection into Prometheus families, merging same-named families across scopes."""
    if data is None:
        return []
    families: dict[str, PromMetric] = {}
    target: InfoMetricFamily | None = None
    for resource_metrics in data.resource_metrics:
        target = target or _target_info(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                family = _family(metric)
                if family is None:
                    continue
                existing = families.setdefault(family.name, family)
                if existing is family:
                    continue
                if existing.type == family.type:
                    existing.samples.extend(family.samples)
                else:
                    logger.warning("metric name clash; later family dropped", extra={"metric": family.name})
    return ([target] if target else []) + list(families.values())


class _SdkCollector(Collector):
    """A prometheus_client collector that pulls from an OTel reader on each scrape."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader

    def collect(self) -> Iterable[PromMetric]:
        return to_prometheus(self._reader.get_metrics_data())


class PrometheusExposition:
    """One app's `/metrics`: an OTel pull reader and the private registry it feeds.

    Pass `reader` to `build_meter_provider`; serve `render()` from the route. Rendering collects from
    the SDK synchronously (CPU only, no I/O); it is safe to call from several threads.
    """

    def __init__(self, *, process_metrics: bool = True) -> None:
        # A pull reader: collection happens only when a scrape asks for it. Cumulative temporality,
        # which Prometheus requires, is set explicitly rather than relied on as the default.
        self.reader = InMemoryMetricReader(preferred_temporality=_CUMULATIVE)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SdkCollector(self.reader))
        if process_metrics:
            ProcessCollector(registry=self.registry)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition body and its content type, negotiated from an `Accept` header.

        Without one (or with a plain-text one) this is the Prometheus text format 0.0.4; OpenMetrics
        when the scraper asks for it.
        """
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
