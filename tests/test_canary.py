"""Canary releases end to end: sticky routing, and the controller rolling back a bad canary, promoting
a good one and holding an inconclusive one, on request rows written by real requests.

To make one arm worse deterministically, two servers share one database (so they share labels, the
pseudonym key and the request rows): every request is sent with a user id, the test computes the
user's arm with the same pseudonym and hash the servers use, and sends canary users to a second
server whose scripted provider fails (`500*`) or is slow. Each reply's `prompt_version` proves the
server routed the user to the arm the test expected, so the figures the controller judges come from
real routing, real pipelines and the real exporter."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from live import SAMPLES, LiveServer
from llmops.canary.compare import ArmFigures, Guardrails, exceeds_more_often, guardrail_failures, nearest_rank
from llmops.canary.controller import CONTROLLER, CanaryController, Decision
from llmops.prompts.labels import LabelMovedError, LabelStore
from llmops.prompts.registry import PromptRegistry
from llmops.prompts.router import in_canary
from llmops.storage.db import make_engine
from llmops.storage.tables import spans
from llmops.telemetry import conventions as c

V7, V8 = "email_triage_v7", "email_triage_v8"
EMAIL = {"email": json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])["email"]}


@given(st.text(min_size=1, max_size=40), st.floats(0, 1), st.floats(0, 1))
def test_assignment_is_sticky_and_raising_the_share_only_adds_users(user: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert in_canary(user, low) == in_canary(user, low)
    if in_canary(user, low):
        assert in_canary(user, high)
    assert not in_canary(user, 0.0)


def test_share_splits_users_roughly_as_asked() -> None:
    inside = sum(in_canary(f"u_{i:05d}", 0.1) for i in range(10_000))
    assert 850 < inside < 1150


def _send(server: LiveServer, user: str, expected_version: str) -> None:
    with server.client() as client:
        response = client.post("/v1/triage", json={**EMAIL, "user_id": user})
    assert response.status_code == 200, response.text
    assert response.json()["prompt_version"] == expected_version


def _traffic(healthy: LiveServer, canary_server: LiveServer, users: int, share: float) -> None:
    telemetry = healthy.app.state.services.telemetry
    for i in range(users):
        user = f"user-{i}"
        pseudonym = telemetry.pseudonymise(user)
        assert pseudonym is not None
        if in_canary(pseudonym, share):
            _send(canary_server, user, V8)
        else:
            _send(healthy, user, V7)
    healthy.flush()
    canary_server.flush()


@pytest.fixture
def quiet_gc() -> Iterator[None]:
    """The servers share the test process's heap, where one full garbage collection pauses every thread
    for about 100 ms (measured); two such pauses in the production arm lift its 20-sample p95 past the
    slow arm's. Freezing the objects that exist now keeps collections short for the test's duration."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


BAD_ARMS = {"errors": {"scripted_faults": "500*", "max_retries": 0}, "slower": {"scripted_latency_ms": 250.0}}


