"""Dashboard: sign-in and CSRF, every page behind the session, the request waterfall, no leaks, JSON API."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest

from live import LiveServer
from llmops.dashboard import views
from llmops.reporting.filters import Filters
from llmops.reporting.queries import build_report
from llmops.reporting.render import dollars, percent, seconds
from llmops.reporting.window import Window
from llmops.storage.db import make_engine
from processes import clean_env, run_llmops

PLANTED_CARD = "4111 1111 1111 1111"
PLANTED_EMAIL = "jane.secret.roe@personal-mail.example"
PLANTED_KEY = "sk-proj-Zx9Qm2Lp8Rt4Vw6Yb1Nc3Kd5Fg7Hj0Qa2Ws4Ed6Rf8"
EMAIL = {
    "sender": f"Jane Roe <{PLANTED_EMAIL}>",
    "recipients": ["me@northwind.example"],
    "subject": f"Production database down, card {PLANTED_CARD}",
    "body": f"Checkout is failing. My key is {PLANTED_KEY}, write to {PLANTED_EMAIL}. Please join the bridge.",
}
PAGES = ["/", "/?range=1h", "/?range=7d", "/latency", "/requests", "/prompts", "/evals", "/alerts"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def sign_in(server: LiveServer, key: str | None = None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        yield _signed_in(client, key or server.key)


def _signed_in(client: httpx.Client, key: str) -> httpx.Client:
    form = client.get("/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    reply = client.post("/login", data={"api_key": key, "csrf_token": token, "next": "/requests"})
    assert reply.status_code == 303 and reply.headers["location"] == "/requests"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return client


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> tuple[LiveServer, str]:
    """A server with one triaged email carrying planted secrets, and feedback on it."""
    running = live_server()
    with running.client() as client:
        reply = client.post("/v1/triage", json={"email": EMAIL}).json()
        running.flush()
        notes = {"request_id": reply["request_id"], "rating": -1, "notes": f"wrong, mail {PLANTED_EMAIL}"}
        assert client.post("/v1/feedback", json=notes).status_code == 201
    return running, reply["request_id"]


def test_pages_need_a_session_and_render_without_leaking(server: tuple[LiveServer, str]) -> None:
    running, request_id = server
    pages = [*PAGES, f"/requests/{request_id}", "/prompts/diff?a=email_triage_v1&b=email_triage_v2"]
    with httpx.Client(base_url=running.base_url, timeout=60) as anonymous:
        for path in pages:
            reply = anonymous.get(path)
            assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next="), path
        bearer_only = anonymous.get("/", headers={"Authorization": f"Bearer {running.key}"})
        assert bearer_only.status_code == 303
    with sign_in(running) as client:
        for path in pages:
            reply = client.get(path)
            assert reply.status_code == 200, path
            for planted in (PLANTED_CARD, PLANTED_EMAIL, PLANTED_KEY, "4111111111111111"):
                assert planted not in reply.text, path
        detail = client.get(f"/requests/{request_id}").text
        assert 'data-testid="waterfall"' in detail
        for name in ("POST /v1/triage", "parse_email", "chat scripted-1", "validate_output"):
            assert f'data-span-name="{name}"' in detail
        assert 'data-testid="feedback"' in detail and 'data-testid="triage"' in detail
        assert "[EMAIL]" in detail
        listing = client.get("/requests", params={"request_id": request_id}).text
        assert listing.count('data-testid="request-row"') == 1
        assert (
            client.get("/requests", params={"status": "error"}).text.count('data-testid="request-row"') == 0
        )
        assert client.get("/requests/nope").status_code == 404
        diff = client.get("/prompts/diff", params={"a": "email_triage_v1", "b": "email_triage_v2"}).text
        assert 'class="add"' in diff and "<script" not in diff.lower()


def test_csrf_and_sign_out(server: tuple[LiveServer, str]) -> None:
    running, _ = server
    with httpx.Client(base_url=running.base_url, timeout=60) as client:
        client.get("/login")
        no_token = client.post("/login", data={"api_key": running.key})
        assert no_token.status_code == 403
        wrong_token = client.post("/login", data={"api_key": running.key, "csrf_token": "forged"})
        assert wrong_token.status_code == 403
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        bad_key = client.post("/login", data={"api_key": "llmops_wrong", "csrf_token": token})
        assert bad_key.status_code == 401 and 'data-testid="login-error"' in bad_key.text
    with sign_in(running) as client:
        assert client.post("/logout").status_code == 403
        assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
        assert client.get("/").status_code == 200
        token = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        out = client.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert client.get("/").status_code == 303
    with httpx.Client(base_url=running.base_url, timeout=60) as client:
        client.cookies.set("llmops_session", "e30.0000")
        assert client.get("/").status_code == 303


def test_json_api_shapes_and_auth(server: tuple[LiveServer, str]) -> None:
    running, request_id = server
    with httpx.Client(base_url=running.base_url, timeout=60) as anonymous:
        unauthenticated = anonymous.get("/api/overview")
        assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["type"]
    with running.client() as client:
        overview = client.get("/api/overview", params={"range": "24h"}).json()
        assert overview["report"]["requests"] == 1 and overview["headline"]["total_requests"] == "1"
        assert sum(point["requests"] for point in overview["timeseries"]) == 1
        series = client.get("/api/timeseries", params={"range": "1h", "model": "nope"}).json()
        assert series["points"] == [] and series["filters"]["model"] == "nope"
        steps = client.get("/api/steps").json()["steps"]
        assert {"tool", "model", "step"} <= {row["kind"] for row in steps}
        assert abs(sum(row["share"] for row in steps) - 1) < 1e-9
        assert client.get("/api/steps", params={"model": "nope"}).json()["steps"] == []
        assert client.get("/api/steps", params={"provider": "scripted"}).json()["steps"] == steps
        page = client.get("/api/requests", params={"limit": 1}).json()
        assert [item["request_id"] for item in page["items"]] == [request_id] and page["next_cursor"] is None
        assert client.get("/api/requests", params={"cursor": "garbage"}).status_code == 422
        detail = client.get(f"/api/requests/{request_id}").json()
        assert detail["request"]["request_id"] == request_id and detail["feedback"]["rating"] == -1
        assert any(span["name"] == "POST /v1/triage" for span in detail["spans"])
        assert client.get("/api/requests/nope").status_code == 404
        prompts = client.get("/api/prompts").json()["versions"]
        assert {"email_triage_v1", "email_triage_v2"} <= {row["version"] for row in prompts}
        assert client.get("/api/evals").json() == {"runs": [], "comparison": None}
        assert client.get("/api/evals", params={"baseline": "a", "candidate": "b"}).status_code == 404
        alerts = client.get("/api/alerts").json()
        assert set(alerts) == {"rules", "states", "events", "budgets", "budget_usage"}
        text = "".join(client.get(p).text for p in ("/api/overview", f"/api/requests/{request_id}"))
        assert PLANTED_EMAIL not in text and PLANTED_KEY not in text
    with sign_in(running) as session_client:
        assert session_client.get("/api/overview").status_code == 200
        latency = session_client.get("/latency", params={"range": "1h", "model": "nope"}).text
        assert 'data-testid="no-steps"' in latency and 'href="/latency?range=7d&amp;model=nope"' in latency


def test_overview_numbers_equal_the_report(server: tuple[LiveServer, str]) -> None:
    running, _ = server
    with running.client() as client:
        for _ in range(3):
            client.post("/v1/triage", json={"email": EMAIL})
    running.flush()
    engine = make_engine(running.settings.resolved_database_url)
    try:
        window = Window.last(timedelta(hours=24))
        view = views.overview(engine, "24h", window, Filters())
        report = build_report(engine, window)
    finally:
        engine.dispose()
    assert view.report == report and report.requests == 4
    assert view.headline.total_requests == "4"
    assert view.headline.avg_latency == seconds(report.avg_latency_ms)
    assert view.headline.p95_latency == seconds(report.p95_latency_ms)
    assert view.headline.total_cost == dollars(report.cost_usd)
    assert view.headline.error_rate == percent(report.error_rate)
    with sign_in(running) as client:
        html = client.get("/").text
        other_model = client.get("/", params={"model": "another-model"}).text
        same_model = client.get("/", params={"model": "scripted-1", "provider": "scripted"}).text
    assert 'data-testid="total-requests" data-value="4">4<' in html
    assert 'data-testid="avg-latency"' in html and f">{seconds(report.avg_latency_ms)}<" in html
    # The model and provider filters narrow the headline figures, not only the charts.
    assert 'data-testid="total-requests" data-value="0">0<' in other_model
    assert 'data-testid="total-requests" data-value="4">4<' in same_model


def test_a_revoked_key_is_refused_and_its_dashboard_sessions_end(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    env = clean_env(LLMOPS_DATABASE_URL=server.settings.resolved_database_url)
    created = [run_llmops(env, "keys", "create") for _ in range(2)]
    assert [result.returncode for result in created] == [0, 0]
    revoked_key, kept_key = (result.stdout.strip() for result in created)
    prefix = revoked_key[: len("llmops_") + 4]
    listed = run_llmops(env, "keys", "list")
    assert listed.returncode == 0 and prefix in listed.stdout
    assert revoked_key not in listed.stdout and kept_key not in listed.stdout

    def status(key: str) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(
            f"{server.base_url}/v1/triage", json={"email": EMAIL}, headers=headers, timeout=60
        ).status_code

    with sign_in(server, revoked_key) as session:
        assert status(revoked_key) == 200 and session.get("/").status_code == 200
        revoke = run_llmops(env, "keys", "revoke", prefix)
        assert revoke.returncode == 0, revoke.stderr
        deadline = time.monotonic() + 10  # replicas cache the active keys for 5 s
        while status(revoked_key) != 401:
            assert time.monotonic() < deadline, "the revoked key is still accepted"
            time.sleep(0.5)
        assert session.get("/").status_code == 303  # the session opened with it ended
        assert session.get("/api/overview").status_code == 401
    assert status(kept_key) == 200
    with sign_in(server, kept_key) as session:
        assert session.get("/").status_code == 200

    again = run_llmops(env, "keys", "revoke", revoked_key)
    unknown = run_llmops(env, "keys", "revoke", "llmops_")
    assert again.returncode == 2 and "no active key" in again.stderr and revoked_key not in again.stderr
    assert unknown.returncode == 2 and "prefix" in unknown.stderr
    listed = run_llmops(env, "keys", "list").stdout
    revoked_line = next(line for line in listed.splitlines() if prefix in line)
    assert len(revoked_line.split()) == 5  # prefix, created date and time, revoked date and time


def test_far_dates_and_step_outliers_render(server: tuple[LiveServer, str]) -> None:
    """A window at either end of the accepted dates renders (no OverflowError), a date past them is
    refused with 422 (never a 500), and a step whose average is above its p95 (one slow outlier) is
    flagged on the latency page with the reason."""
    running, _ = server
    with sign_in(running) as client:
        for until, status in (
            ("2999-12-31T23:59:00Z", 200),
            ("1970-01-01T00:30:00Z", 200),
            ("9999-12-31T23:59:00Z", 422),
            ("0001-01-01T00:30:00Z", 422),
        ):
            for time_range in ("1h", "30d", "all"):
                reply = client.get("/", params={"range": time_range, "until": until})
                assert reply.status_code == status, (until, time_range)
    from llmops.dashboard.routes import TEMPLATES
    from llmops.reporting.models import StepSummary

    engine = make_engine(running.settings.resolved_database_url)
    try:
        report = build_report(engine, Window.last(timedelta(hours=24)))
    finally:
        engine.dispose()
    slow = StepSummary(
        name="execute_tool lookup_contact", calls=40, errors=0, error_rate=0.0, avg_ms=900.0, p95_ms=12.0
    )
    report = report.model_copy(update={"steps": [slow]})
    shares = views.step_shares(report)
    assert [share.outlier for share in shares] == [True]
    html = TEMPLATES.get_template("latency.html").render(
        report=report,
        shares=shares,
        range_name="24h",
        ranges=["24h"],
        filters=Filters(),
        choices=None,
        filter_fields=(),
        filter_query="",
        page="latency",
        csrf_token="",
        signed_in=True,
    )
    assert 'data-testid="outlier"' in html and 'data-testid="outlier-note"' in html
    assert "a few very slow calls" in html
