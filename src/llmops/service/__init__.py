"""The composition root: build the whole system from `Settings`, run one assistant request, close it all.

The HTTP app, the CLI, the eval runner and the benchmarks all start here, so each part is wired once
and nothing below this module knows how the parts meet. `open_services` is the usual entry point:

    async with open_services(settings) as services:
        run = await run_assistant(services, assistant, input, RunOptions(request_id=new_request_id()))

`run_assistant` is the one place an assistant runs inside its root span: budget reservation, prompt
routing (explicit version, canary share, production label), the assistant's `run` with its
`RunContext`, the degraded hook, and the root span's attributes, which the store exporter turns into
the request row. Whoever calls it (the routes, `llmops triage`, the eval runner) gets the same trace,
the same row and the same reply. `run_triage` is the Email Gatekeeper's shorthand.
"""

from llmops.service.recording import RequestNotRecorded
from llmops.service.runs import (
    AssistantRun,
    InProcessTarget,
    RunOptions,
    RunReply,
    persist_request,
    run_assistant,
    run_triage,
)
from llmops.service.system import (
    GATEKEEPER,
    AssistantNotFound,
    Services,
    announce_new_key,
    build_redactor,
    build_services,
    close_services,
    open_services,
    run_retention,
    services_of,
)

__all__ = [
    "GATEKEEPER",
    "AssistantNotFound",
    "AssistantRun",
    "InProcessTarget",
    "RequestNotRecorded",
    "RunOptions",
    "RunReply",
    "Services",
    "announce_new_key",
    "build_redactor",
    "build_services",
    "close_services",
    "open_services",
    "persist_request",
    "run_assistant",
    "run_retention",
    "run_triage",
    "services_of",
]
