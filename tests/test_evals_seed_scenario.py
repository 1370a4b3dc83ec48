"""The seed scenario, end to end through the CLI: `email_triage_v8` is a deliberately worse change of
`v7`; on the golden set the comparison says REGRESSION, lists the failing cases and exits non-zero,
while comparing v7 with itself is NON-INFERIOR."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from processes import cli_env, run_llmops


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_llmops(env, *args, timeout=600)


def test_v8_regresses_against_v7_and_v7_is_non_inferior_to_itself(tmp_path: Path) -> None:
    env = cli_env(tmp_path)

    runs = {}
    for version in ("email_triage_v7", "email_triage_v8"):
        result = _run(["eval", "run", "--prompt-version", version, "--no-cache"], env)
        assert result.returncode == 0, result.stderr
        runs[version] = result.stdout
        # Not a terminal: a progress line at each further 10 %, the last one at 100 %.
        progress = [line for line in result.stderr.splitlines() if line.startswith("eval: ")]
        assert len(progress) == 10 and progress[-1].startswith("eval: 66/66 cases (100%)"), progress

    regression = _run(["eval", "compare", "email_triage_v7", "email_triage_v8", "--format", "json"], env)
    assert regression.returncode == 1, regression.stderr
    report = json.loads(regression.stdout)
    assert report["verdict"] == "REGRESSION"
    regressed = {case["case_id"] for case in report["regressions"]}
    assert regressed, "the failing cases are listed"
    assert any(case["critical"] for case in report["regressions"])
    assert report["mcnemar"]["p_value"] < 0.05

    markdown = _run(["eval", "compare", "email_triage_v7", "email_triage_v8"], env)
    assert markdown.returncode == 1 and "REGRESSION" in markdown.stdout
    assert all(case_id in markdown.stdout for case_id in regressed)

    again = _run(["eval", "run", "--prompt-version", "email_triage_v7"], env)  # served from the cache
    assert again.returncode == 0, again.stderr
    same = _run(["eval", "compare", "email_triage_v7", "email_triage_v7", "--format", "json"], env)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["verdict"] == "NON-INFERIOR"
