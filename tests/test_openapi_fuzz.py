"""Schemathesis against the live app (real uvicorn, SQLite and Postgres) with the auth header: every
route, every check (no 5xx, documented statuses, content types, response schemas, schema-valid input
accepted, invalid input refused, 405 with a full `Allow`). Sized to run in about a minute per database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from live import LiveServer

ST = shutil.which("st", path=str(Path(sys.executable).parent))
EXAMPLES = os.environ.get("LLMOPS_FUZZ_EXAMPLES", "15")


@pytest.mark.skipif(ST is None, reason="schemathesis is not installed")
def test_every_route_answers_as_documented_and_never_5xx(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live_server()
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        str(ST),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {server.key}",
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        "20261207",
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--no-color",
        "--request-timeout",
        "60",
    ]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
