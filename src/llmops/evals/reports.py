"""A comparison as Markdown, self-contained HTML, JSON or JUnit XML.

Every renderer first passes the whole comparison through the redactor (case ids, run targets and
reasons are text too), then escapes for its format: reports are pasted into pull requests and CI logs.
JUnit has one testcase per paired case, failing for a pass→fail regression, plus a `verdict` testcase
that fails when the verdict is REGRESSION, so CI shows the run as failed even without a failing case.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Callable

from llmops.evals.compare import CaseChange, Comparison, MetricDelta, Verdict
from llmops.redaction import Redactor

Renderer = Callable[[Comparison, Redactor], str]


def redacted(comparison: Comparison, redactor: Redactor) -> Comparison:
    """The comparison with every string passed through the redactor (numbers are kept)."""
    return Comparison.model_validate(redactor.redact_value(comparison.model_dump(mode="json")))


def _number(value: float | None, name: str) -> str:
    if value is None:
        return "–"
    if name == "pass_rate":
        return f"{value:.1%}"
    if name == "mean_cost_usd":
        return f"{value:.6f}"
    if name == "mean_latency_ms":
        return f"{value:.1f}"
    return f"{value:.4f}"


def _delta(metric: MetricDelta) -> str:
    if metric.delta is None:
        return "–"
    if metric.name == "pass_rate":
        return f"{metric.delta * 100:+.1f} pp"
    return f"{metric.delta:+.6f}" if metric.name == "mean_cost_usd" else f"{metric.delta:+.4g}"


def _stats_lines(c: Comparison) -> list[str]:
    ci = c.bootstrap
    return [
        f"Paired cases: {c.paired}",
        f"McNemar exact test: {c.mcnemar.pass_to_fail} pass→fail, {c.mcnemar.fail_to_pass} fail→pass, "
        f"p = {c.mcnemar.p_value:.4g}",
        f"Mean score difference: {ci.mean_difference:+.4f}, {ci.confidence:.0%} bootstrap CI "
        f"[{ci.low:+.4f}, {ci.high:+.4f}] ({ci.resamples} resamples, seed {ci.seed})",
        f"Minimum detectable pass-rate change (alpha {c.alpha:g}, 80% power): {c.mde:.1%}",
        f"Non-inferiority margin: {c.margin:g}",
    ]


def _md(text: str) -> str:
    """Markdown-safe inline text: no table breaks, no markup."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`").replace("\n", " ")


def _md_changes(title: str, changes: list[CaseChange]) -> list[str]:
    if not changes:
        return []
    lines = [
        f"## {title} ({len(changes)})",
        "",
        "| Case | Critical | Baseline | Candidate |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{_md(ch.case_id)}` | {'yes' if ch.critical else ''} | {ch.baseline_score:.3f} | "
        f"{ch.candidate_score:.3f} |"
        for ch in changes
    ]
    return [*lines, ""]


def to_markdown(comparison: Comparison, redactor: Redactor) -> str:
    c = redacted(comparison, redactor)
    lines = [
        f"# Eval comparison: **{c.verdict.value}**",
        "",
        *[f"- {_md(reason)}" for reason in c.reasons],
        "",
        "| | Baseline | Candidate |",
        "|---|---|---|",
        f"| Run | `{_md(c.baseline.id)}` | `{_md(c.candidate.id)}` |",
        f"| Prompt version | `{_md(c.baseline.prompt_version)}` | `{_md(c.candidate.prompt_version)}` |",
        f"| Dataset | {_md(c.baseline.dataset)} | {_md(c.candidate.dataset)} |",
        f"| Target | {_md(c.baseline.target)} | {_md(c.candidate.target)} |",
        "",
        "| Metric | Baseline | Candidate | Delta |",
        "|---|---|---|---|",
        *[
            f"| {m.name} | {_number(m.baseline, m.name)} | {_number(m.candidate, m.name)} | {_delta(m)} |"
            for m in c.metrics
        ],
        "",
        *[f"- {_md(line)}" for line in _stats_lines(c)],
        "",
    ]
    if c.dataset_changed:
        lines += ["> The dataset changed between the runs (different hashes).", ""]
    lines += _md_changes("Regressions", c.regressions)
    lines += _md_changes("Improvements", c.improvements)
    for title, ids in (
        ("Missing in the candidate", c.missing_in_candidate),
        ("Missing in the baseline", c.missing_in_baseline),
    ):
        if ids:
            lines += [f"## {title} ({len(ids)})", "", ", ".join(f"`{_md(i)}`" for i in ids), ""]
    return "\n".join(lines)


