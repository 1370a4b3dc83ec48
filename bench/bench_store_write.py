"""Store writes, CPU per unit, this tree against an earlier commit, SQLite and Postgres, in one run.

Three writers share `trace_store`, each measured in-process as the CPU time of the writing thread:

- ingest: `write_batch` of what the OTLP writer takes in one transaction (10 exports of 512 spans from
  `bench_ingest`'s generator, decoded and redacted beforehand); µs per span.
- export: `StoreExporter.export` of 512-span batches of triage-shaped traces (a root and seven steps,
  the span-export thread's store work); µs per request.
- request row: `write_request` in its own transaction, as before each reply; µs per call.

Each tree runs in its own child process (`--base REV`: that revision's `src/`, read with `git archive`);
trees alternate per database to share the machine's drift. Postgres is a scratch database on
`LLMOPS_TEST_POSTGRES_URL` (skipped when unreachable).

    python bench/bench_store_write.py [--base REV] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_ingest import SRC, body, source_at
from scratch_postgres import postgres_database

ROOT = Path(__file__).resolve().parents[1]
EXPORTS_PER_WRITE = 10
STEPS = (
    "retrieval kb",
    "execute_tool lookup_contact",
    "chat scripted",
    "validate",
    "rules",
    "signals",
    "fill",
)


def measure(url: str, rounds: int) -> dict[str, float]:
    """Run in the child: the three writers on a migrated database at `url`, medians per unit."""
    sys.path.insert(0, str(ROOT / "tests"))
    from llmops.config import Settings
    from llmops.ingest.decode import PROTOBUF, decode
    from llmops.ingest.receiver import build_receiver
    from llmops.ingest.writer import _requests
    from llmops.service.system import build_redactor
    from llmops.storage.db import make_engine
    from llmops.storage.migrate import upgrade
    from llmops.storage.trace_store import write_batch, write_request
    from llmops.telemetry.store_exporter import StoreExporter
    from store_traces import Req, capture

    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    receiver = build_receiver(settings, engine, build_redactor(settings), secrets.token_bytes(32))
    receiver.writer.close()
    mapper = receiver._mapper
    ingest, export, row = [], [], []
    exporter = StoreExporter(engine)
    t0 = datetime.now(UTC)
    for index in range(rounds + 1):
        prepared = [
            mapper.prepare(decode(body(128, (index * EXPORTS_PER_WRITE + i) * 128)[0], PROTOBUF).spans)
            for i in range(EXPORTS_PER_WRITE)
        ]
        span_records = [record for batch in prepared for record in batch.spans]
        roots = [root for batch in prepared for root in batch.roots]
        started = time.thread_time()
        with engine.begin() as connection:
            write_batch(connection, span_records, _requests(connection, roots))
        ingest.append((time.thread_time() - started) / len(span_records) * 1e6)

        at = t0 + timedelta(seconds=index)
        reqs = [Req(at, f"x-{index}-{i}", tools=[(name, 2) for name in STEPS]) for i in range(64)]
        batch = capture(reqs)
        started = time.thread_time()
        exporter.export(batch)
        export.append((time.thread_time() - started) / len(reqs) * 1e6)

        (template,) = StoreExporter.records(capture([Req(at, "template")]))[1]
        for _ in range(50):
            record = replace(template, request_id=secrets.token_hex(8))
            started = time.thread_time()
            with engine.begin() as connection:
                write_request(connection, record)
            row.append((time.thread_time() - started) * 1e6)
    engine.dispose()
    return {  # the first round warms caches and is left out
        "ingest": statistics.median(ingest[1:]),
        "export": statistics.median(export[1:]),
        "row": statistics.median(row[50:]),
    }


def run_child(src: Path, url: str, rounds: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT / "bench")])}
    command = [sys.executable, __file__, "--child", url, "--rounds", str(rounds)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="also run this git revision (before/after, one run)")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per writer")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.rounds)))
        return
    results: dict[tuple[str, str], dict[str, float] | str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-write-") as tmp:
        trees = {"now": SRC}
        if args.base:
            trees = {args.base: source_at(args.base, Path(tmp)), **trees}
        for database in ("SQLite", "Postgres"):
            for tree, src in trees.items():
                try:
                    if database == "SQLite":
                        url = f"sqlite:///{tmp}/{secrets.token_hex(4)}.db"
                        results[(database, tree)] = run_child(src, url, args.rounds)
                    else:
                        with postgres_database() as url:
                            results[(database, tree)] = run_child(src, url, args.rounds)
                except Exception as exc:  # an unreachable Postgres, a tree that cannot run: say so
                    results[(database, tree)] = f"{type(exc).__name__}: {exc}"[:100]
    print(
        f"Store writes, CPU of the writing thread (medians of {args.rounds} rounds); cpus: {os.cpu_count()}"
    )
    print(f"{'database':10}{'tree':>10}{'ingest µs/span':>16}{'export µs/request':>19}{'request row µs':>16}")
    for (database, tree), result in results.items():
        if isinstance(result, str):
            print(f"{database:10}{tree[:10]:>10}  {result}")
            continue
        print(
            f"{database:10}{tree[:10]:>10}{result['ingest']:16.1f}{result['export']:19.0f}{result['row']:16.0f}"
        )


if __name__ == "__main__":
    main()
