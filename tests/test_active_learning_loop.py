"""The active-learning loop closes, with real processes: `llmops serve` answers a production outage as
`action_required` (the deliberately worse `email_triage_v8` is deployed), the user rates it -1, `llmops
eval mine` turns the feedback into a case, `llmops eval label` labels it `urgent` and critical into the
team's dataset, and the next eval runs include it: the served version now fails it, and the verdict of
v8 against v7 on that dataset goes from NON-INFERIOR to REGRESSION. No personal data reaches a file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from live import TEST_KEY
from processes import cli_env, run_llmops, serving

OUTAGE = {
    "sender": "PagerDuty <alerts@pagerduty-mail.example>",
    "recipients": ["oncall@northwind.example"],
    "subject": "[FIRING] Production database down: checkout failing",
    "body": "CRITICAL: the primary database in eu-west-1 is unreachable since 09:12 UTC. Checkout returns "
    "500 for all customers. Incident INC-2041 opened; please join the bridge now.",
}
TEAM_CASES = [
    {
        "id": "budget-review",
        "email": {
            "sender": "Sam Lee <sam@northwind.example>",
            "recipients": ["me@northwind.example"],
            "subject": "Please review the Q3 budget by Friday",
            "body": "Hi, can you review the attached Q3 budget and send me your comments by Friday? Thanks, Sam",
        },
        "expected": {"category": "action_required", "priority": [2, 3]},
    },
    {
        "id": "contract-signature",
        "email": {
            "sender": "Priya Shah <priya@contoso.example>",
            "recipients": ["me@northwind.example"],
            "subject": "Signed contract needed by Thursday",
            "body": "Hello, legal needs the countersigned supply contract back by Thursday so we can start "
            "deliveries next month. Could you sign and return it? Best, Priya",
        },
        "expected": {"category": "action_required", "priority": [2, 3]},
    },
]
PLANTED = ("alerts@pagerduty-mail.example", "oncall@northwind.example", "ops.lead@northwind.example")


def _ok(env: dict[str, str], *args: str) -> str:
    result = run_llmops(env, *args, timeout=300)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def _verdict(env: dict[str, str]) -> tuple[int, dict[str, object]]:
    result = run_llmops(
        env, "eval", "compare", "email_triage_v7", "email_triage_v8", "--dataset", "team", "--format", "json"
    )
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return result.returncode, report


def _runs(env: dict[str, str], url: str, dataset: Path) -> tuple[str, str]:
    """The served version over HTTP and v7 in-process, on the team dataset; both stdout summaries."""
    served = _ok(env, "eval", "run", "--dataset", str(dataset), "--target", url, "--no-cache")
    baseline = _ok(env, "eval", "run", "--dataset", str(dataset), "--prompt-version", "email_triage_v7")
    return served, baseline


def test_negative_feedback_is_mined_labelled_and_changes_the_verdict(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        LLMOPS_API_KEYS=TEST_KEY,
        LLMOPS_EVAL_API_KEY=TEST_KEY,
        LLMOPS_PROMPT_VERSION="email_triage_v8",
    )
    team = tmp_path / "team.jsonl"
    team.write_text("".join(json.dumps(case) + "\n" for case in TEAM_CASES), encoding="utf-8")
    mined = tmp_path / "mined.jsonl"

    with serving(tmp_path, env) as (url, _):
        # Before: v8 passes the team's cases, and is non-inferior to v7 on them.
        served, _ = _runs(env, url, team)
        assert "pass rate       100.0% (2/2)" in served and "email_triage_v8" in served
        code, before = _verdict(env)
        assert (code, before["verdict"]) == (0, "NON-INFERIOR")

        # Production answers an outage as action_required; the user says so.
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        reply = httpx.post(f"{url}/v1/triage", json={"email": OUTAGE}, headers=headers, timeout=60).json()
        assert reply["triage"]["category"] == "action_required"
        feedback = {
            "request_id": reply["request_id"],
            "rating": -1,
            "notes": "This is an outage, it should be urgent. Ask ops.lead@northwind.example",
        }
        posted = httpx.post(f"{url}/v1/feedback", json=feedback, headers=headers, timeout=60)
        assert posted.status_code == 201  # the rated request's trace is stored: mine at once

        # Mine: the case loads as written; a run lists it and scores nothing until it is labelled.
        _ok(env, "eval", "mine", "--output", str(mined))
        lines = [json.loads(line) for line in mined.read_text(encoding="utf-8").splitlines()]
        case_id = f"mined-{reply['request_id']}"
        assert [line["id"] for line in lines] == [case_id]
        assert lines[0]["email"]["sender"] == "PagerDuty <redacted@example.invalid>"
        assert lines[0]["tags"] == ["mined", "needs-label"] and lines[0]["expected"] == {}
        unlabelled = run_llmops(env, "eval", "run", "--dataset", str(mined), "--target", url)
        assert unlabelled.returncode == 2 and "needs a label" in " ".join(unlabelled.stderr.split())

        # Label it urgent, priority 1-2, critical, into the team's dataset.
        _ok(
            env,
            "eval",
            "label",
            str(mined),
            "--dataset",
            str(team),
            "--set",
            f"{case_id}:category=urgent",
            "--set",
            f"{case_id}:priority=1-2",
            "--set",
            f"{case_id}:critical=true",
        )
        labelled = json.loads(team.read_text(encoding="utf-8").splitlines()[-1])
        assert labelled["id"] == case_id and labelled["critical"] is True
        assert labelled["expected"] == {"category": "urgent", "priority": [1, 2]}
        assert "needs-label" not in labelled["tags"] and "labelled" in labelled["tags"]

        # After: the run includes the new case and the served version fails it; the verdict flips.
        served, baseline = _runs(env, url, team)
        assert "pass rate       66.7% (2/3)" in served
        assert "pass rate       100.0% (3/3)" in baseline
        code, after = _verdict(env)
        assert (code, after["verdict"]) == (1, "REGRESSION")
        regressions = after["regressions"]
        assert isinstance(regressions, list)
        assert [(case["case_id"], case["critical"]) for case in regressions] == [(case_id, True)]

    written = mined.read_text(encoding="utf-8") + team.read_text(encoding="utf-8")
    for planted in PLANTED:
        assert planted not in written
