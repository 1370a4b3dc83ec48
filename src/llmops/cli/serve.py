"""`llmops serve`: migrate, make sure a key exists, serve the API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops.cli.common import database, fail, load_settings, redactor


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address. Default: LLMOPS_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: LLMOPS_PORT or 8000.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes. Default: LLMOPS_WORKERS or 1.")
    ] = None,
) -> None:
    """Migrate the database, make sure an API key exists, and serve the API with uvicorn."""
    import uvicorn

    from llmops.api.protocol import GuardedHttpToolsProtocol
    from llmops.assistants import AssistantLoadError, load_assistants
    from llmops.service import announce_new_key
    from llmops.storage.api_keys import ApiKeyStore
    from llmops.telemetry.logging import configure_logging

    settings = load_settings(host=host, port=port, workers=workers)
    configure_logging(settings.log_level, redactor(settings))
    try:
        load_assistants(settings)  # fail here, clearly, rather than inside a worker
    except AssistantLoadError as exc:
        fail(str(exc))
    with database(settings) as engine:
        new_key = ApiKeyStore(engine, [k.get_secret_value() for k in settings.api_keys]).ensure_initial_key()
    if new_key:
        announce_new_key(new_key)
    uvicorn.run(
        "llmops.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=None,
        proxy_headers=False,
        http=GuardedHttpToolsProtocol,  # header and body read deadlines (set per worker by the app factory)
        timeout_keep_alive=round(settings.keepalive_timeout_s),
        limit_concurrency=settings.max_connections,
        backlog=4096,
    )
