"""A canary gated on quality, as an operator meets it through the real CLI and a served `llmops serve`
(SQLite and Postgres): `email_triage_v8` (deliberately worse than v7) is refused at start because the
golden set says REGRESSION against production; forced, with who and why recorded, it serves its share
of users, and once its arms are conclusive it is rolled back, never promoted, even with the live
guardrails loosened so that the eval verdict alone decides; the rollback clears the `canary` badge in
`prompts list` and in the dashboard's JSON."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from live import SAMPLES, TEST_KEY
from llmops.canary.gate import VerdictReader
from llmops.evals.runner import CaseResult, EvalRun
from llmops.evals.store import save_run
from llmops.redaction import Redactor
from processes import cli_env, run_llmops, serving

V7, V8 = "email_triage_v7", "email_triage_v8"
EMAIL = json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])["email"]


def _canary_labels(client: httpx.Client) -> dict[str, list[str]]:
    reply = client.get("/api/prompts")
    assert reply.status_code == 200, reply.text
    return {
        row["version"]: [x for x in row["labels"] if x.startswith("canary")]
        for row in reply.json()["versions"]
    }


def _wait_for_span(client: httpx.Client, request_id: str, name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reply = client.get(f"/api/requests/{request_id}")
        if reply.status_code == 200 and any(span["name"] == name for span in reply.json()["spans"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"the {name} span of {request_id} was not stored within 120 s")


def test_v8_is_refused_at_start_and_when_forced_is_rolled_back_never_promoted(
    tmp_path: Path, database_url: str
) -> None:
    env = cli_env(
        tmp_path,
        LLMOPS_DATABASE_URL=database_url,
        LLMOPS_API_KEYS=TEST_KEY,
        LLMOPS_CANARY_MIN_REQUESTS="5",
        LLMOPS_CANARY_INTERVAL_S="3600",  # the test decides when the controller runs
        LLMOPS_CANARY_MAX_RULE_DISAGREEMENT_DELTA="1",  # live quality cannot fail it: the verdict decides
        LLMOPS_PROMPT_LABEL_TTL_S="0",
        USER="dana",
        COLUMNS="300",
    )

    def llmops(*args: str) -> subprocess.CompletedProcess[str]:
        return run_llmops(env, *args, timeout=300)

    assert llmops("prompts", "label", "production", V7, "--reason", "baseline").returncode == 0

    refused = llmops("canary", "start", V8, "--share", "0.5")
    assert refused.returncode == 1, refused.stderr
    assert "refused: eval REGRESSION against production" in " ".join(refused.stderr.split())
    assert json.loads(llmops("canary", "status", "--json").stdout)["comparison"] is None
    assert llmops("canary", "start", V8, "--share", "0.5", "--force").returncode == 2  # no reason

    forced = llmops("canary", "start", V8, "--share", "0.5", "--force", "--reason", "watch it live")
    assert forced.returncode == 0, forced.stderr
    assert f"canary {V8} at 50% against production {V7}" in forced.stdout
    history = " ".join(llmops("prompts", "history", "--label", "canary").stdout.split())
    assert "dana" in history and "forced past eval REGRESSION" in history and "why: watch it live" in history

    with serving(tmp_path, env) as (base, _):
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            assert _canary_labels(client)[V8] == ["canary 50.0%"]
            replies = [
                client.post("/v1/triage", json={"email": EMAIL, "user_id": f"user-{i}"}).json()
                for i in range(30)
            ]
            served = [reply["prompt_version"] for reply in replies]
            assert {V7, V8} == set(served) and min(served.count(V7), served.count(V8)) >= 5
            # Request rows are stored before each reply, spans by the export thread a moment later; the
            # rules' suggestion the controller compares with lives on a span, so let the export catch up.
            _wait_for_span(client, replies[-1]["request_id"], "rule_suggestion")

            evaluated = llmops("canary", "evaluate")
            assert evaluated.returncode == 0, evaluated.stderr
            assert f"ROLLBACK {V8}" in evaluated.stdout and "by dana" in evaluated.stdout

            assert _canary_labels(client)[V8] == []
            after = {
                client.post("/v1/triage", json={"email": EMAIL, "user_id": f"user-{i}"}).json()[
                    "prompt_version"
                ]
                for i in range(10)
            }
            assert after == {V7}

    status: dict[str, Any] = json.loads(llmops("canary", "status", "--json").stdout)
    assert status["comparison"] is None
    rollback = status["decisions"][0]
    assert rollback["decision"] == "rollback" and rollback["canary_version"] == V8
    figures = rollback["figures"]
    assert figures["inconclusive"] == [] and figures["canary"]["requests"] >= 5
    assert [line.split(":")[0] for line in figures["failures"]] == ["never promoted"]
    assert figures["eval"]["verdict"] == "REGRESSION"
    # The live quality signals were read from the stored rows and spans: v8 picks the category alone.
    assert figures["canary"]["rule_disagreement_rate"] > figures["production"]["rule_disagreement_rate"] == 0
    assert "canary" not in llmops("prompts", "list").stdout
    assert llmops("prompts", "show", V7).stdout.count("production") >= 1


def _run(run_id: str, version: str, dataset: str, minute: int, crit_passes: bool) -> EvalRun:
    return EvalRun(
        id=run_id,
        dataset=dataset,
        dataset_hash=dataset,
        prompt_version=version,
        target="in-process",
        started_at=datetime(2026, 12, 1, 12, minute, tzinfo=UTC),
        results=[
            CaseResult(case_id="crit", passed=crit_passes, score=float(crit_passes), critical=True),
            *(CaseResult(case_id=f"c{i}", passed=True, score=1.0) for i in range(9)),
        ],
    )


def test_the_verdict_pairs_the_candidates_latest_run_that_production_also_ran(
    migrated_engine: Engine,
) -> None:
    """A later run of the candidate on a dataset production never ran does not hide a REGRESSION; a newer
    pair on another dataset replaces it."""
    reader = VerdictReader(migrated_engine)
    assert reader.latest_verdict(V7, V8) is None
    for run in (
        _run("p-golden", V7, "golden", 0, True),
        _run("c-golden", V8, "golden", 1, False),
        _run("c-dev", V8, "dev", 2, True),
    ):
        save_run(migrated_engine, run, Redactor())
    evidence = reader.latest_verdict(V7, V8)
    assert evidence is not None and evidence.regression
    assert (evidence.dataset, evidence.baseline_run_id, evidence.candidate_run_id) == (
        "golden",
        "p-golden",
        "c-golden",
    )
    assert "crit" in evidence.line()

    save_run(migrated_engine, _run("p-dev", V7, "dev", 3, True), Redactor())
    evidence = reader.latest_verdict(V7, V8)
    assert evidence is not None and not evidence.regression and evidence.candidate_run_id == "c-dev"
