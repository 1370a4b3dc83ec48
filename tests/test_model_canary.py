"""A canary for models, through the official `openai` SDK against real llmops servers (SQLite and
Postgres) in front of local fake upstreams: a share of the alias `chat`'s users goes to `chat-next`
(sticky per user); the canary controller compares the two arms from the gateway's request rows and
rolls a failing upstream back or promotes a healthy one; the decision is stored, so a restarted server
routes by it, and two replicas deciding at once act once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

from fakes import FakeOpenAIServer, FakeReply
from live import LiveServer
from llmops.canary.controller import Decision
from llmops.prompts.labels import LabelMovedError
from llmops.storage.tables import requests
from processes import cli_env, run_llmops

Start = Callable[..., LiveServer]
USERS = [f"user-{i}" for i in range(30)]


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer() as current, FakeOpenAIServer() as candidate:
        yield current, candidate


def _settings(current: FakeOpenAIServer, candidate: FakeOpenAIServer) -> dict[str, Any]:
    config = {
        "upstreams": [
            {"name": "current", "base_url": current.base_url},
            {"name": "candidate", "base_url": candidate.base_url},
        ],
        "models": [
            {
                "alias": "chat",
                "upstream": "current",
                "model": "model-a",
                "canary": {"alias": "chat-next", "share": 0.5},
            },
            {"alias": "chat-next", "upstream": "candidate", "model": "model-b"},
        ],
    }
    return {
        "gateway_upstreams": json.dumps(config),
        "canary_min_requests": 5,
        "canary_interval_s": 3600,  # the test runs the controller
        "prompt_label_ttl_s": 0,
        "max_retries": 0,
        # Both arms call local fakes: latency differences are scheduler noise, not the model.
        "canary_median_slack_ms": 1000.0,
        "canary_p95_slack_ms": 1000.0,
    }


def _models(server: LiveServer) -> dict[str, str]:
    """Each user's answering model for one call of `chat` ('error' when the call failed)."""
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=server.key, max_retries=0)
    seen = {}
    for user in USERS:
        try:
            completion = client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}], user=user
            )
            seen[user] = completion.model
        except openai.APIStatusError:
            seen[user] = "error"
    server.flush()  # a failed call's row comes through the exporter (a reply is recorded before it)
    return seen


def test_failing_model_canary_is_rolled_back_and_stays_rolled_back_after_a_restart(
    live_server: Start, upstreams: tuple[FakeOpenAIServer, FakeOpenAIServer], tmp_path: Path
) -> None:
    current, candidate = upstreams
    candidate.default_reply = FakeReply.server_error()
    settings = _settings(current, candidate)
    server = live_server(**settings)
    controller = server.app.state.services.canaries["model:chat"]
    assert controller.active() is not None and controller.active().traffic_share == 0.5

    first = _models(server)
    assert set(first.values()) == {"model-a", "error"}, "a sticky half of the users reach the failing model"
    with server.app.state.services.engine.connect() as connection:
        arms = connection.execute(select(requests.c.model_alias, requests.c.status)).all()
    assert {(alias, status) for alias, status in arms} == {("chat", "ok"), ("chat-next", "error")}

    record = controller.run_once()
    assert record is not None and record.decision is Decision.ROLLBACK, record and record.figures
    assert record.prompt_name == "model:chat" and record.canary_version == "chat-next"
    assert record.figures["failures"][0].startswith("error rate 1.000 vs 0.000")
    assert set(_models(server).values()) == {"model-a"}, "everyone is on the current model again"

    restarted = live_server(**settings)  # same database, same configuration: the rollback holds
    assert restarted.app.state.services.canaries["model:chat"].active() is None
    assert set(_models(restarted).values()) == {"model-a"}

    env = cli_env(
        tmp_path,
        LLMOPS_DATABASE_URL=server.settings.resolved_database_url,
        LLMOPS_GATEWAY_UPSTREAMS=settings["gateway_upstreams"],
    )
    status = run_llmops(env, "canary", "status", "--prompt", "model:chat", "--json")
    assert status.returncode == 0, status.stderr
    decisions = json.loads(status.stdout)["decisions"]
    assert [(d["decision"], d["canary_version"], d["production_version"]) for d in decisions] == [
        ("rollback", "chat-next", "chat")
    ]


def test_healthy_model_canary_is_promoted_once_by_racing_replicas_and_serves_everyone(
    live_server: Start, upstreams: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> None:
    settings = _settings(*upstreams)
    first, second = live_server(**settings), live_server(**settings)  # two replicas, one database
    arms = _models(first)
    assert set(arms.values()) == {"model-a", "model-b"}
    assert _models(second) == arms, "the arm is sticky per user on every replica"

    deciders = [server.app.state.services.canaries["model:chat"] for server in (first, second)]
    seen = [decider.compare() for decider in deciders]
    assert not seen[0].inconclusive and not seen[0].failures, seen[0]
    record = deciders[0].apply(Decision.PROMOTE, seen[0], by="canary-controller")
    with pytest.raises(LabelMovedError):
        deciders[1].apply(Decision.PROMOTE, seen[1], by="canary-controller")
    assert [d.decision for d in deciders[1].decisions()] == [Decision.PROMOTE]
    assert record.figures["canary"]["requests"] >= 5 and record.figures["production"]["requests"] >= 5

    assert set(_models(second).values()) == {"model-b"}, "the promoted model serves every user"
    restarted = live_server(**settings)
    assert set(_models(restarted).values()) == {"model-b"}
