"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a live server.

A server with the scripted provider and redacted content capture serves real triage requests (some
carrying planted secrets) and a feedback, and stores an eval run; then Chromium signs in and opens
every page. What users depend on: nothing is reachable without signing in, every page renders real
data, a request leads to its trace waterfall, the time-range picker changes the page, the overview's
numbers are the ones `llmops report` prints for the same range, and no planted secret reaches any
page. The store also holds a degraded request (three timed-out model attempts), a promoted and a
rolled-back canary, eval runs of two versions, budgets (one deleted after use), a firing alert and a
session; each defect of issue 16 has a test here. Every page is screenshot at 1400×900 and 390×844
under pytest's base temp directory (`<basetemp>/artifacts/screenshots`, printed at the end; pass
`--basetemp` to choose it) and fails on horizontal overflow, SVG labels outside their viewBox and
console errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chromium import BROWSER_MARKS
from live import SAMPLES, TEST_KEY, LiveServer, serve
from llmops.config import Settings
from llmops.reporting.models import Report
from llmops.reporting.render import dollars, percent, seconds
from processes import clean_env, run_llmops

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
RAW_FLOAT = re.compile(r"\d\.\d{5,}")
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

pytestmark = BROWSER_MARKS


# --- a seeded server ------------------------------------------------------------------------------


class Seeded:
    """The live server and what was sent to it."""

    def __init__(
        self,
        server: LiveServer,
        request_ids: list[str],
        secret_ids: list[str],
        degraded_id: str,
        canary_ids: list[str],
        session_ids: list[str],
        artifacts: Path,
    ) -> None:
        self.server = server
        self.request_ids = request_ids
        self.secret_ids = secret_ids
        self.degraded_id = degraded_id
        self.canary_ids = canary_ids
        self.session_ids = session_ids
        self.artifacts = artifacts

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


