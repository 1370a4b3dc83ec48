"""`llmops prompts` as a user runs it: list, show, diff, label (move and roll back), history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from llmops.assistant.schema import Triage
from processes import cli_env, run_llmops


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_llmops(cli_env(tmp_path, COLUMNS="200", USER="dana"), "prompts", *args, timeout=60)


def test_label_moves_and_history(tmp_path: Path) -> None:
    created = _run(tmp_path, "label", "production", "email_triage_v7", "--reason", "better summaries")
    moved = _run(tmp_path, "label", "production", "email_triage_v2", "--reason", "rollback", "--by", "lee")
    assert created.returncode == 0, created.stderr
    assert "(none) → email_triage_v7" in created.stdout
    assert "email_triage_v7 → email_triage_v2" in moved.stdout

    history = _run(tmp_path, "history", "--label", "production")
    lines = [line.split() for line in history.stdout.splitlines()[1:]]
    assert [row[3:7] for row in lines] == [
        ["email_triage_v7", "email_triage_v2", "lee", "rollback"],
        ["-", "email_triage_v7", "dana", "better"],
    ]
    listing = _run(tmp_path, "list").stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in listing if line.startswith("email_triage_v")}
    assert list(rows) == ["email_triage_v1", "email_triage_v2", "email_triage_v7", "email_triage_v8"]
    assert rows["email_triage_v2"][2] == "production" and "production" not in rows["email_triage_v7"]
    assert all(len(row[1]) == 12 for row in rows.values())


def test_bad_names_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    for args, message in [
        (("label", "Prod!", "email_triage_v2"), "invalid label name"),
        (("label", "canary", "email_triage_v99"), "unknown prompt version"),
        (("label", "canary", "email_triage_v2", "--prompt", "nope"), "unknown prompt"),
        (("show", "email_triage_v99"), "unknown prompt version"),
        (("diff", "email_triage_v2", "nope"), "unknown prompt version"),
        (("history", "--label", "BAD"), "invalid label name"),
    ]:
        result = _run(tmp_path, *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    assert "No label moves" in _run(tmp_path, "history").stderr


def test_show_prints_params_prefill_and_the_output_schema(tmp_path: Path) -> None:
    shown = _run(tmp_path, "show", "email_triage_v8")
    assert shown.returncode == 0, shown.stderr
    assert "max_tokens=160" in shown.stdout and "examples:      1" in shown.stdout
    assert '\'{"category": "\'' in shown.stdout
    schema = json.loads(shown.stdout.split("output schema\n", 1)[1])
    assert schema == Triage.model_json_schema()


def test_diff_is_a_unified_diff_of_the_files(tmp_path: Path) -> None:
    result = _run(tmp_path, "diff", "email_triage_v7", "email_triage_v8")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["--- email_triage/v7.yaml", "+++ email_triage/v8.yaml"]
    assert "-id: email_triage_v7" in lines and "+id: email_triage_v8" in lines
    assert '+prefill: \'{"category": "\'' in lines
    assert "\x1b[" not in result.stdout  # no colour codes when not a terminal


def test_a_canary_label_starts_through_the_eval_gate_as_canary_start_does(
    tmp_path: Path, database_url: str
) -> None:
    """`prompts label canary V --traffic-share S` is `canary start V --share S`: the golden set runs on V
    against production, a REGRESSION is refused unless --force --reason, and who forced it and why are
    in the label's history."""
    env = cli_env(tmp_path, LLMOPS_DATABASE_URL=database_url, COLUMNS="300", USER="dana")

    def llmops(*args: str) -> subprocess.CompletedProcess[str]:
        return run_llmops(env, *args, timeout=300)

    assert llmops("prompts", "label", "production", "email_triage_v7").returncode == 0
    refused = llmops("prompts", "label", "canary", "email_triage_v8", "--traffic-share", "0.5")
    assert refused.returncode == 1, refused.stderr
    assert "refused: eval REGRESSION against production" in " ".join(refused.stderr.split())
    status = json.loads(llmops("canary", "status", "--json").stdout)
    assert status["comparison"] is None
    assert (
        llmops(
            "prompts", "label", "canary", "email_triage_v8", "--traffic-share", "0.5", "--force"
        ).returncode
        == 2
    )
    assert llmops("prompts", "label", "production", "email_triage_v7", "--force").returncode == 2

    forced = llmops(
        "prompts",
        "label",
        "canary",
        "email_triage_v8",
        "--traffic-share",
        "0.5",
        "--force",
        "--reason",
        "see it live",
    )
    assert forced.returncode == 0, forced.stderr
    assert "canary email_triage_v8 at 50% against production email_triage_v7" in forced.stdout
    history = " ".join(llmops("prompts", "history", "--label", "canary").stdout.split())
    assert "dana" in history and "forced past eval REGRESSION" in history and "why: see it live" in history

    # A share of 0 starts nothing: it clears the canary without a gate, as before.
    cleared = llmops("prompts", "label", "canary", "email_triage_v8", "--traffic-share", "0")
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(llmops("canary", "status", "--json").stdout)["comparison"] is None
