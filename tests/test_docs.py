"""The README stays true: every setting and every CLI command is documented, and the set-up
commands it gives are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

import typer.main

from llmops.cli import app
from llmops.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _env_names(name: str) -> list[str]:
    field = Settings.model_fields[name]
    if field.validation_alias is not None:
        return [
            choice
            for choice in field.validation_alias.choices
            if isinstance(choice, str) and choice.isupper()
        ]
    return [f"LLMOPS_{name.upper()}"]


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [env for name in Settings.model_fields for env in _env_names(name) if f"`{env}`" not in README]
    assert missing == []


def test_every_cli_command_is_in_the_readme() -> None:
    group = typer.main.get_group(app)
    commands = []
    for name, command in group.commands.items():
        subcommands = getattr(command, "commands", None)
        commands.extend(
            [f"llmops {name} {sub}" for sub in subcommands] if subcommands else [f"llmops {name}"]
        )
    missing = [command for command in commands if f"`{command}" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    assert "make serve" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