def _llmops(settings: Settings, *args: str, **env: str) -> str:
    result = run_llmops(_cli_env(settings) | env, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


OUTAGE_SUMMARY = "SEV1 outage: the API gateway returns 502s; join the bridge."
OUTAGE_MISS = "regex: expected all 1 pattern to match the summary, got 0 of 1 (no match for #0)"


def _reply(summary: str) -> str:
    """The scripted model's answer with this summary (the rules still correct category and priority)."""
    return json.dumps(
        {
            "category": "action_required",
            "priority": 2,
            "summary": summary,
            "action_items": [],
            "draft_reply": "",
        }
    )


ALERT_RULES = """
rules:
  - {name: degraded_rate, kind: degraded_rate, threshold: 0.01, min_requests: 1, window_s: 3600}
  - {name: latency_p95, kind: latency_p95, factor: 2.0, floor_ms: 5000}
  - {name: budget_hard, kind: budget, level: hard, min_requests: 0, renotify_s: 900}
  - {name: eval_regression, kind: eval_regression, min_requests: 0, renotify_s: 86400}
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = tmp_path_factory.mktemp("browser")
    artifacts = tmp_path_factory.getbasetemp() / "artifacts" / "screenshots"
    rules = data / "alerts.yaml"
    rules.write_text(ALERT_RULES)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data / "data",
        database_url=f"sqlite:///{data / 'llmops.db'}",
        api_keys=TEST_KEY,
        provider="scripted",
        capture_content="redacted",
        scripted_latency_ms=5.0,
        scripted_faults="timeout*3",  # the first request: three attempts time out, the reply degrades
        request_timeout_s=0.3,
        local_price_input_per_mtok=150.0,
        local_price_output_per_mtok=600.0,
        retry_initial_s=0.01,
        retry_max_s=0.05,
        prompt_label_ttl_s=0.0,
        alert_rules=str(rules),
        alert_interval_s=0.5,
    )
    emails = [json.loads(line)["email"] for line in (SAMPLES / "emails.jsonl").read_text().splitlines()[:7]]
    secret_emails = [
        {**emails[index], "subject": f"Re: account {PLANTED['ssn']}", "body": SECRET_BODY}
        for index in range(3)
    ]
    server_run = serve(settings)
    server = next(server_run)
    try:
        _llmops(settings, "budgets", "set", "global", "day", "tokens", "1000000")
        _llmops(settings, "budgets", "set", "global", "hour", "cost_usd", "50")
        with server.client() as client:

            def triage(email: dict[str, Any], user: str = "u-browser") -> str:
                reply = client.post("/v1/triage", json={"email": email, "user_id": user})
                assert reply.status_code == 200
                return str(reply.json()["request_id"])

            degraded_id = triage(emails[0])
            request_ids = [triage(email) for email in emails[1:]]
            secret_ids = [triage(email, PLANTED["email"]) for email in secret_emails]
            _llmops(settings, "canary", "start", "email_triage_v7", "--share", "1")
            canary_ids = [triage(email) for email in emails[:2]]
            _llmops(settings, "canary", "promote", "--reason", "browser test")
            _llmops(
                settings,
                "canary",
                "start",
                "email_triage_v1",
                "--share",
                "1",
                "--force",  # the golden set says REGRESSION; it is started only to be rolled back
                "--reason",
                "browser test",
            )
            _llmops(settings, "canary", "rollback", "--reason", "browser test")
            server.flush()
            feedback = client.post(
                "/v1/feedback",
                json={"request_id": secret_ids[0], "rating": -1, "notes": f"wrong; call {PLANTED['phone']}"},
            )
            assert feedback.status_code == 201
            assert (
                client.post("/v1/feedback", json={"request_id": canary_ids[0], "rating": 1}).status_code
                == 201
            )
        _llmops(settings, "budgets", "remove", "global", "hour", "cost_usd")
        session_ids = [request_ids[0], request_ids[2], request_ids[1]]
        _store_session(settings, "sess-browser-1", session_ids)
        dataset = data / "cases.jsonl"
        golden = ROOT / "src" / "llmops" / "evals" / "data" / "email_triage.jsonl"
        dataset.write_text("\n".join(golden.read_text(encoding="utf-8").splitlines()[:4]) + "\n")
        for version, summary in (("email_triage_v2", OUTAGE_SUMMARY), ("email_triage_v7", "A note for you.")):
            _llmops(  # v7's summaries miss what the outage case asks for: it regresses and says why
                settings,  # --no-cache: the canary gates above cached v7's cases with other replies
                *("eval", "run", "--dataset", str(dataset), "--prompt-version", version, "--no-cache"),
                LLMOPS_SCRIPTED_REPLY=_reply(summary),
            )
        _wait_for_alert(settings, "degraded_rate", "firing")
        yield Seeded(
            server,
            [degraded_id, *request_ids, *secret_ids, *canary_ids],
            secret_ids,
            degraded_id,
            canary_ids,
            session_ids,
            artifacts,
        )
    finally:
        next(server_run, None)
    print(f"\nscreenshots: {artifacts}")


def _store_session(settings: Settings, session_id: str, request_ids: list[str]) -> None:
    """Mark requests as one session, as the store does for a root span carrying `gen_ai.conversation.id`
    (the triage API does not take a session yet; gateway and ingest traffic will)."""
    from sqlalchemy import update

    from llmops.storage.db import make_engine
    from llmops.storage.tables import requests

    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.begin() as connection:
            for request_id in request_ids:
                connection.execute(
                    update(requests).where(requests.c.request_id == request_id).values(session_id=session_id)
                )
    finally:
        engine.dispose()


def _wait_for_alert(settings: Settings, rule: str, state: str) -> None:
    import time

    from sqlalchemy import select

    from llmops.storage.db import make_engine
    from llmops.storage.tables import alert_states

    engine = make_engine(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            with engine.connect() as connection:
                found = connection.execute(
                    select(alert_states.c.state).where(alert_states.c.rule_name == rule)
                ).scalar()
            if found == state or time.monotonic() > deadline:
                assert found == state, f"alert {rule} is {found}, expected {state}"
                return
            time.sleep(0.2)
    finally:
        engine.dispose()


# --- the browser ----------------------------------------------------------------------------------


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


def _shoot(page: Any, seeded: Seeded, name: str) -> None:
    seeded.artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(seeded.artifacts / f"{name}.png"), full_page=True)


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
        _shoot(page, seeded, name)


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
    _shoot(page, seeded, "request")


def test_time_range_picker_changes_the_url_and_the_page(page: Any, seeded: Seeded) -> None:
    _open(page, seeded, "/?range=24h")
    page.get_by_test_id("range-select").select_option("1h")
    page.locator('form[data-testid="filters"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"[?&]range=1h\b"))
    assert _figures(page) == _reported(seeded, "1h")
    _shoot(page, seeded, "overview_1h")


@pytest.mark.parametrize("time_range", ["24h", "7d"])
def test_overview_numbers_agree_with_llmops_report(page: Any, seeded: Seeded, time_range: str) -> None:
    _open(page, seeded, f"/?range={time_range}")
    shown = _figures(page)
    assert shown == _reported(seeded, time_range)
    assert int(shown["total-requests"]) >= len(seeded.request_ids)


# --- issue 16: a dashboard people read at a glance -------------------------------------------------


def _page_checks(page: Any, where: str) -> None:
    """No horizontal overflow and no SVG label outside its viewBox."""
    overflow = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], (
        f"{where}: the page is {overflow[0]}px wide in a {overflow[1]}px window"
    )
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('svg[viewBox] text')].filter((t) => {
            const box = t.getBBox(), v = t.ownerSVGElement.viewBox.baseVal;
            return box.x < v.x - 0.5 || box.y < v.y - 0.5 || box.x + box.width > v.x + v.width + 0.5
                || box.y + box.height > v.y + v.height + 0.5;
        }).map((t) => t.textContent)"""
    )
    assert not clipped, f"{where}: chart labels outside their viewBox: {clipped}"