_CSS = (
    "body{font:14px/1.5 system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:left}th{background:#f4f4f4}.v{padding:.2rem .6rem;border-radius:4px;color:#fff}"
    ".REGRESSION{background:#c62828}.IMPROVED{background:#2e7d32}.NON-INFERIOR{background:#1565c0}"
    ".INCONCLUSIVE{background:#757575}"
)


def _row(cells: list[str], header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in cells) + "</tr>"


def _html_changes(title: str, changes: list[CaseChange]) -> str:
    if not changes:
        return ""
    rows = [_row(["Case", "Critical", "Baseline", "Candidate"], header=True)]
    rows += [
        _row(
            [
                ch.case_id,
                "yes" if ch.critical else "",
                f"{ch.baseline_score:.3f}",
                f"{ch.candidate_score:.3f}",
            ]
        )
        for ch in changes
    ]
    return f"<h2>{html.escape(title)} ({len(changes)})</h2><table>{''.join(rows)}</table>"


def to_html(comparison: Comparison, redactor: Redactor) -> str:
    """One self-contained page: inline CSS, no scripts, no external resources."""
    c = redacted(comparison, redactor)
    verdict = html.escape(c.verdict.value)
    runs = [
        _row(["", "Baseline", "Candidate"], header=True),
        _row(["Run", c.baseline.id, c.candidate.id]),
        _row(["Prompt version", c.baseline.prompt_version, c.candidate.prompt_version]),
        _row(["Dataset", c.baseline.dataset, c.candidate.dataset]),
        _row(["Target", c.baseline.target, c.candidate.target]),
    ]
    metrics = [_row(["Metric", "Baseline", "Candidate", "Delta"], header=True)] + [
        _row([m.name, _number(m.baseline, m.name), _number(m.candidate, m.name), _delta(m)])
        for m in c.metrics
    ]
    missing = "".join(
        f"<h2>{html.escape(title)} ({len(ids)})</h2><p>{html.escape(', '.join(ids))}</p>"
        for title, ids in (
            ("Missing in the candidate", c.missing_in_candidate),
            ("Missing in the baseline", c.missing_in_baseline),
        )
        if ids
    )
    changed = "<p><strong>The dataset changed between the runs.</strong></p>" if c.dataset_changed else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Eval comparison: {verdict}</title><style>{_CSS}</style></head><body>"
        f'<h1>Eval comparison <span class="v {verdict}">{verdict}</span></h1>'
        f"<ul>{''.join(f'<li>{html.escape(r)}</li>' for r in c.reasons)}</ul>"
        f"<table>{''.join(runs)}</table><table>{''.join(metrics)}</table>"
        f"<ul>{''.join(f'<li>{html.escape(line)}</li>' for line in _stats_lines(c))}</ul>{changed}"
        f"{_html_changes('Regressions', c.regressions)}{_html_changes('Improvements', c.improvements)}"
        f"{missing}</body></html>\n"
    )


def to_json(comparison: Comparison, redactor: Redactor) -> str:
    return redacted(comparison, redactor).model_dump_json(indent=2) + "\n"


def to_junit_xml(comparison: Comparison, redactor: Redactor) -> str:
    """JUnit XML: a testcase per paired case, failing on pass→fail, and a `verdict` testcase."""
    c = redacted(comparison, redactor)
    failures = len(c.regressions) + (c.verdict is Verdict.REGRESSION)
    suite = ET.Element(
        "testsuite",
        name=f"llmops eval {c.baseline.prompt_version} -> {c.candidate.prompt_version}",
        tests=str(len(c.cases) + 1),
        failures=str(failures),
        errors="0",
    )
    for change in c.cases:
        testcase = ET.SubElement(
            suite, "testcase", classname=f"eval.{c.candidate.dataset}", name=change.case_id
        )
        if change.baseline_passed and not change.candidate_passed:
            failure = ET.SubElement(
                testcase, "failure", message="pass→fail", type="critical" if change.critical else "regression"
            )
            failure.text = f"score {change.baseline_score:.3f} → {change.candidate_score:.3f}"
    verdict = ET.SubElement(suite, "testcase", classname="eval.verdict", name="verdict")
    if c.verdict is Verdict.REGRESSION:
        failure = ET.SubElement(verdict, "failure", message="REGRESSION", type="verdict")
        failure.text = "\n".join(c.reasons)
    ET.SubElement(verdict, "system-out").text = "\n".join([f"verdict: {c.verdict.value}", *_stats_lines(c)])
    suites = ET.Element(
        "testsuites", name="llmops eval", tests=suite.get("tests", "0"), failures=str(failures)
    )
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS: dict[str, Renderer] = {"md": to_markdown, "html": to_html, "json": to_json, "junit": to_junit_xml}
