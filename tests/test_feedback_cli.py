"""`llmops feedback list|export` and `llmops eval mine` as a user runs them; feedback retention."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from llmops.feedback.store import FeedbackStore
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from llmops.storage.retention import apply_retention
from llmops.storage.tables import feedback
from llmops.telemetry.store_exporter import StoreExporter
from processes import cli_env, run_llmops
from store_traces import Req, emit, tracer_to

NOW = datetime.now(UTC)


def _seed(engine: Engine) -> None:
    tracer = tracer_to(StoreExporter(engine))
    for n, version in enumerate(["email_triage_v1", "email_triage_v2", "email_triage_v2"]):
        emit(tracer, Req(NOW - timedelta(minutes=10 - n), f"req-{n}", version=version))
    store = FeedbackStore(engine)
    store.upsert("req-0", -1, "wrong category [EMAIL]", NOW - timedelta(minutes=5))
    store.upsert("req-1", 1, None, NOW - timedelta(minutes=4))
    store.upsert("req-2", 0, "too long", NOW - timedelta(days=10))


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_llmops(cli_env(tmp_path, COLUMNS="200"), *args)
    assert result.returncode == 0, result.stderr
    return result


def test_list_export_and_mine(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'llmops.db'}")
    upgrade(engine)
    _seed(engine)
    engine.dispose()

    listed = _run(tmp_path, "feedback", "list", "--since", "7d").stdout
    assert "req-0" in listed and "req-1" in listed and "req-2" not in listed
    assert "email_triage_v1" in listed and "wrong category [EMAIL]" in listed
    negative = _run(
        tmp_path, "feedback", "list", "--rating", "-1", "--prompt-version", "email_triage_v1"
    ).stdout
    assert "req-0" in negative and "req-1" not in negative

    lines = _run(tmp_path, "feedback", "export").stdout.splitlines()
    exported = [json.loads(line) for line in lines]
    assert [item["request_id"] for item in exported] == ["req-1", "req-0", "req-2"]
    assert exported[1]["prompt_version"] == "email_triage_v1" and exported[1]["trace_id"]
    out = tmp_path / "feedback.csv"
    _run(tmp_path, "feedback", "export", "--format", "csv", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["request_id"] for row in rows] == ["req-1", "req-0", "req-2"]
    assert rows[1]["notes"] == "wrong category [EMAIL]" and rows[1]["rating"] == "-1"

    mined = tmp_path / "mined.jsonl"
    result = _run(tmp_path, "eval", "mine", "--since", "30d", "--output", str(mined))
    assert "Mined 2 candidate case(s)" in result.stderr
    cases = [json.loads(line) for line in mined.read_text().splitlines()]
    assert [case["id"] for case in cases] == ["mined-req-0", "mined-req-2"]
    assert cases[0]["email"] is None and "no-content" in cases[0]["tags"]
    assert cases[0]["source"]["notes"] == "wrong category [EMAIL]"


def test_retention_deletes_feedback_older_than_its_own_cutoff(migrated_engine: Engine) -> None:
    _seed(migrated_engine)
    feedback_cutoff = NOW - timedelta(days=7)

    untouched = apply_retention(migrated_engine, NOW - timedelta(days=30))
    dry = apply_retention(
        migrated_engine, NOW - timedelta(days=30), dry_run=True, feedback_older_than=feedback_cutoff
    )
    applied = apply_retention(migrated_engine, NOW - timedelta(days=30), feedback_older_than=feedback_cutoff)

    assert (untouched.feedback, dry.feedback, applied.feedback) == (0, 1, 1)
    assert applied.requests == 0 and applied.feedback_cutoff == feedback_cutoff
    with migrated_engine.connect() as connection:
        assert set(connection.execute(select(feedback.c.request_id)).scalars()) == {"req-0", "req-1"}