def _all_pages(seeded: Seeded) -> dict[str, str]:
    runs = _eval_run_ids(seeded)
    return {
        **PAGES,
        "overview_1h": "/?range=1h",
        "overview_30d": "/?range=30d",
        "requests_all": "/requests?source=all",
        "request_degraded": f"/requests/{seeded.degraded_id}",
        "request_ok": f"/requests/{seeded.secret_ids[0]}",
        "session": "/sessions/sess-browser-1",
        "eval_run": f"/evals/{runs[0]}",
    }


def _api(seeded: Seeded, path: str) -> Any:
    with seeded.server.client() as client:
        return client.get(path).json()


def _eval_run_ids(seeded: Seeded) -> list[str]:
    return [run["id"] for run in _api(seeded, "/api/evals")["runs"]]


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_the_screen_without_errors(browser: Any, seeded: Seeded, size: str) -> None:
    """Screenshots of every page at a desktop and a phone size; no overflow, clipped label or console error."""
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    errors: list[str] = []
    try:
        tab = context.new_page()
        tab.on(
            "console",
            lambda message: (
                errors.append(f"{message.text} ({message.location.get('url')})")
                if message.type == "error"
                else None
            ),
        )
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(seeded.url("/login"))
        _shoot(tab, seeded, f"login-{size}")
        tab.fill('input[name="api_key"]', seeded.server.key)
        tab.press('input[name="api_key"]', "Enter")
        tab.wait_for_url(re.compile(r"^[^?]*/(\?.*)?$"))
        for name, path in _all_pages(seeded).items():
            _open(tab, seeded, path)
            text = tab.inner_text("body")
            _page_checks(tab, f"{name} at {size}")
            assert not RAW_FLOAT.search(text), f"{name}: unrounded number {RAW_FLOAT.search(text)}"
            clumsy = re.search(r"\b1 requests\b|\bTrue\b|\bFalse\b", text)
            assert not clumsy, f"{name}: …{text[max(clumsy.start() - 120, 0) : clumsy.end() + 40]}…"
            _shoot(tab, seeded, f"{name}-{size}")
        assert not errors, f"console errors: {errors}"
    finally:
        context.close()


def test_evals_compare_the_newest_run_with_another_version(page: Any, seeded: Seeded) -> None:
    """Issue 16.1: distinct default runs shown in the selects, numbers in % and pp, CI and McNemar,
    each case's reason and a link to its trace, and a page for one run."""
    _open(page, seeded, "/evals")
    section = page.get_by_test_id("comparison")
    baseline = page.get_by_test_id("baseline-select").input_value()
    candidate = page.get_by_test_id("candidate-select").input_value()
    assert baseline != candidate
    assert (section.get_attribute("data-baseline"), section.get_attribute("data-candidate")) == (
        baseline,
        candidate,
    )
    text = page.inner_text("body")
    assert not RAW_FLOAT.search(text)
    assert re.search(r"Pass rate\s+\d+\.\d%\s+\d+\.\d%\s+[+-]\d+\.\d pp", text), text
    assert re.search(r"CI \[[+-]\d+\.\d pp, [+-]\d+\.\d pp\]", page.get_by_test_id("stats").inner_text())
    assert "pass→fail" in page.get_by_test_id("mcnemar").inner_text()
    rows = page.get_by_test_id("case-row")
    assert rows.count() == 4
    failing = page.locator('[data-testid="case-row"]:has-text("fail")')
    if failing.count():
        assert failing.first.get_by_test_id("case-reason").inner_text().strip() not in ("", "—")
    page.get_by_test_id("candidate-trace").first.click()
    page.wait_for_url(re.compile(r"/requests/[0-9a-f]+$"))
    assert "an eval case" in page.inner_text("body")
    _open(page, seeded, f"/evals/{candidate}")
    assert page.get_by_test_id("run-case").count() == 4
    assert page.get_by_test_id("case-trace").count() == 4


