"""Budgets: rolling windows, check-and-reserve, settle, isolation per user and key, the 429 users see."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from live import SAMPLES, TEST_KEY, LiveServer
from llmops.budgets.models import Budget, BudgetExceededError, parse_budgets
from llmops.budgets.store import Amount, BudgetStore, Subjects
from llmops.storage.api_keys import hash_key

EMAIL = json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])["email"]
OTHER_KEY = "llmops_other_key_0123456789abcdefghijklmnopqrstuvwxyzABCDE"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_spec_parses_and_rejects_bad_items() -> None:
    parsed = parse_budgets("global:day:cost_usd=5, user:hour:tokens=20000", 0.5)
    assert [(b.label(), b.hard_limit, b.soft_ratio, b.subject) for b in parsed] == [
        ("global:day:cost_usd", 5.0, 0.5, ""),
        ("user:hour:tokens", 20000.0, 0.5, ""),
    ]
    for bad in ("global:day=5", "team:day:tokens=5", "global:week:tokens=5", "global:day:tokens=x"):
        with pytest.raises(ValueError):
            parse_budgets(bad, 0.8)


def test_rolling_window_expires_bucket_by_bucket(migrated_engine: Engine) -> None:
    clock = Clock()
    store = BudgetStore(migrated_engine, clock=clock)
    store.set([Budget(scope="global", window="hour", metric="tokens", hard_limit=1000)])
    first = store.reserve(Subjects(), Amount(tokens=600))
    store.settle(first, Amount(tokens=400))
    clock.now += timedelta(minutes=20)
    second = store.reserve(Subjects(), Amount(tokens=500))
    store.settle(second, Amount(tokens=500))
    assert store.usage("global", "", "hour", "tokens").used == 900
    clock.now += timedelta(minutes=10)
    with pytest.raises(BudgetExceededError) as refused:
        store.reserve(Subjects(), Amount(tokens=300))
    # The first 400 tokens leave the window an hour after their minute bucket started: 30 min from now.
    assert refused.value.retry_after_s == 30 * 60 - 30
    assert "global:hour:tokens" in str(refused.value)
    clock.now += timedelta(seconds=refused.value.retry_after_s)
    assert store.usage("global", "", "hour", "tokens").used == 500
    store.release(store.reserve(Subjects(), Amount(tokens=300)))
    assert store.usage("global", "", "hour", "tokens").reserved == 0


def test_a_crashed_requests_reservation_stops_counting_after_the_reservation_ttl(
    migrated_engine: Engine,
) -> None:
    clock = Clock()
    store = BudgetStore(migrated_engine, clock=clock)
    store.set([Budget(scope="global", window="day", metric="tokens", hard_limit=1000)])
    store.reserve(Subjects(), Amount(tokens=800))  # never settled: the process died mid-request
    clock.now += timedelta(minutes=30)  # still inside its hour bucket plus the TTL: it may be running
    with pytest.raises(BudgetExceededError):
        store.reserve(Subjects(), Amount(tokens=300))
    clock.now += timedelta(minutes=60)  # the bucket is now older than an hour plus the TTL
    assert store.usage("global", "", "day", "tokens").reserved == 0
    store.settle(store.reserve(Subjects(), Amount(tokens=300)), Amount(tokens=250))
    assert store.usage("global", "", "day", "tokens").used == 250


def test_users_and_keys_are_capped_separately_and_overrides_win(migrated_engine: Engine) -> None:
    store = BudgetStore(migrated_engine, clock=Clock())
    store.set(
        [
            Budget(scope="user", window="day", metric="cost_usd", hard_limit=1.0),
            Budget(scope="user", subject="u_vip", window="day", metric="cost_usd", hard_limit=10.0),
            Budget(scope="api_key", window="month", metric="tokens", hard_limit=100, soft_ratio=0.5),
        ]
    )
    store.settle(store.reserve(Subjects(user="u_a", api_key="k1"), Amount(60, 0.9)), Amount(60, 0.9))
    with pytest.raises(BudgetExceededError) as refused:
        store.reserve(Subjects(user="u_a", api_key="k2"), Amount(10, 0.2))
    assert refused.value.budget.label() == "user:day:cost_usd"
    store.settle(store.reserve(Subjects(user="u_b", api_key="k2"), Amount(10, 0.2)), Amount(10, 0.2))
    store.settle(store.reserve(Subjects(user="u_vip", api_key="k2"), Amount(10, 5.0)), Amount(10, 5.0))
    with pytest.raises(BudgetExceededError) as by_key:
        store.reserve(Subjects(user="u_c", api_key="k1"), Amount(50, 0.1))
    assert by_key.value.budget.label() == "api_key:month:tokens"
    assert store.usage("user", "u_vip", "day", "cost_usd").limit == 10.0
    statuses = {(s.budget.label(), s.budget.subject): s for s in store.status()}
    fullest = statuses[("user:day:cost_usd", "")]
    assert fullest.subject == "u_a" and fullest.soft_exceeded and not fullest.hard_exceeded
    assert statuses[("user:day:cost_usd", "u_vip")].usage.ratio == pytest.approx(0.5)
    per_key = statuses[("api_key:month:tokens", "")]
    assert per_key.subject == "k1" and per_key.usage.used == 60 and per_key.soft_exceeded


def _settled(server: LiveServer) -> BudgetStore:
    return server.app.state.services.budgets.store


def test_tiny_budget_gives_429_with_retry_after_and_usage_is_what_replies_reported(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(budgets="global:hour:tokens=4000,user:hour:tokens=2000")
    replies = []
    with server.client() as client:
        for _ in range(8):
            replies.append(client.post("/v1/triage", json={"email": EMAIL, "user_id": "alice"}))
            if replies[-1].status_code == 429:
                break
        other_user = client.post("/v1/triage", json={"email": EMAIL, "user_id": "bob"})
    ok = [r for r in replies if r.status_code == 200]
    refused = replies[-1]
    assert ok and refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    error = refused.json()["error"]
    assert error["type"] == "rate_limited" and "user:hour:tokens" in error["message"]
    assert "alice" not in refused.text
    assert other_user.status_code == 200
    replied = sum(r.json()["usage"]["input_tokens"] + r.json()["usage"]["output_tokens"] for r in ok)
    user = server.app.state.services.telemetry.pseudonymise("alice")
    usage = _settled(server).usage("user", user, "hour", "tokens")
    assert usage.used == replied and usage.reserved == 0


def test_per_key_budget_isolates_keys(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(budgets="api_key:day:tokens=2500", api_keys=f"{TEST_KEY},{OTHER_KEY}")
    codes: list[int] = []
    with server.client() as client:
        while 429 not in codes and len(codes) < 20:  # the key's budget holds a few triages, not twenty
            codes.append(client.post("/v1/triage", json={"email": EMAIL}).status_code)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {OTHER_KEY}"}) as other:
        other_code = other.post("/v1/triage", json={"email": EMAIL}).status_code
    assert codes[0] == 200 and 429 in codes and other_code == 200
    store = _settled(server)
    first, second = hash_key(TEST_KEY)[:12], hash_key(OTHER_KEY)[:12]
    assert (
        store.usage("api_key", first, "day", "tokens").used
        > store.usage("api_key", second, "day", "tokens").used
        > 0
    )


def test_a_burst_is_admitted_by_the_real_prompt_size_not_a_fixed_overhead(
    live_server: Callable[..., LiveServer],
) -> None:
    """60 requests at once against a 10,000-token cap: reserving each prompt's tokens plus its
    `max_tokens` admits what fits (a 1,024-token overhead plus the output cap admitted 6)."""
    server = live_server(budgets="global:day:tokens=10000", scripted_latency_ms=300)

    def send(_: int) -> httpx.Response:
        with server.client() as client:
            return client.post("/v1/triage", json={"email": EMAIL})

    with ThreadPoolExecutor(30) as pool:
        replies = list(pool.map(send, range(60)))
    admitted = [reply.json()["usage"] for reply in replies if reply.status_code == 200]
    assert {reply.status_code for reply in replies} <= {200, 429}
    used = sum(usage["input_tokens"] + usage["output_tokens"] for usage in admitted)
    assert used <= 10_000
    assert len(admitted) >= 10, len(admitted)
