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
import traceback
from collections.abc import Collection
from datetime import UTC, datetime
from types import TracebackType

from opentelemetry import trace

from llmops.redaction import RedactingFilter, Redactor
from llmops.redaction.logging import STANDARD_RECORD_FIELDS, mark_redacted

_HANDLER_NAME = "llmops-json"
_STATEMENT_CHARS = 160
_CLIENTS = 4096  # redacted client addresses remembered (a keep-alive connection sends many requests)
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class ContentFreeExceptions(logging.Filter):
    """Replace a record's exception by its type, its frames and (for database errors) the SQL statement,
    never its message: exception messages quote data — SQLAlchemy's carry `[parameters: …]`, the
    values of the failed statement (feedback notes, filter values). Runs before the redacting filter.

    Uvicorn logs every exception that escapes the app ("Exception in ASGI application") with its
    traceback, so this covers those records too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.__dict__.setdefault("error_type", type(record.exc_info[1]).__name__)
            record.exc_text = content_free_traceback(record.exc_info)
            record.exc_info = None
        return True


class AccessLineWithoutQuery(logging.Filter):
    """Uvicorn's access line without the query string: filter values (prompt versions, cursors, search
    terms) are request content, the path and status are what an access log is for.

    When the path is one of `plain_paths` (the service's own routes without parameters), the only
    part of the line that can carry personal data is the client address: that alone passes the
    redactor (remembered per address), and the line skips the full redaction of `RedactingFilter`."""

    def __init__(self, redactor: Redactor, plain_paths: Collection[str] = ()) -> None:
        super().__init__()
        self._redactor = redactor
        self._plain_paths = frozenset(plain_paths)
        self._clients: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            path = str(path).partition("?")[0]
            record.args = (client, method, path, version, status)
            if path in self._plain_paths and method in _METHODS and isinstance(status, int):
                record.msg = f'{self._client(str(client))} - "{method} {path} HTTP/{version}" {status}'
                record.args = None
                mark_redacted(record)
        return True

    def _client(self, client: str) -> str:
        redacted = self._clients.get(client)
        if redacted is None:
            if len(self._clients) >= _CLIENTS:
                self._clients.clear()
            redacted = self._clients[client] = self._redactor.redact(client)
        return redacted


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def content_free_traceback(exc_info: ExcInfo) -> str:
    """A traceback with file, line and function of each frame, the exception types of the chain, and
    the statement text of a database error (bound parameters are not part of it): no messages."""
    _, value, tb = exc_info
    lines = ["Traceback (messages omitted):"]
    lines += [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in traceback.extract_tb(tb)]
    seen: set[int] = set()
    current: BaseException | None = value
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        lines.append(f"{kind.__module__}.{kind.__qualname__}")
        statement = getattr(current, "statement", None)
        if isinstance(statement, str):
            lines.append(f"  statement: {' '.join(statement.split())[:_STATEMENT_CHARS]}")
        current = current.__cause__ or current.__context__
    return "\n".join(lines)


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


def configure_logging(
    level: str, redactor: Redactor, stream: object = None, plain_paths: Collection[str] = ()
) -> logging.Handler:
    """Install (or replace) the one JSON handler on the root logger; uvicorn's loggers propagate to it.

    `plain_paths` are the service's routes without parameters, whose access lines carry no content."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContentFreeExceptions())
    handler.addFilter(AccessLineWithoutQuery(redactor, plain_paths))
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.disabled = False  # another library's dictConfig may have disabled it
        logger.setLevel(logging.NOTSET)  # the root's level governs (uvicorn sets its own per server)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every startup at INFO
    return handler
