"""Scorers: pass/fail, score and reason for each check; case aggregation; the LLM judge's pass rule."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from fakes import FakeOpenAIServer, FakeReply
from llmops.config import Settings
from llmops.evals.datasets import EvalCase
from llmops.evals.judge import LLMJudge, build_judge, parse_verdict
from llmops.evals.scorers import (
    CaseOutput,
    CategoryMatch,
    Contains,
    CopyRatio,
    CostCeiling,
    LatencyCeiling,
    LengthAtMost,
    NotContains,
    PriorityInRange,
    RegexMatch,
    RepetitionRatio,
    SchemaValid,
    Scorer,
    ascore_case,
    score_case,
    scorers_for,
)
from llmops.providers.openai_compat import OpenAIProvider
from llmops.providers.scripted import ScriptedProvider

IBAN = "DE89 3704 0044 0532 0130 00"


def make_case(critical: bool = False, **expected: Any) -> EvalCase:
    return EvalCase.model_validate(
        {
            "id": "case-1",
            "email": {
                "sender": "billing@cloudnest-payments.example",
                "recipients": ["me@northwind.example"],
                "subject": "New bank details",
                "body": f"Pay to IBAN {IBAN} now.",
            },
            "expected": expected,
            "critical": critical,
        }
    )


def triage(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "category": "spam",
        "priority": 2,
        "summary": "Likely invoice fraud: a lookalike domain asks to change bank details.",
        "action_items": ["Verify with the vendor by phone", "Report to security"],
        "draft_reply": "",
    }
    value.update(overrides)
    return value


def out(**fields: Any) -> CaseOutput:
    fields.setdefault("triage", triage())
    return CaseOutput(**fields)


CASE = make_case()


def test_category_match() -> None:
    assert CategoryMatch("spam").score(CASE, out()).passed
    result = CategoryMatch("urgent").score(CASE, out())
    assert (result.passed, result.score, result.reason) == (False, 0.0, "expected urgent, got spam")
    assert (
        CategoryMatch("urgent")
        .score(CASE, out(triage=triage(category="<b>x")))
        .reason.endswith("not a category")
    )


@pytest.mark.parametrize(
    ("priority", "passed", "score"),
    [(2, True, 1.0), (3, True, 1.0), (4, False, 0.75), (5, False, 0.5), (1, False, 0.75), ("2", False, 0.0)],
)
def test_priority_in_range_decays_with_distance(priority: Any, passed: bool, score: float) -> None:
    result = PriorityInRange(2, 3).score(CASE, out(triage=triage(priority=priority)))
    assert (result.passed, result.score) == (passed, score)
    assert "[2, 3]" in result.reason or "not a number" in result.reason


def test_contains_is_case_insensitive_over_the_written_fields() -> None:
    scorer = Contains(["INVOICE FRAUD", "report to security", "call the CEO"])
    result = scorer.score(CASE, out())
    assert not result.passed and result.score == pytest.approx(2 / 3)
    assert result.reason == "missing 1 of 3 phrases: #2"
    assert Contains(["invoice fraud", "verify"]).score(CASE, out()).passed
    # The category is not prose: it does not satisfy a required phrase.
    assert not Contains(["spam"]).score(CASE, out()).passed


def test_not_contains_catches_echoed_values_even_reformatted_and_never_names_them() -> None:
    scorer = NotContains([IBAN, "click the link"])
    assert scorer.score(CASE, out()).passed
    for echoed in (IBAN, IBAN.replace(" ", ""), IBAN.lower(), "DE89-3704-0044-0532-0130-00"):
        result = scorer.score(CASE, out(triage=triage(action_items=[f"Pay {echoed}"])))
        assert not result.passed and result.score == 0.5
        assert result.reason == "1 of 2 forbidden phrases found: #0"
        assert "DE89" not in result.reason
    assert not scorer.score(CASE, out(triage=triage(draft_reply="Please CLICK THE LINK"))).passed


def test_regex_matches_the_summary_only() -> None:
    assert RegexMatch([r"(?i)fraud", r"bank"]).score(CASE, out()).passed
    result = RegexMatch([r"(?i)fraud", r"phone"]).score(CASE, out())
    assert (result.passed, result.score, result.reason) == (False, 0.5, "1 of 2 patterns did not match: #1")


def test_schema_valid_names_failing_fields() -> None:
    assert SchemaValid().score(CASE, out()).passed
    result = SchemaValid().score(CASE, out(triage=triage(priority=9, category="meh")))
    assert not result.passed and result.score == 0.0
    assert "category" in result.reason and "priority" in result.reason and "meh" not in result.reason
    assert SchemaValid().score(CASE, out(triage=None)).reason == "no output"


def test_length_at_most() -> None:
    assert LengthAtMost(100).score(CASE, out()).passed
    result = LengthAtMost(10).score(CASE, out(triage=triage(summary="x" * 40)))
    assert (result.passed, result.score, result.reason) == (False, 0.25, "summary has 40 > 10 characters")


def test_latency_ceiling() -> None:
    assert LatencyCeiling(500).score(CASE, out(latency_ms=499.0)).passed
    slow = LatencyCeiling(500).score(CASE, out(latency_ms=1000.0))
    assert (slow.passed, slow.score) == (False, 0.5)
    missing = LatencyCeiling(500).score(CASE, out())
    assert not missing.passed and "not measured" in missing.reason


def test_cost_ceiling_and_unknown_cost() -> None:
    assert CostCeiling(0.01).score(CASE, out(cost_usd=0.005)).passed
    over = CostCeiling(0.01).score(CASE, out(cost_usd=0.02))
    assert (over.passed, over.score) == (False, 0.5)
    unknown = CostCeiling(0.01).score(CASE, out())
    assert not unknown.passed and "cost unknown" in unknown.reason
    no_ceiling = CostCeiling(None).score(CASE, out())
    assert no_ceiling.passed and "no cost ceiling" in no_ceiling.reason and "unknown" in no_ceiling.reason


ALL_SCORERS: list[Scorer] = [
    CategoryMatch("spam"),
    PriorityInRange(1, 3),
    Contains(["fraud"]),
    NotContains([IBAN]),
    RegexMatch(["fraud"]),
    SchemaValid(),
    LengthAtMost(600),
    LatencyCeiling(1000),
    CostCeiling(1.0),
]


@pytest.mark.parametrize("scorer", ALL_SCORERS, ids=lambda s: s.name)
def test_an_errored_output_fails_every_scorer_with_the_error(scorer: Scorer) -> None:
    result = scorer.score(CASE, out(triage=None, error="ProviderTimeout", latency_ms=1.0, cost_usd=0.0))
    assert isinstance(scorer, Scorer)
    assert (result.passed, result.score, result.reason) == (False, 0.0, "error: ProviderTimeout")


LOOP = "I'm going to roll them back to the previous status page. " * 6


def test_repetition_ratio_fails_a_looping_field_without_quoting_it() -> None:
    assert RepetitionRatio(0.2).score(CASE, out()).passed
    result = RepetitionRatio(0.2).score(CASE, out(triage=triage(draft_reply=LOOP)))
    assert not result.passed and result.score < 0.3
    assert result.reason.startswith("draft_reply repeats itself") and "roll" not in result.reason


def test_copy_ratio_fails_a_summary_pasted_from_the_email() -> None:
    case = make_case()
    assert case.email is not None
    case.email.body = (
        "Please change our bank details for the November invoice to the new account below today."
    )
    assert CopyRatio(0.6).score(case, out()).passed
    pasted = out(triage=triage(summary=" ".join(case.email.body.split()[:10])))
    result = CopyRatio(0.6).score(case, pasted)
    assert not result.passed and result.score == 0.0
    assert result.reason == "summary copies the input: ratio 1.00 > 0.6"


def test_scorers_for_follows_the_expectations() -> None:
    full = make_case(
        category="spam",
        priority=[1, 3],
        must_contain=["fraud"],
        must_not_contain=[IBAN],
        regex=["fraud"],
        max_summary_chars=600,
        max_repetition=0.2,
        max_copy=0.6,
        max_latency_ms=1000,
        max_cost_usd=0.01,
        judge_rubric="Must call it fraud.",
    )
    judge = LLMJudge(ScriptedProvider(reply="SCORE: 9\nVERDICT: PASS"))
    names = [s.name for s in scorers_for(full, judge)]
    assert names == [
        "schema", "category", "priority", "contains", "not_contains", "regex", "summary_length", "repetition",
        "copy", "latency", "cost", "judge",
    ]  # fmt: skip
    assert [s.name for s in scorers_for(full)][-1] == "cost"
    assert [s.name for s in scorers_for(make_case(schema=False))] == []


def test_score_case_needs_every_scorer_and_averages_scores() -> None:
    case = make_case(critical=True, category="spam", priority=[3, 3], must_not_contain=[IBAN])
    scored = score_case(case, out(latency_ms=10.0), scorers_for(case))
    assert (scored.case_id, scored.critical, scored.passed) == ("case-1", True, False)
    assert [r.passed for r in scored.results] == [True, True, False, True]
    assert scored.score == pytest.approx((1 + 1 + 0.75 + 1) / 4)
    assert score_case(case, out(triage=triage(priority=3)), scorers_for(case)).passed
    assert score_case(case, out(), []).passed
    failed = score_case(case, out(error="boom"), [])
    assert (failed.passed, failed.score) == (False, 0.0)


JUDGE_CASE = make_case(category="spam", judge_rubric="The triage must call this invoice fraud.")


@pytest.mark.parametrize(
    ("reply", "passed", "score", "reason"),
    [
        (
            "The triage is good.\nSCORE: 8\nVERDICT: PASS",
            True,
            0.8,
            "score 8/10, verdict PASS: passed (threshold 0.7)",
        ),
        ("**Score:** 7/10\n**Verdict:** pass", True, 0.7, "score 7/10, verdict PASS: passed (threshold 0.7)"),
        ("SCORE: 6\nVERDICT: PASS", False, 0.6, "score 6/10, verdict PASS: below the threshold 0.7"),
        ("SCORE: 9\nVERDICT: FAIL", False, 0.9, "score 9/10, verdict FAIL: the judge failed it"),
        ("End with SCORE: <0-10> VERDICT: PASS|FAIL\nSCORE: 3\nVERDICT: FAIL", False, 0.3, None),
        ("SCORE: 9", False, 0.0, "no verdict"),
        ("VERDICT: PASS", False, 0.0, "no verdict"),
        ("SCORE: 42\nVERDICT: PASS", False, 0.0, "no verdict"),
        ("Looks fine to me!", False, 0.0, "no verdict"),
        ("", False, 0.0, "no verdict"),
    ],
)
def test_judge_pass_rule(reply: str, passed: bool, score: float, reason: str | None) -> None:
    result = LLMJudge(ScriptedProvider(reply=reply)).score(JUDGE_CASE, out())
    assert (result.name, result.passed, result.score) == ("judge", passed, pytest.approx(score))
    if reason is not None:
        assert result.reason == reason


def test_parse_verdict_takes_the_last_lines() -> None:
    verdict = parse_verdict("SCORE: 2\nVERDICT: FAIL\n...on reflection:\nSCORE: 8.5\nVERDICT: PASS")
    assert verdict is not None and (verdict.score, verdict.passed) == (8.5, True)


def test_judge_fails_without_calling_on_errors_missing_triage_or_rubric() -> None:
    provider = ScriptedProvider(reply="SCORE: 10\nVERDICT: PASS")
    judge = LLMJudge(provider)
    assert judge.score(JUDGE_CASE, out(error="timeout")).reason == "error: timeout"
    assert judge.score(JUDGE_CASE, out(triage=None)).reason == "no output"
    assert judge.score(make_case(), out()).reason == "the case has no judge rubric"
    assert provider.calls == 0


def test_judge_provider_errors_are_failures() -> None:
    judge = LLMJudge(ScriptedProvider(faults="500"))
    result = judge.score(JUDGE_CASE, out())
    assert (result.passed, result.reason) == (False, "judge call failed: ProviderServerError")


def test_judge_threshold_is_configurable_and_checked() -> None:
    assert (
        LLMJudge(ScriptedProvider(reply="SCORE: 6\nVERDICT: PASS"), threshold=0.5)
        .score(JUDGE_CASE, out())
        .passed
    )
    with pytest.raises(ValueError):
        LLMJudge(ScriptedProvider(), threshold=1.5)


def test_ascore_case_awaits_the_judge_inside_an_event_loop() -> None:
    judge = LLMJudge(ScriptedProvider(reply="SCORE: 8\nVERDICT: PASS"))

    async def run() -> None:
        with pytest.raises(RuntimeError, match="ascore"):
            judge.score(JUDGE_CASE, out())
        scored = await ascore_case(JUDGE_CASE, out(), scorers_for(JUDGE_CASE, judge))
        assert scored.passed and [r.name for r in scored.results] == ["schema", "category", "judge"]

    asyncio.run(run())


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def test_judge_over_an_openai_compatible_server(openai_server: FakeOpenAIServer) -> None:
    openai_server.reset()
    openai_server.script(
        FakeReply.ok("Correctly flagged.\nSCORE: 9\nVERDICT: PASS"), FakeReply.ok("I think so.")
    )

    async def run() -> tuple[Any, Any]:
        provider = OpenAIProvider(
            base_url=openai_server.base_url, api_key="sk-test", model="judge-model", timeout_s=5
        )
        judge = LLMJudge(provider)
        await judge.start()
        try:
            return await judge.ascore(JUDGE_CASE, out()), await judge.ascore(JUDGE_CASE, out())
        finally:
            await judge.aclose()

    good, garbage = asyncio.run(run())
    assert good.passed and good.score == pytest.approx(0.9)
    assert (garbage.passed, garbage.reason) == (False, "no verdict")
    body = openai_server.requests[0].body
    user = body["messages"][-1]["content"]
    assert body["model"] == "judge-model"
    assert "The triage must call this invoice fraud." in user and "Likely invoice fraud" in user


def test_build_judge_uses_the_named_provider() -> None:
    settings = Settings(_env_file=None, provider="scripted", scripted_reply="SCORE: 7\nVERDICT: PASS")  # type: ignore[call-arg]
    judge = build_judge(settings, "scripted", threshold=0.7)
    assert judge.provider.name == "scripted" and judge.score(JUDGE_CASE, out()).passed
    assert build_judge(settings).provider.name == "scripted"
    with pytest.raises(ValueError, match="unknown judge provider"):
        build_judge(settings, "bard")
