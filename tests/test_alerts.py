"""Alerts driven by real requests against running servers, delivered to a local signed-webhook
receiver: error/degraded rate, latency spike, negative feedback, budget, eval regression; firing,
de-duplication, re-notification, resolution, retries, a dead webhook, and rate and latency rules at low
traffic."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select, update

from fakes.webhook_receiver import Received, WebhookReceiver
from live import LiveServer
from llmops.alerts.engine import AlertEngine
from llmops.alerts.notifiers import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    LogNotifier,
    WebhookNotifier,
    verify_signature,
)
from llmops.alerts.rules import DEFAULT_RULES, AlertRule, comparison_measurement
from llmops.evals.compare import Verdict, compare_runs
from llmops.storage.tables import alert_events, requests
from test_evals_compare import make_run

SECRET = "whsec_test_0123456789"
EMAIL = {
    "email": {
        "sender": "Dana Ops <dana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Production database down",
        "body": "Checkout is failing for all customers. Please join the bridge.",
    }
}


def _engine(server: LiveServer, rules: Sequence[AlertRule], url: str, **kwargs: object) -> AlertEngine:
    services = server.app.state.services
    notifiers = [
        LogNotifier(services.redactor),
        WebhookNotifier(url, SecretStr(SECRET), services.redactor, timeout_s=2, backoff_initial_s=0.01),
    ]
    return AlertEngine(services.engine, rules, notifiers, services.redactor, **kwargs)  # type: ignore[arg-type]


def _triage(server: LiveServer, count: int) -> list[str]:
    ids = []
    with server.client() as client:
        for _ in range(count):
            response = client.post("/v1/triage", json=EMAIL)
            assert response.status_code == 200, response.text
            ids.append(response.json()["request_id"])
    server.flush()
    return ids


def _verified(received: Received) -> dict[str, object]:
    """The payload, after checking the HMAC over timestamp and raw body as a receiver would."""
    timestamp = received.headers[TIMESTAMP_HEADER]
    assert received.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify_signature(SECRET, timestamp, received.body, received.headers[SIGNATURE_HEADER])
    assert not verify_signature("wrong-secret", timestamp, received.body, received.headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, timestamp, received.body + b" ", received.headers[SIGNATURE_HEADER])
    payload: dict[str, object] = received.json()
    return payload


def test_error_and_degraded_rates_fire_dedup_renotify_and_resolve(
    live_server: Callable[..., LiveServer],
) -> None:
    failing = live_server(scripted_faults="500*", max_retries=0)
    healthy = live_server()
    rules = [
        AlertRule(
            name="errors", kind="error_rate", window_s=3600, min_requests=3, threshold=0.5, renotify_s=60
        ),
        AlertRule(name="degraded", kind="degraded_rate", window_s=3600, min_requests=3, threshold=0.5),
    ]
    with WebhookReceiver() as receiver:
        offset = timedelta()
        alerts = _engine(failing, rules, receiver.url, clock=lambda: datetime.now(UTC) + offset)
        assert alerts.evaluate() == []  # no requests yet: not enough data
        assert {s.state for s in alerts.states()} == {"ok"}

        _triage(failing, 4)
        fired = alerts.evaluate()
        assert sorted((e.rule, e.kind) for e in fired) == [("degraded", "firing"), ("errors", "firing")]
        assert all(e.delivered and e.attempts == 1 and e.value == 1.0 for e in fired)
        payloads = [_verified(r) for r in receiver.received()]
        assert sorted(str(p["rule"]) for p in payloads) == ["degraded", "errors"]
        errors = next(p for p in payloads if p["rule"] == "errors")
        assert errors["event"] == "firing" and errors["state"] == "firing"
        assert errors["value"] == 1.0 and errors["threshold"] == 0.5 and errors["rule_kind"] == "error_rate"

        assert alerts.evaluate() == []  # still firing: de-duplicated
        assert len(receiver.received()) == 2

        offset = timedelta(seconds=61)  # past `errors`' renotify_s, not `degraded`'s (3600)
        again = alerts.evaluate()
        assert [(e.rule, e.kind) for e in again] == [("errors", "renotify")]
        assert _verified(receiver.received()[-1])["event"] == "renotify"

        _triage(healthy, 5)
        resolved = alerts.evaluate()
        assert sorted((e.rule, e.kind) for e in resolved) == [
            ("degraded", "resolved"),
            ("errors", "resolved"),
        ]
        assert {_verified(r)["event"] for r in receiver.received()[-2:]} == {"resolved"}
        assert {s.state for s in alerts.states()} == {"resolved"}
        assert sorted(e.kind for e in alerts.evaluate()) == ["ok", "ok"]  # recorded, not notified
        assert len(receiver.received()) == 5
        history = [(e.rule, e.kind) for e in alerts.history("errors")]
        assert history == [("errors", k) for k in ("ok", "resolved", "renotify", "firing")]


def test_latency_spike_against_the_baseline_fires_and_resolves(
    live_server: Callable[..., LiveServer],
) -> None:
    fast = live_server()
    slow = live_server(scripted_latency_ms=400)  # same database: a second replica, slower
    _triage(fast, 6)
    start = datetime.now(UTC)
    _triage(slow, 5)
    window = math.ceil((datetime.now(UTC) - start).total_seconds()) + 1
    rule = AlertRule(
        name="p95",
        kind="latency_p95",
        window_s=window,
        min_requests=5,
        factor=2.0,
        floor_ms=300.0,
        baseline_s=3600,
    )
    now = {"at": start + timedelta(seconds=window)}
    with WebhookReceiver() as receiver:
        alerts = _engine(fast, [rule], receiver.url, clock=lambda: now["at"])
        [fired] = alerts.evaluate()
        assert fired.kind == "firing" and fired.value is not None and fired.value >= 400
        assert fired.details["baseline_requests"] == 6
        assert fired.threshold == max(2 * fired.details["baseline_p95_ms"], 300.0)
        assert _verified(receiver.received()[0])["rule"] == "p95"

        start = datetime.now(UTC)
        _triage(fast, 6)
        now["at"] = start + timedelta(seconds=window)
        [resolved] = alerts.evaluate()
        assert resolved.kind == "resolved" and resolved.value is not None and resolved.value < 300
        assert _verified(receiver.received()[-1])["event"] == "resolved"


def test_negative_feedback_fires_and_resolves_when_ratings_change(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    ids = _triage(server, 3)
    rule = AlertRule(
        name="unhappy", kind="negative_feedback_rate", window_s=3600, min_requests=3, threshold=0.5
    )
    with WebhookReceiver() as receiver, server.client() as client:
        alerts = _engine(server, [rule], receiver.url)
        for request_id, rating in zip(ids[:2], (-1, -1), strict=True):
            assert client.post("/v1/feedback", json={"request_id": request_id, "rating": rating}).is_success
        [not_enough] = alerts.states()
        assert alerts.evaluate() == [] and not_enough.state == "ok"  # 2 ratings < min_requests
        assert client.post("/v1/feedback", json={"request_id": ids[2], "rating": 1}).is_success
        [fired] = alerts.evaluate()
        assert (fired.kind, fired.threshold) == ("firing", 0.5) and abs((fired.value or 0) - 2 / 3) < 1e-9
        assert _verified(receiver.received()[0])["reason"] == "2 of 3 ratings in 3600s"
        assert client.post("/v1/feedback", json={"request_id": ids[0], "rating": 1}).is_success
        [resolved] = alerts.evaluate()
        assert resolved.kind == "resolved"


@dataclass
class FakeBudget:
    soft_ratio: float
    name: str

    def label(self) -> str:
        return self.name


@dataclass
class FakeUsage:
    ratio: float


@dataclass
class FakeStatus:
    budget: FakeBudget
    usage: FakeUsage
    soft_exceeded: bool
    hard_exceeded: bool


class FakeBudgets:
    def __init__(self) -> None:
        self.ratio = 0.1

    def status(self) -> list[FakeStatus]:
        budget = FakeBudget(0.8, "global:day:tokens")
        return [FakeStatus(budget, FakeUsage(self.ratio), self.ratio >= 0.8, self.ratio >= 1.0)]


def test_budget_soft_and_hard_thresholds(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    budgets = FakeBudgets()
    rules = [
        AlertRule(name="soft", kind="budget", min_requests=0, level="soft"),
        AlertRule(name="hard", kind="budget", min_requests=0, level="hard"),
    ]
    with WebhookReceiver() as receiver:
        alerts = _engine(server, rules, receiver.url, budgets=budgets)
        assert alerts.evaluate() == []
        budgets.ratio = 0.85
        assert [(e.rule, e.kind) for e in alerts.evaluate()] == [("soft", "firing")]
        budgets.ratio = 1.0
        [hard] = alerts.evaluate()
        assert (hard.rule, hard.kind, hard.threshold) == ("hard", "firing", 1.0)
        assert hard.details["budgets"] == ["global:day:tokens"]
        budgets.ratio = 0.2
        assert sorted(e.rule for e in alerts.evaluate() if e.kind == "resolved") == ["hard", "soft"]
        assert len(receiver.received()) == 4
    alerts_without_budgets = _engine(server, rules, "http://127.0.0.1:9/none")
    assert alerts_without_budgets.evaluate() == []  # no budget source: nothing to evaluate


def test_eval_regression_fires_on_a_regression_and_resolves_on_a_later_comparison(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    ids = [f"case-{i}" for i in range(20)]
    baseline = make_run({i: 1.0 for i in ids}, critical={"case-0"}, version="v7", run_id="a")
    worse = make_run({i: 1.0 for i in ids} | {"case-0": 0.0}, critical={"case-0"}, version="v8", run_id="b")
    regression = compare_runs(baseline, worse)
    assert regression.verdict is Verdict.REGRESSION
    rule = AlertRule(name="evals", kind="eval_regression", min_requests=0)
    with WebhookReceiver() as receiver:
        alerts = _engine(server, [rule], receiver.url)
        assert alerts.evaluate() == []  # not pinned to versions: driven by `eval compare` only
        fired = alerts.apply(rule, comparison_measurement(regression))
        assert fired is not None and fired.kind == "firing"
        payload = _verified(receiver.received()[0])
        assert payload["details"] == {
            "baseline_run": "a",
            "candidate_run": "b",
            "baseline_version": "v7",
            "candidate_version": "v8",
            "verdict": "REGRESSION",
            "regressions": ["case-0"],
        }
        assert alerts.apply(rule, comparison_measurement(regression)) is None  # de-duplicated
        resolved = alerts.apply(rule, comparison_measurement(compare_runs(baseline, baseline)))
        assert resolved is not None and resolved.kind == "resolved"


def test_webhook_retries_two_500s_then_delivers(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_faults="500*", max_retries=0)
    _triage(server, 2)
    rule = AlertRule(name="errors", kind="error_rate", window_s=3600, min_requests=1, threshold=0.1)
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        [fired] = _engine(server, [rule], receiver.url).evaluate()
        assert [r.status for r in receiver.received()] == [500, 500, 200]
        assert len({r.body for r in receiver.received()}) == 1
        assert (fired.delivered, fired.attempts, fired.error) == (True, 3, None)
        _verified(receiver.received()[-1])
    with server.app.state.services.engine.connect() as connection:
        row = connection.execute(select(alert_events)).one()
    assert (row.kind, row.delivered, row.attempts, row.error) == ("firing", True, 3, None)


def test_two_replicas_evaluating_the_same_breach_notify_once(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_faults="500*", max_retries=0)
    _triage(server, 2)
    rule = AlertRule(name="errors", kind="error_rate", window_s=3600, min_requests=1, threshold=0.1)
    with WebhookReceiver() as receiver:
        first, second = _engine(server, [rule], receiver.url), _engine(server, [rule], receiver.url)
        first.sync_rules()
        second.sync_rules()
        stale = second._read_state("errors")  # replica two read "ok" before replica one fired
        assert [e.kind for e in first.evaluate()] == ["firing"]
        assert not second._swap(stale, state="firing")
        assert second.evaluate() == []
        assert len(receiver.received()) == 1


def test_a_dead_webhook_never_breaks_requests_or_the_loop(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "rules:\n  - {name: degraded_rate, kind: degraded_rate, window_s: 3600, min_requests: 1, threshold: 0.1}\n"
    )
    server = live_server(
        scripted_faults="500*",
        max_retries=0,
        alert_rules=str(rules_file),
        alert_webhook_url="http://127.0.0.1:9/dead",
        alert_webhook_secret=SECRET,
        alert_interval_s=0.1,
    )
    _triage(server, 3)  # every request answers 200 while the server's loop fails to deliver
    alerts: AlertEngine = server.app.state.services.alerts
    deadline = time.monotonic() + 30
    while not alerts.history("degraded_rate") and time.monotonic() < deadline:
        time.sleep(0.1)
    [event] = alerts.history("degraded_rate")
    assert (event.kind, event.delivered, event.error) == ("firing", False, "ConnectError")
    assert event.attempts == 3
    deliveries = {d["notifier"]: d["delivered"] for d in event.details["deliveries"]}
    assert deliveries == {"log": True, "webhook": False}
    _triage(server, 2)


def _spread(server: LiveServer, request_ids: Sequence[str], first: datetime, every: timedelta) -> None:
    """Date the stored requests one `every` apart from `first`, as a deployment serving one request per
    `every` would have written them (the requests themselves were real, just sent back to back)."""
    with server.app.state.services.engine.begin() as connection:
        for i, request_id in enumerate(request_ids):
            connection.execute(
                update(requests)
                .where(requests.c.request_id == request_id)
                .values(created_at=first + i * every)
            )


def test_rate_and_latency_rules_fire_and_resolve_at_low_traffic(
    live_server: Callable[..., LiveServer],
) -> None:
    """Two requests a minute (the default local model serves ~20 per 5 minutes at best): the default
    error-rate and latency rules (5-minute window, 20 requests) widen their window to the latest 20
    requests, so they fire while half of those fail or are slow and resolve once 20 healthy ones have
    replaced them. The same rules with a fixed window never see 20 requests and stay silent."""
    healthy = live_server()
    failing = live_server(scripted_faults="500*", max_retries=0)
    slow = live_server(scripted_latency_ms=400)
    defaults = {rule.name: rule for rule in DEFAULT_RULES}
    errors = defaults["error_rate"].model_copy(update={"name": "low_traffic_errors"})
    p95 = defaults["latency_p95"].model_copy(update={"name": "low_traffic_p95", "floor_ms": 300.0})
    assert (errors.window_s, errors.min_requests, errors.max_window_s) == (300, 20, 3600)
    fixed = [
        rule.model_copy(update={"name": f"fixed_{rule.name}", "max_window_s": 0}) for rule in (errors, p95)
    ]
    t0 = datetime.now(UTC).replace(microsecond=0)
    every = timedelta(seconds=30)
    _spread(healthy, _triage(healthy, 40), t0 - timedelta(minutes=60), every)  # the latency baseline
    incident = [rid for pair in zip(_triage(failing, 10), _triage(slow, 10), strict=True) for rid in pair]
    _spread(healthy, incident, t0 - timedelta(minutes=10) + every, every)  # the last 10 minutes
    now = {"at": t0 + timedelta(seconds=1)}
    with WebhookReceiver() as receiver:
        alerts = _engine(healthy, [errors, p95, *fixed], receiver.url, clock=lambda: now["at"])
        fired = {event.rule: event for event in alerts.evaluate()}
        assert sorted(fired) == ["low_traffic_errors", "low_traffic_p95"]  # the fixed windows: 10 < 20
        assert fired["low_traffic_errors"].value == 0.5 and fired["low_traffic_p95"].value >= 400
        for event in fired.values():
            assert event.kind == "firing" and event.details["count"] == 20
            assert 300 < event.details["window_s"] <= 600  # widened from 5 min to the latest 20 requests
        assert fired["low_traffic_p95"].details["baseline_requests"] == 40
        assert {str(_verified(r)["rule"]) for r in receiver.received()} == set(fired)
        assert {s.rule: s.state for s in alerts.states()}["fixed_low_traffic_errors"] == "ok"

        now["at"] = t0 + timedelta(minutes=5)  # no new traffic: the latest 20 requests still breach
        assert alerts.evaluate() == []

        _spread(healthy, _triage(healthy, 20), t0 + timedelta(minutes=5) + every, every)
        now["at"] = t0 + timedelta(minutes=15, seconds=1)
        resolved = {event.rule: event for event in alerts.evaluate()}
        assert {rule: event.kind for rule, event in resolved.items()} == {
            "low_traffic_errors": "resolved",
            "low_traffic_p95": "resolved",
        }
        assert resolved["low_traffic_errors"].value == 0.0 and resolved["low_traffic_p95"].value < 300
