"""Plant secrets and personal data of every supported kind everywhere a client or provider can put
them, then search every sink: the database files, the logs, the OTLP export, /metrics and API replies.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from fakes import FakeOpenAIServer, FakeReply, OtlpReceiver
from live import TEST_KEY, serve
from llmops.config import Settings

OPENAI_KEY = "sk-proj-LeakTestOpenAIKey0123456789abcdefghij"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDzR1fakeKeyMaterialHereNotRealAAAAAAAAAAAAAAAAAAAAAAAAA==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
PLANTED = {
    "email": "jane.roe@contoso-mail.example",
    "phone": "+44 20 7946 0958",
    "visa": "4111 1111 1111 1111",
    "mastercard_2_series": "2223 0031 2200 3222",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "078-05-1120",
    "ipv4": "203.0.113.77",
    "ipv6": "2001:db8:85a3::8a2e:370:7334",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "url_password": "Hunter2Secret!",
    "bearer": "abcdef0123456789abcdef0123456789",
    "cookie": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "openai": "sk-proj-Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2G1f0",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    "AbCdEfGhIjKlMnOpQr-AA",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R",
    "gitlab": "glpat-xY7zW3vU9tS1rQ5pO2nM",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe": "sk_live_51HqJk2LmNoPqRsTuVwXyZ0123456789abcdef",
    "google": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "huggingface": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "generic_secret": "Zx9Qm2Lp8Rt4Vw6Yb1Nc3",
    "private_key": "DzR1fakeKeyMaterialHereNotReal",
    "service_api_key": TEST_KEY,
    "service_openai_key": OPENAI_KEY,
}
SECRET_TEXT = f"""Hi, notes for the on-call:
mail {PLANTED["email"]} or call {PLANTED["phone"]}. Card {PLANTED["visa"]}, backup {PLANTED["mastercard_2_series"]}.
Wire to {PLANTED["iban"]}; SSN {PLANTED["ssn"]}. Host {PLANTED["ipv4"]} / {PLANTED["ipv6"]}.
token {PLANTED["jwt"]}
db postgres://admin:{PLANTED["url_password"]}@db.internal.example:5432/prod
Authorization: Bearer {PLANTED["bearer"]}
Cookie: session={PLANTED["cookie"]}
keys {PLANTED["openai"]} {PLANTED["anthropic"]} {PLANTED["aws"]} {PLANTED["github"]} {PLANTED["gitlab"]}
{PLANTED["slack"]} {PLANTED["stripe"]} {PLANTED["google"]} {PLANTED["huggingface"]}
api_secret={PLANTED["generic_secret"]}
our own: {TEST_KEY} {base64.b64encode(OPENAI_KEY.encode()).decode()} {OPENAI_KEY}
{PRIVATE_KEY}
"""


def _forms(value: str) -> set[str]:
    """The planted value and the spellings a sink could store it in."""
    compact = value.replace(" ", "")
    return {value, compact, json.dumps(value)[1:-1]}


def _leaks(haystack: bytes | str, where: str) -> list[str]:
    text = haystack.decode("utf-8", "replace") if isinstance(haystack, bytes) else haystack
    return [f"{kind} in {where}" for kind, value in PLANTED.items() for form in _forms(value) if form in text]


def test_nothing_planted_reaches_any_sink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    email = {
        "sender": f"Jane Roe <{PLANTED['email']}>",
        "recipients": ["me@northwind.example"],
        "subject": f"Card {PLANTED['visa']} and key {PLANTED['openai']}",
        "body": SECRET_TEXT,
        "headers": {
            "Authorization": f"Bearer {PLANTED['bearer']}",
            "X-Feedback-Notes": f"user said: call {PLANTED['phone']}, ssn {PLANTED['ssn']}",
        },
    }
    echoed_reply = json.dumps(
        {
            "category": "urgent",
            "priority": 1,
            "summary": SECRET_TEXT[:400],
            "action_items": [SECRET_TEXT[400:700]],
            "draft_reply": SECRET_TEXT[700:],
        }
    )
    with OtlpReceiver() as receiver, FakeOpenAIServer(default_reply=FakeReply.ok(echoed_reply)) as upstream:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{receiver.endpoint}/v1/metrics")
        upstream.script(FakeReply.echo_auth(401))  # an error body that repeats the key and the prompt
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            api_keys=TEST_KEY,
            provider="openai",
            model="gpt-4o-mini",
            openai_base_url=upstream.base_url,
            openai_api_key=OPENAI_KEY,
            fallback_providers=["scripted"],
            capture_content="redacted",
            max_retries=0,
        )
        running = serve(settings)
        server = next(running)
        replies: list[str] = []
        with server.client() as client:
            for _ in range(
                2
            ):  # first: provider error echoing the key → fallback; then: a model echoing content
                response = client.post("/v1/triage", json={"email": email, "user_id": PLANTED["email"]})
                assert response.status_code == 200
                replies.append(response.text)
            bad = client.post("/v1/triage", json={"email": {**email, "recipients": [PLANTED["visa"]]}})
            assert bad.status_code == 422
            replies.append(bad.text)
            unknown = client.get(f"/v1/{PLANTED['openai']}")
            assert unknown.status_code == 404
            replies.append(unknown.text)
            services = server.app.state.services
            with services.telemetry.tracer.start_as_current_span("leak-probe"):
                try:
                    raise RuntimeError(f"failed for {PLANTED['email']} with {PLANTED['aws']}")
                except RuntimeError:
                    logging.getLogger("llmops.test").exception("probe error for %s", PLANTED["ssn"])
            with (
                pytest.raises(RuntimeError),
                services.telemetry.tracer.start_as_current_span("leak-probe-span"),
            ):
                raise RuntimeError(f"span error {PLANTED['github']} {PLANTED['iban']}")
            server.flush()
            metrics_text = client.get("/metrics").text
        assert [r.headers["authorization"] for r in upstream.requests] == [f"Bearer {OPENAI_KEY}"] * 2
        next(running, None)  # stop the server: flushes metrics over OTLP too
        traces = receiver.received("/v1/traces")
        metrics = receiver.received("/v1/metrics")

    logs = capfd.readouterr().err
    database = b"".join(path.read_bytes() for path in (tmp_path / "data").rglob("*") if path.is_file())

    assert traces and metrics and database and logs, "every sink must have received something"
    assert b"[EMAIL]" in database and b"[CREDIT_CARD]" in database, "content was captured, redacted"
    assert b"[OPENAI_KEY]" in traces
    found = (
        _leaks(database, "database")
        + _leaks(logs, "logs")
        + _leaks(traces, "OTLP traces")
        + _leaks(metrics, "OTLP metrics")
        + _leaks(metrics_text, "/metrics")
        + [leak for reply in replies for leak in _leaks(reply, "API reply")]
    )
    assert found == [], found
