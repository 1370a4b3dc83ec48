"""`llmops` run as a separate process, as a user runs it: one environment recipe, one way to wait for
a served port, shared by every test that drives the command line or `llmops serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

LLMOPS = [sys.executable, "-m", "llmops.cli"]
OWN_PREFIXES = ("LLMOPS_", "OTEL_", "OPENAI_")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without the developer's own llmops/OTel/OpenAI settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update(values)
    return env


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A data directory under `tmp_path` and the scripted provider (the local model is never loaded)."""
    return clean_env(**{"LLMOPS_DATA_DIR": str(tmp_path / "data"), "LLMOPS_PROVIDER": "scripted", **extra})


def run_llmops(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMOPS, *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`llmops serve` on a free port until it is ready; afterwards `process.stderr_text` holds its stderr."""
    port = free_port()
    stderr = (tmp_path / f"serve-{port}.log").open("w+")
    process = subprocess.Popen(
        [*LLMOPS, "serve", "--port", str(port), *args], env=env, stderr=stderr, text=True
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


def wait_for_trace(url: str, key: str, request_id: str, timeout_s: float = 120) -> list[dict[str, object]]:
    """A served request's spans once its root span is stored. The request row is written before the
    reply, the spans by the export thread a moment later; a test reading spans (the CLI's `eval mine`,
    the canary controller) from another process waits for them here."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < deadline:
        reply = httpx.get(f"{url}/api/requests/{request_id}", headers=headers, timeout=60)
        if reply.status_code == 200:
            spans: list[dict[str, object]] = reply.json()["spans"]
            if any(span["parent_span_id"] is None for span in spans):
                return spans
        time.sleep(0.2)
    raise AssertionError(f"the trace of {request_id} was not stored within {timeout_s:.0f} s")
