"""`llmops keys create|list|revoke`: API keys (only their hashes are stored)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llmops.cli.common import database, fail, load_settings, stderr, stdout

app = typer.Typer(help="Manage API keys (only hashes are stored).", no_args_is_help=True)


@app.command("create")
def create() -> None:
    """Create a new API key, print it once, store only its hash."""
    from llmops.storage.api_keys import ApiKeyStore

    with database(load_settings()) as engine:
        key = ApiKeyStore(engine, []).create()
    sys.stdout.write(key + "\n")


@app.command("list")
def list_keys() -> None:
    """Stored keys: prefix, created, revoked (keys from LLMOPS_API_KEYS live in settings, not here)."""
    from rich.table import Table

    from llmops.storage.api_keys import ApiKeyStore

    with database(load_settings()) as engine:
        keys = ApiKeyStore(engine, []).list()
    table = Table("prefix", "created (UTC)", "revoked (UTC)", box=None, pad_edge=False)
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else ""
        table.add_row(key.prefix, f"{key.created_at:%Y-%m-%d %H:%M:%S}", revoked)
    stdout().print(table if keys else "No stored keys.")


@app.command("revoke")
def revoke(
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="The key's prefix from `keys list`, or the key.")
    ],
) -> None:
    """Revoke a stored key: every replica rejects it, and dashboard sessions opened with it end, within 5 s."""
    from llmops.storage.api_keys import ApiKeyStore, KeyLookupError

    with database(load_settings()) as engine:
        try:
            revoked = ApiKeyStore(engine, []).revoke(prefix)
        except KeyLookupError as exc:
            fail(str(exc))
    stderr().print(f"Revoked {revoked.prefix}… (created {revoked.created_at:%Y-%m-%d %H:%M:%S} UTC).")
