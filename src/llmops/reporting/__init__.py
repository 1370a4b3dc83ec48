"""Reports over stored requests: `build_report` computes, `render_text` / `render_json` print."""

from llmops.reporting.models import Report, StepSummary, ToolLatency, VersionSummary
from llmops.reporting.queries import EXACT_LIMIT, build_report
from llmops.reporting.render import render_json, render_text
from llmops.reporting.window import Window, parse_since

__all__ = [
    "EXACT_LIMIT",
    "Report",
    "StepSummary",
    "ToolLatency",
    "VersionSummary",
    "Window",
    "build_report",
    "parse_since",
    "render_json",
    "render_text",
]
