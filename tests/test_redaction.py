"""The Redactor on realistic values: what every sink relies on being masked, and what must stay readable."""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
import types
from urllib.parse import quote

import pytest
from pydantic import BaseModel, SecretStr

import llmops.redaction
from llmops.redaction import (
    FAILED_MARKER,
    TOO_DEEP_MARKER,
    UNSUPPORTED_MARKER,
    Finding,
    RedactingFilter,
    RedactionConfig,
    Redactor,
    secrets_from_settings,
)

# Key bodies are assembled here so the file itself holds nothing a secret scanner would flag.
B36 = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zA1bC3dE"
B48 = B36 + "fG7hJ9kL2mN4"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\nxyz0987654321ABCdef=="


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


# (kind, text, the sensitive part that must disappear)
POSITIVES: list[tuple[str, str, str]] = [
    ("EMAIL", "Reach me at jane.doe+news@mail.example.co.uk tomorrow", "jane.doe+news@mail.example.co.uk"),
    ("EMAIL", 'From: "Bob Smith" <bob_smith@example.org>', "bob_smith@example.org"),
    ("EMAIL", "mailto:support@llmops.dev?subject=hi", "support@llmops.dev"),
    ("EMAIL", "contact: müller@beispiel.de.", "müller@beispiel.de"),
    ("PHONE", "Call +1 (415) 555-0132 after 5pm", "+1 (415) 555-0132"),
    ("PHONE", "UK office +44 20 7946 0958.", "+44 20 7946 0958"),
    ("PHONE", "mobile:+33612345678", "+33612345678"),
    ("PHONE", "US desk (415) 555-0132", "(415) 555-0132"),
    ("PHONE", "fax 415-555-0132", "415-555-0132"),
    ("PHONE", "or 415.555.0132", "415.555.0132"),
    ("PHONE", "London 020 7946 0958", "020 7946 0958"),
    ("PHONE", "Paris 06 12 34 56 78", "06 12 34 56 78"),
    ("PHONE", "tel: 4155550132", "4155550132"),
    ("PHONE", "Phone number: 0612345678", "0612345678"),
    ("PHONE", "Call +1 (415) 555-0134 x1234 now", "x1234"),
    ("PHONE", "desk 415-555-0134 ext. 12, thanks", "ext. 12"),
    ("PHONE", "direct (415) 555-0134x88", "555-0134x88"),
    ("PHONE", "Berlin (030) 1234567", "(030) 1234567"),
    ("PHONE", "Munich (089) 123 45678.", "(089) 123 45678"),
    ("PHONE", "US (415) 555-0134", "(415) 555-0134"),
    ("PHONE", "US (415)-555-0134", "(415)-555-0134"),
    ("PHONE", "Handy 0171 2345678", "0171 2345678"),
    ("PHONE", "call 4155550134 tonight", "4155550134"),
    ("PHONE", "please call me back on 0301234567", "0301234567"),
    ("PHONE", "SMS 07700900123", "07700900123"),
    ("PHONE", "you can reach us at 123456789.", "123456789"),
    ("PHONE", "text me at 61412345678", "61412345678"),
    ("CREDIT_CARD", "visa 4111111111111111 exp 12/26", "4111111111111111"),
    ("CREDIT_CARD", "card: 4111 1111 1111 1111 12/26", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "card=4111-1111-1111-1111;", "4111-1111-1111-1111"),
    ("CREDIT_CARD", "visa13 4222222222222", "4222222222222"),
    ("CREDIT_CARD", "mc 5555555555554444", "5555555555554444"),
    ("CREDIT_CARD", "mc 2-series 2223003122003222", "2223003122003222"),
    ("CREDIT_CARD", "mc 2720992593319364", "2720992593319364"),
    ("CREDIT_CARD", "amex 3782 822463 10005", "3782 822463 10005"),
    ("CREDIT_CARD", "amex 371449635398431", "371449635398431"),
    ("CREDIT_CARD", "discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
    ("CREDIT_CARD", "jcb 3530111333300000", "3530111333300000"),
    ("CREDIT_CARD", "diners 3056 930902 5904", "3056 930902 5904"),
    ("CREDIT_CARD", "unionpay 6200000000000005", "6200000000000005"),
    ("CREDIT_CARD", "maestro 6759649826438453", "6759649826438453"),
    ("CREDIT_CARD", '{"pan":"5018000000000009"}', "5018000000000009"),
    ("CREDIT_CARD", "escaped json line\\n4111111111111111", "4111111111111111"),
    ("CREDIT_CARD", "Kreditkarte «4111 1111 1111 1111»", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "IBAN DE89 3704 0044 0532 0130 00 and card 5555 5555 5555 4444", "5555 5555 5555 4444"),
    ("CREDIT_CARD", "ref DE00 not an iban then 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("IBAN", "IBAN DE89 3704 0044 0532 0130 00 thanks", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "iban=GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("IBAN", "FR14 2004 1010 0505 0001 3M02 606 AND MORE", "FR14 2004 1010 0505 0001 3M02 606"),
    ("IBAN", "NL91ABNA0417164300.", "NL91ABNA0417164300"),
    ("IBAN", "CH9300762011623852957", "CH9300762011623852957"),
    ("SSN", "ssn 123-45-6789", "123-45-6789"),
    ("SSN", "SSN: 123 45 6789", "123 45 6789"),
    ("SSN", "Social Security Number 123456789", "123456789"),
    ("IP_ADDRESS", "login from 10.1.2.3 failed", "10.1.2.3"),
    ("IP_ADDRESS", "peer=203.0.113.7:8080", "203.0.113.7"),
    ("IP_ADDRESS", "http://192.168.1.20/admin", "192.168.1.20"),
    ("IP_ADDRESS", "client 2001:db8::8a2e:370:7334 connected", "2001:db8::8a2e:370:7334"),
    ("IP_ADDRESS", "via fe80::1ff:fe23:4567:890a%eth0", "fe80::1ff:fe23:4567:890a"),
    ("IP_ADDRESS", "mapped ::ffff:192.0.2.128 here", "::ffff:192.0.2.128"),
    ("IP_ADDRESS", "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("JWT", f"token {JWT} expired", JWT),
    ("JWT", f"cut {JWT.rsplit('.', 1)[0]}", JWT.rsplit(".", 1)[0]),
    ("JWT", f"cut {JWT[:-30]}", JWT[:-30]),
    ("JWT", "shortened eyJhbGciOi....eyJzdWIiOi... in the page", "eyJzdWIiOi"),
    ("JWT", "shortened eyJhbGciOi…eyJzdWIiOi…", "eyJzdWIiOi"),
    ("SECRET", "Subject: hG7$kq9!Zp2@Lw", "hG7$kq9!Zp2@Lw"),
    ("SECRET", "Subject:hG7$kq9!Zp2@Lw", "hG7$kq9!Zp2@Lw"),
    ("SECRET", f"here: {B36[:32]}Qz8Lm4Xp", f"{B36[:32]}Qz8Lm4Xp"),
    ("SECRET", f"{B48[:40]}", f"{B48[:40]}"),
    ("PRIVATE_KEY", f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----", PEM_BODY),
    ("PRIVATE_KEY", f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----", PEM_BODY),
    ("PRIVATE_KEY", f"-----BEGIN EC PRIVATE KEY-----\\n{PEM_BODY}\\n-----END EC PRIVATE KEY-----", PEM_BODY),
    (
        "PRIVATE_KEY",
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{PEM_BODY}\n-----END ENCRYPTED PRIVATE KEY-----",
        PEM_BODY,
    ),
    (
        "PRIVATE_KEY",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----",
        PEM_BODY,
    ),
    ("PRIVATE_KEY", f"log cut short: -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}", PEM_BODY),
    ("PASSWORD", "postgresql+psycopg://app:pa55w0rd@db:5432/llmops", "pa55w0rd"),
    ("PASSWORD", "redis://:s3cret-Value@cache:6379/0", "s3cret-Value"),
    ("PASSWORD", "https://user:p%40ss@host.example/path", "p%40ss"),
    ("PASSWORD", "password=hunter2", "hunter2"),
    ("PASSWORD", "PASSWORD: hunter2", "hunter2"),
    ("PASSWORD", '{"password": "correct horse battery staple"}', "correct horse battery staple"),
    ("PASSWORD", "db_password='letmein'", "letmein"),
    ("PASSWORD", "dbPassword => 'letmein'", "letmein"),
    ("PASSWORD", '"{\\"password\\": \\"letmein99\\"}"', "letmein99"),
    ("PASSWORD", "Server=db;User Id=app;Password=Tr0ub4dor;", "Tr0ub4dor"),
    ("PASSWORD", "<auth><password>hunter2</password></auth>", "hunter2"),
    ("PASSWORD", '<Password encoding="plain">S3cr3t Pass</Password>', "S3cr3t Pass"),
    ("PASSWORD", "curl --password hunter2 https://example.com", "hunter2"),
    ("PASSWORD", "pg_dump --db-password 'two words' -h db", "two words"),
    ("SECRET", "mycli --api-key Zx9Qw8Er7Ty6 --verbose", "Zx9Qw8Er7Ty6"),
    ("AUTHORIZATION", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("AUTHORIZATION", '{"Authorization": "Token 9f8e7d6c5b4a"}', "9f8e7d6c5b4a"),
    ("AUTHORIZATION", "{'authorization': 'Bearer abc.DEF.123'}", "abc.DEF.123"),
    ("AUTHORIZATION", "curl -H 'x' --oauth2-bearer 3f9aC0d1E2 url", "3f9aC0d1E2"),
    (
        "AUTHORIZATION",
        "GET / HTTP/1.1\r\nAuthorization: Digest username=x, response=6629fae4\r\nHost: a",
        "6629fae4",
    ),
    ("COOKIE", "Cookie: sessionid=abc123; csrftoken=Zx9", "sessionid=abc123; csrftoken=Zx9"),
    ("COOKIE", "Set-Cookie: id=a3fWa; Expires=Thu, 21 Oct 2021 07:28:00 GMT; Secure", "id=a3fWa"),
    ("SECRET", "client_secret=abc", "abc"),
    ("SECRET", "export OPENAI_API_KEY=not-a-real-key", "not-a-real-key"),
    ("SECRET", "X-Api-Key: zz", "zz"),
    ("SECRET", "token=8f14e45fceea167a5a36dedd4bea2543", "8f14e45fceea167a5a36dedd4bea2543"),
    ("SECRET", "?access_token=ya29.a0AfB_byC&x=1", "ya29.a0AfB_byC"),
    ("SECRET", '{"csrf_token": "Zx9Qw8Er7Ty6"}', "Zx9Qw8Er7Ty6"),
    ("OPENAI_KEY", f"key sk-{B48}", f"sk-{B48}"),
    ("OPENAI_KEY", f"Authorization: Bearer sk-proj-{B48}{B36}", f"sk-proj-{B48}{B36}"),
    ("ANTHROPIC_KEY", f"x-api-key sk-ant-api03-{B48}{B48}", f"sk-ant-api03-{B48}{B48}"),
    ("AWS_ACCESS_KEY", "aws_access_key_id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS_ACCESS_KEY", "session ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    ("AWS_SECRET_KEY", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("AWS_SECRET_KEY", f'{{"SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET),
    ("AWS_SECRET_KEY", f"the AWS secret is {AWS_SECRET} ok", AWS_SECRET),
    ("GITHUB_TOKEN", f"ghp_{B36}", f"ghp_{B36}"),
    ("GITHUB_TOKEN", f"gho_{B36}", f"gho_{B36}"),
    ("GITHUB_TOKEN", f"ghu_{B36} ghs_{B36}", f"ghs_{B36}"),
    ("GITHUB_TOKEN", f"ghr_{B36}", f"ghr_{B36}"),
    ("GITHUB_TOKEN", f"github_pat_11ABCDEFG0{B36}_{B48}", f"github_pat_11ABCDEFG0{B36}_{B48}"),
    ("GITLAB_TOKEN", "glpat-xY9_abCDefGH12345678", "glpat-xY9_abCDefGH12345678"),
    ("SLACK_TOKEN", "xoxb-1234567890-abcdefGHIJ", "xoxb-1234567890-abcdefGHIJ"),
    ("SLACK_TOKEN", "xoxp-1234567890-0987654321-abcdef", "xoxp-1234567890-0987654321-abcdef"),
    (
        "SLACK_WEBHOOK",
        "post to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now",
        "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    ("STRIPE_KEY", f"sk_live_{B36[:24]}", f"sk_live_{B36[:24]}"),
    ("STRIPE_KEY", f"rk_live_{B36[:24]}", f"rk_live_{B36[:24]}"),
    ("STRIPE_KEY", f"sk_test_{B36[:24]}", f"sk_test_{B36[:24]}"),
    ("GOOGLE_API_KEY", f"key=AIza{B36[:35]}", f"AIza{B36[:35]}"),
    ("HUGGINGFACE_TOKEN", f"hf_{B36[:34]}", f"hf_{B36[:34]}"),
    ("SENDGRID_KEY", f"SG.{B36[:22]}.{B48[:43]}", f"SG.{B36[:22]}.{B48[:43]}"),
    ("TWILIO_KEY", "SK0123456789abcdef0123456789abcdef", "SK0123456789abcdef0123456789abcdef"),
    ("NPM_TOKEN", f"//registry.npmjs.org/:_authToken=npm_{B36}", f"npm_{B36}"),
    ("PYPI_TOKEN", f"pypi-AgEIcHlwaS5vcmc{B48}{B36}", f"pypi-AgEIcHlwaS5vcmc{B48}{B36}"),
    ("LLMOPS_KEY", f"api key llmops_{B36}-_x4E5f6", f"llmops_{B36}-_x4E5f6"),
]


@pytest.mark.parametrize(
    ("kind", "text", "sensitive"), POSITIVES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(POSITIVES)]
)
def test_positive_is_masked_with_its_kind(redactor: Redactor, kind: str, text: str, sensitive: str) -> None:
    redacted = redactor.redact(text)
    assert sensitive not in redacted
    assert f"[{kind}]" in redacted


HARD_NEGATIVES = [
    "request 550e8400-e29b-41d4-a716-446655440000 done",
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
    "span 1234567890123456 parent 0000000000000001",
    "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "at 2024-05-01, 2024-05-01T12:30:45.123Z, 2024-05-01 12:30:45,123 and 12:30:45+02:00",
    "01.02.2024 12:00 and 01/02/2024",
    "epoch 1717171717 ms 1717171717123 ns 1717171717123456789",
    "versions 1.2.3, v10.0.1, Python 3.11.7, version 1.2.3.4, 1.2.3.400, 10.0.0.1.5",
    "order ORD-2024-000123 and INV-000123456789",
    "prices $1,234.56, €99, £1,000 and USD 1,234,567.89",
    "plain 42 and 123456789 and 1234567890",
    "not IPs: 999.1.1.1 256.256.256.256 01.02.03.04",
    "local 127.0.0.1:8000, ::1 and 0.0.0.0",
    "times 12:30:45 and MAC 00:1a:2b:3c:4d:5e, C++ std::vector",
    "luhn fails 4111111111111112",
    "bad ssn 000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
    "bad iban DE89 3704 0044 0532 0130 01",
    "sk-learn, task-list, desk-top, hf_hub_download, llmops_requests_total",
    "max_tokens=320 input_tokens=512 gen_ai.usage.output_tokens: 96",
    "token: 123, key: name, monkey: banana, password_policy: strict, Session: Q3 planning",
    'password: null, "password": "", secret=None',
    "the bearer instrument was signed by the author",
    "<token>42</token>, --token 12, --password-file ./pw.txt, -- password reset done, --token-budget 500",
    "Thanks for the update, let's meet at 3pm on Tuesday. Page 1 of 10.",
    "model=gpt-4o-mini prompt=email_triage_v1 SmolLM2-135M-Instruct",
    "base64 dGhpcyBpcyBqdXN0IHRleHQ= and hex deadbeef",
    "call me later, my phone is broken",
    "we will call about order 1234567890 tomorrow, reach the desk by noon",
    "the call lasted 1717171717 ms, see ticket 123456789",
    "model=SmolLM2-135M-Instruct version=1.4.2+build.7 V2.0.0-rc.1+exp.sha.5114f85",
    "getUserAccountBalanceForQuarter2024Q3 and AbstractSingletonProxyFactoryBean2x",
    "Llama-3.1-8B-Instruct-Q4_K_M.gguf and SmolLM2-135M-Instruct!",
    "thanks @MeiChen1999 and #Release2024 for the fix",
    "see https://example.com/v2/Report?id=42&Lang=en&page=3 and Mode=fast&Limit=10",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 and ETag W/3a7bd3e2360a3d",
    "encoded VGhpcyBpcyBqdXN0IHNvbWUgdGV4dCB0aGF0IGlzIGxvbmc= here",
    "timestamps 2024-05-01T12:30:45.123Z and 2024-05-01 12:30:45,123 at localhost:8080",
    "(see page 12) and (2024) and (0) items",
    "p95_latency_ms=None http2_enabled=True s3_bucket=MyBucket2",
    're.compile(r"[^a-zA-Z0-9_]+") and =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@x>',
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negative_is_untouched(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text) == text


def test_obfuscated_values_are_caught_and_the_rest_kept(redactor: Redactor) -> None:
    fullwidth = "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    assert redactor.redact(f"mail {fullwidth} ok") == "mail [EMAIL] ok"
    assert redactor.redact("jane\u200b.doe@exam\u00adple.com") == "[EMAIL]"
    assert redactor.redact(f"sk-\u200bproj-{B48}") == "[OPENAI_KEY]"
    assert redactor.redact("card ４１１１ １１１１ １１１１ １１１１") == "card [CREDIT_CARD]"
    # Text around a finding keeps its original form, invisible characters included.
    assert redactor.redact("ｆｕｌｌ\u200bwidth a@b.co") == "ｆｕｌｌ\u200bwidth [EMAIL]"


def test_generic_tokens_leave_more_specific_findings_their_kind(redactor: Redactor) -> None:
    # An email or a phone number inside a random-looking token keeps its kind; the rest is judged alone.
    assert redactor.redact("Jane.Doe42@Example.com") == "[EMAIL]"
    assert redactor.redact("hG7$kq9!Zp2X jane@example.com") == "[SECRET] [EMAIL]"
    assert redactor.redact("pw=hG7$kq9!Zp2@Lw") == "pw=[SECRET]"


def test_a_token_after_a_json_unicode_escape_keeps_the_json_valid(redactor: Redactor) -> None:
    document = json.dumps({"subject": "Café hG7$kq9!Zp2@Lw", "glued": "éhG7$kq9!Zp2@Lw"})
    redacted = redactor.redact(document)
    assert json.loads(redacted) == {"subject": "Café [SECRET]", "glued": "é[SECRET]"}


def test_serialised_json_stays_valid_and_values_after_escaped_newlines_are_masked(redactor: Redactor) -> None:
    message = f"Thanks,\njane@example.com\nsk-proj-{B48}\n10.1.2.3\tssn 123 45 6789\nC:\\new\\path"
    redacted = redactor.redact(json.dumps({"body": message}))
    assert json.loads(redacted) == {
        "body": "Thanks,\n[EMAIL]\n[OPENAI_KEY]\n[IP_ADDRESS]\tssn [SSN]\nC:\\new\\path"
    }


def test_findings_point_into_the_original_text(redactor: Redactor) -> None:
    text = "ｍａｉｌ jane@example.com, ssn 123-45-6789"
    findings = redactor.findings(text)
    assert [f.kind for f in findings] == ["EMAIL", "SSN"]
    assert [text[f.start : f.end] for f in findings] == ["jane@example.com", "123-45-6789"]
    assert findings[0] == Finding(kind="EMAIL", start=text.index("jane"), end=text.index(","))


def test_overlapping_findings_merge_into_the_most_specific_kind(redactor: Redactor) -> None:
    assert redactor.redact(f"Authorization: Bearer ghp_{B36}") == "Authorization: [GITHUB_TOKEN]"
    assert redactor.redact(f"api_key={JWT}") == "api_key=[JWT]"


def test_url_userinfo_is_not_an_email(redactor: Redactor) -> None:
    assert redactor.redact("https://bob:pw123@example.com/x") == "https://bob:[PASSWORD]@example.com/x"
    assert (
        redactor.redact("see https://example.com/u?mail=bob@example.com")
        == "see https://example.com/u?mail=[EMAIL]"
    )


def test_redaction_is_idempotent(redactor: Redactor) -> None:
    text = f"password=hunter2 mail a@b.co key sk-{B48} card 4111111111111111"
    once = redactor.redact(text)
    assert redactor.redact(once) == once
    keyed = Redactor(RedactionConfig(hmac_key=SecretStr("k")))
    once = keyed.redact(text)
    assert keyed.redact(once) == once


def test_hmac_tokens_join_equal_values_without_revealing_them() -> None:
    keyed = Redactor(RedactionConfig(hmac_key=SecretStr("test-hmac-key")))
    other_key = Redactor(RedactionConfig(hmac_key=SecretStr("another-key")))
    first = keyed.redact("from Jane@Example.com")
    second = keyed.redact("reply to jane@example.com")
    token = first.removeprefix("from ")
    assert token.startswith("[EMAIL:") and len(token) == len("[EMAIL:]") + 12
    assert second == f"reply to {token}"
    assert keyed.redact("4111-1111-1111-1111") == keyed.redact("4111 1111 1111 1111")
    assert keyed.redact("x@example.com") != token
    assert other_key.redact("from jane@example.com") != first


def test_configured_secrets_are_masked_in_every_encoding() -> None:
    secret = "s3rv1ce/Secret+Value&Co"
    redactor = Redactor(RedactionConfig(secrets=[SecretStr(secret)]))
    forms = [
        secret,
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode(),
        base64.b64encode(f"user:{secret}".encode()).decode(),
        base64.b64encode(f"ab{secret}".encode()).decode(),
    ]
    for form in forms:
        redacted = redactor.redact(f"header x={form} end")
        assert "[SECRET]" in redacted and form not in redacted, form
        assert redacted.startswith("header x=") and redacted.endswith(" end")


def test_short_configured_secrets_are_masked_only_as_whole_tokens() -> None:
    redactor = Redactor(RedactionConfig(secrets=[SecretStr("k3y"), SecretStr("")]))
    assert redactor.redact("key=k3y; alsok3yz") == "key=[SECRET]; alsok3yz"


def test_secrets_from_settings_collects_every_secret_field() -> None:
    class Settings(BaseModel):
        api_keys: list[SecretStr] = [SecretStr("key-one-1234"), SecretStr("")]
        openai_api_key: SecretStr | None = SecretStr("provider-key-5678")
        missing: SecretStr | None = None
        name: str = "not secret"

    found = [secret.get_secret_value() for secret in secrets_from_settings(Settings())]
    assert found == ["key-one-1234", "provider-key-5678"]


def test_redact_truncates_only_after_redacting(redactor: Redactor) -> None:
    text = "mail jane.doe@example.com now"
    assert redactor.redact(text, max_chars=12) == "mail …"  # a placeholder is never cut in half
    assert redactor.redact(text, max_chars=100) == "mail [EMAIL] now"
    assert redactor.redact(text, max_chars=14) == "mail [EMAIL] …"
    assert len(redactor.redact("x" * 50, max_chars=10)) == 10
    assert redactor.redact("abc", max_chars=0) == ""


def test_redact_value_recurses_and_masks_credential_keys(redactor: Redactor) -> None:
    value = {
        "user": "jane@example.com",
        "password": 123456,
        "apiKey": "anything",
        "token": "12",
        "session_id": "9f8e7d6c5b4a39281706",
        "credentials": {"username": "jane", "password": "pw"},
        "cookies": ["a=1", "b=2"],
        "nested": '{"Authorization": "Bearer abc", "count": 3}',
        "tuple": ("a@b.co", 1.5, None, True),
        "card": 4111111111111111,
        "epoch_ns": 1717171717123456789,
        "bytes": b"ip 10.0.0.7",
        "private_key_passphrase": 0.5,
    }
    assert redactor.redact_value(value) == {
        "user": "[EMAIL]",
        "password": "[PASSWORD]",
        "apiKey": "[SECRET]",
        "token": "12",
        "session_id": "[SECRET]",
        "credentials": {"username": "jane", "password": "[PASSWORD]"},
        "cookies": ["[COOKIE]", "[COOKIE]"],
        "nested": '{"Authorization": "[AUTHORIZATION]", "count": 3}',
        "tuple": ("[EMAIL]", 1.5, None, True),
        "card": "[CREDIT_CARD]",
        "epoch_ns": 1717171717123456789,
        "bytes": "ip [IP_ADDRESS]",
        "private_key_passphrase": "[PASSWORD]",
    }


def test_redact_value_keeps_clean_json_strings_byte_for_byte(redactor: Redactor) -> None:
    raw = '{ "a": [1, 2],   "b": "text" }'
    assert redactor.redact_value(raw) == raw


def test_redact_value_fails_closed_on_unknown_types_and_depth(redactor: Redactor) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "jane@example.com"

    assert redactor.redact_value(Opaque()) == UNSUPPORTED_MARKER
    assert redactor.redact_value({"a": {1, 2}}) == {"a": UNSUPPORTED_MARKER}
    deep: list[object] = []
    cursor = deep
    for _ in range(100):
        cursor.append([])
        cursor = cursor[0]  # type: ignore[assignment]
    assert TOO_DEEP_MARKER in json.dumps(redactor.redact_value(deep))
    cyclic: list[object] = []
    cyclic.append(cyclic)
    assert TOO_DEEP_MARKER in json.dumps(redactor.redact_value(cyclic))


def test_a_failing_detector_drops_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor()

    def broken(view: object) -> object:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(redactor, "_detectors", (broken,))
    assert redactor.redact("jane@example.com") == FAILED_MARKER
    assert redactor.redact_value(["x", 1, None]) == [FAILED_MARKER, 1, None]
    assert redactor.findings("abc") == [Finding(kind="REDACTION_FAILED", start=0, end=3)]


def _cpu_seconds(redactor: Redactor, text: str) -> float:
    """Best of three, in CPU time: other load on the machine does not inflate it as it does wall time."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        redactor.redact(text)
        best = min(best, time.process_time() - start)
    return best


# Inputs built to make a pattern backtrack: (unit, repetitions at the small size).
ADVERSARIAL = [
    ("a@", 5_000),
    ("1 ", 5_000),
    ("-----BEGIN PRIVATE KEY-----", 500),
    ("password=", 1_250),
    (":", 10_000),
    ("://a:", 2_500),
    ("+1 ", 2_500),
    ("A", 10_000),
    ("DE89 ", 2_000),
    ("call me at ", 1_000),
    ("aB3$", 2_500),
    ("aB3dE7xY9! ", 1_250),
    ("eyJhbGciOi.", 1_000),
    ("(030) ", 2_000),
    ("415-555-0134 x1 ", 750),
]


@pytest.mark.parametrize(("unit", "count"), ADVERSARIAL, ids=[unit for unit, _ in ADVERSARIAL])
def test_adversarial_inputs_scale_linearly(redactor: Redactor, unit: str, count: int) -> None:
    """Four times the input costs about four times the CPU, never the sixteen of a quadratic scan; the
    check compares the machine with itself, so a slow or busy machine cannot fail it."""
    small = _cpu_seconds(redactor, unit * count)
    large = _cpu_seconds(redactor, unit * count * 4)
    assert large < 0.05 or large < 10 * max(small, 0.001), (unit, small, large)


def _log_record(msg: str, args: tuple[object, ...] = (), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("llmops.test", logging.ERROR, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_logging_filter_redacts_message_args_traceback_and_extras(redactor: Redactor) -> None:
    try:
        raise ValueError("bad login for jane@example.com")
    except ValueError:
        exc_info = sys.exc_info()
    record = _log_record("user %s sent %s", ("jane@example.com", {"password": "pw"}), user_ip="10.2.3.4")
    record.exc_info = exc_info
    assert RedactingFilter(redactor).filter(record) is True

    handler_output = logging.Formatter("%(message)s | %(user_ip)s").format(record)
    assert "jane@example.com" not in handler_output and "10.2.3.4" not in handler_output
    assert "user [EMAIL] sent {'password': '[PASSWORD]'} | [IP_ADDRESS]" in handler_output
    assert "ValueError: bad login for [EMAIL]" in handler_output
    assert record.exc_info is None and record.args is None


def test_logging_filter_fails_closed_when_the_message_cannot_render(redactor: Redactor) -> None:
    record = _log_record("%d items for %s", ("not a number", "jane@example.com"), note="a@b.co")
    RedactingFilter(redactor).filter(record)
    assert record.getMessage() == FAILED_MARKER
    assert record.__dict__["note"] == FAILED_MARKER


def test_logging_filter_on_a_handler_sees_child_logger_records(redactor: Redactor) -> None:
    captured: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(RedactingFilter(redactor))
    parent = logging.getLogger("llmops.redaction-test")
    parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    try:
        logging.getLogger("llmops.redaction-test.child").info("key %s", f"sk-{B48}")
    finally:
        parent.removeHandler(handler)
    assert captured == ["key [OPENAI_KEY]"]


def test_public_names_are_exported() -> None:
    public = {
        name
        for name, value in vars(llmops.redaction).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(llmops.redaction.__all__)


def test_url_password_without_its_scheme_is_masked() -> None:
    redactor = Redactor()
    assert redactor.redact("cut: dmin:Hunter2Secret!@db.internal.example:5432/prod") == (
        "cut: dmin:[PASSWORD]@db.internal.example:5432/prod"
    )
    assert (
        redactor.redact("ratio 3:2@scale and time 10:30 at venue")
        == "ratio 3:2@scale and time 10:30 at venue"
    )
