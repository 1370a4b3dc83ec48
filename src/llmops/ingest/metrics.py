"""`llmops.ingest.spans.refused`: spans an export carried that were not stored, by reason.

An observable counter read from the receiver's own counts at each collection, so every reason is exposed
at 0 from the start (Prometheus' `rate()` then sees the first refusal) and the label set is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from llmops.ingest.receiver import REFUSAL_REASONS, IngestReceiver

REFUSED = "llmops.ingest.spans.refused"
REASON = "llmops.ingest.refusal.reason"


def observe_refusals(meter: Meter, receiver: IngestReceiver) -> None:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        counts = receiver.refused()
        return [Observation(counts[reason], {REASON: reason}) for reason in REFUSAL_REASONS]

    meter.create_observable_counter(
        REFUSED,
        callbacks=[observe],
        unit="{span}",
        description="Spans received over OTLP and not stored, by reason (queue_full was answered 503).",
    )