def test_evals_explain_failures_and_the_selects_follow_the_comparison(page: Any, seeded: Seeded) -> None:
    """Issue 11.5: a regressed case says, per scorer, what was expected and what came back, and links
    to its trace; the selects always name the runs compared on screen (one side named, prompt versions
    named, a changed select left unsubmitted); the run page explains its failures the same way."""
    runs = {run["prompt_version"]: run["id"] for run in reversed(_api(seeded, "/api/evals")["runs"])}
    v2, v7 = runs["email_triage_v2"], runs["email_triage_v7"]

    def compared() -> tuple[str, str]:
        section = page.get_by_test_id("comparison")
        shown = (section.get_attribute("data-baseline"), section.get_attribute("data-candidate"))
        selected = (
            page.get_by_test_id("baseline-select").input_value(),
            page.get_by_test_id("candidate-select").input_value(),
        )
        assert selected == shown
        return selected

    _open(page, seeded, "/evals")
    assert compared() == (v2, v7)
    regressed = page.locator('[data-testid="case-row"][data-change="regressed"]')
    assert regressed.first.get_attribute("data-case") == "outage-api-gateway-502"
    assert OUTAGE_MISS in regressed.first.get_by_test_id("explanation").all_inner_texts()
    failing = page.locator('[data-testid="case-row"][data-change="failing"]')
    for row in [regressed.nth(i) for i in range(regressed.count())] + [
        failing.nth(i) for i in range(failing.count())
    ]:
        lines = row.get_by_test_id("explanation").all_inner_texts()
        assert lines and all(re.fullmatch(r"[a-z_]+: expected .+, got .+", line) for line in lines), lines
    passing = page.locator('[data-testid="case-row"][data-change="passing"]')
    assert passing.count() == 0 or passing.first.get_by_test_id("explanation").count() == 0
    assert re.search(r"detectable pass-rate change: \d+\.\d pp", page.get_by_test_id("stats").inner_text())
    case_id = regressed.first.get_attribute("data-case")
    regressed.first.get_by_test_id("candidate-trace").click()
    page.wait_for_url(re.compile(r"/requests/[0-9a-f]+$"))
    assert "an eval case" in page.inner_text("body")

    _open(page, seeded, f"/evals?candidate={v2}")  # one side named: the other is its default
    assert compared() == (v7, v2)
    _open(page, seeded, "/evals?baseline=email_triage_v7&candidate=email_triage_v2")
    assert compared() == (v7, v2)
    page.get_by_test_id("candidate-select").select_option(v7)  # changed, not submitted
    page.get_by_test_id("run-link").first.click()
    page.wait_for_url(re.compile(r"/evals/[0-9a-f]+$"))
    page.go_back()
    page.wait_for_load_state()
    assert compared() == (v7, v2)

    _open(page, seeded, f"/evals/{v7}")
    row = page.locator(f'[data-testid="run-case"]:has(code:text-is("{case_id}"))')
    assert OUTAGE_MISS in row.get_by_test_id("explanation").all_inner_texts()
    assert row.get_by_test_id("case-trace").count() == 1


