"""The eval cache keys on the code that answers: after an edit of an assistant's package (an upgrade,
or an editable install whose rules changed), `llmops eval run` calls the system again instead of
reusing outputs of the old code, in-process and over HTTP (the server reports its code version in
`GET /v1/assistants`). Real processes: the CLI and `llmops serve` load a plugin assistant from a
package written here."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from live import TEST_KEY
from llmops.assistants import code_version, load_spec
from processes import cli_env, run_llmops, serving

ASSISTANT = """
from pathlib import Path

from pydantic import BaseModel

from llmops.sdk import Assistant, RunContext

RULE = {rule!r}


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    verdict: str


class RuleBot(Assistant[Question, Answer]):
    name = "rulebot"
    input_model = Question
    output_model = Answer
    prompt_name = "rulebot"
    prompts_dir = Path(__file__).parent / "prompts"
    example = Question(text="Is it spam?")

    async def run(self, input: Question, ctx: RunContext) -> Answer:
        return Answer(verdict=RULE)
"""
PROMPT = """id: rulebot_v1
name: rulebot
version: 1
changelog: "A rule, no model."
model_params:
  temperature: 0.0
  max_tokens: 20
system: |
  Judge the text.
user_template: |
  Text: {{ text }}
repair_template: |
  Again: {{ problems | join("; ") }}
"""


def _package(root: Path, rule: str) -> None:
    package = root / "rulebot"
    (package / "prompts" / "rulebot").mkdir(parents=True, exist_ok=True)
    (package / "prompts" / "rulebot" / "v1.yaml").write_text(PROMPT, encoding="utf-8")
    (package / "__init__.py").write_text(ASSISTANT.format(rule=rule), encoding="utf-8")


def _setup(tmp_path: Path) -> tuple[dict[str, str], Path]:
    code = tmp_path / "code"
    _package(code, "old")
    dataset = tmp_path / "rules.jsonl"
    lines = [
        {"assistant": "rulebot"},
        {"id": "a", "input": {"text": "hi"}, "expected": {"fields": {"verdict": "old"}}},
    ]
    dataset.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    env = cli_env(
        tmp_path,
        PYTHONPATH=str(code),
        PYTHONDONTWRITEBYTECODE="1",
        LLMOPS_ASSISTANTS="rulebot:RuleBot",
        LLMOPS_API_KEYS=TEST_KEY,
        LLMOPS_EVAL_API_KEY=TEST_KEY,
    )
    return env, dataset


def _eval(env: dict[str, str], dataset: Path, *args: str) -> str:
    result = run_llmops(env, "eval", "run", "--dataset", str(dataset), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_edit_of_the_assistants_code_is_never_answered_from_the_cache(tmp_path: Path) -> None:
    env, dataset = _setup(tmp_path)
    first = _eval(env, dataset)
    assert "pass rate       100.0% (1/1)" in first and "cached 0" in first
    assert "cached 1" in _eval(env, dataset)  # the same code: answered from the cache

    _package(tmp_path / "code", "changed rule")
    after = _eval(env, dataset)
    assert "cached 0" in after and "pass rate       0.0% (0/1)" in after


def test_over_http_the_servers_code_version_keys_the_cache(tmp_path: Path) -> None:
    env, dataset = _setup(tmp_path)
    with serving(tmp_path, env) as (url, _):
        listed = httpx.get(f"{url}/v1/assistants", headers={"Authorization": f"Bearer {TEST_KEY}"}).json()
        before = {item["name"]: item["code_version"] for item in listed["assistants"]}["rulebot"]
        assert "cached 0" in _eval(env, dataset, "--target", url)
        assert "cached 1" in _eval(env, dataset, "--target", url)

    _package(tmp_path / "code", "changed rule")
    with serving(tmp_path, env) as (url, _):
        listed = httpx.get(f"{url}/v1/assistants", headers={"Authorization": f"Bearer {TEST_KEY}"}).json()
        assert {item["name"]: item["code_version"] for item in listed["assistants"]}["rulebot"] != before
        after = _eval(env, dataset, "--target", url)
    assert "cached 0" in after and "pass rate       0.0% (0/1)" in after


def test_the_code_version_names_llmops_the_distribution_and_the_package_files() -> None:
    gatekeeper = code_version(load_spec("llmops.assistant.pipeline:EmailGatekeeper"))
    desk = code_version(load_spec("support_desk.assistant:assistant"))
    assert gatekeeper.startswith("llmops==") and ";llmops==" in gatekeeper
    assert ";llmops-support-desk==" in desk and desk.rsplit(";", 1)[1] != gatekeeper.rsplit(";", 1)[1]
