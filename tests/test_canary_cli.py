"""`llmops canary` as an operator runs it: start (gated on the golden set), status, evaluate (hold),
rollback, with decisions stored. The refused and forced start of a regressed version is in
`test_canary_quality.py`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from processes import cli_env, run_llmops


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_llmops(cli_env(tmp_path, COLUMNS="200", USER="dana"), "canary", *args, timeout=60)


def test_start_status_evaluate_rollback(tmp_path: Path) -> None:
    assert "no canary is running" in _run(tmp_path, "status").stdout
    assert _run(tmp_path, "rollback").returncode == 2

    started = _run(tmp_path, "start", "email_triage_v7", "--share", "0.2")
    assert started.returncode == 0, started.stderr
    assert "eval NON-INFERIOR against production" in started.stdout
    assert "canary email_triage_v7 at 20%" in started.stdout

    evaluated = _run(tmp_path, "evaluate")
    assert "HOLD email_triage_v7" in evaluated.stdout

    rolled = _run(tmp_path, "rollback", "--reason", "not needed")
    assert "ROLLBACK email_triage_v7" in rolled.stdout and "by dana" in rolled.stdout

    status = json.loads(_run(tmp_path, "status", "--json").stdout)
    assert status["comparison"] is None
    assert [d["decision"] for d in status["decisions"]] == ["rollback", "hold"]
    assert status["decisions"][1]["figures"]["inconclusive"]
    assert _run(tmp_path, "start", "email_triage_v7", "--share", "1.5").returncode == 2
    assert _run(tmp_path, "start", "email_triage_v2").returncode == 2  # already production
    assert _run(tmp_path, "status", "--prompt", "model:nope").returncode == 2  # no such model canary
