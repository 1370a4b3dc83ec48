"""The eval runner in-process and over HTTP: every case scored, linked to its trace, cached, stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from live import LiveServer
from llmops.assistant.schema import Email
from llmops.config import Settings
from llmops.evals.datasets import Dataset, EvalCase, Expectations
from llmops.evals.runner import CACHE_DIR, EvalRun, HttpTarget, run_eval
from llmops.evals.store import load_run, resolve_run, save_run
from llmops.providers.scripted import ScriptedProvider
from llmops.redaction import Redactor
from llmops.reporting.queries import build_report
from llmops.reporting.traces import RequestSearch, list_requests
from llmops.reporting.window import Window
from llmops.service import InProcessTarget, build_redactor, open_services
from llmops.storage.db import make_engine
from llmops.storage.tables import eval_results, request_rollups, requests, spans, step_rollups

PLANTED = "jane.roe@personal.example"
REPLY = json.dumps(
    {
        "category": "urgent",
        "priority": 1,
        "summary": f"Checkout is down; write to {PLANTED} for the bridge.",
        "action_items": ["Join the incident bridge"],
        "draft_reply": "Joining now.",
    }
)


def mini_dataset(tmp_path: Path) -> Dataset:
    def case(case_id: str, subject: str, **expected: object) -> EvalCase:
        email = Email(
            sender="Dana <dana@northwind.example>", recipients=["me@northwind.example"], subject=subject
        )
        return EvalCase(id=case_id, email=email, expected=Expectations(**expected))

    cases = [
        case("outage", "Production database down", category="urgent", must_contain=["bridge"]),
        case("wrong-category", "Lunch on Friday?", category="personal"),
        case("critical-pii", "Customer record", must_not_contain=[PLANTED]),
        case("length", "Weekly numbers", max_summary_chars=10),
    ]
    cases[2].critical = True
    return Dataset(name="mini", path=tmp_path / "mini.jsonl", hash="0" * 64, cases=cases)


def _provider(services: object) -> ScriptedProvider:
    provider = services.chain.providers[0]  # type: ignore[attr-defined]
    assert isinstance(provider, ScriptedProvider)
    return provider


async def _over_http(
    server: LiveServer, dataset: Dataset, version: str, key: str, tmp_path: Path, concurrency: int = 4
) -> EvalRun:
    async with HttpTarget(server.base_url, version, key) as target:
        return await run_eval(
            dataset,
            target,
            redactor=Redactor(),
            cache_dir=tmp_path / "client" / CACHE_DIR,
            concurrency=concurrency,
        )


def test_in_process_run_scores_links_traces_caches_and_stores(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(scripted_reply=REPLY)
    dataset = mini_dataset(tmp_path)

    redactor = build_redactor(settings)
    cache_dir = settings.data_dir / CACHE_DIR

    async def scenario() -> tuple[EvalRun, EvalRun, EvalRun, int, int]:
        async with open_services(settings) as services:
            provider = _provider(services)
            target = InProcessTarget(services, "email_triage_v1")
            seen: list[str] = []
            first = await run_eval(
                dataset,
                target,
                redactor=redactor,
                cache_dir=cache_dir,
                progress=lambda r: seen.append(r.case_id),
            )
            assert sorted(seen) == sorted(c.id for c in dataset.cases)
            calls_after_first = provider.calls
            cached = await run_eval(dataset, target, redactor=redactor, cache_dir=cache_dir)
            calls_after_cached = provider.calls
            fresh = await run_eval(dataset, target, redactor=redactor)
            assert provider.calls == calls_after_cached + len(dataset.cases)
            return first, cached, fresh, calls_after_first, calls_after_cached

    first, cached, fresh, calls_after_first, calls_after_cached = asyncio.run(scenario())
    assert calls_after_first == len(dataset.cases)
    assert calls_after_cached == calls_after_first  # the provider was not called again
    assert [r.cached for r in cached.results] == [True] * 4 and not any(r.cached for r in first.results)
    assert [r.output for r in cached.results] == [r.output for r in first.results]
    assert [r.request_id for r in cached.results] == [r.request_id for r in first.results]

    by_id = {r.case_id: r for r in first.results}
    assert by_id["outage"].passed and not by_id["wrong-category"].passed and not by_id["length"].passed
    assert by_id["critical-pii"].passed and by_id["critical-pii"].critical  # the reply was redacted
    assert first.provider == "scripted" and first.model == "scripted-1"
    assert all(r.input_tokens and r.output_tokens and r.latency_ms for r in first.results)
    assert first.summary()["passed"] == 2

    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            stored_traces = set(connection.execute(select(spans.c.trace_id)).scalars())
            roots = dict(
                connection.execute(
                    select(spans.c.request_id, spans.c.trace_id).where(spans.c.request_id.is_not(None))
                ).all()
            )
        for result in [*first.results, *fresh.results]:
            assert result.request_id and result.trace_id in stored_traces
            assert roots[result.request_id] == result.trace_id

        # Eval cases are stored as requests (their traces open like any other) but are not traffic.
        with engine.connect() as connection:
            sources = connection.execute(select(requests.c.source)).scalars().all()
            rolled_up = connection.execute(select(request_rollups.c.hour)).all()
            steps_rolled_up = connection.execute(select(step_rollups.c.hour)).all()
        assert sources == ["eval"] * 8 and rolled_up == [] and steps_rolled_up == []
        for since in (None, timedelta(hours=24)):
            report = build_report(engine, Window.last(since))
            assert report.requests == 0 and report.steps == []
        found = list_requests(engine, RequestSearch(source="eval")).items
        assert {row.request_id for row in found} == {r.request_id for r in [*first.results, *fresh.results]}

        save_run(engine, first, redactor)
        loaded = load_run(engine, first.id)
        assert resolve_run(engine, "email_triage_v1", "mini").id == first.id
        with engine.connect() as connection:
            stored_outputs = " ".join(connection.execute(select(eval_results.c.output)).scalars())
    finally:
        engine.dispose()
    assert PLANTED not in stored_outputs
    assert {r.case_id: (r.passed, r.score, r.trace_id) for r in loaded.results} == {
        r.case_id: (r.passed, r.score, r.trace_id) for r in first.results
    }
    cache_files = list((settings.data_dir / "eval-cache").glob("*.json"))
    assert len(cache_files) == 4 and all(PLANTED not in p.read_text() for p in cache_files)


def test_over_http_records_the_served_version_and_links_traces(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live_server()
    dataset = mini_dataset(tmp_path)
    run = asyncio.run(_over_http(server, dataset, "email_triage_v1", server.key, tmp_path, concurrency=2))
    assert run.prompt_version == "email_triage_v2"  # the server's default; HTTP cannot override it
    assert run.warnings and "email_triage_v2" in run.warnings[0]
    assert all(r.error is None and r.prompt_version == "email_triage_v2" for r in run.results)
    assert all(r.cost_usd is not None for r in run.results)  # the reply carries the cost
    assert run.provider == "scripted" and run.model == "scripted-1"
    server.flush()
    engine = make_engine(server.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            roots = dict(
                connection.execute(
                    select(spans.c.request_id, spans.c.trace_id).where(spans.c.request_id.is_not(None))
                ).all()
            )
            sources = connection.execute(select(requests.c.source)).scalars().all()
        report = build_report(engine, Window.last(timedelta(hours=1)))
    finally:
        engine.dispose()
    for result in run.results:
        assert roots[result.request_id] == result.trace_id
    assert sources == ["eval"] * len(run.results) and report.requests == 0  # not the target's traffic


def test_over_http_a_wrong_key_is_an_error_per_case_not_a_crash(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live_server()
    run = asyncio.run(_over_http(server, mini_dataset(tmp_path), "email_triage_v2", "nope", tmp_path))
    assert all(r.error == "HTTP 401" and not r.passed for r in run.results)
    assert not list((tmp_path / "client" / "eval-cache").glob("*.json"))  # errors are not cached
