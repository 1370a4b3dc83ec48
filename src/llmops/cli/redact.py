"""`llmops redact`: the service's redactor as a filter."""

from __future__ import annotations

import sys

from llmops.cli.common import load_settings, redactor


def redact() -> None:
    """Read text on stdin and write it with secrets and personal data masked to stdout."""
    sys.stdout.write(redactor(load_settings()).redact(sys.stdin.read()))