def test_alerts_read_in_words(page: Any, seeded: Seeded) -> None:
    """Issue 16.2: headings in words, each rule's own condition, summarised history, rounded values,
    yes/no, budgets by their usage now (a deleted budget gone), coloured states."""
    _open(page, seeded, "/alerts")
    headers = page.locator("th").all_inner_texts()
    assert headers and not [h for h in headers if "_" in h], headers
    text = page.inner_text("main")
    assert "{" not in text and "True" not in text and "False" not in text
    assert not RAW_FLOAT.search(text)
    conditions = dict(
        zip(
            page.locator('[data-testid="alert-rules"] tbody td:first-child').all_inner_texts(),
            page.get_by_test_id("rule-condition").all_inner_texts(),
            strict=True,
        )
    )
    assert conditions["degraded_rate"] == "degraded rate above 1.0%"
    assert "factor" not in conditions["budget_hard"] and "hard cap" in conditions["budget_hard"]
    assert "5.0s" in conditions["latency_p95"] and "threshold" not in conditions["latency_p95"]
    budgets = page.get_by_test_id("budget-row")
    assert budgets.count() == 1 and "global:day:tokens" in budgets.first.inner_text()
    assert "cost_usd" not in page.get_by_test_id("budgets").inner_text()
    firing = page.locator('[data-testid="alert-state"]', has_text="firing").first
    colour = firing.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent", "rgb(238, 240, 244)"), colour
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)


def test_degraded_request_shows_what_the_user_received_and_why(page: Any, seeded: Seeded) -> None:
    """Issue 16.3: the triage sent, the reason, three attempts (each timed out) with retry events,
    and the true number of model calls on the root span."""
    _open(page, seeded, f"/requests/{seeded.degraded_id}")
    assert "every model provider failed" in page.get_by_test_id("degraded-reason").inner_text()
    assert "degraded (degraded)" not in page.inner_text("body")
    triage = page.get_by_test_id("triage").inner_text()
    assert "Category" in triage and "rule-based" in page.inner_text('[data-testid="outcome"]')
    assert "No model output was captured" not in page.inner_text("body")
    assert "Model attempts: 3" in page.get_by_test_id("model-calls").inner_text()
    chat = page.locator('[data-testid="span"][data-span-name^="chat "]')
    attempts = chat.locator('[data-testid="attempt"]')
    assert attempts.count() == 3
    assert all("timeout" in (attempts.nth(i).text_content() or "") for i in range(3))
    chat.locator("summary").click()
    events = chat.get_by_test_id("span-events").inner_text()
    assert events.count("retry at") == 2 and events.count("error timeout") == 2
    root = page.locator('[data-testid="span"][data-depth="0"]')
    root.locator("summary").click()
    assert re.search(r"llmops\.model_calls\s+3", root.inner_text())


def test_span_rows_show_they_expand_and_keep_the_selection(page: Any, seeded: Seeded) -> None:
    """Issue 16.4: a caret shows each span row opens; the selected span's attributes stay in a side panel."""
    _open(page, seeded, f"/requests/{seeded.secret_ids[0]}")
    row = page.locator('[data-testid="span"][data-span-name="parse_email"]')
    caret = row.get_by_test_id("expander")

    def marker() -> str:
        return str(caret.evaluate("(el) => getComputedStyle(el, '::before').content"))

    assert marker() == '"▸"'
    row.locator("summary").click()
    assert marker() == '"▾"'
    panel = page.get_by_test_id("span-panel")
    assert panel.get_attribute("data-span-name") == "parse_email"
    assert "llmops.email.subject" in panel.inner_text()
    assert "selected" in (row.get_attribute("class") or "")


def test_request_list_shows_live_traffic_with_what_it_was_about(page: Any, seeded: Seeded) -> None:
    """Issue 16.5: eval cases behind a filter, subject and sender previews, category, feedback and
    canary markers, model on one line, search by request or trace id."""
    _open(page, seeded, "/requests")
    rows = page.get_by_test_id("request-row")
    sources = {rows.nth(i).get_attribute("data-source") for i in range(rows.count())}
    assert sources == {"api"} and rows.count() == len(seeded.request_ids)
    assert page.get_by_test_id("canary-badge").count() == len(seeded.canary_ids)
    assert page.get_by_test_id("feedback-badge").count() == 2
    assert page.get_by_test_id("sender").count() >= len(seeded.request_ids) - 3
    text = page.inner_text("main")
    assert "Re: account [SSN]" in text or "[SSN]" in text
    model = page.locator('[data-testid="request-row"] td:has-text("scripted-1")').first
    assert model.evaluate("(el) => getComputedStyle(el).whiteSpace") == "nowrap"
    page.get_by_test_id("search-source").select_option("all")
    page.locator('form[data-testid="request-search"] button').click()
    page.wait_for_url(re.compile(r"source=all"))
    assert page.locator('[data-testid="request-row"][data-source="eval"]').count() > 0
    trace_id = _api(seeded, f"/api/requests/{seeded.degraded_id}")["request"]["trace_id"]
    _open(page, seeded, "/requests")
    page.get_by_test_id("search-id").fill(trace_id)
    page.locator('form[data-testid="request-search"] button').click()
    page.wait_for_url(re.compile(r"q="))
    assert page.get_by_test_id("request-row").count() == 1
    assert seeded.degraded_id in page.locator('[data-testid="request-link"]').get_attribute("href")


