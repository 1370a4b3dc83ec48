"""The OpenAPI document tells the truth: security, statuses, content types and input rules."""

from __future__ import annotations

from collections.abc import Callable

from live import LiveServer

EMAIL = {"sender": "ops@northwind.example", "recipients": ["me@northwind.example"], "body": "hi"}


def test_the_document_names_its_security_error_shape_and_content_types(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    with server.client(authenticated=False) as client:
        spec = client.get("/openapi.json").json()
    components = spec["components"]
    assert components["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`.",
    }
    assert "HTTPValidationError" not in components["schemas"] and "ErrorBody" in components["schemas"]
    triage = spec["paths"]["/v1/triage"]["post"]
    assert triage["security"] == [{"bearerAuth": []}]
    assert set(triage["responses"]) == {"200", "400", "401", "413", "422", "429", "503"}
    error = triage["responses"]["401"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert spec["paths"]["/healthz"]["get"].get("security") is None
    email = components["schemas"]["Email"]["properties"]
    assert email["sender"]["pattern"] == "@"
    rating = components["schemas"]["FeedbackIn"]["properties"]["rating"]
    assert (rating["type"], rating["minimum"], rating["maximum"]) == ("integer", -1, 1)
    statuses = {p["name"]: p for p in spec["paths"]["/api/requests"]["get"]["parameters"]}["status"]
    assert statuses["schema"]["anyOf"][0]["enum"] == ["ok", "degraded", "error"]


def test_the_service_answers_as_documented(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    with server.client() as client:
        metrics = client.get("/metrics")
        no_at = client.post("/v1/triage", json={"email": {**EMAIL, "sender": "nobody"}})
        request_id = client.post("/v1/triage", json={"email": EMAIL}).json()["request_id"]
        whole = client.post("/v1/feedback", json={"request_id": request_id, "rating": -1.0})
        half = client.post("/v1/feedback", json={"request_id": request_id, "rating": 0.5})
        unix = client.get("/api/overview", params={"until": "0.5"})
        bogus = client.get("/api/requests", params={"status": "bogus"})
        bad_range = client.get("/api/overview", params={"range": "bogus"})
        not_allowed = client.put("/v1/feedback")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert no_at.status_code == 422 and "sender" in no_at.json()["error"]["message"]
    assert whole.status_code == 201 and whole.json()["rating"] == -1
    assert half.status_code == 422
    assert unix.status_code == bogus.status_code == bad_range.status_code == 422
    assert not_allowed.status_code == 405
    assert set(not_allowed.headers["allow"].split(", ")) >= {"GET", "POST"}
