"""Prompt labels on SQLite and Postgres: set, move, roll back, history, validation, concurrency, resolution."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from llmops.prompts.labels import LabelError, LabelStore
from llmops.prompts.registry import PromptRegistry
from llmops.prompts.router import PromptRouter, Route, in_canary
from llmops.storage.tables import prompt_label_history

REGISTRY = PromptRegistry.from_directory()


def _store(engine: Engine) -> LabelStore:
    ticks = iter(range(1_000_000))
    start = datetime(2026, 12, 1, tzinfo=UTC)
    return LabelStore(engine, REGISTRY, clock=lambda: start + timedelta(seconds=next(ticks)))


def test_set_move_and_roll_back_keep_the_history(migrated_engine: Engine) -> None:
    store = _store(migrated_engine)
    assert store.get("email_triage", "production") is None
    first = store.set("email_triage", "production", "email_triage_v2", by="ana", reason="baseline")
    store.set("email_triage", "production", "email_triage_v7", by="ana", reason="better summaries")
    store.set("email_triage", "canary", "email_triage_v8", by="bo", reason="try", traffic_share=0.1)
    store.set("email_triage", "production", "email_triage_v2", by="bo", reason="rollback")

    current = store.get("email_triage", "production")
    assert current is not None and current.version_id == "email_triage_v2"
    assert (current.updated_by, current.reason) == ("bo", "rollback")
    assert current.updated_at == datetime(2026, 12, 1, 0, 0, 3, tzinfo=UTC)
    assert first.previous_version_id is None and first.version_id == "email_triage_v2"

    moves = [
        (c.previous_version_id, c.version_id, c.changed_by)
        for c in store.history("email_triage", "production")
    ]
    assert moves == [
        ("email_triage_v7", "email_triage_v2", "bo"),
        ("email_triage_v2", "email_triage_v7", "ana"),
        (None, "email_triage_v2", "ana"),
    ]
    everything = store.history("email_triage")
    assert [c.label for c in everything] == ["production", "canary", "production", "production"]
    assert everything[1].traffic_share == 0.1
    assert [(r.label, r.version_id) for r in store.labels()] == [
        ("canary", "email_triage_v8"),
        ("production", "email_triage_v2"),
    ]
    assert store.labels("other_prompt") == []


@pytest.mark.parametrize(
    ("prompt", "label", "version", "message"),
    [
        ("email_triage", "production", "email_triage_v99", "unknown prompt version"),
        ("email_triage", "Production", "email_triage_v2", "invalid label name"),
        ("email_triage", "9lives", "email_triage_v2", "invalid label name"),
        ("email_triage", "x" * 65, "email_triage_v2", "invalid label name"),
        ("nope", "production", "email_triage_v2", "unknown prompt"),
    ],
)
def test_bad_moves_are_rejected_and_leave_no_trace(
    migrated_engine: Engine, prompt: str, label: str, version: str, message: str
) -> None:
    store = _store(migrated_engine)
    with pytest.raises(LabelError, match=message):
        store.set(prompt, label, version, by="ana", reason="")
    with pytest.raises(LabelError, match="traffic_share"):
        store.set("email_triage", "canary", "email_triage_v8", by="ana", reason="", traffic_share=1.5)
    with pytest.raises(LabelError, match="'by'"):
        store.set("email_triage", "canary", "email_triage_v8", by="  ", reason="")
    assert store.labels() == [] and store.history("email_triage") == []


def test_concurrent_moves_lose_no_history_rows(migrated_engine: Engine) -> None:
    store = LabelStore(migrated_engine, REGISTRY)
    versions = ["email_triage_v1", "email_triage_v2", "email_triage_v7", "email_triage_v8"]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def mover(worker: int) -> None:
        try:
            barrier.wait()
            for step in range(6):
                store.set(
                    "email_triage", "production", versions[(worker + step) % 4], by=f"w{worker}", reason=""
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=mover, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with migrated_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(prompt_label_history)).scalar_one() == 24
    chain = sorted(store.history("email_triage", "production"), key=lambda change: change.id)
    assert chain[0].previous_version_id is None
    assert [c.previous_version_id for c in chain[1:]] == [c.version_id for c in chain[:-1]], [
        (c.id, c.previous_version_id, c.version_id) for c in chain
    ]
    current = store.get("email_triage", "production")
    assert current is not None and current.version_id == chain[-1].version_id


def test_router_follows_both_labels_within_its_ttl_with_one_cache(migrated_engine: Engine) -> None:
    store = LabelStore(migrated_engine, REGISTRY)
    now = [0.0]
    router = PromptRouter(store, {"email_triage": "email_triage_v2"}, ttl_s=5.0, clock=lambda: now[0])
    inside = next(key for key in (f"u{i}" for i in range(1000)) if in_canary(key, 0.5))
    outside = next(key for key in (f"u{i}" for i in range(1000)) if not in_canary(key, 0.5))

    def route(key: str, explicit: str | None = None) -> Route:
        return asyncio.run(router.route("email_triage", key, explicit))

    assert route(inside) == Route("email_triage_v2")
    store.set("email_triage", "production", "email_triage_v7", by="ana", reason="")
    store.set("email_triage", "canary", "email_triage_v8", by="ana", reason="", traffic_share=0.5)
    assert route(inside) == Route("email_triage_v2")  # cached: both labels are read together
    now[0] = 5.0
    assert route(inside) == Route("email_triage_v8", canary=True)
    assert route(outside) == Route("email_triage_v7")
    assert route(inside, "email_triage_v1") == Route("email_triage_v1")  # explicit wins
    assert asyncio.run(router.production("email_triage")) == "email_triage_v7"


def test_router_serves_the_default_for_a_version_it_does_not_know(migrated_engine: Engine) -> None:
    newer = PromptRegistry(REGISTRY.versions())
    store = LabelStore(migrated_engine, newer)
    store.set("email_triage", "production", "email_triage_v8", by="ana", reason="")
    store.set("email_triage", "canary", "email_triage_v8", by="ana", reason="", traffic_share=1.0)
    older = PromptRegistry([v for v in REGISTRY.versions() if v.id != "email_triage_v8"])
    router = PromptRouter(LabelStore(migrated_engine, older), {"email_triage": "email_triage_v2"}, ttl_s=0)
    assert asyncio.run(router.route("email_triage", "anyone")) == Route("email_triage_v2")
