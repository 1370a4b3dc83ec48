"""Valid stand-in addresses where the redactor masked one, so a mined email loads as an eval case.

A stored trace holds `[EMAIL]` (or `[EMAIL:<hmac>]`) where an address was, and recipients are not
captured at all; an `Email` needs an `@` in its sender and at least one recipient. Each masked address
becomes one on `example.invalid`, a domain reserved by RFC 2606 that can never belong to anyone,
keeping the HMAC prefix when there is one so equal senders stay equal. Only the placeholder is read:
the original address is never restored.
"""

from __future__ import annotations

import re

from llmops.assistant.schema import Email

PLACEHOLDER_DOMAIN = "example.invalid"
UNKNOWN_SENDER = f"unknown-sender@{PLACEHOLDER_DOMAIN}"
UNKNOWN_RECIPIENT = f"unknown-recipient@{PLACEHOLDER_DOMAIN}"
_MASKED_EMAIL = re.compile(r"\[EMAIL(?::([0-9a-f]{12}))?\]")
_MAX_SENDER = 320
_MAX_SUBJECT = 1000
_MAX_BODY = 200_000


def placeholder_addresses(text: str) -> str:
    """`text` with every masked address replaced by a placeholder address on `example.invalid`."""
    return _MASKED_EMAIL.sub(
        lambda match: (
            f"redacted-{match.group(1)}@{PLACEHOLDER_DOMAIN}"
            if match.group(1)
            else f"redacted@{PLACEHOLDER_DOMAIN}"
        ),
        text,
    )


def placeholder_sender(text: str) -> str:
    """A sender an `Email` accepts: the masked address made a placeholder, or, when no address is
    left, the display name (if any) with the unknown-sender placeholder."""
    value = " ".join(placeholder_addresses(text).split())
    if "@" in value and len(value) <= _MAX_SENDER:
        return value
    name = value if "@" not in value else ""
    with_name = f"{name} <{UNKNOWN_SENDER}>"
    return with_name if name and len(with_name) <= _MAX_SENDER else UNKNOWN_SENDER


def case_email(sender: str, subject: str, body: str) -> Email:
    """The email of a mined case from redacted parts: placeholder addresses, the unknown recipient
    (recipients are not captured on spans), and the subject and body clipped to what `Email` takes."""
    return Email(
        sender=placeholder_sender(sender),
        recipients=[UNKNOWN_RECIPIENT],
        subject=subject[:_MAX_SUBJECT],
        body=body[:_MAX_BODY],
    )
