"""Where alerts go: a structured log line and a signed, retried webhook.

Webhook requests carry `X-Llmops-Timestamp` (Unix seconds) and `X-Llmops-Signature: sha256=<hex>`,
the HMAC-SHA256 with the shared secret of `<timestamp>.<raw body>`. Signing the timestamp with the body
lets a receiver reject replays: it recomputes the HMAC and refuses timestamps older than a few minutes
(`verify_signature`). Notifiers never raise: a delivery failure is a `Delivery` with the error class.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from llmops.config import Settings
from llmops.redaction import Redactor

logger = logging.getLogger("llmops.alerts")

SIGNATURE_HEADER = "X-Llmops-Signature"
TIMESTAMP_HEADER = "X-Llmops-Timestamp"


class AlertMessage(BaseModel):
    """What a notification says. Holds figures and rule names only, never request content."""

    rule: str
    rule_kind: str
    event: str
    state: str
    value: float | None
    threshold: float | None
    reason: str
    details: dict[str, Any]
    at: str


class Delivery(BaseModel):
    """The outcome of one notifier: `error` is an exception class name, never a message."""

    notifier: str
    delivered: bool
    attempts: int
    error: str | None = None


class Notifier(Protocol):
    name: str

    def send(self, message: AlertMessage) -> Delivery:
        """Deliver one message; must not raise."""
        ...


class LogNotifier:
    """A structured warning per alert, redacted (the log handler redacts again)."""

    name = "log"

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor

    def send(self, message: AlertMessage) -> Delivery:
        payload = self._redactor.redact_value(message.model_dump(mode="json"))
        try:
            logger.warning("alert %s", message.event, extra={"alert": payload})
        except Exception as exc:
            return Delivery(notifier=self.name, delivered=False, attempts=1, error=type(exc).__name__)
        return Delivery(notifier=self.name, delivered=True, attempts=1)


class WebhookStatusError(Exception):
    """The receiver answered with a status worth retrying (429 or 5xx)."""


class WebhookRejectedError(Exception):
    """The receiver answered with a client error other than 429: retrying will not help."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: float = 300,
) -> bool:
    """What a receiver checks: the HMAC matches and the timestamp is recent (no replays)."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier:
    """POSTs the message as JSON, signed, with a timeout per attempt and exponential backoff."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: SecretStr | None,
        redactor: Redactor,
        *,
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.url = url
        self._secret = secret.get_secret_value() if secret else ""
        self._redactor = redactor
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._backoff = wait_exponential(multiplier=backoff_initial_s, max=backoff_max_s)

    def _post(self, client: httpx.Client, body: bytes) -> None:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        response = client.post(self.url, content=body, headers=headers)
        if response.status_code == 429 or response.status_code >= 500:
            raise WebhookStatusError(str(response.status_code))
        if response.status_code >= 400:
            raise WebhookRejectedError(str(response.status_code))

    def send(self, message: AlertMessage) -> Delivery:
        payload = self._redactor.redact_value(message.model_dump(mode="json"))
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._backoff,
            retry=retry_if_exception_type((httpx.TransportError, WebhookStatusError)),
            reraise=True,
        )
        attempts = 0
        try:
            with httpx.Client(timeout=self._timeout_s) as client:
                for attempt in retrying:
                    with attempt:
                        attempts = attempt.retry_state.attempt_number
                        self._post(client, body)
        except Exception as exc:
            logger.warning(
                "alert webhook delivery failed",
                extra={"alert_rule": message.rule, "attempts": attempts, "error_type": type(exc).__name__},
            )
            return Delivery(notifier=self.name, delivered=False, attempts=attempts, error=type(exc).__name__)
        return Delivery(notifier=self.name, delivered=True, attempts=attempts)


def build_notifiers(settings: Settings, redactor: Redactor) -> list[Notifier]:
    """The log notifier always; the webhook when `LLMOPS_ALERT_WEBHOOK_URL` is set."""
    notifiers: list[Notifier] = [LogNotifier(redactor)]
    if settings.alert_webhook_url:
        notifiers.append(
            WebhookNotifier(
                settings.alert_webhook_url,
                settings.alert_webhook_secret,
                redactor,
                timeout_s=settings.alert_webhook_timeout_s,
            )
        )
    return notifiers
