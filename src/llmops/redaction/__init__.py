"""PII and secret redaction: the one `Redactor` that every llmops sink passes values through."""

from .kinds import FAILED_MARKER, TOO_DEEP_MARKER, UNSUPPORTED_MARKER, Kind
from .logging import RedactingFilter
from .models import Finding, RedactionConfig, secrets_from_settings
from .redactor import Redactor

__all__ = [
    "FAILED_MARKER",
    "TOO_DEEP_MARKER",
    "UNSUPPORTED_MARKER",
    "Finding",
    "Kind",
    "RedactingFilter",
    "RedactionConfig",
    "Redactor",
    "secrets_from_settings",
]
