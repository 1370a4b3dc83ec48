"""A logging filter that redacts every record before any handler formats or exports it.

Attach it to handlers (`handler.addFilter(RedactingFilter(redactor))`): a filter on a logger does not
see records propagated from its children. The record is changed in place, so every later handler and
formatter sees only the redacted form: the message is rendered and redacted (args cleared), the
traceback is rendered into `exc_text` and redacted (`exc_info` cleared, so no handler can re-render the
raw exception), the stack and every `extra` field are redacted. If redaction fails, the record keeps
only a marker.
"""

from __future__ import annotations

import logging

from .kinds import FAILED_MARKER
from .redactor import Redactor

STANDARD_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
"""Attributes every LogRecord has; anything else on a record came from `extra=`."""
_DONE = "_llmops_redacted"
_TRACEBACK_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Redacts each record in place and always lets it through."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(_DONE):
            return True
        try:
            self._redact(record)
        except Exception:
            _keep_only_marker(record)
        record.__dict__[_DONE] = True
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        redact = self._redactor.redact
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in record.__dict__.keys() - STANDARD_RECORD_FIELDS:
            if name != _DONE:
                record.__dict__[name] = self._redactor.redact_value(record.__dict__[name])


def mark_redacted(record: logging.LogRecord) -> None:
    """Tell `RedactingFilter` a record is already in its redacted form (its message rendered and
    every part of it redacted by the caller), so it is not redacted twice."""
    record.__dict__[_DONE] = True


def _keep_only_marker(record: logging.LogRecord) -> None:
    record.msg = FAILED_MARKER
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    for name in record.__dict__.keys() - STANDARD_RECORD_FIELDS:
        record.__dict__[name] = FAILED_MARKER
