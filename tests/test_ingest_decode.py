"""The OTLP decoder and the usage rule, without a server: any body either decodes or is a clean 400,
and a trace's model calls are summed once."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.ingest.decode import DecodeError, PayloadTooLarge, decode_json, decode_protobuf, decompress
from llmops.ingest.mapping import to_parts, usage_of
from llmops.ingest.receiver import Busy, IngestReceiver
from llmops.ingest.scrub import Scrubber
from llmops.redaction import Redactor
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from llmops.telemetry.cost import Cost

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@given(st.binary(max_size=512))
@settings(max_examples=300, deadline=None)
def test_any_bytes_decode_or_fail_cleanly_as_protobuf(body: bytes) -> None:
    try:
        decoded = decode_protobuf(body)
    except DecodeError:
        return
    assert decoded.rejected >= 0


@given(JSON_VALUES)
@settings(max_examples=300, deadline=None)
def test_any_json_decodes_or_fails_cleanly(document: object) -> None:
    for wrapped in (
        document,
        {"resourceSpans": document},
        {"resourceSpans": [{"scopeSpans": [{"spans": document}]}]},
    ):
        with contextlib.suppress(DecodeError):
            decode_json(json.dumps(wrapped).encode())


def test_gzip_is_bounded_after_inflation() -> None:
    assert decompress(gzip.compress(b"x" * 100), "gzip", 100) == b"x" * 100
    with pytest.raises(PayloadTooLarge):
        decompress(gzip.compress(b"x" * 101), "gzip", 100)
    with pytest.raises(DecodeError):
        decompress(b"not gzip", "gzip", 100)
    with pytest.raises(DecodeError):
        decompress(gzip.compress(b"x" * 100)[:-12], "gzip", 1000)


def test_usage_is_summed_over_the_innermost_model_calls() -> None:
    usage = {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2, "llmops.cost.usd": 0.5}
    spans = [
        ("root", None, {}),
        ("framework-llm", "root", {**usage, "gen_ai.request.model": "outer"}),  # wraps the SDK span
        ("sdk-llm", "framework-llm", {**usage, "gen_ai.response.model": "inner"}),
        ("second-llm", "root", {**usage, "llmops.cost.usd": 0.25}),
    ]
    total = usage_of(spans)
    assert total is not None
    assert (total.input_tokens, total.output_tokens, total.calls) == (20, 4, 2)
    assert total.cost_usd == pytest.approx(0.75)
    unpriced = usage_of([("a", None, {"gen_ai.usage.input_tokens": 1}), ("b", "a", {})])
    assert unpriced is not None and unpriced.cost_usd is None
    assert usage_of([("a", None, {"gen_ai.operation.name": "chat"})]) is None


def test_messages_are_converted_to_parts() -> None:
    assert to_parts('[{"role": "user", "content": "hi"}]') == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    already = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert to_parts(already) == already
    assert to_parts("plain text") == "plain text"


_CONTENT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=24), _CONTENT, max_size=6))
def test_scrubbed_attributes_are_what_the_redactor_makes_of_them(attributes: dict[str, object]) -> None:
    """The per-export memo and the short-integer shortcut change nothing: every attribute comes out as
    the Redactor itself redacts it (keys included), planted values too."""
    redactor = Redactor()
    planted = {**attributes, "note": "mail jane.doe@example.com", "card": 4111111111111111, "count": 42}
    batch = Scrubber(redactor).batch()
    for _ in range(2):  # the second pass is served from the memo
        assert batch.attributes(planted) == redactor.redact_value(planted)


def test_the_shared_cache_never_holds_a_raw_value() -> None:
    scrubber = Scrubber(Redactor())
    scrubber.batch().attributes({"message": "call jane.doe@example.com", "model": "gpt-4o-mini"})
    kept = json.dumps([[key.hex(), value] for key, value in scrubber.cache.items()])
    assert "jane.doe@example.com" not in kept and "[EMAIL]" in kept


def test_an_export_after_the_receiver_closed_is_busy_not_an_error(tmp_path: Path) -> None:
    """During shutdown the decode thread is gone: a late export gets 503 + Retry-After (Busy)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    upgrade(engine)
    receiver = IngestReceiver(
        engine,
        Redactor(),
        pseudonymise=lambda user: user,
        price=lambda *_: Cost(usd=None, source="unknown"),
        max_body_bytes=1_000_000,
        max_queued_spans=100,
    )
    receiver.close()
    with pytest.raises(Busy):
        asyncio.run(receiver.receive(b"{}", "application/json", None))
