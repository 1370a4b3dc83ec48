"""A comparison as Markdown, self-contained HTML, JSON or JUnit XML, and the figures they all show.

Every renderer first passes the whole comparison through the redactor (case ids, run targets and
reasons are text too), then escapes for its format: reports are pasted into pull requests and CI logs.
Each regressed or still-failing case says why, a line per failed scorer ("category: expected spam, got
action_required"), and links to the candidate's request page on the dashboard (its trace): absolute
under `dashboard_url`, a site-relative `/requests/<id>` without one.
Figures read as on the dashboard: rates and scores in %, their changes and intervals in pp, latency
and cost in their units (`metric_figures`, also used by the dashboard's evals page).
JUnit has one testcase per paired case, failing for a pass→fail regression (its message is the
explanation), plus a `verdict` testcase that fails when the verdict is REGRESSION, so CI shows the
run as failed even without a failing case. A case failing in both runs is not a new failure: its
explanation goes to the testcase's `system-out`.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from llmops.evals.compare import CaseChange, Comparison, MetricDelta, Verdict
from llmops.redaction import Redactor
from llmops.reporting.render import NONE, dollars, percent, points, seconds


class Renderer(Protocol):
    def __call__(self, comparison: Comparison, redactor: Redactor, *, dashboard_url: str = "") -> str: ...


METRIC_NAMES = {
    "pass_rate": "Pass rate",
    "mean_score": "Mean score",
    "mean_latency_ms": "Mean latency",
    "mean_cost_usd": "Mean cost per case",
}


@dataclass(frozen=True)
class MetricFigures:
    """A metric as every report shows it."""

    name: str
    baseline: str
    candidate: str
    change: str
    worse: bool


def metric_figures(metric: MetricDelta) -> MetricFigures:
    """Rates and scores in % with the change in pp; latency and cost in their unit with a signed change
    (higher is worse for them, lower for the rest)."""
    delta = metric.delta
    if metric.name.endswith(("_ms", "_usd")):
        unit = seconds if metric.name.endswith("_ms") else dollars

        def shown(value: float | None) -> str:
            return NONE if value is None else unit(value)

        change = NONE if delta is None else ("+" if delta >= 0 else "−") + unit(abs(delta))
        worse = delta is not None and delta > 0
    else:

        def shown(value: float | None) -> str:
            return NONE if value is None else percent(value)

        change, worse = points(delta), delta is not None and delta < 0
    return MetricFigures(
        METRIC_NAMES.get(metric.name, metric.name),
        shown(metric.baseline),
        shown(metric.candidate),
        change,
        worse,
    )


def stats_lines(c: Comparison) -> list[str]:
    """The statistics behind the verdict, in words and pp."""
    ci = c.bootstrap
    return [
        f"Paired cases: {c.paired:,}",
        f"McNemar exact test: {c.mcnemar.pass_to_fail} pass→fail, {c.mcnemar.fail_to_pass} fail→pass, "
        f"p = {c.mcnemar.p_value:.3f} (significant below {c.alpha:g})",
        f"Mean score change: {points(ci.mean_difference)}, {ci.confidence:.0%} bootstrap CI "
        f"[{points(ci.low)}, {points(ci.high)}] ({ci.resamples:,} resamples, seed {ci.seed})",
        f"Smallest detectable pass-rate change (alpha {c.alpha:g}, 80% power): {points(c.mde, signed=False)}",
        f"Non-inferiority margin: {points(c.margin, signed=False)}",
    ]


def trace_url(request_id: str | None, dashboard_url: str = "") -> str | None:
    """The dashboard's page for a request (its trace waterfall)."""
    if not request_id:
        return None
    return f"{dashboard_url.rstrip('/')}/requests/{quote(request_id, safe='')}"


def redacted(comparison: Comparison, redactor: Redactor) -> Comparison:
    """The comparison with every string passed through the redactor (numbers are kept)."""
    return Comparison.model_validate(redactor.redact_value(comparison.model_dump(mode="json")))


def _outcome(passed: bool, score: float) -> str:
    return f"{'pass' if passed else 'fail'} ({percent(score)})"


SECTIONS = (
    ("Regressions", "regressions"),
    ("Still failing", "still_failing"),
    ("Improvements", "improvements"),
)


def _sections(c: Comparison) -> list[tuple[str, list[CaseChange]]]:
    return [(title, getattr(c, field)) for title, field in SECTIONS if getattr(c, field)]


