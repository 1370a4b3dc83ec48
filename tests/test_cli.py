"""The `llmops` command as a user runs it: real processes, real files, real HTTP."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from live import SAMPLES

LLMOPS = [sys.executable, "-m", "llmops.cli"]
KEY_LINE = re.compile(r"^\s+(llmops_[A-Za-z0-9_-]{43})\s*$", re.MULTILINE)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "OTEL_", "OPENAI_"))}
    env.update({"LLMOPS_DATA_DIR": str(tmp_path / "data"), "LLMOPS_PROVIDER": "scripted", **extra})
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serving(tmp_path: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    stderr = (tmp_path / f"serve-{port}.log").open("w+")
    process = subprocess.Popen(
        [*LLMOPS, "serve", "--port", str(port), *args], env=_env(tmp_path), stderr=stderr, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        stderr.flush()
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        stderr.seek(0)
        process.stderr_text = stderr.read()  # type: ignore[attr-defined]
        stderr.close()


def test_first_start_generates_a_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    with _serving(tmp_path) as (base, process):
        pass
    [key] = KEY_LINE.findall(process.stderr_text)  # type: ignore[attr-defined]
    with _serving(tmp_path, "--workers", "2") as (base, again):
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


def test_triage_command_reads_eml_and_json(tmp_path: Path) -> None:
    eml = sorted((SAMPLES / "eml").glob("*.eml"))[0]
    sample = json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])
    as_json = tmp_path / "email.json"
    as_json.write_text(json.dumps({"email": sample["email"]}))
    for path in (eml, as_json):
        result = subprocess.run(
            [*LLMOPS, "triage", str(path)], env=_env(tmp_path), capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        reply = json.loads(result.stdout)
        assert reply["provider"] == "scripted" and reply["triage"]["category"]
    missing = subprocess.run(
        [*LLMOPS, "triage", str(tmp_path / "nope.json")], env=_env(tmp_path), capture_output=True, text=True
    )
    assert missing.returncode == 2 and "No such file" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"email": {"subject": "no sender"}}')
    bad = subprocess.run([*LLMOPS, "triage", str(broken)], env=_env(tmp_path), capture_output=True, text=True)
    assert bad.returncode == 2 and "email.sender" in bad.stderr


def test_redact_command_masks_stdin_including_configured_secrets(tmp_path: Path) -> None:
    own_key = "plain-words-owned-secret-77"  # no detector knows this shape: only configuration masks it
    text = f"mail jane@example.com, card 4111 1111 1111 1111, our key {own_key}, version 1.2.3, id 123e4567-e89b-12d3-a456-426614174000\n"
    result = subprocess.run(
        [*LLMOPS, "redact"],
        input=text,
        env=_env(tmp_path, LLMOPS_API_KEYS=own_key),
        capture_output=True,
        text=True,
    )
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
    result = subprocess.run(
        [*LLMOPS, "redact"],
        input=f"key {key}\n",
        env=_env(tmp_path, LLMOPS_SECRETS_DIR=str(secrets_dir)),
        capture_output=True,
        text=True,
    )
    assert result.stdout == "key [SECRET]\n"
