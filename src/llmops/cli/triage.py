"""`llmops triage FILE`: one email through the same service path as `POST /v1/triage`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from llmops.cli.common import fail, load_settings

if TYPE_CHECKING:
    from llmops.assistant.schema import Email, TriageReply
    from llmops.config import Settings


def triage(
    file: Annotated[
        Path, typer.Argument(help="An email as JSON ({'email': {...}} or the email object) or .eml.")
    ],
    provider: Annotated[
        str | None, typer.Option(help="Override LLMOPS_PROVIDER (local, openai or scripted).")
    ] = None,
    prompt_version: Annotated[
        str | None, typer.Option(help="Serve this prompt version instead of the routed one.")
    ] = None,
) -> None:
    """Triage one email in-process, record it like an API request (trace and request row), print the reply."""
    import asyncio

    settings = load_settings(provider=provider)
    email = read_email(file)
    reply = asyncio.run(_triage_once(settings, email, prompt_version))
    sys.stdout.write(reply.model_dump_json(indent=2) + "\n")


def read_email(file: Path) -> Email:
    """An email from a `.eml` file or JSON (`{"email": {...}}` or the email object); exits 2 when unreadable."""
    import json

    from pydantic import ValidationError

    from llmops.assistant.normalize import parse_eml
    from llmops.assistant.schema import Email, TriageRequest

    if not file.is_file():
        fail(f"No such file: {file}")
    try:
        if file.suffix.lower() == ".eml":
            return parse_eml(file.read_bytes())
        data = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "email" in data:
            return TriageRequest.model_validate(data).email
        return Email.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        fail(f"Could not read an email from {file}: {problems}")
    except ValueError as exc:
        fail(f"Could not read an email from {file}: {str(exc).splitlines()[0][:200]}")


async def _triage_once(settings: Settings, email: Email, prompt_version: str | None) -> TriageReply:
    from llmops.assistant.schema import Triage, TriageReply
    from llmops.budgets.models import BudgetExceededError
    from llmops.prompts.registry import PromptNotFound
    from llmops.service import RunOptions, open_services, run_triage
    from llmops.storage.request_rows import new_request_id

    async with open_services(settings) as services:
        options = RunOptions(request_id=new_request_id(), prompt_version=prompt_version)
        try:
            run = await run_triage(services, email, options)
        except (PromptNotFound, BudgetExceededError) as exc:
            fail(str(exc))
        return TriageReply(triage=cast(Triage, run.output), **run.meta().model_dump())
