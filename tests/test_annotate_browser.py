"""The annotation page in Debian's Chromium: a signed-in reviewer sees the request rated -1 with what it
was told (no planted secret), corrects the proposal, and the case lands in the dataset; the page fits a
desktop and a phone screen without console errors. Screenshots go to `<basetemp>/artifacts/screenshots`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from chromium import BROWSER_MARKS
from conftest import isolated_settings
from live import LiveServer, serve
from llmops.evals.case_store import stored_cases
from llmops.storage.db import make_engine

PLANTED = ("jane.roe@contoso-mail.example", "+44 20 7946 0958", "DE89 3704 0044 0532 0130 00")
EMAILS = [
    {
        "sender": f"Jane Roe <{PLANTED[0]}>",
        "recipients": ["oncall@northwind.example"],
        "subject": "Production database down",
        "body": f"Checkout is failing for everyone. Call me on {PLANTED[1]}. Please join the bridge.",
    },
    {
        "sender": "Accounts <billing@supplier-payments.example>",
        "recipients": ["me@northwind.example"],
        "subject": "New bank details for our invoices",
        "body": f"From today please pay invoice 4471 to IBAN {PLANTED[2]}. Keep this confidential.",
    },
]

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, list[str]]]:
    data = tmp_path_factory.mktemp("annotate")
    server = serve(isolated_settings(data, f"sqlite:///{data / 'llmops.db'}"))
    running = next(server)
    ids = []
    with running.client() as client:
        for email in EMAILS:
            ids.append(client.post("/v1/triage", json={"email": email}).json()["request_id"])
        running.flush()
        for request_id in ids:
            notes = {"request_id": request_id, "rating": -1, "notes": f"wrong, call {PLANTED[1]}"}
            assert client.post("/v1/feedback", json=notes).status_code == 201
    yield running, [f"mined-{request_id}" for request_id in ids]
    next(server, None)


def _sign_in(context: Any, server: LiveServer, errors: list[str]) -> Any:
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{server.base_url}/annotate")
    assert "/login" in tab.url  # nothing without a session
    tab.fill('input[name="api_key"]', server.key)
    tab.press('input[name="api_key"]', "Enter")
    tab.wait_for_url(re.compile(r"/annotate$"))
    return tab


def _fits(tab: Any) -> None:
    width = tab.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]}px wide in a {width[1]}px window"


def test_a_reviewer_corrects_a_case_into_the_dataset(
    browser: Any, seeded: tuple[LiveServer, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    server, (outage, fraud) = seeded
    shots = tmp_path_factory.getbasetemp() / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        tab = _sign_in(context, server, errors)
        assert tab.get_by_test_id("nav-annotate").get_attribute("aria-current") == "page"
        cards = tab.get_by_test_id("annotate-case")
        assert cards.count() == 2
        html = tab.content()
        assert not [planted for planted in PLANTED if planted in html]
        card = tab.locator(f'[data-case-id="{outage}"]')
        assert "Production database down" in card.inner_text() and "wrong, call [PHONE]" in card.inner_text()
        # The proposal is what the caller was told.
        replied = card.get_by_test_id("annotate-replied").inner_text()
        told = card.get_by_test_id("annotate-category").input_value()
        assert f'"category":"{told}"' in replied.replace(" ", "")
        tab.screenshot(path=str(shots / "annotate-desktop.png"), full_page=True)
        _fits(tab)

        card.get_by_test_id("annotate-category").select_option("urgent")
        card.get_by_test_id("annotate-priority-low").select_option("1")
        card.get_by_test_id("annotate-priority-high").select_option("1")
        card.get_by_test_id("annotate-critical").check()
        card.get_by_test_id("annotate-submit").click()
        tab.wait_for_url(re.compile(r"added="))
        assert outage in tab.get_by_test_id("annotate-added").inner_text()
        assert tab.get_by_test_id("annotate-case").count() == 1
        assert tab.locator(f'[data-case-id="{fraud}"]').count() == 1

        engine = make_engine(server.settings.resolved_database_url)
        (case,) = stored_cases(engine, "labelled")
        engine.dispose()
        assert (case.id, case.expected.category, case.expected.priority, case.critical) == (
            outage,
            "urgent",
            (1, 1),
            True,
        )

        phone = browser.new_context(viewport={"width": 390, "height": 844})
        try:
            small = _sign_in(phone, server, errors)
            _fits(small)
            small.screenshot(path=str(shots / "annotate-phone.png"), full_page=True)
        finally:
            phone.close()
        assert not errors, errors
    finally:
        context.close()
