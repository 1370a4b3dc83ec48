"""LLM-as-judge: a model grades an assistant's output (a triage, an answer, …) against the case's rubric.

The judge model answers with a `SCORE: <0-10>` line and a `VERDICT: PASS|FAIL` line. The pass rule is
explicit and strict: a verdict must be present, the verdict must be PASS, and score/10 must reach the
threshold. Anything else fails; an answer without a parseable score and verdict fails with "no
verdict". The judge's prose is not copied into the reason, because it may quote the email.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import get_args

from llmops.config import ProviderName, Settings
from llmops.evals.datasets import EvalCase
from llmops.evals.scorers import CaseOutput, ScoreResult, error_result
from llmops.providers.base import ChatRequest, Message, Provider
from llmops.providers.errors import ProviderError
from llmops.providers.registry import build_provider

MAX_EMAIL_CHARS = 6000
JUDGE_MAX_TOKENS = 256

GENERIC_SYSTEM_PROMPT = (
    "You are a strict reviewer of an AI assistant. You get a rubric, the assistant's input and its "
    "output, both as JSON. Judge only against the rubric. Think briefly, then end your answer "
    "with exactly two lines:\nSCORE: <an integer from 0 to 10>\nVERDICT: PASS or FAIL"
)
SYSTEM_PROMPT = (
    "You are a strict reviewer of an email triage assistant. You get a rubric, an email and the "
    "assistant's triage as JSON. Judge only against the rubric. Think briefly, then end your answer "
    "with exactly two lines:\nSCORE: <an integer from 0 to 10>\nVERDICT: PASS or FAIL"
)

# Tolerant of markdown emphasis and separators: `**Score:** 8/10`, `verdict - pass`.
_SCORE = re.compile(r"\bscore\W{0,6}(\d{1,2}(?:\.\d+)?)\s*(?:/\s*10\b)?", re.IGNORECASE)
_VERDICT = re.compile(r"\bverdict\W{0,6}(pass|fail)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float  # 0-10
    passed: bool  # the judge said PASS


def parse_verdict(text: str) -> Verdict | None:
    """The last SCORE and VERDICT in the answer (models restate the instructions first), or None when
    either is missing or the score is outside 0-10."""
    scores = _SCORE.findall(text)
    verdicts = _VERDICT.findall(text)
    if not scores or not verdicts:
        return None
    score = float(scores[-1])
    if not 0 <= score <= 10:
        return None
    return Verdict(score=score, passed=verdicts[-1].lower() == "pass")


def judge_messages(rubric: str, case: EvalCase, triage: dict[str, object]) -> list[Message]:
    email = case.email
    if email is None:
        shown = json.dumps(case.payload, ensure_ascii=False, indent=2)
        shown = shown if len(shown) <= MAX_EMAIL_CHARS else shown[:MAX_EMAIL_CHARS] + "\n[…]"
        generic = (
            f"RUBRIC:\n{rubric}\n\nINPUT:\n{shown}\n\n"
            f"OUTPUT:\n{json.dumps(triage, ensure_ascii=False, indent=2)}\n\n"
            "Grade the output against the rubric. End with the SCORE and VERDICT lines."
        )
        return [Message(role="system", content=GENERIC_SYSTEM_PROMPT), Message(role="user", content=generic)]
    body = email.body if len(email.body) <= MAX_EMAIL_CHARS else email.body[:MAX_EMAIL_CHARS] + "\n[…]"
    user = (
        f"RUBRIC:\n{rubric}\n\n"
        f"EMAIL:\nFrom: {email.sender}\nTo: {', '.join(email.recipients)}\nSubject: {email.subject}\n\n{body}\n\n"
        f"TRIAGE:\n{json.dumps(triage, ensure_ascii=False, indent=2)}\n\n"
        "Grade the triage against the rubric. End with the SCORE and VERDICT lines."
    )
    return [Message(role="system", content=SYSTEM_PROMPT), Message(role="user", content=user)]


class LLMJudge:
    """A rubric scorer backed by a model. Use `ascore` from async code; `score` runs its own loop."""

    name = "judge"

    def __init__(self, provider: Provider, *, threshold: float = 0.7) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.provider = provider
        self.threshold = threshold

    async def start(self) -> None:
        await self.provider.start()

    async def aclose(self) -> None:
        await self.provider.aclose()

    async def ascore(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        if output.error is not None:
            return error_result(self.name, output.error, self._expected())
        rubric = case.expected.judge_rubric
        if rubric is None:
            return self._result(False, 0.0, "the case has no judge rubric")
        if output.output is None:
            return self._result(False, 0.0, "no output", got="no output")
        request = ChatRequest(
            messages=judge_messages(rubric, case, output.output), max_tokens=JUDGE_MAX_TOKENS, temperature=0.0
        )
        try:
            response = await self.provider.chat(request)
        except ProviderError as exc:
            return self._result(
                False,
                0.0,
                f"judge call failed: {type(exc).__name__}",
                got=f"no verdict ({type(exc).__name__})",
            )
        verdict = parse_verdict(response.text)
        if verdict is None:
            return self._result(False, 0.0, "no verdict", got="no verdict")
        score = verdict.score / 10
        shown = f"score {verdict.score:g}/10, verdict {'PASS' if verdict.passed else 'FAIL'}"
        if not verdict.passed:
            return self._result(False, score, f"{shown}: the judge failed it", got=shown)
        if score < self.threshold:
            return self._result(False, score, f"{shown}: below the threshold {self.threshold:g}", got=shown)
        return self._result(True, score, f"{shown}: passed (threshold {self.threshold:g})")

    def score(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        """Synchronous scoring for scripts; inside a running event loop call `ascore` instead."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ascore(case, output))
        raise RuntimeError("LLMJudge.score called inside an event loop: await LLMJudge.ascore instead")

    def _expected(self) -> str:
        return f"a PASS with a score of at least {self.threshold * 10:g}/10"

    def _result(self, passed: bool, score: float, reason: str, *, got: str | None = None) -> ScoreResult:
        return ScoreResult(
            name=self.name, passed=passed, score=score, reason=reason, expected=self._expected(), got=got
        )


def build_judge(settings: Settings, provider_name: str | None = None, *, threshold: float = 0.7) -> LLMJudge:
    """A judge on the named provider (default: the configured primary), configured from settings.
    The provider is not started; `await judge.start()` before scoring."""
    name = provider_name or settings.provider
    if name not in get_args(ProviderName):
        raise ValueError(f"unknown judge provider {name!r}: expected local, openai or scripted")
    return LLMJudge(build_provider(name, settings), threshold=threshold)  # type: ignore[arg-type]