def test_overview_buckets_follow_the_range(page: Any, seeded: Seeded) -> None:
    """Issue 16.6: minutes for 1h, days for 30d, axes with ticks, degraded and retries beside errors."""
    _open(page, seeded, "/?range=1h")
    assert "per minute" in page.get_by_test_id("window").inner_text()
    chart = page.get_by_test_id("chart-requests")
    assert len(chart.locator("text.xlabel").all_inner_texts()) >= 5
    assert len(chart.locator("text.ylabel").all_inner_texts()) == 3
    widths = [
        float(w)
        for w in chart.locator("rect.bar").evaluate_all("(bars) => bars.map((b) => b.getAttribute('width'))")
    ]
    assert widths and max(widths) < 15, widths  # sixty one-minute slots, not one hourly bar
    errors = page.get_by_test_id("chart-errors")
    assert errors.locator("rect.bar-degraded").count() >= 1
    assert "degraded" in errors.inner_text()
    assert page.get_by_test_id("chart-retries").locator("rect.bar").count() >= 1
    _open(page, seeded, "/?range=30d")
    assert "per day" in page.get_by_test_id("window").inner_text()
    _open(page, seeded, "/?range=1h&model=no-such-model")
    assert "clear the filters" in page.get_by_test_id("overview-empty").inner_text()


def test_prompt_badges_and_feedback_read_plainly(page: Any, seeded: Seeded) -> None:
    """Issue 16.7: feedback in words, no badge for a rolled-back canary, one badge after a promotion."""
    _open(page, seeded, "/prompts")

    def labels(version: str) -> list[str]:
        row = page.locator(f'[data-testid="prompt-row"][data-version="{version}"]')
        return [label.strip() for label in row.get_by_test_id("label").all_inner_texts()]

    assert labels("email_triage_v7") == ["production"]
    assert labels("email_triage_v1") == []
    cells = " ".join(page.get_by_test_id("feedback-cell").all_inner_texts())
    assert " of " not in cells.split("good of")[0] and not re.search(r"\d+/\d+ of \d+", cells)
    assert re.search(r"1 good · 0 bad", cells) and re.search(r"0 good · 1 bad", cells)


def test_latency_filters_are_on_the_page(page: Any, seeded: Seeded) -> None:
    """Issue 16.8: version, model, provider and assistant filters as a form (not only URL parameters)."""
    _open(page, seeded, "/latency?range=24h")
    for field in ("prompt_version", "model", "provider", "assistant"):
        assert page.get_by_test_id(f"filter-{field}").count() == 1
    page.get_by_test_id("filter-model").select_option("scripted-1")
    page.get_by_test_id("apply-filters").click()
    page.wait_for_url(re.compile(r"model=scripted-1"))
    assert page.get_by_test_id("step-row").count() > 0


def test_feedback_time_is_readable(page: Any, seeded: Seeded) -> None:
    """Issue 16.9: a feedback time in UTC with the zone named, no ISO `T` or microseconds."""
    _open(page, seeded, f"/requests/{seeded.secret_ids[0]}")
    shown = page.get_by_test_id("feedback").inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", shown), shown
    assert not re.search(r"T\d\d:\d\d:\d\d\.\d+", shown)


def test_a_session_lists_its_requests_in_order(page: Any, seeded: Seeded) -> None:
    _open(page, seeded, "/sessions/sess-browser-1")
    links = page.get_by_test_id("request-link").evaluate_all("(as) => as.map((a) => a.getAttribute('href'))")
    order = sorted(seeded.session_ids, key=seeded.request_ids.index)
    assert [link.rsplit("/", 1)[1] for link in links] == order
    _open(page, seeded, f"/requests/{order[0]}")
    assert page.get_by_test_id("session-link").count() == 1
