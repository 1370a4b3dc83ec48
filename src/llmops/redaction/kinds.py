"""What the detectors find, how overlapping findings are labelled, and the markers for dropped values."""

# ruff: noqa: S105 - the kind names are placeholder labels such as "PASSWORD", not credentials

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple


class Kind(StrEnum):
    """A kind of sensitive value; its value is the placeholder label, e.g. `[EMAIL]`."""

    PRIVATE_KEY = "PRIVATE_KEY"
    ANTHROPIC_KEY = "ANTHROPIC_KEY"
    OPENAI_KEY = "OPENAI_KEY"
    AWS_ACCESS_KEY = "AWS_ACCESS_KEY"
    AWS_SECRET_KEY = "AWS_SECRET_KEY"
    GITHUB_TOKEN = "GITHUB_TOKEN"
    GITLAB_TOKEN = "GITLAB_TOKEN"
    SLACK_TOKEN = "SLACK_TOKEN"
    SLACK_WEBHOOK = "SLACK_WEBHOOK"
    STRIPE_KEY = "STRIPE_KEY"
    GOOGLE_API_KEY = "GOOGLE_API_KEY"
    HUGGINGFACE_TOKEN = "HUGGINGFACE_TOKEN"
    SENDGRID_KEY = "SENDGRID_KEY"
    TWILIO_KEY = "TWILIO_KEY"
    NPM_TOKEN = "NPM_TOKEN"
    PYPI_TOKEN = "PYPI_TOKEN"
    LLMOPS_KEY = "LLMOPS_KEY"
    JWT = "JWT"
    PASSWORD = "PASSWORD"
    AUTHORIZATION = "AUTHORIZATION"
    COOKIE = "COOKIE"
    SECRET = "SECRET"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    SSN = "SSN"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    IP_ADDRESS = "IP_ADDRESS"


# When findings overlap they are merged into one span labelled with the most specific kind:
# the declaration order above, first wins.
PRIORITY: dict[Kind, int] = {kind: -rank for rank, kind in enumerate(Kind)}


class Hit(NamedTuple):
    """One finding in detection-text coordinates (see `TextView`)."""

    start: int
    end: int
    kind: Kind


FAILED_MARKER = "[REDACTION_FAILED]"
UNSUPPORTED_MARKER = "[REDACTED:unsupported]"
TOO_DEEP_MARKER = "[REDACTED:too_deep]"

# A value that already is a placeholder (typed or HMAC) is not masked again, so redaction is idempotent.
PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*(?::[0-9a-f]{12})?\]")
