"""What every command shares: consoles, settings that fail cleanly, the database and the redactor.

Commands import what they use inside their function, so `llmops --help` loads Typer and little else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmops.config import Settings
    from llmops.prompts.registry import PromptRegistry
    from llmops.redaction import Redactor

# Piped output is read by programs: never wrap or cut a table or a line to a guessed terminal width.
PIPED_WIDTH = 100_000
DEFAULT_PROMPT = "email_triage"  # the prompt `--prompt` names when not given


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` in red on stderr and exit with `code` (2: the input or the settings are wrong)."""
    stderr().print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, `.env` and the secrets directory, with the command's overrides
    (None: not given). A bad value names the setting and what it accepts, never the value, and exits 2."""
    from pydantic import ValidationError

    from llmops.config import load_settings as load

    try:
        return load(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as exc:
        console = stderr()
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else "settings"
            console.print(
                f"[red]Invalid setting LLMOPS_{escape(field.upper())}:[/red] {escape(error['msg'])}"
            )
        raise typer.Exit(2) from None


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """The configured database with its schema up to date, disposed afterwards."""
    from llmops.storage.migrate import migrated_engine

    with migrated_engine(settings.resolved_database_url) as engine:
        yield engine


def redactor(settings: Settings) -> Redactor:
    """The service's redactor; a gateway configuration that cannot be read exits 2 naming the problem."""
    from llmops.gateway import GatewayConfigError
    from llmops.service import build_redactor

    try:
        return build_redactor(settings)
    except GatewayConfigError as exc:
        fail(str(exc))


def prompts(settings: Settings) -> tuple[PromptRegistry, dict[str, str]]:
    """Every loaded assistant's prompt versions, and each prompt's default version (exit 2 naming a
    bad assistant spec)."""
    from llmops.assistants import AssistantLoadError, default_versions, load_assistants, prompt_registry

    try:
        assistants = [item.assistant for item in load_assistants(settings).values()]
        registry = prompt_registry(assistants)
    except AssistantLoadError as exc:
        fail(str(exc))
    return registry, default_versions(assistants, registry, settings)


def default_user() -> str:
    """Who acts (moves a label, decides a canary): the login name, or `unknown` when there is none."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
