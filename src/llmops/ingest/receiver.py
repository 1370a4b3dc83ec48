"""The OTLP receiver: one call takes an HTTP body to an accepted, redacted batch in the writer's queue.

`accept` runs for the request on the receiver's one decode thread (`receive` hands it there):
decompress within the size limit, decode, map and redact, then offer the batch to the writer. One
thread, not the shared pool: the work is CPU-bound under one GIL, so exports decoded on several
threads at once only add switches (in-process, four decoding threads cost ~13 % more CPU per span
than one). Raw span content never outlives the call: only the redacted `Prepared` batch is queued.
When the queue is full it raises `Busy` and nothing is kept, so the exporter retries after
`retry_after_s` (OTLP's 503 + Retry-After).

Every span not stored is counted by reason (`refused`): `queue_full` (refused with 503, the exporter
retries), `invalid_span` (malformed ids or times, OTLP partial success) and `store_failed` (accepted,
then rejected by the database: logged and lost). `llmops.ingest.metrics` exposes the counts.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from llmops.config import Settings
from llmops.ingest.decode import PayloadTooLarge, decode, decompress, media_type
from llmops.ingest.mapping import Mapper, Pricer, Pseudonymise
from llmops.ingest.scrub import Scrubber
from llmops.ingest.writer import IngestWriter
from llmops.redaction import Redactor
from llmops.redaction.remembering import without_memory
from llmops.telemetry.cost import Cost, LocalPrices, ModelPrices, price_call
from llmops.telemetry.runtime import pseudonym


class Busy(Exception):
    """The writer's queue has no room: retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("the ingest queue is full; retry later")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Accepted:
    """How a batch went: `accepted` spans queued, `rejected` spans refused (OTLP partial success)."""

    accepted: int
    rejected: int
    media_type: str


REFUSAL_REASONS = ("queue_full", "invalid_span", "store_failed")


class IngestReceiver:
    def __init__(
        self,
        engine: Engine,
        redactor: Redactor,
        *,
        pseudonymise: Pseudonymise,
        price: Pricer,
        max_body_bytes: int,
        max_queued_spans: int,
        retry_after_s: int = 1,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.retry_after_s = retry_after_s
        self._mapper = Mapper(Scrubber(without_memory(redactor)), pseudonymise, price)
        self.writer = IngestWriter(engine, max_queued_spans=max_queued_spans)
        self._refused = dict.fromkeys(REFUSAL_REASONS[:2], 0)
        self._lock = threading.Lock()
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmops-ingest-decode")

    async def receive(self, body: bytes, content_type: str | None, content_encoding: str | None) -> Accepted:
        """`accept` on the decode thread, awaited (exports queue for it in arrival order); `Busy` once
        the receiver is closing, so a late export is retried rather than failed."""
        loop = asyncio.get_running_loop()
        try:
            work = loop.run_in_executor(self._decoder, self.accept, body, content_type, content_encoding)
        except RuntimeError:  # the decode thread has shut down
            raise Busy(self.retry_after_s) from None
        return await work

    def accept(self, body: bytes, content_type: str | None, content_encoding: str | None) -> Accepted:
        """Decode, redact and queue one export; raises an `IngestError` (4xx) or `Busy` (503)."""
        kind = media_type(content_type)
        if len(body) > self.max_body_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {self.max_body_bytes} bytes")
        decoded = decode(decompress(body, content_encoding, self.max_body_bytes), kind)
        self._count("invalid_span", decoded.rejected)
        if not decoded.spans:
            return Accepted(0, decoded.rejected, kind)
        prepared = self._mapper.prepare(decoded.spans)
        if not self.writer.offer(prepared):
            self._count("queue_full", len(prepared.spans))
            raise Busy(self.retry_after_s)
        return Accepted(len(prepared.spans), decoded.rejected, kind)

    def refused(self) -> dict[str, int]:
        """Spans not stored so far, by reason (every reason present, 0 until it happens)."""
        with self._lock:
            counts = dict(self._refused)
        return counts | {"store_failed": self.writer.stats.failed_spans}

    def _count(self, reason: str, spans: int) -> None:
        if spans:
            with self._lock:
                self._refused[reason] += spans

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking batches and write the queued ones."""
        self._decoder.shutdown(wait=True)
        self.writer.close(timeout_s)


def build_receiver(
    settings: Settings, engine: Engine, redactor: Redactor, pseudonym_key: bytes
) -> IngestReceiver:
    """The receiver the service runs: prices from settings (whether or not telemetry is on)."""
    local_prices = LocalPrices.from_settings(settings)
    model_prices = ModelPrices.from_settings(settings)

    def price(
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached: int | None,
        server: str | None,
    ) -> Cost:
        return price_call(
            provider,
            model,
            input_tokens,
            output_tokens,
            cached,
            local_prices=local_prices,
            base_url=f"https://{server}" if server else None,
            model_prices=model_prices,
        )

    return IngestReceiver(
        engine,
        redactor,
        pseudonymise=partial(pseudonym, pseudonym_key),
        price=price,
        max_body_bytes=settings.ingest_max_body_bytes,
        max_queued_spans=settings.ingest_queue_spans,
    )
