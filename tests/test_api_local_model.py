"""The real local model (SmolLM2-135M through llama.cpp) behind the real HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from live import SAMPLES, LiveServer
from llmops.assistant.category_model import CategoryModel
from llmops.assistant.knowledge import KnowledgeBase
from llmops.assistant.normalize import parse_email
from llmops.assistant.pipeline import build_context, retrieve_policies
from llmops.assistant.rules import rule_suggestion
from llmops.assistant.schema import Category, Email, Triage, TriageReply
from llmops.assistant.tools import Toolbox, plan_tool_calls
from llmops.storage.db import make_engine
from llmops.storage.tables import requests, spans
from llmops.telemetry import conventions as c

pytestmark = [pytest.mark.model, pytest.mark.timeout(1800)]

SAMPLE_IDS = ("outage-api-gateway-502", "invoice-cloudnest-november", "friend-lunch-friday")
MAX_TOKENS = 160  # email_triage_v2's output cap
TEXT_FIELDS = ("summary", "action_items", "draft_reply")


def rules_triage(email: Email) -> Triage:
    """What the pipeline's rules and composer write for this email (the fields marked `rules`)."""
    knowledge = KnowledgeBase.bundled()
    toolbox = Toolbox.bundled(knowledge)
    parsed = parse_email(email)
    results = [toolbox.run(call) for call in plan_tool_calls(parsed)]
    owner = toolbox.owner.name if toolbox.owner else None
    context = build_context(retrieve_policies(knowledge, parsed), results, owner)
    return rule_suggestion(parsed, context, CategoryModel.bundled()).triage


def trace_spans(server: LiveServer, request_id: str) -> dict[str, dict]:
    """The request's stored spans by name, with their attributes decoded."""
    engine = make_engine(server.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            trace_id = connection.execute(
                select(requests.c.trace_id).where(requests.c.request_id == request_id)
            ).scalar_one()
            rows = connection.execute(select(spans).where(spans.c.trace_id == trace_id)).mappings().all()
    finally:
        engine.dispose()
    return {row["name"]: dict(row) | {"attributes": json.loads(row["attributes"])} for row in rows}


def test_local_model_triages_with_useful_text_and_says_who_wrote_it(
    live_server: Callable[..., LiveServer],
) -> None:
    # A loaded machine makes the model slow, never the test red: no attempt timeout or deadline worth
    # the name and no client timeout; pytest's own timeout is the limit.
    server = live_server(
        provider="local", request_timeout_s=3600, request_deadline_s=3600, redact_replies=False
    )
    rows = {row["id"]: row for row in map(json.loads, (SAMPLES / "emails.jsonl").read_text().splitlines())}
    samples = [rows[sample_id] for sample_id in SAMPLE_IDS]
    with server.client(timeout=None) as client:
        assert client.get("/readyz").json()["providers"] == {"local": True}
        replies = [
            TriageReply.model_validate(client.post("/v1/triage", json={"email": s["email"]}).json())
            for s in samples
        ]
    server.flush()

    assert any(not reply.degraded for reply in replies)
    for sample, reply in zip(samples, replies, strict=True):
        triage, rules = reply.triage, rules_triage(Email.model_validate(sample["email"]))
        assert reply.prompt_version == "email_triage_v2"
        assert reply.usage.input_tokens > 100 and reply.usage.output_tokens > 0  # the model really ran
        if triage.category in (Category.URGENT, Category.ACTION_REQUIRED):
            assert triage.action_items and triage.draft_reply, sample["id"]
        assert set(triage.provenance) == {"category", "priority", *TEXT_FIELDS}
        for field in TEXT_FIELDS:  # a field marked `rules` is the composer's; one marked `model` is not
            same = getattr(triage, field) == getattr(rules, field)
            assert same if triage.provenance[field] == "rules" else not same or not getattr(triage, field)
        trace = trace_spans(server, reply.request_id)
        if reply.degraded:
            assert set(triage.provenance.values()) == {"rules"}
            continue
        assert (reply.provider, reply.model) == ("local", "SmolLM2-135M-Instruct")
        assert triage.provenance["category"] == triage.provenance["priority"] == "rules"  # v2 prefills them
        written = [field for field, source in triage.provenance.items() if source == "model"]
        assert trace["fill_text"]["attributes"][c.TRIAGE_MODEL_FIELDS] == written
        chat = trace["chat SmolLM2-135M-Instruct"]["attributes"]
        # The stop fired where the output was complete (or looping), before the cap.
        assert chat[c.GEN_AI_RESPONSE_FINISH_REASONS] != ["length"]
        assert chat[c.GEN_AI_USAGE_OUTPUT_TOKENS] < MAX_TOKENS
        assert chat[c.MODEL_PREFILL_MS] > 0 and chat[c.MODEL_DECODE_MS] > 0
        assert 0 < chat[c.MODEL_PREFILL_TOKENS] <= chat[c.GEN_AI_USAGE_INPUT_TOKENS]
