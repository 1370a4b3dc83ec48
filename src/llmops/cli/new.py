"""`llmops new assistant NAME`: scaffold an assistant package (docs/your-assistant.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops.cli.common import fail, stderr

app = typer.Typer(help="Create new things from templates.", no_args_is_help=True)


@app.command("assistant")
def assistant(
    name: Annotated[str, typer.Argument(help="Package and assistant name: lowercase, digits, `_`.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the package directory.")] = Path(
        "."
    ),
) -> None:
    """Create NAME/: an assistant on llmops.sdk with its prompt, eval set, test and pyproject; its tests pass as created."""
    from llmops.scaffold import ScaffoldError, scaffold

    try:
        written = scaffold(name, directory)
    except ScaffoldError as exc:
        fail(str(exc))
    root = directory / name
    for path in written:
        stderr().print(f"created {path}")
    stderr().print(
        f"\nNext: cd {root} && python -m pytest, then `pip install -e .` and `llmops serve` "
        f"(it answers at POST /v1/assistants/{name}/runs)."
    )