@pytest.mark.parametrize("bad", sorted(BAD_ARMS))
def test_bad_canary_rolled_back_good_canary_promoted_thin_canary_held(
    live_server: Callable[..., LiveServer], bad: str, quiet_gc: None
) -> None:
    common = {"prompt_label_ttl_s": 0, "canary_interval_s": 3600}
    healthy = live_server(**common)
    faulty = live_server(**common, **BAD_ARMS[bad])
    engine = make_engine(healthy.settings.resolved_database_url)
    labels = LabelStore(engine, PromptRegistry.from_directory())
    # The slow arm is 250 ms slower; a 150 ms slack keeps scheduler noise on a loaded 2-core machine
    # from making the healthy canary look slower, and still catches the slow one.
    # v8 picks the category without the rules' suggestion, so it disagrees with the rules where v7
    # never does; allowing any disagreement keeps this test about errors and latency (the figure is
    # still compared: see the promoted canary's figures).
    guardrails = Guardrails(min_requests=8, p95_slack_ms=150.0, max_rule_disagreement_delta=1.0)
    controller = CanaryController(engine, labels, guardrails, healthy.settings.prompt_version)
    try:
        labels.set("email_triage", "production", V7, by="test", reason="baseline")
        controller.start(V8, 0.5, by="test")

        assert controller.run_once() is not None
        assert controller.decisions()[0].decision is Decision.HOLD  # no requests yet: inconclusive

        _traffic(healthy, faulty, users=40, share=0.5)
        record = controller.run_once()
        assert record is not None and record.decision is Decision.ROLLBACK, record and record.figures
        assert record.figures["canary"]["requests"] >= 8 and record.figures["failures"]
        canary_label = labels.get("email_triage", "canary")
        assert canary_label is not None and canary_label.traffic_share == 0.0
        assert controller.active() is None
        _send(healthy, "user-0", V7)  # everyone is on production again
        _send(healthy, _canary_user(healthy), V7)

        controller.start(V8, 0.5, by="test")  # a fresh window: the bad arm's rows do not count
        _traffic(healthy, healthy, users=40, share=0.5)
        record = controller.run_once()
        assert record is not None and record.decision is Decision.PROMOTE, record.figures
        assert record.figures["production"]["rule_disagreement_rate"] == 0.0
        assert record.figures["canary"]["rule_disagreement_rate"] > 0.0
        production = labels.get("email_triage", "production")
        assert production is not None and production.version_id == V8
        assert controller.active() is None

        assert [d.decision for d in controller.decisions()] == [
            Decision.PROMOTE,
            Decision.ROLLBACK,
            Decision.HOLD,
        ]
        with engine.connect() as connection:
            flags = [
                json.loads(raw).get("llmops.canary")
                for raw in connection.execute(select(spans.c.attributes).where(spans.c.name == c.ROOT_SPAN))
                .scalars()
                .all()
            ]
        assert True in flags and False in flags
    finally:
        engine.dispose()


def _canary_user(server: LiveServer) -> str:
    telemetry = server.app.state.services.telemetry
    return next(
        u for u in (f"user-{i}" for i in range(100)) if in_canary(telemetry.pseudonymise(u) or "", 0.5)
    )


def test_replicas_deciding_at_once_act_once_and_holds_are_not_recorded_every_interval(
    migrated_engine: Engine,
) -> None:
    """Two controllers on one database stand for two replicas: both compare, both decide to roll back;
    the first acts, the second finds the canary label moved and changes and records nothing."""
    now = [datetime(2026, 12, 1, 12, tzinfo=UTC)]
    labels = LabelStore(migrated_engine, PromptRegistry.from_directory())

    def replica() -> CanaryController:
        return CanaryController(migrated_engine, labels, Guardrails(min_requests=5), V7, clock=lambda: now[0])

    first, second = replica(), replica()
    labels.set("email_triage", "production", V7, by="test", reason="baseline")
    with pytest.raises(ValueError, match="already production"):
        first.start(V7, 0.2, by="test")
    first.start(V8, 0.2, by="test")

    # No traffic yet: the automatic controller records one hold, then stays quiet for `hold_every`,
    # on every replica; a person asking (`llmops canary evaluate`) always gets a recorded decision.
    assert first.run_once() is not None
    assert first.run_once() is None and second.run_once() is None
    assert second.run_once(by="ana") is not None
    now[0] += first.hold_every + timedelta(seconds=1)
    assert second.run_once() is not None
    assert [d.decision for d in first.decisions()] == [Decision.HOLD] * 3

    seen_by_first, seen_by_second = first.compare(), second.compare()
    first.apply(Decision.ROLLBACK, seen_by_first, by=CONTROLLER)
    with pytest.raises(LabelMovedError):
        second.apply(Decision.ROLLBACK, seen_by_second, by=CONTROLLER)
    assert [d.decision for d in first.decisions()] == [Decision.ROLLBACK] + [Decision.HOLD] * 3
    canary_moves = labels.history("email_triage", "canary")
    assert [(m.version_id, m.traffic_share) for m in canary_moves] == [(V8, 0.0), (V8, 0.2)]

    # A restarted canary is a new run: a decision made on the old one cannot touch it.
    first.start(V8, 0.5, by="test")
    with pytest.raises(LabelMovedError):
        second.apply(Decision.PROMOTE, seen_by_second, by=CONTROLLER)
    production = labels.get("email_triage", "production")
    assert production is not None and production.version_id == V7
    assert second.run_once() is not None  # the new run's first hold is recorded at once


