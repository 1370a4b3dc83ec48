"""The example Support Desk next to the Email Gatekeeper: served by `llmops serve` with the documented
`LLMOPS_ASSISTANTS` line, recorded and reported under its own name, and choosing its own tools when the
provider can call them (a real OpenAI-compatible server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from fakes.openai_server import FakeOpenAIServer, FakeReply
from live import TEST_KEY, LiveServer
from processes import cli_env, run_llmops, serving

DOCUMENTED_LINE = "support_desk.assistant:assistant"
PROSE = "Your order NW-1002 is on its way with DHL and should arrive on 2026-12-08."


def test_served_with_the_documented_line_recorded_and_reported_under_its_name(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path, LLMOPS_ASSISTANTS=DOCUMENTED_LINE, LLMOPS_API_KEYS=TEST_KEY, LLMOPS_SCRIPTED_REPLY=PROSE
    )
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with (
        serving(tmp_path, env) as (base, _),
        httpx.Client(base_url=base, headers=headers, timeout=60) as client,
    ):
        listed = {item["name"]: item for item in client.get("/v1/assistants").json()["assistants"]}
        assert {"email_gatekeeper", "support_desk"} <= set(listed)
        example = listed["support_desk"]["example_input"]
        response = client.post("/v1/assistants/support_desk/runs", json={"input": example, "user_id": "c-7"})
        assert response.status_code == 200, response.text
        reply = response.json()
        triage = client.post("/v1/triage", json={"email": listed["email_gatekeeper"]["example_input"]})
        assert triage.status_code == 200
    output = reply["output"]
    assert output["answer"] == PROSE and output["order"]["status"] == "shipped"
    assert (reply["prompt_version"], reply["degraded"]) == ("support_desk_v1", False)
    # after the server stopped, every span is in the store: the request row, the list, the report
    with (
        serving(tmp_path, env) as (base, _),
        httpx.Client(base_url=base, headers=headers, timeout=60) as client,
    ):
        trace = client.get(f"/api/requests/{reply['request_id']}").json()
        listing = client.get("/api/requests", params={"limit": 10}).json()
    assert trace["request"]["assistant"] == "support_desk"
    assert trace["request"]["category"] == "order_status"
    span_names = {span["name"] for span in trace["spans"]}
    assert {"classify", "execute_tool search_kb", "execute_tool get_order_status"} <= span_names
    assistants = {row["request_id"]: row["assistant"] for row in listing["items"]}
    assert assistants[reply["request_id"]] == "support_desk"
    assert sorted(set(assistants.values())) == ["email_gatekeeper", "support_desk"]
    report = run_llmops(env, "report", "--assistant", "support_desk", "--json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    assert (figures["assistant_filter"], figures["requests"]) == ("support_desk", 1)


def test_the_model_chooses_the_tools_in_a_bounded_loop(live_server: Callable[..., LiveServer]) -> None:
    with FakeOpenAIServer() as upstream:
        upstream.script(
            FakeReply.calls(("call_a", "get_order_status", '{"order_id": "NW-1006"}')),
            FakeReply.calls(("call_b", "search_kb", '{"query": "late delivery"}'), ("call_c", "nope", "{}")),
            FakeReply.ok("Your standing desk is delayed with DHL; it should arrive on 2026-12-15."),
        )
        server = live_server(
            assistants=DOCUMENTED_LINE,
            provider="openai",
            model="gpt-4o-mini",
            openai_base_url=upstream.base_url,
            openai_api_key="sk-test",
            capture_content="redacted",
        )
        with server.client() as client:
            response = client.post(
                "/v1/assistants/support_desk/runs", json={"input": {"question": "Where is my desk?"}}
            )
            assert response.status_code == 200, response.text
            server.flush()
            trace = client.get(f"/api/requests/{response.json()['request_id']}").json()
        sent = [request.body for request in upstream.requests]
    reply = response.json()
    assert reply["output"]["order"]["order_id"] == "NW-1006" and reply["output"]["escalate"] is True
    assert reply["output"]["sources"] and reply["degraded"] is False
    assert len(sent) == 3 and all(body["tools"][0]["function"]["name"] == "search_kb" for body in sent)
    assert sent[1]["messages"][-1] == {"role": "tool", "content": json.dumps(
        {"order_id": "NW-1006", "status": "delayed", "carrier": "DHL", "eta": "2026-12-15", "items": ["Standing Desk"]}
    ), "tool_call_id": "call_a"}  # fmt: skip
    tools = [span for span in trace["spans"] if span["name"].startswith("execute_tool")]
    assert [span["name"] for span in tools] == [
        "execute_tool get_order_status", "execute_tool search_kb", "execute_tool nope",
    ]  # fmt: skip
    assert [span["status_code"] == "ERROR" for span in tools] == [False, False, True]
    assert tools[-1]["attributes"]["error.type"] == "tool_error"
    assert sum(span["name"].startswith("chat ") for span in trace["spans"]) == 3


def test_its_eval_set_runs_and_compares_two_prompt_versions(tmp_path: Path) -> None:
    dataset = (
        Path(__file__).resolve().parents[1] / "examples" / "support_desk" / "evals" / "support_desk.jsonl"
    )
    env = cli_env(tmp_path, LLMOPS_ASSISTANTS=DOCUMENTED_LINE)
    runs = {}
    for version in ("support_desk_v1", "support_desk_v2"):
        result = run_llmops(env, "eval", "run", "--dataset", str(dataset), "--prompt-version", version)
        assert result.returncode == 0, result.stderr
        runs[version] = result.stdout.splitlines()[0]
        assert "32" in result.stdout  # every case ran
    compared = run_llmops(
        env,
        "eval",
        "compare",
        "support_desk_v1",
        "support_desk_v2",
        "--dataset",
        "support_desk",
        "--format",
        "json",
    )
    assert compared.returncode == 0, compared.stderr
    report = json.loads(compared.stdout)
    assert {report["baseline"]["id"], report["candidate"]["id"]} == set(runs.values())
    wrong_version = run_llmops(
        env, "eval", "run", "--dataset", str(dataset), "--prompt-version", "email_triage_v1"
    )
    assert wrong_version.returncode == 2 and "support_desk" in wrong_version.stderr


def test_the_tool_loop_is_bounded(live_server: Callable[..., LiveServer]) -> None:
    search = ("call_x", "search_kb", '{"query": "returns"}')
    with FakeOpenAIServer(default_reply=FakeReply.calls(search)) as upstream:
        upstream.script(*[FakeReply.calls(search)] * 4, FakeReply.ok("Returns are free within 30 days."))
        server = live_server(
            assistants=DOCUMENTED_LINE,
            provider="openai",
            model="gpt-4o-mini",
            openai_base_url=upstream.base_url,
            openai_api_key="sk-t",
        )
        with server.client() as client:
            response = client.post(
                "/v1/assistants/support_desk/runs", json={"input": {"question": "Returns?"}}
            )
        sent = [request.body for request in upstream.requests]
    assert response.status_code == 200, response.text
    assert response.json()["output"]["answer"] == "Returns are free within 30 days."
    assert [bool(body.get("tools")) for body in sent] == [True, True, True, True, False]
