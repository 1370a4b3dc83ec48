"""The `llmops` command."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from llmops.alerts.cli import alerts_app
from llmops.assistant.schema import Email, TriageReply
from llmops.budgets.cli import budgets_app
from llmops.canary.cli import canary_app
from llmops.config import ProviderName, Settings, load_settings
from llmops.evals.cli import eval_app
from llmops.feedback.cli import feedback_app
from llmops.feedback.cli import mine as eval_mine
from llmops.prompts.cli import prompts_app
from llmops.reporting.cli import report
from llmops.storage.retention_cli import retention

app = typer.Typer(help="Deploy the Email Gatekeeper over HTTP and make it observable.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (only hashes are stored).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(feedback_app, name="feedback")
eval_app.command("mine")(eval_mine)


@eval_app.command("candidates")
def eval_candidates(
    limit: Annotated[int, typer.Option(min=1, help="At most this many cases.")] = 50,
    max_judge_score: Annotated[float, typer.Option(help="Judge scores below this are candidates.")] = 0.5,
    output: Annotated[Path | None, typer.Option(help="Write the JSONL here instead of stdout.")] = None,
) -> None:
    """Active learning: negative feedback, then low judge scores, then judge/user disagreement, as JSONL."""
    from llmops.api.app import build_redactor
    from llmops.evals.active_learning import select_candidates
    from llmops.feedback.mining import write_jsonl
    from llmops.storage.migrate import migrated_engine

    settings = _settings()
    with migrated_engine(settings.resolved_database_url) as engine:
        cases = select_candidates(
            engine, build_redactor(settings), limit=limit, max_judge_score=max_judge_score
        )
    if output is None:
        write_jsonl(cases, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as stream:
            write_jsonl(cases, stream)
    err.print(f"Selected {len(cases)} candidate case(s).")


app.add_typer(prompts_app, name="prompts")
app.add_typer(eval_app, name="eval")
app.add_typer(budgets_app, name="budgets")
app.add_typer(alerts_app, name="alerts")
app.add_typer(canary_app, name="canary")
app.command()(report)
app.command()(retention)

err = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err.print(f"[red]Invalid settings:[/red]\n{exc}")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address. Default: LLMOPS_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: LLMOPS_PORT or 8000.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes. Default: LLMOPS_WORKERS or 1.")
    ] = None,
) -> None:
    """Migrate the database, make sure an API key exists, and serve the API with uvicorn."""
    import uvicorn

    from llmops.api.app import build_redactor, print_new_key
    from llmops.storage.api_keys import ApiKeyStore
    from llmops.storage.migrate import migrated_engine
    from llmops.telemetry.logging import configure_logging

    settings = _settings(host=host, port=port, workers=workers)
    configure_logging(settings.log_level, build_redactor(settings))
    with migrated_engine(settings.resolved_database_url) as engine:
        new_key = ApiKeyStore(engine, [k.get_secret_value() for k in settings.api_keys]).ensure_initial_key()
    if new_key:
        print_new_key(new_key)
    uvicorn.run(
        "llmops.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=None,
        proxy_headers=False,
    )


@app.command()
def triage(
    file: Annotated[
        Path, typer.Argument(help="An email as JSON ({'email': {...}} or the email object) or .eml.")
    ],
    provider: Annotated[ProviderName | None, typer.Option(help="Override LLMOPS_PROVIDER.")] = None,
    prompt_version: Annotated[str | None, typer.Option(help="Override LLMOPS_PROMPT_VERSION.")] = None,
) -> None:
    """Triage one email in-process and print the reply as JSON."""
    from llmops.assistant.normalize import parse_eml
    from llmops.assistant.schema import TriageRequest

    if not file.is_file():
        err.print(f"[red]No such file:[/red] {file}")
        raise typer.Exit(2)
    try:
        if file.suffix.lower() == ".eml":
            email = parse_eml(file.read_bytes())
        else:
            data = json.loads(file.read_text(encoding="utf-8"))
            email = (
                TriageRequest.model_validate(data).email if "email" in data else Email.model_validate(data)
            )
    except (ValueError, ValidationError) as exc:
        err.print(f"[red]Could not read an email from {file}:[/red] {_short_error(exc)}")
        raise typer.Exit(2) from None
    settings = _settings(provider=provider, prompt_version=prompt_version)
    reply = asyncio.run(_triage_once(settings, email, prompt_version))
    sys.stdout.write(reply.model_dump_json(indent=2) + "\n")


async def _triage_once(settings: Settings, email: Email, prompt_version: str | None) -> TriageReply:
    import time
    import uuid

    from llmops.api.app import build_services, close_services

    services = await build_services(settings)
    try:
        started = time.perf_counter()
        outcome = await services.gatekeeper.triage(email, prompt_version)
        return outcome.reply(uuid.uuid4().hex, (time.perf_counter() - started) * 1000)
    finally:
        await close_services(services)


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc).splitlines()[0][:200]


@keys_app.command("create")
def keys_create() -> None:
    """Create a new API key, print it once, store only its hash."""
    from llmops.storage.api_keys import ApiKeyStore
    from llmops.storage.migrate import migrated_engine

    settings = _settings()
    with migrated_engine(settings.resolved_database_url) as engine:
        key = ApiKeyStore(engine, []).create()
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Stored keys: prefix, created, revoked (keys from LLMOPS_API_KEYS live in settings, not here)."""
    from rich.table import Table

    from llmops.storage.api_keys import ApiKeyStore
    from llmops.storage.migrate import migrated_engine

    settings = _settings()
    with migrated_engine(settings.resolved_database_url) as engine:
        keys = ApiKeyStore(engine, []).list()
    table = Table("prefix", "created (UTC)", "revoked (UTC)", box=None, pad_edge=False)
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else ""
        table.add_row(key.prefix, f"{key.created_at:%Y-%m-%d %H:%M:%S}", revoked)
    Console().print(table if keys else "No stored keys.")


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="The key's prefix from `keys list`, or the key.")
    ],
) -> None:
    """Revoke a stored key: every replica rejects it, and dashboard sessions opened with it end, within 5 s."""
    from llmops.storage.api_keys import ApiKeyStore, KeyLookupError
    from llmops.storage.migrate import migrated_engine

    settings = _settings()
    with migrated_engine(settings.resolved_database_url) as engine:
        try:
            revoked = ApiKeyStore(engine, []).revoke(prefix)
        except KeyLookupError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    err.print(f"Revoked {revoked.prefix}… (created {revoked.created_at:%Y-%m-%d %H:%M:%S} UTC).")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to the configured database."""
    from llmops.storage.migrate import migrated_engine

    with migrated_engine(_settings().resolved_database_url):
        err.print("Database is up to date.")


@app.command()
def redact() -> None:
    """Read text on stdin and write it with secrets and personal data masked to stdout."""
    from llmops.api.app import build_redactor

    redactor = build_redactor(_settings())
    sys.stdout.write(redactor.redact(sys.stdin.read()))


if __name__ == "__main__":
    app()
