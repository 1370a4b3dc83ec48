"""Comparison reports (JUnit, HTML, Markdown, JSON) and `llmops eval run|compare` as CI runs them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from llmops.evals.compare import Verdict, compare_runs
from llmops.evals.reports import to_html, to_json, to_junit_xml, to_markdown
from llmops.evals.scorers import score_case, scorers_for
from llmops.evals.store import load_run, save_run
from llmops.redaction import Redactor
from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade
from processes import cli_env, run_llmops
from test_evals_compare import make_run
from test_evals_scorers import IBAN, make_case, out, triage


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


PHOTOS = {
    "sender": "a@northwind.example",
    "recipients": ["me@northwind.example"],
    "subject": "Photos from Saturday",
    "body": "Here are the photos from the team lunch on Saturday.",
}


def _reply(summary: str) -> str:
    """What the scripted model answers: the summary is the model's own (the rules may still correct
    the category and priority, which is why the regression below is in the summary)."""
    return json.dumps(
        {"category": "fyi", "priority": 4, "summary": summary, "action_items": [], "draft_reply": None}
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.items: list[str] = []
        self._in_item = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_item = tag == "li"
        self.links += [value or "" for name, value in attrs if tag == "a" and name == "href"]

    def handle_data(self, data: str) -> None:
        if self._in_item:
            self.items.append(data)


def test_every_format_says_what_was_expected_and_what_came_back(tmp_path: Path) -> None:
    """Two real runs through the CLI, the candidate's model writing a summary that misses what the
    critical case asks for: the regressed case and the case failing in both runs say, per scorer,
    what was expected and what came back, with a trace link, in Markdown, HTML, JSON and JUnit."""
    cases = [
        {"id": "photos", "email": PHOTOS, "critical": True, "expected": {"regex": ["(?i)photos", "lunch"]}},
        {"id": "still-wrong", "email": PHOTOS | {"subject": "More photos"}, "expected": {"category": "spam"}},
    ]
    dataset = tmp_path / "mini.jsonl"
    dataset.write_text("".join(json.dumps(case) + "\n" for case in cases))
    run = ("eval", "run", "--dataset", str(dataset), "--no-cache", "--prompt-version")
    base = run_llmops(
        cli_env(tmp_path, LLMOPS_SCRIPTED_REPLY=_reply("Photos of the team lunch.")), *run, "email_triage_v1"
    )
    cand = run_llmops(
        cli_env(tmp_path, LLMOPS_SCRIPTED_REPLY=_reply("A note for your information.")),
        *run,
        "email_triage_v2",
    )
    assert base.returncode == 0 and cand.returncode == 0, base.stderr + cand.stderr
    base_id, cand_id = base.stdout.split()[0], cand.stdout.split()[0]
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'llmops.db'}")
    stored = {result.case_id: result for result in load_run(engine, cand_id).results}
    engine.dispose()
    got = stored["still-wrong"].output["category"]  # type: ignore[index]
    assert got != "spam"
    regressed = [
        "regex: expected all 2 patterns to match the summary, got 0 of 2 (no match for #0, #1)",
    ]
    still = f"category: expected spam, got {got}"
    env = cli_env(tmp_path)

    def report(fmt: str) -> str:
        args = (
            "eval",
            "compare",
            base_id,
            cand_id,
            "--format",
            fmt,
            "--dashboard-url",
            "https://dash.example/",
        )
        result = run_llmops(env, *args)
        assert result.returncode == 1, result.stderr  # the critical case regressed
        return result.stdout

    data = json.loads(report("json"))
    by_id = {case["case_id"]: case for case in data["cases"]}
    photos = by_id["photos"]
    assert photos["change"] == "regressed" and photos["explanations"] == regressed
    assert [(f["name"], f["expected"], f["got"]) for f in photos["failures"]] == [
        ("regex", "all 2 patterns to match the summary", "0 of 2 (no match for #0, #1)")
    ]
    request_id = photos["candidate_request_id"]
    assert request_id == stored["photos"].request_id
    assert photos["trace_url"] == f"https://dash.example/requests/{request_id}"
    assert [c["case_id"] for c in data["still_failing"]] == ["still-wrong"]
    assert by_id["still-wrong"]["explanations"] == [still]
    assert data["regressions"][0]["explanations"] == regressed

    suite = parse_xml(report("junit")).find("testsuite")
    assert suite is not None
    testcases = {case.get("name"): case for case in suite.findall("testcase")}
    failure = testcases["photos"].find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert failure.get("message") == "pass→fail: " + "; ".join(regressed)
    assert (failure.text or "").splitlines() == [
        *regressed,
        f"trace: https://dash.example/requests/{request_id}",
    ]
    assert testcases["still-wrong"].find("failure") is None
    assert still in (testcases["still-wrong"].findtext("system-out") or "")

    markdown = report("md")
    assert "## Regressions (1)" in markdown and "## Still failing (1)" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| `photos`"))
    assert "<br>".join(regressed) in row and f"[trace](https://dash.example/requests/{request_id})" in row
    assert "pass (100.0%)" in row and "fail (" in row
    assert re.search(
        r"Mean score change: [+-]\d+\.\d pp, 95% bootstrap CI \[[+-]\d+\.\d pp, [+-]\d+\.\d pp\]", markdown
    )
    assert re.search(r"\| Pass rate \| \d+\.\d% \| \d+\.\d% \| [+-]\d+\.\d pp \|", markdown)

    page = _Links()
    page.feed(report("html"))
    assert f"https://dash.example/requests/{request_id}" in page.links
    assert set(regressed) | {still} <= set(page.items)

    bad = run_llmops(env, "eval", "compare", base_id, cand_id, "--dashboard-url", "javascript:alert(1)")
    assert bad.returncode == 2 and "javascript" not in bad.stdout + bad.stderr.replace("--dashboard-url", "")


def test_each_scorer_says_what_it_expected_and_what_it_got_without_quoting_content() -> None:
    """The explanation each scorer gives a failed output (and none for a pass); phrases, patterns and
    field values are named by position or path, never quoted."""
    case = make_case(
        category="spam",
        priority=[1, 2],
        must_contain=["bank", "vendor", "zebra"],
        must_not_contain=[IBAN],
        regex=[r"fraud", r"^Nope"],
        fields={"category": "spam", "extra.id": 7},
        max_summary_chars=20,
        max_latency_ms=1000,
        max_cost_usd=0.001,
    )
    output = out(
        triage=triage(category="fyi", priority=4, draft_reply=f"Paid to {IBAN}"),
        latency_ms=2500.0,
        cost_usd=0.01,
    )
    explained = {s.name: s.explanation() for s in score_case(case, output, scorers_for(case)).results}
    summary_chars = len(triage()["summary"])
    assert explained == {
        "schema": "schema: valid triage",
        "fields": "fields: expected category, extra.id as in the dataset, got other values for "
        "category, extra.id (missing)",
        "category": "category: expected spam, got fyi",
        "priority": "priority: expected 1–2, got 4",
        "contains": "contains: expected all 3 phrases in the written text, got 2 of 3 (missing #2)",
        "not_contains": "not_contains: expected none of 1 forbidden phrase, got 1 (#0)",
        "regex": "regex: expected all 2 patterns to match the summary, got 1 of 2 (no match for #1)",
        "summary_length": f"summary_length: expected at most 20 characters, got {summary_chars} characters",
        "latency": "latency: expected at most 1.0s, got 2.5s",
        "cost": "cost: expected at most $0.001000, got $0.01",
    }
    assert IBAN not in str(explained) and "zebra" not in str(explained)
    errored = score_case(case, out(triage=None, error="TimeoutError"), scorers_for(case)).results
    assert {s.explanation() for s in errored if s.name == "category"} == {
        "category: expected spam, got error: TimeoutError"
    }
