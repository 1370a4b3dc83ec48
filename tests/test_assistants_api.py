"""Assistants as plugins over HTTP: the list, one typed route per assistant, the generic run path,
the degraded hook, and request rows under each assistant's name (SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from live import LiveServer
from llmops.assistant.schema import Category

ECHO = "echo_assistant:echo,echo_assistant:EchoWithoutFallback"


def _request_row(client: Any, request_id: str) -> dict[str, Any]:
    response = client.get(f"/api/requests/{request_id}")
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()["request"]
    return row


def test_the_list_shows_every_assistant_with_schemas_and_an_example(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(assistants=ECHO)
    with server.client() as client, server.client(authenticated=False) as anonymous:
        listed = client.get("/v1/assistants").json()["assistants"]
        unauthenticated = anonymous.get("/v1/assistants")
    by_name = {item["name"]: item for item in listed}
    assert {"echo", "echo_strict", "email_gatekeeper"} <= set(by_name)
    gatekeeper = by_name["email_gatekeeper"]
    assert gatekeeper["prompt"] == "email_triage"
    assert gatekeeper["route"] == "/v1/assistants/email_gatekeeper/runs"
    assert "sender" in gatekeeper["input_schema"]["properties"]
    assert "category" in gatekeeper["output_schema"]["properties"]
    assert "@" in gatekeeper["example_input"]["sender"]
    assert by_name["echo"]["example_input"] == {"text": "Is the launch on Thursday?"}
    assert unauthenticated.status_code == 401


def test_openapi_shows_each_assistants_real_schemas(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(assistants=ECHO)
    with server.client() as client:
        spec = client.get("/openapi.json").json()
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    assert {"/v1/assistants", "/v1/assistants/echo/runs", "/v1/assistants/email_gatekeeper/runs"} <= set(
        paths
    )
    assert "/v1/assistants/{name}/runs" not in paths
    assert schemas["EchoRunRequest"]["properties"]["input"]["$ref"].endswith("Question")
    assert schemas["EchoRunReply"]["properties"]["output"]["$ref"].endswith("Answer")
    assert schemas["EmailGatekeeperRunRequest"]["properties"]["input"]["$ref"].endswith("/Email")
    assert schemas["EmailGatekeeperRunReply"]["properties"]["output"]["$ref"].endswith("/Triage")


def test_the_gatekeeper_runs_through_the_generic_route(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    with server.client() as client:
        example = client.get("/v1/assistants").json()["assistants"][0]["example_input"]
        response = client.post(
            "/v1/assistants/email_gatekeeper/runs", json={"input": example, "user_id": "u-1"}
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        assert set(reply) == {
            "request_id", "output", "prompt_version", "model", "provider", "usage", "cost_usd",
            "latency_ms", "retries", "degraded",
        }  # fmt: skip
        assert reply["output"]["category"] in set(Category)
        assert reply["prompt_version"] == "email_triage_v2" and reply["provider"] == "scripted"
        pinned = client.post(
            "/v1/assistants/email_gatekeeper/runs",
            json={"input": example, "prompt_version": "email_triage_v1"},
        ).json()
        assert pinned["prompt_version"] == "email_triage_v1"
        server.flush()
        row = _request_row(client, reply["request_id"])
    assert row["assistant"] == "email_gatekeeper"
    assert row["category"] == reply["output"]["category"]


def test_a_plugin_assistant_is_served_traced_and_recorded_under_its_name(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(assistants=ECHO, scripted_reply="Is the launch on Thursday?")
    with server.client() as client:
        response = client.post(
            "/v1/assistants/echo/runs", json={"input": {"text": "Is the launch on Thursday?"}}
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["output"] == {"text": "Is the launch on Thursday?", "words": 5}
        assert (reply["prompt_version"], reply["degraded"]) == ("echo_v1", False)
        v2 = client.post(
            "/v1/assistants/echo/runs", json={"input": {"text": "hi"}, "prompt_version": "echo_v2"}
        ).json()
        assert v2["prompt_version"] == "echo_v2"
        server.flush()
        row = _request_row(client, reply["request_id"])
        trace = client.get(f"/api/requests/{reply['request_id']}").json()
    assert (row["assistant"], row["category"], row["prompt_version"]) == ("echo", "long", "echo_v1")
    names = {span["name"] for span in trace["spans"]}
    assert {"POST /v1/assistants/echo/runs", "execute_tool count_words", "chat scripted-1"} <= names


def test_the_degraded_hook_answers_when_every_provider_fails(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(assistants=ECHO, scripted_faults="500*")
    with server.client() as client:
        degraded = client.post("/v1/assistants/echo/runs", json={"input": {"text": "anyone there?"}})
        strict = client.post("/v1/assistants/echo_strict/runs", json={"input": {"text": "anyone there?"}})
        server.flush()
        row = _request_row(client, degraded.json()["request_id"])
    assert degraded.status_code == 200, degraded.text
    body = degraded.json()
    assert body["degraded"] is True and body["output"]["text"] == "The model is unavailable."
    assert (body["provider"], body["model"]) == ("fallback", "fallback")
    assert row["status"] == "degraded" and row["assistant"] == "echo"
    assert strict.status_code == 503
    assert strict.json()["error"]["type"] == "unavailable"


def test_bad_runs_get_the_one_error_shape(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(assistants=ECHO + ",echo_assistant:WrongOutput")
    with server.client() as client:
        unknown = client.post("/v1/assistants/nope/runs", json={"input": {}})
        invalid = client.post("/v1/assistants/echo/runs", json={"input": {"text": ""}})
        extra = client.post("/v1/assistants/echo/runs", json={"input": {"text": "x"}, "secret_field": 1})
        other_prompt = client.post(
            "/v1/assistants/echo/runs", json={"input": {"text": "x"}, "prompt_version": "email_triage_v1"}
        )
        missing_version = client.post(
            "/v1/assistants/echo/runs", json={"input": {"text": "x"}, "prompt_version": "echo_v99"}
        )
    with server.client() as client:  # Starlette closes the connection after an unhandled error
        buggy = client.post("/v1/assistants/echo_wrong/runs", json={"input": {"text": "x"}})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
    assert buggy.status_code == 500 and buggy.json()["error"] == {
        "type": "internal_error",
        "message": "internal error",
    }
    assert invalid.status_code == 422 and invalid.json()["error"]["fields"][0]["field"] == "input.text"
    assert extra.status_code == 422
    for response in (other_prompt, missing_version):
        assert response.status_code == 422, response.text
        assert "prompt_version" in response.json()["error"]["message"]
        assert "echo_v99" not in response.text


def test_replies_and_captured_content_of_a_plugin_are_redacted(
    live_server: Callable[..., LiveServer],
) -> None:
    planted = "dana.secret@northwind.example"
    server = live_server(
        assistants=ECHO, scripted_reply=f"Write to {planted} today.", capture_content="redacted"
    )
    with server.client() as client:
        reply = client.post(
            "/v1/assistants/echo/runs", json={"input": {"text": f"mail {planted} please"}}
        ).json()
        server.flush()
        trace = client.get(f"/api/requests/{reply['request_id']}").json()
    assert planted not in reply["output"]["text"] and "Write to" in reply["output"]["text"]
    tool = next(span for span in trace["spans"] if span["name"] == "execute_tool count_words")
    assert "gen_ai.tool.call.arguments" in tool["attributes"]  # captured ...
    assert planted not in str(trace)  # ... and redacted, like every other attribute