def _md(text: str) -> str:
    """Markdown-safe inline text: no table breaks, no markup."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`").replace("\n", " ")


def _md_changes(title: str, changes: list[CaseChange], dashboard_url: str) -> list[str]:
    lines = [
        f"## {title} ({len(changes)})",
        "",
        "| Case | Critical | Baseline | Candidate | Why the candidate failed | Trace |",
        "|---|---|---|---|---|---|",
    ]
    for ch in changes:
        url = trace_url(ch.candidate_request_id, dashboard_url)
        why = "<br>".join(_md(line) for line in ch.explanations) or "–"
        link = f"[trace]({quote(url, safe=':/%')})" if url else "–"
        lines.append(
            f"| `{_md(ch.case_id)}` | {'yes' if ch.critical else ''} | "
            f"{_outcome(ch.baseline_passed, ch.baseline_score)} | "
            f"{_outcome(ch.candidate_passed, ch.candidate_score)} | {why} | {link} |"
        )
    return [*lines, ""]


def to_markdown(comparison: Comparison, redactor: Redactor, *, dashboard_url: str = "") -> str:
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
        "| Metric | Baseline | Candidate | Change |",
        "|---|---|---|---|",
        *[
            f"| {f.name} | {f.baseline} | {f.candidate} | {f.change} |"
            for f in map(metric_figures, c.metrics)
        ],
        "",
        *[f"- {_md(line)}" for line in stats_lines(c)],
        "",
    ]
    if c.dataset_changed:
        lines += ["> The dataset changed between the runs (different hashes).", ""]
    for title, changes in _sections(c):
        lines += _md_changes(title, changes, dashboard_url)
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
    "text-align:left;vertical-align:top}th{background:#f4f4f4}.v{padding:.2rem .6rem;border-radius:4px;"
    "color:#fff}.REGRESSION{background:#c62828}.IMPROVED{background:#2e7d32}"
    ".NON-INFERIOR{background:#1565c0}.INCONCLUSIVE{background:#757575}td ul{margin:0;padding-left:1rem}"
)


def _row(cells: list[str], header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in cells) + "</tr>"


def _html_changes(title: str, changes: list[CaseChange], dashboard_url: str) -> str:
    rows = [_row(["Case", "Critical", "Baseline", "Candidate", "Why the candidate failed", "Trace"], True)]
    for ch in changes:
        url = trace_url(ch.candidate_request_id, dashboard_url)
        why = "".join(f"<li>{html.escape(line)}</li>" for line in ch.explanations)
        link = f'<a href="{html.escape(url)}">trace</a>' if url else "–"
        cells = [
            ch.case_id,
            "yes" if ch.critical else "",
            _outcome(ch.baseline_passed, ch.baseline_score),
            _outcome(ch.candidate_passed, ch.candidate_score),
        ]
        rows.append(
            "<tr>"
            + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
            + f"<td>{f'<ul>{why}</ul>' if why else '–'}</td><td>{link}</td></tr>"
        )
    return f"<h2>{html.escape(title)} ({len(changes)})</h2><table>{''.join(rows)}</table>"


def to_html(comparison: Comparison, redactor: Redactor, *, dashboard_url: str = "") -> str:
    """One self-contained page: inline CSS, no scripts, no external resources (links only)."""
    c = redacted(comparison, redactor)
    verdict = html.escape(c.verdict.value)
    runs = [
        _row(["", "Baseline", "Candidate"], header=True),
        _row(["Run", c.baseline.id, c.candidate.id]),
        _row(["Prompt version", c.baseline.prompt_version, c.candidate.prompt_version]),
        _row(["Dataset", c.baseline.dataset, c.candidate.dataset]),
        _row(["Target", c.baseline.target, c.candidate.target]),
    ]
    metrics = [_row(["Metric", "Baseline", "Candidate", "Change"], header=True)] + [
        _row([f.name, f.baseline, f.candidate, f.change]) for f in map(metric_figures, c.metrics)
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
    cases = "".join(_html_changes(title, changes, dashboard_url) for title, changes in _sections(c))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Eval comparison: {verdict}</title><style>{_CSS}</style></head><body>"
        f'<h1>Eval comparison <span class="v {verdict}">{verdict}</span></h1>'
        f"<ul>{''.join(f'<li>{html.escape(r)}</li>' for r in c.reasons)}</ul>"
        f"<table>{''.join(runs)}</table><table>{''.join(metrics)}</table>"
        f"<ul>{''.join(f'<li>{html.escape(line)}</li>' for line in stats_lines(c))}</ul>{changed}"
        f"{cases}{missing}</body></html>\n"
    )


def _case_json(change: dict[str, Any], model: CaseChange, dashboard_url: str) -> dict[str, Any]:
    return change | {
        "change": model.change,
        "trace_url": trace_url(model.candidate_request_id, dashboard_url),
    }


def to_json(comparison: Comparison, redactor: Redactor, *, dashboard_url: str = "") -> str:
    """The comparison model; each case also carries its change and its trace URL."""
    c = redacted(comparison, redactor)
    data = c.model_dump(mode="json")
    for field in ("cases", "regressions", "improvements", "still_failing"):
        data[field] = [
            _case_json(item, model, dashboard_url)
            for item, model in zip(data[field], getattr(c, field), strict=True)
        ]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _explained(change: CaseChange, dashboard_url: str) -> str:
    url = trace_url(change.candidate_request_id, dashboard_url)
    return "\n".join([*change.explanations, *([f"trace: {url}"] if url else [])])


def to_junit_xml(comparison: Comparison, redactor: Redactor, *, dashboard_url: str = "") -> str:
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
        if change.change == "regressed":
            failure = ET.SubElement(
                testcase,
                "failure",
                message="pass→fail: " + "; ".join(change.explanations),
                type="critical" if change.critical else "regression",
            )
            failure.text = _explained(change, dashboard_url)
        elif change.change == "failing":
            ET.SubElement(testcase, "system-out").text = "failing in both runs\n" + _explained(
                change, dashboard_url
            )
    verdict = ET.SubElement(suite, "testcase", classname="eval.verdict", name="verdict")
    if c.verdict is Verdict.REGRESSION:
        failure = ET.SubElement(verdict, "failure", message="REGRESSION", type="verdict")
        failure.text = "\n".join(c.reasons)
    ET.SubElement(verdict, "system-out").text = "\n".join([f"verdict: {c.verdict.value}", *stats_lines(c)])
    suites = ET.Element(
        "testsuites", name="llmops eval", tests=suite.get("tests", "0"), failures=str(failures)
    )
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS: dict[str, Renderer] = {"md": to_markdown, "html": to_html, "json": to_json, "junit": to_junit_xml}
