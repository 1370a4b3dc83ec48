"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a live server.

A server with the scripted provider and redacted content capture serves real triage requests (some
carrying planted secrets) and a feedback, and stores an eval run; then Chromium signs in and opens
every page. What users depend on: nothing is reachable without signing in, every page renders real
data, a request leads to its trace waterfall, the time-range picker changes the page, the overview's
numbers are the ones `llmops report` prints for the same range, and no planted secret reaches any
page. Each page is saved to `artifacts/screenshots/<page>.png` for review.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live import SAMPLES, TEST_KEY, LiveServer, serve
from llmops.config import Settings
from llmops.reporting.models import Report
from llmops.reporting.render import dollars, percent, seconds
from processes import clean_env, run_llmops

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLANTED = {
    "email": "jane.roe@contoso-mail.example",
    "phone": "+44 20 7946 0958",
    "visa": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "078-05-1120",
    "openai": "sk-proj-Q9x8W7v6U5t4S3r2Q1p0O9n8M7l6K5j4I3h2G1f0",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R",
    "url_password": "Hunter2Secret!",
    "service_api_key": TEST_KEY,
}
SECRET_BODY = (
    f"Please call {PLANTED['phone']} or write to {PLANTED['email']}. Card {PLANTED['visa']}, "
    f"IBAN {PLANTED['iban']}, SSN {PLANTED['ssn']}. Deploy key {PLANTED['openai']} and "
    f"{PLANTED['aws']} / {PLANTED['github']}; db postgres://admin:{PLANTED['url_password']}@db.example/prod. "
    f"Our key: {PLANTED['service_api_key']}"
)
OVERVIEW_FIGURES = ("total-requests", "avg-latency", "p95-latency", "total-cost", "error-rate")
PAGES = {
    "overview": "/",
    "latency": "/latency",
    "requests": "/requests",
    "prompts": "/prompts",
    "prompt_diff": "/prompts/diff?a=email_triage_v1&b=email_triage_v2",
    "evals": "/evals",
    "alerts": "/alerts",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")


# --- a seeded server ------------------------------------------------------------------------------


class Seeded:
    """The live server and what was sent to it."""

    def __init__(self, server: LiveServer, request_ids: list[str], secret_ids: list[str]) -> None:
        self.server = server
        self.request_ids = request_ids
        self.secret_ids = secret_ids

    def url(self, path: str) -> str:
        return self.server.base_url + path


def _cli_env(settings: Settings) -> dict[str, str]:
    """The live server's store, for `llmops` run as a separate process."""
    return clean_env(
        LLMOPS_DATABASE_URL=settings.resolved_database_url,
        LLMOPS_DATA_DIR=str(settings.data_dir),
        LLMOPS_PROVIDER="scripted",
        LLMOPS_API_KEYS=TEST_KEY,
    )


def _llmops(settings: Settings, *args: str) -> str:
    result = run_llmops(_cli_env(settings), *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = tmp_path_factory.mktemp("browser")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data / "data",
        database_url=f"sqlite:///{data / 'llmops.db'}",
        api_keys=TEST_KEY,
        provider="scripted",
        capture_content="redacted",
        scripted_latency_ms=5.0,
        local_price_input_per_mtok=150.0,
        local_price_output_per_mtok=600.0,
        retry_initial_s=0.01,
        retry_max_s=0.05,
    )
    emails = [json.loads(line)["email"] for line in (SAMPLES / "emails.jsonl").read_text().splitlines()[:7]]
    secret_emails = [
        {**emails[index], "subject": f"Re: account {PLANTED['ssn']}", "body": SECRET_BODY}
        for index in range(3)
    ]
    server_run = serve(settings)
    server = next(server_run)
    try:
        with server.client() as client:
            request_ids, secret_ids = [], []
            for email in emails:
                reply = client.post("/v1/triage", json={"email": email, "user_id": "u-browser"})
                assert reply.status_code == 200
                request_ids.append(reply.json()["request_id"])
            for email in secret_emails:
                reply = client.post("/v1/triage", json={"email": email, "user_id": PLANTED["email"]})
                assert reply.status_code == 200
                secret_ids.append(reply.json()["request_id"])
            server.flush()
            feedback = client.post(
                "/v1/feedback",
                json={"request_id": secret_ids[0], "rating": -1, "notes": f"wrong; call {PLANTED['phone']}"},
            )
            assert feedback.status_code == 201
        dataset = data / "cases.jsonl"
        golden = ROOT / "src" / "llmops" / "evals" / "data" / "email_triage.jsonl"
        dataset.write_text("\n".join(golden.read_text(encoding="utf-8").splitlines()[:4]) + "\n")
        for version in ("email_triage_v2", "email_triage_v7"):
            _llmops(settings, "eval", "run", "--dataset", str(dataset), "--prompt-version", version)
        yield Seeded(server, request_ids + secret_ids, secret_ids)
    finally:
        next(server_run, None)


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser: Any, seeded: Seeded) -> Iterator[Any]:
    """A signed-in tab."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(seeded.url("/login"))
    tab.fill('input[name="api_key"]', seeded.server.key)
    tab.press('input[name="api_key"]', "Enter")
    tab.wait_for_url(re.compile(r"^[^?]*/(\?.*)?$"))
    yield tab
    context.close()


def _open(page: Any, seeded: Seeded, path: str) -> str:
    response = page.goto(seeded.url(path))
    assert response is not None and response.status == 200, (path, response and response.status)
    assert "/login" not in page.url, f"{path} sent a signed-in user to sign in"
    return page.content()


def _leaks(html: str) -> list[str]:
    forms = {kind: {value, value.replace(" ", "")} for kind, value in PLANTED.items()}
    return [kind for kind, spellings in forms.items() if any(form in html for form in spellings)]


def _shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _figures(page: Any) -> dict[str, str]:
    return {name: page.get_by_test_id(name).inner_text().strip() for name in OVERVIEW_FIGURES}


def _reported(seeded: Seeded, since: str) -> dict[str, str]:
    """What `llmops report --json --since <range>` says, formatted the way `llmops report` prints it."""
    report = Report.model_validate_json(_llmops(seeded.server.settings, "report", "--json", "--since", since))
    return {
        "total-requests": str(report.requests),
        "avg-latency": seconds(report.avg_latency_ms),
        "p95-latency": seconds(report.p95_latency_ms),
        "total-cost": dollars(report.cost_usd),
        "error-rate": percent(report.error_rate),
    }


# --- tests ----------------------------------------------------------------------------------------


def test_no_page_is_reachable_without_signing_in(browser: Any, seeded: Seeded) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        for path in [*PAGES.values(), f"/requests/{seeded.request_ids[0]}"]:
            tab.goto(seeded.url(path))
            assert re.search(r"/login(\?|$)", tab.url), f"{path} ended at {tab.url}"
            assert tab.locator('input[name="api_key"]').count() == 1
            assert not _leaks(tab.content())
        tab.fill('input[name="api_key"]', "llmops_not_a_real_key_000000000000000000000000000")
        tab.press('input[name="api_key"]', "Enter")
        tab.wait_for_load_state()
        assert "/login" in tab.url and tab.locator('input[name="api_key"]').count() == 1
        assert all(cookie["name"] != "llmops_session" for cookie in context.cookies())
    finally:
        context.close()


def test_every_page_renders_real_data_and_no_planted_secret(page: Any, seeded: Seeded) -> None:
    expectations = {
        "overview": ["scripted-1"],
        "latency": ["parse_email", "lookup_contact"],
        "requests": [seeded.request_ids[-1]],
        "prompts": ["email_triage_v1", "email_triage_v2", "email_triage_v7"],
        "prompt_diff": ["email_triage_v1", "email_triage_v2", "@@"],
        "evals": ["email_triage_v2", "email_triage_v7"],
        "alerts": [],
    }
    for name, path in PAGES.items():
        html = _open(page, seeded, path)
        text = page.inner_text("body")
        for expected in expectations[name]:
            assert expected in text or expected in html, f"{name}: {expected!r} not shown"
        assert not _leaks(html), f"{name} shows planted secrets: {_leaks(html)}"
        if name == "overview":
            assert int(_figures(page)["total-requests"]) >= len(seeded.request_ids)
        _shoot(page, name)


def test_request_list_leads_to_its_trace_waterfall(page: Any, seeded: Seeded) -> None:
    _open(page, seeded, "/requests")
    link = page.locator(f'a[href$="/requests/{seeded.secret_ids[0]}"]').first
    link.click()
    page.wait_for_url(re.compile(rf"/requests/{re.escape(seeded.secret_ids[0])}$"))
    html = page.content()
    text = page.inner_text("body")
    for span in ("POST /v1/triage", "parse_email", "chat scripted-1", "validate_output"):
        assert span in text, f"{span!r} missing from the waterfall"
    assert "[PHONE]" in text, "the feedback note is shown, redacted"
    assert not _leaks(html), f"request page shows planted secrets: {_leaks(html)}"
    _shoot(page, "request")


def test_time_range_picker_changes_the_url_and_the_page(page: Any, seeded: Seeded) -> None:
    _open(page, seeded, "/?range=24h")
    page.get_by_test_id("range-select").select_option("1h")
    page.locator('form[data-testid="filters"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"[?&]range=1h\b"))
    assert _figures(page) == _reported(seeded, "1h")
    _shoot(page, "overview_1h")


@pytest.mark.parametrize("time_range", ["24h", "7d"])
def test_overview_numbers_agree_with_llmops_report(page: Any, seeded: Seeded, time_range: str) -> None:
    _open(page, seeded, f"/?range={time_range}")
    shown = _figures(page)
    assert shown == _reported(seeded, time_range)
    assert int(shown["total-requests"]) >= len(seeded.request_ids)
