"""Comparison reports (JUnit, HTML, Markdown, JSON) and `llmops eval run|compare` as CI runs them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from llmops.evals.compare import Verdict, compare_runs
from llmops.evals.reports import to_html, to_json, to_junit_xml, to_markdown
from llmops.evals.store import save_run
from llmops.redaction import Redactor
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from processes import cli_env, run_llmops
from test_evals_compare import make_run


def parse_xml(text: str) -> ET.Element:
    """Our own report, so the stdlib parser is safe here."""
    return ET.fromstring(text)  # noqa: S314


BASE = {"a": 1.0, "b": 1.0, "crit": 1.0, "d": 0.5}
WORSE = {"a": 1.0, "b": 0.5, "crit": 0.5, "d": 0.5}


def _regression():
    return compare_runs(
        make_run(BASE, critical={"crit"}, run_id="base"), make_run(WORSE, critical={"crit"}, run_id="cand")
    )


def test_junit_has_a_testcase_per_case_and_fails_the_suite_on_regression() -> None:
    comparison = _regression()
    assert comparison.verdict is Verdict.REGRESSION
    root = parse_xml(to_junit_xml(comparison, Redactor()))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"a", "b", "crit", "d", "verdict"}
    assert suite.get("tests") == "5" and suite.get("failures") == "3"
    assert cases["a"].find("failure") is None and cases["d"].find("failure") is None
    assert cases["crit"].find("failure").get("type") == "critical"  # type: ignore[union-attr]
    assert cases["verdict"].find("failure").get("message") == "REGRESSION"  # type: ignore[union-attr]

    same = compare_runs(make_run(BASE), make_run(BASE))
    passing = parse_xml(to_junit_xml(same, Redactor())).find("testsuite")
    assert passing is not None and passing.get("failures") == "0"


def test_reports_are_redacted_and_escaped() -> None:
    baseline = make_run(BASE, run_id="base")
    baseline.target = "<script>alert(1)</script> ops@northwind.example"
    comparison = compare_runs(baseline, make_run(WORSE, run_id="cand"))
    page = to_html(comparison, Redactor())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "ops@northwind.example" not in page
    assert page.startswith("<!doctype html>") and "http" not in page.split("<body>")[0]
    markdown = to_markdown(comparison, Redactor())
    assert "<script>" not in markdown and "ops@northwind.example" not in markdown
    assert f"**{comparison.verdict.value}**" in markdown and "`b`" in markdown
    data = json.loads(to_json(comparison, Redactor()))
    assert data["verdict"] == comparison.verdict.value and "ops@northwind.example" not in json.dumps(data)


def test_compare_exits_1_on_regression_and_0_otherwise(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'llmops.db'}")
    upgrade(engine)
    save_run(engine, make_run(BASE, critical={"crit"}, run_id="base", version="email_triage_v1"), Redactor())
    save_run(engine, make_run(WORSE, critical={"crit"}, run_id="cand", version="email_triage_v2"), Redactor())
    engine.dispose()
    env = cli_env(tmp_path)
    regressed = run_llmops(env, "eval", "compare", "base", "email_triage_v2", "--format", "junit")
    assert regressed.returncode == 1, regressed.stderr
    assert parse_xml(regressed.stdout).find("testsuite") is not None
    report = tmp_path / "report.html"
    same = run_llmops(env, "eval", "compare", "base", "base", "--format", "html", "--output", str(report))
    assert same.returncode == 0, same.stderr
    assert "NON-INFERIOR" in report.read_text()
    missing = run_llmops(env, "eval", "compare", "nope", "base")
    assert missing.returncode == 2


def test_eval_run_prints_the_run_id_and_a_summary(tmp_path: Path) -> None:
    line = {
        "id": "meeting",
        "email": {
            "sender": "a@northwind.example",
            "recipients": ["me@northwind.example"],
            "subject": "Meeting",
        },
        "expected": {"category": "action_required", "priority": [1, 3]},
    }
    dataset = tmp_path / "mini.jsonl"
    dataset.write_text(json.dumps(line) + "\n")
    result = run_llmops(
        cli_env(tmp_path), "eval", "run", "--dataset", str(dataset), "--prompt-version", "email_triage_v1"
    )
    assert result.returncode == 0, result.stderr
    run_id, *summary = result.stdout.splitlines()
    assert len(run_id) == 32
    assert "pass rate       100.0% (1/1)" in summary
    compared = run_llmops(
        cli_env(tmp_path),
        "eval",
        "compare",
        run_id,
        "email_triage_v1",
        "--dataset",
        "mini",
        "--format",
        "json",
    )
    assert compared.returncode == 0 and json.loads(compared.stdout)["verdict"] == "NON-INFERIOR"
