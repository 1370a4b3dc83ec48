"""Active learning picks negative feedback first, then low judge scores, then judge/user disagreement,
once each, and writes nothing unredacted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from llmops.evals.active_learning import select_candidates
from llmops.evals.datasets import load_dataset
from llmops.evals.mining import write_jsonl
from llmops.redaction import Redactor
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from llmops.storage.tables import eval_results, feedback


def _judge(score: float) -> str:
    return json.dumps([{"name": "judge", "passed": score >= 0.7, "score": score, "reason": "r"}])


def test_order_dedup_and_redaction(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    now = datetime.now(UTC)
    rated = {
        "r-neg": (-1, "wrong, call me at dana@northwind.example"),
        "r-happy": (1, None),
        "r-dup": (-1, None),
    }
    judged = {"r-low": 0.1, "r-mid": 0.4, "r-happy": 0.6, "r-dup": 0.0, "r-fine": 0.9}
    with engine.begin() as connection:
        for request_id, (rating, notes) in rated.items():
            connection.execute(
                insert(feedback).values(
                    request_id=request_id,
                    rating=rating,
                    notes=notes,
                    created_at=now,
                    updated_at=now,
                    revisions=1,
                )
            )
        for i, (request_id, score) in enumerate(judged.items()):
            connection.execute(
                insert(eval_results).values(
                    run_id="run1",
                    case_id=f"c{i}",
                    passed=score >= 0.7,
                    score=score,
                    critical=False,
                    scores=_judge(score),
                    request_id=request_id,
                )
            )
    try:
        cases = select_candidates(engine, Redactor(), max_judge_score=0.5, min_disagreement=0.3)
    finally:
        engine.dispose()
    order = [(case.source.request_id, case.source.reason) for case in cases]
    assert order[:2] in (
        [("r-neg", "negative-feedback"), ("r-dup", "negative-feedback")],
        [("r-dup", "negative-feedback"), ("r-neg", "negative-feedback")],
    )
    assert order[2:] == [
        ("r-low", "low-judge-score"),
        ("r-mid", "low-judge-score"),
        ("r-happy", "judge-user-disagreement"),
    ]
    dumped = json.dumps([case.model_dump(mode="json") for case in cases])
    assert "dana@northwind.example" not in dumped
    assert all(case.id == f"mined-{case.source.request_id}" and "needs-label" in case.tags for case in cases)
    # As written, the file loads as a dataset: every case listed, none scored until labelled.
    path = tmp_path / "candidates.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        write_jsonl(cases, stream)
    loaded = load_dataset(path)
    assert [case.id for case in loaded.unlabelled] == [case.id for case in cases] and not loaded.scored
    assert loaded.case("mined-r-low").source == cases[2].source
