"""The real local model (SmolLM2-135M through llama.cpp) behind the real HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from live import SAMPLES, LiveServer
from llmops.assistant.schema import TriageReply

pytestmark = [pytest.mark.model, pytest.mark.timeout(1800)]


def test_local_model_triages_sample_emails(live_server: Callable[..., LiveServer]) -> None:
    # A loaded machine makes the model slow, never the test red: no attempt timeout worth the name and
    # no client timeout; pytest's own timeout is the limit.
    server = live_server(provider="local", request_timeout_s=3600)
    samples = [json.loads(line) for line in (SAMPLES / "emails.jsonl").read_text().splitlines()[:3]]
    with server.client(timeout=None) as client:
        assert client.get("/readyz").json()["providers"] == {"local": True}
        replies = [client.post("/v1/triage", json={"email": s["email"]}) for s in samples]
    for response in replies:
        assert response.status_code == 200, response.text
        reply = TriageReply.model_validate(response.json())
        assert reply.prompt_version == "email_triage_v2"
        assert reply.usage.input_tokens > 100 and reply.usage.output_tokens > 0  # the model really ran
        if not reply.degraded:
            assert reply.provider == "local" and reply.model == "SmolLM2-135M-Instruct"
    assert any(not TriageReply.model_validate(r.json()).degraded for r in replies)
