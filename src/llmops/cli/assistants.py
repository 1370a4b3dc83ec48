"""`llmops assistants`: the assistants this installation serves, and where each comes from."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from llmops.cli.common import fail, load_settings, stdout


def assistants(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the assistants `llmops serve` would serve: name, prompt, source (entry point or LLMOPS_ASSISTANTS), description."""
    from rich.table import Table

    from llmops.assistants import AssistantLoadError, load_assistants, prompt_registry

    settings = load_settings()
    try:
        loaded = load_assistants(settings)
        prompt_registry(item.assistant for item in loaded.values())
    except AssistantLoadError as exc:
        fail(str(exc))
    rows = [
        {
            "name": name,
            "prompt": item.assistant.prompt_name,
            "source": item.source,
            "spec": item.spec,
            "description": item.assistant.description,
        }
        for name, item in loaded.items()
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("name", "prompt", "source", "description", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["name"], row["prompt"], row["source"], row["description"])
    stdout().print(table if rows else "No assistants are installed or configured.")
