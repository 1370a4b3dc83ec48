"""Loading assistants: entry points plus `LLMOPS_ASSISTANTS`, clear errors naming the spec, and the
Email Gatekeeper written on the public SDK only."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from llmops.api.app import create_app
from llmops.assistant.pipeline import EmailGatekeeper
from llmops.assistants import AssistantLoadError, discover, load_spec, prompt_registry
from llmops.config import Settings
from processes import cli_env, run_llmops

TESTS = Path(__file__).resolve().parent
ASSISTANT_PACKAGE = TESTS.parent / "src" / "llmops" / "assistant"


def _env(tmp_path: Path, specs: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return cli_env(tmp_path, LLMOPS_ASSISTANTS=specs, PYTHONPATH=path)


def test_the_gatekeeper_is_an_installed_entry_point() -> None:
    found = discover()
    assert isinstance(found["email_gatekeeper"].assistant, EmailGatekeeper)
    assert found["email_gatekeeper"].source.startswith("entry point email_gatekeeper")


def test_specs_add_assistants_and_the_same_one_twice_is_loaded_once() -> None:
    found = discover(["echo_assistant:echo", "echo_assistant:Echo", "echo_assistant:EchoWithoutFallback"])
    assert {"echo", "echo_strict", "email_gatekeeper"} <= set(found)
    assert found["echo"].source == "LLMOPS_ASSISTANTS"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no_colon_here", "is not `module:attribute`"),
        ("no_such_module_xyz:thing", "could not be imported (ModuleNotFoundError"),
        ("echo_assistant:missing", "has no attribute 'missing'"),
        ("echo_assistant:not_an_assistant", "is a int, not an llmops.sdk.Assistant"),
        ("llmops.sdk:Assistant", "names an abstract class"),
    ],
)
def test_a_bad_spec_fails_naming_it(spec: str, problem: str) -> None:
    with pytest.raises(AssistantLoadError) as raised:
        load_spec(spec)
    assert repr(spec) in str(raised.value) and problem in str(raised.value)


def test_two_assistants_with_one_name_are_an_error() -> None:
    with pytest.raises(AssistantLoadError, match="two assistants are named 'echo'"):
        discover(["echo_assistant:echo", "echo_assistant:Impostor"])


def test_the_registry_merges_every_assistants_prompts() -> None:
    found = discover(["echo_assistant:echo"])
    registry = prompt_registry(item.assistant for item in found.values())
    assert {"email_triage", "echo"} <= set(registry.names())
    assert registry.get("echo_v2").name == "echo"


def test_create_app_raises_on_a_bad_spec(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(AssistantLoadError, match="no_such_module_xyz"):
        create_app(settings_factory(assistants="no_such_module_xyz:assistant"))


def test_serve_exits_2_naming_the_bad_spec(tmp_path: Path) -> None:
    result = run_llmops(_env(tmp_path, "echo_assistant:not_an_assistant"), "serve")
    assert result.returncode == 2
    assert "'echo_assistant:not_an_assistant'" in result.stderr and "Traceback" not in result.stderr


def test_the_assistants_command_lists_names_prompts_and_sources(tmp_path: Path) -> None:
    result = run_llmops(_env(tmp_path, "echo_assistant:echo"), "assistants", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["echo"]["source"] == "LLMOPS_ASSISTANTS" and rows["echo"]["prompt"] == "echo"
    assert rows["email_gatekeeper"]["spec"] == "llmops.assistant.pipeline:EmailGatekeeper"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_the_gatekeeper_uses_only_the_public_sdk() -> None:
    """Anything under `llmops.` other than `llmops.sdk` and its own package is private to llmops."""
    private = {
        f"{path.name}: {module}"
        for path in ASSISTANT_PACKAGE.rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("llmops")
        and module != "llmops.sdk"
        and not module.startswith("llmops.assistant.")
    }
    assert private == set()
