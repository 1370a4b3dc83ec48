"""The `llmops` command as a user runs it: real processes, real files, real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from live import SAMPLES
from llmops.storage.db import make_engine
from llmops.storage.tables import requests, spans
from processes import cli_env, run_llmops, serving

KEY_LINE = re.compile(r"^\s+(llmops_[A-Za-z0-9_-]{43})\s*$", re.MULTILINE)


def test_first_start_generates_a_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    with serving(tmp_path, cli_env(tmp_path)) as (base, process):
        pass
    [key] = KEY_LINE.findall(process.stderr_text)  # type: ignore[attr-defined]
    with serving(tmp_path, cli_env(tmp_path), "--workers", "2") as (base, again):
        email = json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])["email"]
        with httpx.Client(base_url=base, timeout=30) as client:
            ok = [
                client.post("/v1/triage", json={"email": email}, headers={"Authorization": f"Bearer {key}"})
                for _ in range(4)
            ]
            denied = client.post("/v1/triage", json={"email": email})
    assert all(r.status_code == 200 for r in ok) and denied.status_code == 401
    assert KEY_LINE.findall(again.stderr_text) == []  # type: ignore[attr-defined]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
    assert key.encode() not in stored


def test_triage_command_reads_eml_and_json_and_records_the_request_like_the_api(tmp_path: Path) -> None:
    eml = sorted((SAMPLES / "eml").glob("*.eml"))[0]
    sample = json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])
    as_json = tmp_path / "email.json"
    as_json.write_text(json.dumps({"email": sample["email"]}))
    replies = []
    for path in (eml, as_json):
        result = run_llmops(cli_env(tmp_path), "triage", str(path))
        assert result.returncode == 0, result.stderr
        reply = json.loads(result.stdout)
        assert reply["provider"] == "scripted" and reply["triage"]["category"]
        replies.append(reply)
    pinned = run_llmops(cli_env(tmp_path), "triage", str(as_json), "--prompt-version", "email_triage_v1")
    assert json.loads(pinned.stdout)["prompt_version"] == "email_triage_v1"
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'llmops.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(requests.c.request_id, requests.c.category, requests.c.source, requests.c.trace_id)
            ).all()
            traced = set(connection.execute(select(spans.c.trace_id)).scalars())
    finally:
        engine.dispose()
    stored = {row.request_id: row for row in rows}
    assert len(stored) == 3
    for reply in replies:
        row = stored[reply["request_id"]]
        assert (row.category, row.source) == (reply["triage"]["category"], "api") and row.trace_id in traced
    report = run_llmops(cli_env(tmp_path), "report", "--json")
    assert json.loads(report.stdout)["requests"] == 3
    unknown = run_llmops(cli_env(tmp_path), "triage", str(as_json), "--prompt-version", "email_triage_v99")
    assert unknown.returncode == 2 and "email_triage_v99" in unknown.stderr
    missing = run_llmops(cli_env(tmp_path), "triage", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"email": {"subject": "no sender"}}')
    bad = run_llmops(cli_env(tmp_path), "triage", str(broken))
    assert bad.returncode == 2 and "email.sender" in bad.stderr


def test_redact_command_masks_stdin_including_configured_secrets(tmp_path: Path) -> None:
    own_key = "plain-words-owned-secret-77"  # no detector knows this shape: only configuration masks it
    text = f"mail jane@example.com, card 4111 1111 1111 1111, our key {own_key}, version 1.2.3, id 123e4567-e89b-12d3-a456-426614174000\n"
    result = run_llmops(cli_env(tmp_path, LLMOPS_API_KEYS=own_key), "redact", input=text)
    assert result.returncode == 0
    assert (
        result.stdout
        == "mail [EMAIL], card [CREDIT_CARD], our key [SECRET], version 1.2.3, id 123e4567-e89b-12d3-a456-426614174000\n"
    )


def test_settings_come_from_a_secrets_directory(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    key = "horse-battery-staple-from-a-file"
    (secrets_dir / "llmops_api_keys").write_text(key)
    result = run_llmops(
        cli_env(tmp_path, LLMOPS_SECRETS_DIR=str(secrets_dir)), "redact", input=f"key {key}\n"
    )
    assert result.stdout == "key [SECRET]\n"


def test_bad_settings_name_the_setting_and_its_choices_and_exit_2(tmp_path: Path) -> None:
    result = run_llmops(
        cli_env(tmp_path, LLMOPS_PROVIDER="mistral", LLMOPS_PORT="eighty"), "redact", input=""
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "LLMOPS_PROVIDER" in result.stderr and "'local', 'openai' or 'scripted'" in result.stderr
    assert "LLMOPS_PORT" in result.stderr and "mistral" not in result.stderr and "eighty" not in result.stderr
    upper = run_llmops(
        cli_env(tmp_path, LLMOPS_LOG_LEVEL="DEBUG", LLMOPS_PROVIDER="Scripted"), "redact", input="x"
    )
    assert upper.returncode == 0, upper.stderr


def test_tables_are_not_cut_when_piped(tmp_path: Path) -> None:
    long_reason = "a reason long enough to be cut by an eighty-column table " * 3
    moved = run_llmops(
        cli_env(tmp_path), "prompts", "label", "production", "email_triage_v7", "--reason", long_reason
    )
    assert moved.returncode == 0, moved.stderr
    history = run_llmops(cli_env(tmp_path, COLUMNS="80"), "prompts", "history")
    assert long_reason.strip() in history.stdout


def test_the_command_loads_only_typer_until_a_command_runs() -> None:
    """`llmops --help` and light commands start fast: importing the CLI pulls in no database, HTTP,
    validation or telemetry library (each command imports what it uses when it runs)."""
    heavy = ("sqlalchemy", "pydantic", "httpx", "opentelemetry", "llama_cpp", "fastapi", "llmops.service")
    probe = (
        "import sys, llmops.cli; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m in {heavy!r}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
