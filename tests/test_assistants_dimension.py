"""The assistant dimension beyond the request row: dashboard filters and columns, alert rules and
budgets narrowed to one assistant, and a canary on another assistant's prompt."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from live import LiveServer
from llmops.alerts.rules import AlertRule, RuleContext, measure
from llmops.budgets.models import Budget
from llmops.budgets.store import BudgetStore
from llmops.config import Settings
from llmops.service import RunOptions, open_services, run_assistant
from llmops.storage.db import make_engine
from llmops.storage.request_rows import new_request_id

ECHO = "echo_assistant:echo,echo_assistant:EchoWithoutFallback"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
GATEKEEPER_RUN = "/v1/assistants/email_gatekeeper/runs"


@contextmanager
def _signed_in(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        assert client.post("/login", data={"api_key": server.key, "csrf_token": token}).status_code == 303
        yield client


def _example(client: httpx.Client, name: str) -> dict[str, object]:
    listed = {a["name"]: a for a in client.get("/v1/assistants").json()["assistants"]}
    example: dict[str, object] = listed[name]["example_input"]
    return example


def test_dashboard_pages_filter_and_show_the_assistant(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(assistants=ECHO)
    with server.client() as client:
        for _ in range(2):
            assert client.post("/v1/assistants/echo/runs", json={"input": {"text": "hi"}}).status_code == 200
        assert (
            client.post(GATEKEEPER_RUN, json={"input": _example(client, "email_gatekeeper")}).status_code
            == 200
        )
        server.flush()
    with _signed_in(server) as dashboard:
        overview = dashboard.get("/").text
        only_echo = dashboard.get("/", params={"assistant": "echo"}).text
        latency = dashboard.get("/latency", params={"assistant": "echo"}).text
        listed = dashboard.get("/requests", params={"assistant": "echo"}).text
        everything = dashboard.get("/requests").text
    select = re.search(
        r'<select name="assistant" data-testid="filter-assistant">(.*?)</select>', overview, re.S
    )
    assert select and 'value="echo"' in select.group(1) and 'value="email_gatekeeper"' in select.group(1)
    assert re.search(r'data-testid="total-requests" data-value="2"', only_echo)
    assert re.search(r'data-testid="total-requests" data-value="3"', overview)
    assert "2 requests;" in latency and '<option value="echo" selected>' in latency
    assert re.findall(r'data-testid="request-assistant">([^<]*)<', listed) == ["echo", "echo"]
    assert sorted(set(re.findall(r'data-testid="request-assistant">([^<]*)<', everything))) == [
        "echo",
        "email_gatekeeper",
    ]


def test_alert_rules_and_budgets_narrow_to_one_assistant(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(assistants=ECHO, scripted_faults="500*")
    engine = make_engine(server.settings.resolved_database_url)
    try:
        BudgetStore(engine).set(
            [Budget(scope="assistant", subject="echo", window="hour", metric="tokens", hard_limit=10)]
        )
        with server.client() as client:
            refused = client.post("/v1/assistants/echo/runs", json={"input": {"text": "hi"}})
            strict = [
                client.post("/v1/assistants/echo_strict/runs", json={"input": {"text": "hi"}})
                for _ in range(2)
            ]
            served = client.post(GATEKEEPER_RUN, json={"input": _example(client, "email_gatekeeper")})
            server.flush()
        assert refused.status_code == 429 and "assistant:hour:tokens" in refused.json()["error"]["message"]
        assert [r.status_code for r in strict] == [503, 503] and served.status_code == 200
        context = RuleContext(engine, datetime.now(UTC))

        def value(kind: str, assistant: str | None) -> float | None:
            rule = AlertRule(name="r", kind=kind, threshold=0.5, min_requests=1, assistant=assistant)  # type: ignore[arg-type]
            measured = measure(rule, context)
            assert measured is not None
            return measured.value

        assert value("error_rate", "echo_strict") == 1.0
        assert value("degraded_rate", "echo_strict") == 0.0
        assert value("degraded_rate", "email_gatekeeper") == 1.0
        assert value("degraded_rate", None) == 1 / 3
        assert value("latency_p95", "nobody") is None  # not enough data for that assistant
    finally:
        engine.dispose()


def test_a_canary_runs_on_another_assistants_prompt(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(assistants=ECHO, prompt_label_ttl_s=0, scripted_reply="hello")

    async def scenario() -> tuple[str, str, object]:
        async with open_services(settings) as services:
            controller = services.canaries["echo"]
            assert set(services.canaries) >= {"echo", "email_triage"}
            assert controller.default_version == "echo_v1"
            await asyncio.to_thread(controller.start, "echo_v2", 1.0, by="test")
            echo = services.assistant("echo")
            run = await run_assistant(
                services, echo, echo.input_model(text="hi"), RunOptions(request_id=new_request_id())
            )
            gatekeeper = services.assistant("email_gatekeeper")
            triage = await run_assistant(
                services, gatekeeper, gatekeeper.example, RunOptions(request_id=new_request_id())
            )
            comparison = await asyncio.to_thread(controller.compare)
            return run.meta().prompt_version, triage.meta().prompt_version, comparison

    echo_version, triage_version, comparison = asyncio.run(scenario())
    assert echo_version == "echo_v2"  # the canary arm of echo's prompt
    assert triage_version == "email_triage_v2"  # the Gatekeeper's prompt has no canary
    assert comparison.inconclusive  # type: ignore[attr-defined]
