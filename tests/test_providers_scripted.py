"""The scripted provider: its fault-script grammar, its faults, and its deterministic replies."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.assistant.schema import Triage
from llmops.providers.base import ChatRequest, Message
from llmops.providers.errors import ProviderServerError, RateLimited
from llmops.providers.scripted import (
    DEFAULT_TRIAGE_REPLY,
    MALFORMED_REPLY,
    Fault,
    FaultStep,
    ScriptedProvider,
    parse_fault_script,
)

pytestmark = pytest.mark.anyio

REQUEST = ChatRequest(
    messages=[Message(role="system", content="one two"), Message(role="user", content="three")]
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_default_reply_is_a_valid_triage() -> None:
    Triage.model_validate(json.loads(DEFAULT_TRIAGE_REPLY))


def test_parses_items_counts_and_forever() -> None:
    assert parse_fault_script("") == ()
    assert parse_fault_script("  ") == ()
    assert parse_fault_script("429*2, 500,TIMEOUT,bad*") == (
        FaultStep(Fault.RATE_LIMITED, 2),
        FaultStep(Fault.SERVER_ERROR, 1),
        FaultStep(Fault.TIMEOUT, 1),
        FaultStep(Fault.BAD, None),
    )


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ("404", "expected 429, 500, timeout or bad"),
        ("429,,500", "(empty)"),
        ("429,", "(empty)"),
        ("500*0", "between 1 and"),
        ("500*99999999999", "between 1 and"),
        ("500*x", "expected 429"),
        ("500*,429", "must be the last item"),
        ("429 * 2", "expected 429"),
    ],
)
def test_rejects_bad_scripts_with_a_clear_message(spec: str, hint: str) -> None:
    with pytest.raises(ValueError, match="invalid fault script item") as caught:
        parse_fault_script(spec)
    assert hint in str(caught.value)


_FAULTS = st.sampled_from(["429", "500", "timeout", "bad"])
_ITEMS = st.tuples(_FAULTS, st.integers(min_value=1, max_value=50)).map(lambda item: f"{item[0]}*{item[1]}")


@given(st.lists(st.one_of(_FAULTS, _ITEMS), max_size=8), st.booleans())
def test_well_formed_scripts_round_trip(items: list[str], forever_tail: bool) -> None:
    spec = ",".join([*items, "500*"] if forever_tail else items)

    steps = parse_fault_script(spec)

    rendered = ",".join(
        step.fault.value + ("*" if step.times is None else f"*{step.times}" if step.times > 1 else "")
        for step in steps
    )
    assert parse_fault_script(rendered) == steps
    assert len(steps) == len(items) + forever_tail


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_value_error(spec: str) -> None:
    try:
        steps = parse_fault_script(spec)
    except ValueError as error:
        assert "invalid fault script item" in str(error)
    else:
        assert all(step.times is None or step.times >= 1 for step in steps)


async def test_normal_reply_has_deterministic_usage() -> None:
    provider = ScriptedProvider("alpha beta gamma", model="scripted-x")

    response = await provider.chat(REQUEST)

    assert response.text == "alpha beta gamma"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (3, 3)
    assert (response.model, response.provider, response.finish_reason) == ("scripted-x", "scripted", "stop")


async def test_long_reply_is_cut_at_max_tokens() -> None:
    provider = ScriptedProvider("a b  c d e")

    response = await provider.chat(REQUEST.model_copy(update={"max_tokens": 3}))

    assert (response.text, response.usage.output_tokens, response.finish_reason) == ("a b  c", 3, "length")


async def test_faults_run_in_order_then_replies_are_normal() -> None:
    provider = ScriptedProvider(faults="429*2,500,bad", retry_after_s=1.5)

    for _ in range(2):
        with pytest.raises(RateLimited) as limited:
            await provider.chat(REQUEST)
        assert limited.value.retry_after_s == 1.5
    with pytest.raises(ProviderServerError):
        await provider.chat(REQUEST)
    assert (await provider.chat(REQUEST)).text == MALFORMED_REPLY
    assert (await provider.chat(REQUEST)).text == DEFAULT_TRIAGE_REPLY
    assert provider.calls == 5


async def test_forever_fault_never_ends() -> None:
    provider = ScriptedProvider(faults="500*")

    for _ in range(20):
        with pytest.raises(ProviderServerError):
            await provider.chat(REQUEST)


async def test_timeout_fault_hangs_until_the_caller_gives_up() -> None:
    provider = ScriptedProvider(faults="timeout")

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await provider.chat(REQUEST)
    assert (await provider.chat(REQUEST)).text == DEFAULT_TRIAGE_REPLY


async def test_latency_is_simulated() -> None:
    provider = ScriptedProvider(latency_s=0.05)
    loop = asyncio.get_running_loop()

    started = loop.time()
    await provider.chat(REQUEST)

    assert loop.time() - started >= 0.05
