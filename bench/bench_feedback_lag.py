"""Feedback right after a reply, this tree against an earlier commit, in one run: is the rated request's
trace stored when `POST /v1/feedback` answers (what `llmops eval mine` needs at once), and what the
feedback costs (latency p50/p95, server CPU per triage + feedback pair; and the latency of feedback
given later, once the traces are exported, the usual case).

Each side is a real `llmops serve` (scripted provider, SQLite, the default `OTEL_BSP_SCHEDULE_DELAY`)
driven over HTTP: a triage of a distinct email, then its feedback at once; as soon as the feedback's
answer arrives the bench reads the database for the request's root span. The earlier commit (`--before`,
default HEAD~1) is checked out with `git worktree` and run from this venv with its `src/` first on
PYTHONPATH (`bench_hot_path`'s helpers).

    python bench/bench_feedback_lag.py [--pairs 60] [--before REV]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select

from bench_hot_path import KEY, ROOT, Config, checkout, cpu_seconds, llmops_env, server, settle
from llmops.storage.tables import spans

EMAIL = json.loads((ROOT / "samples" / "emails.jsonl").read_text().splitlines()[0])["email"]


@dataclass(frozen=True)
class Side:
    stored_at_answer: float
    p50_ms: float
    p95_ms: float
    cpu_ms_per_pair: float
    late_p50_ms: float


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def run_side(src: Path, pairs: int, tmp: Path) -> Side:
    data_dir = tmp / "data"
    env = llmops_env(src, data_dir, Config(), None)
    engine = create_engine(f"sqlite:///{data_dir / 'llmops.db'}")
    latencies: list[float] = []
    rated: list[str] = []
    stored = 0
    command = [sys.executable, "-m", "llmops.cli", "serve"]
    with (
        server(command, env, tmp / "serve.log") as (base, pid),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client,
    ):
        cpu_before = cpu_seconds(pid)
        for index in range(pairs):
            email = EMAIL | {"subject": f"{EMAIL['subject']} #{index}"}
            request_id = client.post("/v1/triage", json={"email": email}).json()["request_id"]
            rated.append(request_id)
            started = time.perf_counter()
            answer = client.post("/v1/feedback", json={"request_id": request_id, "rating": -1})
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 201, answer.text
            with engine.connect() as connection:
                root = connection.execute(
                    select(spans.c.span_id).where(
                        spans.c.request_id == request_id, spans.c.parent_span_id.is_(None)
                    )
                ).first()
            stored += root is not None
        cpu_ms = (settle(pid) - cpu_before) * 1000
        # Late feedback: the traces were exported long ago (the usual case), rated again.
        late = []
        for request_id in rated:
            started = time.perf_counter()
            answer = client.post("/v1/feedback", json={"request_id": request_id, "rating": 0})
            late.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
    engine.dispose()
    return Side(
        stored_at_answer=stored / pairs,
        p50_ms=statistics.median(latencies),
        p95_ms=p95(latencies),
        cpu_ms_per_pair=cpu_ms / pairs,
        late_p50_ms=statistics.median(late),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--before", default="HEAD~1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, checkout(args.before) as before_src:
        tmp = Path(scratch)
        (tmp / "before").mkdir()
        (tmp / "after").mkdir()
        before = run_side(before_src, args.pairs, tmp / "before")
        after = run_side(ROOT / "src", args.pairs, tmp / "after")
    print(f"{args.pairs} triage + feedback pairs per side, scripted provider, SQLite, default export delay")
    print(f"{'':34}{'before (' + args.before + ')':>22}{'after (this tree)':>20}")
    rows = (
        (
            "trace stored when feedback answers",
            f"{before.stored_at_answer:.0%}",
            f"{after.stored_at_answer:.0%}",
        ),
        ("feedback p50 (ms)", f"{before.p50_ms:.1f}", f"{after.p50_ms:.1f}"),
        ("feedback p95 (ms)", f"{before.p95_ms:.1f}", f"{after.p95_ms:.1f}"),
        ("server CPU per pair (ms)", f"{before.cpu_ms_per_pair:.1f}", f"{after.cpu_ms_per_pair:.1f}"),
        ("late feedback p50 (ms)", f"{before.late_p50_ms:.1f}", f"{after.late_p50_ms:.1f}"),
    )
    for label, old, new in rows:
        print(f"{label:34}{old:>22}{new:>20}")


if __name__ == "__main__":
    main()
