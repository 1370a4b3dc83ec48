"""The Support Desk through llmops's own service path (`llmops.testing.AssistantHarness`)."""

from __future__ import annotations

from pathlib import Path

from llmops.testing import AssistantHarness
from support_desk.assistant import SupportDesk
from support_desk.models import Question, SupportReply
from support_desk.tools import Desk, classify, order_id_in

PROSE = "Your order is on its way with DHL and should arrive on 2026-12-08."


def test_tools_find_articles_and_orders() -> None:
    desk = Desk.bundled()
    assert [a.id for a in desk.search_kb("how do I return a damaged kettle")][:2] == [
        "kb-damaged",
        "kb-returns",
    ]
    assert desk.get_order_status("nw-1002").status == "shipped"  # type: ignore[union-attr]
    assert desk.get_order_status("NW-9999") is None
    assert order_id_in("where is NW-1005 please", None) == "NW-1005"
    assert classify("I want a refund", None) == "returns"
    assert classify("where is my parcel", None) == "order_status"


def test_answers_its_example_with_the_planned_tools(tmp_path: Path) -> None:
    with AssistantHarness(SupportDesk(), tmp_path, scripted_reply=PROSE) as harness:
        run = harness.run(SupportDesk.example)
    reply: SupportReply = run.output
    assert reply.answer == PROSE and not run.degraded
    assert reply.intent == "order_status" and reply.order is not None and reply.order.status == "shipped"
    assert run.prompt_version == "support_desk_v1" and run.provider == "scripted"


def test_prompt_versions_are_served_on_request(tmp_path: Path) -> None:
    with AssistantHarness(SupportDesk(), tmp_path, scripted_reply=PROSE) as harness:
        run = harness.run(Question(question="Can I pay with PayPal?"), prompt_version="support_desk_v2")
    assert run.prompt_version == "support_desk_v2"
    assert run.output.sources[0] == "kb-payment" and run.output.intent == "payment"


def test_an_unusable_answer_is_composed_from_the_facts(tmp_path: Path) -> None:
    with AssistantHarness(SupportDesk(), tmp_path, scripted_reply='{"not": "prose"}') as harness:
        run = harness.run(Question(question="Where is my order?", order_id="NW-1006"))
    assert run.degraded and (run.provider, run.model) == ("rules", "kb-template")
    assert run.output.answer.startswith("Order NW-1006 is delayed with DHL")
    assert run.output.escalate is True


def test_no_model_means_the_fallback_hook_answers(tmp_path: Path) -> None:
    with AssistantHarness(SupportDesk(), tmp_path, scripted_faults="500*") as harness:
        run = harness.run(Question(question="How long does shipping to the UK take?"))
    assert run.degraded and run.output.sources[0] == "kb-international"
    assert "7 to 12 business days" in run.output.answer
