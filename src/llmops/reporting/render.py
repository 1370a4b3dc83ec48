"""Text and JSON renderings of a report. The first five text lines have a fixed shape scripts can grep."""

from __future__ import annotations

from collections.abc import Sequence

from llmops.reporting.models import Report

NONE = "n/a"


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2)


def render_text(report: Report) -> str:
    lines = [
        f"Total Requests: {report.requests}",
        f"Avg Latency: {seconds(report.avg_latency_ms)} (p95: {seconds(report.p95_latency_ms)})",
        f"Total Cost: {dollars(report.cost_usd)}",
        f"Top Tool Latency: {_top_tool(report)}",
        f"Prompt Version: {_version_label(report.prompt_version)}",
        f"Window: {_window(report)}",
        f"Error Rate: {percent(report.error_rate)} ({report.errors})",
        f"Degraded Rate: {percent(report.degraded_rate)} ({report.degraded})",
        f"Retries: {report.retries}",
        f"Tokens: {report.input_tokens:,} input / {report.output_tokens:,} output",
        f"Latency p50: {seconds(report.p50_latency_ms)}; percentiles {_method(report.p95_method)}",
    ]
    narrowed = [
        f"{name}={value}"
        for name, value in (
            ("model", report.model_filter),
            ("provider", report.provider_filter),
            ("assistant", report.assistant_filter),
        )
        if value
    ]
    if narrowed:
        lines.append(f"Only: {', '.join(narrowed)}")
    if report.unpriced_requests:
        lines.append(f"Unpriced Requests: {report.unpriced_requests} (not in Total Cost)")
    if report.versions:
        lines += ["", "By prompt version:"]
        lines += _table(
            ("VERSION", "REQUESTS", "AVG", "P95", "ERRORS", "COST", "TOKENS IN", "TOKENS OUT"),
            [
                (
                    _version_label(row.prompt_version),
                    str(row.requests),
                    seconds(row.avg_latency_ms),
                    seconds(row.p95_latency_ms),
                    percent(row.error_rate),
                    dollars(row.cost_usd),
                    f"{row.input_tokens:,}",
                    f"{row.output_tokens:,}",
                )
                for row in report.versions
            ],
        )
    if report.steps:
        lines += ["", f"By step (percentiles {_method(report.step_p95_method)}):"]
        lines += _table(
            ("STEP", "CALLS", "AVG", "P95", "ERRORS"),
            [
                (row.name, str(row.calls), seconds(row.avg_ms), seconds(row.p95_ms), percent(row.error_rate))
                for row in report.steps
            ],
        )
    return "\n".join(lines) + "\n"


def seconds(milliseconds: float | None) -> str:
    """`2.1s` from one second up, `0.250s` below, `0.35ms` under a millisecond (fast steps)."""
    if milliseconds is None:
        return NONE
    if milliseconds < 1:
        return f"{milliseconds:.2f}ms"
    value = milliseconds / 1000
    return f"{value:.1f}s" if value >= 1 else f"{value:.3f}s"


def dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.6f}"


def percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def points(delta: float | None, *, signed: bool = True) -> str:
    """A difference of two rates (or 0..1 scores) in percentage points: `-59.1 pp`, `+4.0 pp` (`4.0 pp`
    unsigned, for a size such as a margin)."""
    if delta is None:
        return NONE
    return f"{delta * 100:+.1f} pp" if signed else f"{delta * 100:.1f} pp"


def _top_tool(report: Report) -> str:
    tool = report.top_tool
    return NONE if tool is None else f"{tool.tool} (avg {seconds(tool.avg_ms)})"


def _version_label(version: str | None) -> str:
    if version is None:
        return NONE
    return version or "(none)"


def _window(report: Report) -> str:
    start = "beginning" if report.window_start is None else report.window_start.isoformat(timespec="seconds")
    return f"{start} → {report.window_end.isoformat(timespec='seconds')}"


def _method(method: str) -> str:
    return {"exact": "exact", "histogram": "estimated from histograms", "none": NONE}[method]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  " + "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    return [line(header), *(line(row) for row in rows)]
