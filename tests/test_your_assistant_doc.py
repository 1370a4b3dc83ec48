"""`llmops new assistant` makes a package that passes its own tests, and docs/your-assistant.md works
as written: every `bash` block is run, in order, as one script in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from processes import cli_env, free_port, run_llmops

DOC = Path(__file__).resolve().parents[1] / "docs" / "your-assistant.md"
VENV_BIN = str(Path(sys.executable).parent)


def _env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(tmp_path, LLMOPS_PORT=str(free_port()))
    env["PATH"] = os.pathsep.join([VENV_BIN, env.get("PATH", "")])
    return env


def test_the_scaffold_passes_its_own_tests(tmp_path: Path) -> None:
    created = run_llmops(_env(tmp_path), "new", "assistant", "travel_helper", "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    root = tmp_path / "travel_helper"
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", "travel_helper/__init__.py", "travel_helper/assistant.py",
        "travel_helper/prompts/travel_helper/v1.yaml", "evals/travel_helper.jsonl", "tests/test_travel_helper.py",
    }  # fmt: skip
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=root,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    again = run_llmops(_env(tmp_path), "new", "assistant", "travel_helper", "--dir", str(tmp_path))
    bad = run_llmops(_env(tmp_path), "new", "assistant", "Not-A-Name", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert bad.returncode == 2 and "package name" in bad.stderr


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(blocks) >= 5
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "3 passed" in out  # the generated tests
    assert '"output":{"text":"I answer questions about Northwind\'s products and orders."}' in out
    assert "faq_bot_v1" in out and "faq_bot_v2" in out  # two eval runs, compared
    assert "Total Requests: 1" in out  # the served request, reported under its assistant
    assert "canary arm has 0 of the 100 requests" in out