def _arm(version: str, latencies: list[float]) -> ArmFigures:
    return ArmFigures(
        version=version,
        requests=len(latencies),
        error_rate=0.0,
        median_latency_ms=nearest_rank(latencies, 0.5),
        p95_latency_ms=nearest_rank(latencies, 0.95),
        cost_per_request_usd=None,
        schema_valid_rate=1.0,
        negative_feedback_rate=0.0,
    )


def test_a_uniformly_slower_canary_fails_even_when_production_p95_is_noisy() -> None:
    """The CI flake, as figures: two 130 ms pauses in a 20-request production arm make its p95 130 ms,
    so a canary 250 ms slower on every request passes the p95 guardrail; the median one catches it."""
    guardrails = Guardrails(min_requests=8, p95_slack_ms=150.0)
    production = _arm(V7, [30.0] * 18 + [130.0] * 2)
    slow = _arm(V8, [280.0] * 20)
    assert production.p95_latency_ms == 130.0
    failures = guardrail_failures(slow, production, guardrails)
    assert [line.split(" latency")[0] for line in failures] == ["median"]

    healthy_with_pauses = _arm(V8, [30.0] * 18 + [130.0] * 2)
    assert guardrail_failures(healthy_with_pauses, _arm(V7, [30.0] * 20), guardrails) == []
    slower_tail = _arm(V8, [30.0] * 17 + [400.0] * 3)
    assert [
        line.split(" latency")[0] for line in guardrail_failures(slower_tail, production, guardrails)
    ] == ["p95"]


@given(
    st.lists(st.sampled_from([10.0, 50.0, 100.0, 300.0]), min_size=1, max_size=60),
    st.lists(st.sampled_from([10.0, 50.0, 100.0, 300.0]), min_size=1, max_size=60),
    st.sampled_from([10.0, 50.0, 100.0]),
)
def test_tail_test_is_fishers_exact_test(
    canary: list[float], production: list[float], threshold: float
) -> None:
    above_canary = sum(value > threshold for value in canary)
    above_production = sum(value > threshold for value in production)
    table = [
        [above_canary, len(canary) - above_canary],
        [above_production, len(production) - above_production],
    ]
    expected = scipy.stats.fisher_exact(table, alternative="greater").pvalue
    assert exceeds_more_often(canary, production, threshold) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_stray_pauses_in_a_healthy_canary_do_not_fail_p95_but_a_slower_tail_does() -> None:
    guardrails = Guardrails()  # the defaults: p95 x1.5 and +50 ms, tail test at 5%
    production_latencies = [30.0 + 0.2 * i for i in range(100)]  # p95 48.8 ms, five requests above it
    production = _arm(V7, production_latencies)
    threshold = production.p95_latency_ms
    assert threshold == pytest.approx(48.8)
    paused = production_latencies[:94] + [400.0] * 6  # six pauses lift its p95 to 400 ms
    tail_p = exceeds_more_often(paused, production_latencies, threshold)
    assert tail_p > 0.3  # 6 of 100 above production's p95, where production has 5 of 100
    assert guardrail_failures(_arm(V8, paused), production, guardrails) != []  # ungated: a false alarm
    assert guardrail_failures(_arm(V8, paused), production, guardrails, tail_p) == []
    slower_tail = production_latencies[:80] + [400.0] * 20
    tail_p = exceeds_more_often(slower_tail, production_latencies, threshold)
    assert tail_p < 0.01  # 20 of 100 above it
    assert guardrail_failures(_arm(V8, slower_tail), production, guardrails, tail_p)[0].startswith("p95")
