"""The served prompt version follows the `production` label, on a live server, without a restart."""

from __future__ import annotations

import json
from collections.abc import Callable

from live import SAMPLES, LiveServer
from llmops.assistant.schema import TriageReply
from llmops.prompts.labels import LabelStore
from llmops.prompts.registry import PromptRegistry
from llmops.storage.db import make_engine


def _sample(sample_id: str) -> dict[str, object]:
    for line in (SAMPLES / "emails.jsonl").read_text().splitlines():
        case = json.loads(line)
        if case["id"] == sample_id:
            return {"email": case["email"]}
    raise KeyError(sample_id)


def test_label_moves_switch_the_served_version_and_the_scripted_category(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(prompt_label_ttl_s=0)
    phishing = _sample("phish-mailbox-quota-html")
    engine = make_engine(server.settings.resolved_database_url)  # another process's view: the CLI's
    labels = LabelStore(engine, PromptRegistry.from_directory())
    replies: dict[str, TriageReply] = {}
    try:
        with server.client() as client:
            replies["default"] = TriageReply.model_validate(client.post("/v1/triage", json=phishing).json())
            for version in ("email_triage_v7", "email_triage_v8"):
                labels.set("email_triage", "production", version, by="test", reason="release")
                response = client.post("/v1/triage", json=phishing)
                assert response.status_code == 200, response.text
                replies[version] = TriageReply.model_validate(response.json())
    finally:
        engine.dispose()
    assert replies["default"].prompt_version == "email_triage_v2"
    v7, v8 = replies["email_triage_v7"], replies["email_triage_v8"]
    assert (v7.prompt_version, v8.prompt_version) == ("email_triage_v7", "email_triage_v8")
    assert not v7.degraded and not v8.degraded
    assert v7.triage.category.value == "spam"  # the rules' category, prefilled
    assert v8.triage.category.value == "action_required"  # the model's own pick, without the rules
