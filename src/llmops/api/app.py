"""The FastAPI app factory: HTTP only. The system itself is built by `llmops.service` in the lifespan,
once per worker process, with the background loops (retention, canary controller, alerts)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request

from llmops import __version__
from llmops.alerts.engine import run_alert_loop
from llmops.api.auth import check_api_key, check_api_key_now, require_api_key
from llmops.api.errors import install_error_handlers
from llmops.api.middleware import (
    AuthFirstMiddleware,
    BodyLimitMiddleware,
    DirectRoutes,
    InputCharactersMiddleware,
    RequestIdMiddleware,
    RequestMetricsMiddleware,
)
from llmops.api.openapi import BEARER, SESSION, install_openapi
from llmops.api.protocol import configure as configure_protocol
from llmops.api.routes import assistants, feedback, gateway, health, metrics, traces, triage
from llmops.assistants import load_assistants
from llmops.canary.controller import run_controller
from llmops.config import Settings, load_settings
from llmops.dashboard import install as install_dashboard
from llmops.dashboard.auth import SESSION_COOKIE, require_api_access
from llmops.service import announce_new_key, build_services, close_services, run_retention
from llmops.telemetry.logging import configure_logging

# Path prefixes that need credentials: the check (run before the body is read) and the OpenAPI
# security schemes that satisfy it. Other paths are public or the dashboard's pages (session redirect).
PROTECTED: dict[str, tuple[Callable[[Request], None] | None, list[str]]] = {
    "/v1/": (check_api_key, [BEARER]),
    # The gateway's routes check the key themselves, before reading the body, in OpenAI's error shape.
    gateway.CHAT_ROUTE: (None, [BEARER]),
    gateway.EMBEDDINGS_ROUTE: (None, [BEARER]),
    gateway.MODELS_ROUTE: (None, [BEARER]),
    "/metrics": (check_api_key, [BEARER]),
    "/api/": (require_api_access, [BEARER, SESSION]),
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; `AssistantLoadError` (naming the spec) when an assistant cannot be loaded."""
    settings = settings or load_settings()
    configure_protocol(settings.header_timeout_s, settings.body_timeout_s)
    loaded = load_assistants(settings)  # at creation: each assistant gets its own typed route

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        routes = set(app.openapi()["paths"])  # route templates: the only values `http.route` may take
        services = await build_services(settings, routes, loaded)
        plain_paths = {route for route in routes if "{" not in route}
        log_handler = configure_logging(settings.log_level, services.redactor, plain_paths=plain_paths)
        new_key = await asyncio.to_thread(services.keys.ensure_initial_key)
        if new_key:
            announce_new_key(new_key)
        app.state.services = services
        # Everything built so far lives as long as the process: freeze it out of the cycle collector,
        # whose full collections would otherwise rescan it, and collect the young generation every
        # 10,000 allocations rather than 700 (a request allocates thousands of short-lived objects).
        # Measured on /v1/triage (scripted provider, c=8): cycle collection 0.58 -> 0.12 ms of CPU
        # per request; on OTLP ingest, full collections of ~80 ms each no longer rescan start-up state.
        # No collection first: in a process that starts many apps (the tests) it cost more than it saved.
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        loops = [
            asyncio.create_task(run_retention(services)),
            *(
                asyncio.create_task(run_controller(controller, settings.canary_interval_s))
                for controller in services.canaries.values()
            ),
            asyncio.create_task(run_alert_loop(services.alerts, settings.alert_interval_s)),
        ]
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
            await close_services(services)
            logging.getLogger().removeHandler(log_handler)
            gc.unfreeze()  # an app stopped inside a longer-lived process (tests) can then be collected
            gc.set_threshold(*threshold)

    app = FastAPI(
        title="llmops",
        version=__version__,
        summary="Your assistants over HTTP, observable and safe to change.",
        lifespan=lifespan,
        # llmops traces and meters requests itself, through the redactor. FastAPI's own telemetry would
        # only ever act if something set OpenTelemetry's global providers (its spans carry raw paths
        # and queries), and checking the globals costs every request a few environment lookups.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    # First: routes are matched in order, and the gateway's are the busiest. They check keys themselves,
    # to answer in OpenAI's error shape.
    app.include_router(gateway.router)
    app.include_router(health.router)
    app.include_router(triage.router, dependencies=[Depends(require_api_key)])
    app.include_router(assistants.build_router(loaded), dependencies=[Depends(require_api_key)])
    app.include_router(metrics.router, dependencies=[Depends(require_api_key)])
    app.include_router(feedback.router, dependencies=[Depends(require_api_key)])
    app.include_router(traces.router, dependencies=[Depends(require_api_key)])
    install_dashboard(app)
    # Innermost: the gateway's JSON and stream routes, past FastAPI's routing (see `DirectRoutes`).
    app.add_middleware(DirectRoutes, routes=gateway.direct_routes())
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={traces.ROUTE: settings.ingest_max_body_bytes},
    )
    app.add_middleware(InputCharactersMiddleware)
    # Credentials before the body is read (outer to the body limit).
    app.add_middleware(
        AuthFirstMiddleware,
        guards={prefix: guard for prefix, (guard, _) in PROTECTED.items()},
        nonblocking={check_api_key: check_api_key_now},
    )
    install_openapi(app, {prefix: schemes for prefix, (_, schemes) in PROTECTED.items()}, SESSION_COOKIE)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
