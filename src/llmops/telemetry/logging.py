"""Structured JSON logs with trace and span ids, every record redacted before it is written.

Logging is process-wide by nature, so this is configured once per worker process (idempotently) by
the app's lifespan and the CLI. Uvicorn's own loggers propagate here, so access lines (which carry
client addresses) pass the same redactor. Logs never carry email content: nothing in llmops logs it,
and the redactor is the backstop.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from llmops.redaction import RedactingFilter, Redactor
from llmops.redaction.logging import STANDARD_RECORD_FIELDS

_HANDLER_NAME = "llmops-json"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace/span ids, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_text:
            entry["exception"] = record.exc_text
        for name, value in record.__dict__.items():
            if name not in STANDARD_RECORD_FIELDS and not name.startswith("_") and name not in entry:
                entry[name] = value
        return json.dumps(entry, default=str)


def configure_logging(level: str, redactor: Redactor, stream: object = None) -> logging.Handler:
    """Install (or replace) the one JSON handler on the root logger; uvicorn's loggers propagate to it."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every startup at INFO
    return handler
