"""The assistants over HTTP: `GET /v1/assistants` lists them, `POST /v1/assistants/{name}/runs` runs one.

One route per loaded assistant is registered when the app is created, with that assistant's own
input and output models, so the OpenAPI document shows each one's real schemas. A name no assistant
has falls through to a catch-all that answers 404 in the one error shape.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from llmops.api.routes.runs import RUN_ERRORS, run_options, run_or_http_error
from llmops.assistants import LoadedAssistant, code_version, prompt_registry
from llmops.service import RunReply, services_of

PREFIX = "/v1/assistants"


class AssistantInfo(BaseModel):
    name: str
    description: str
    prompt: str = Field(description="The prompt whose versions serve it (labels and canary apply to it).")
    route: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    example_input: dict[str, Any]
    code_version: str = Field(
        description="The llmops version, the assistant's distribution version and a hash of its package's "
        "files: it changes with the code (the eval cache keys on it)."
    )


class AssistantList(BaseModel):
    assistants: list[AssistantInfo]


def describe(item: LoadedAssistant) -> AssistantInfo:
    assistant = item.assistant
    return AssistantInfo(
        name=assistant.name,
        description=assistant.description,
        prompt=assistant.prompt_name,
        route=f"{PREFIX}/{assistant.name}/runs",
        input_schema=assistant.input_model.model_json_schema(),
        output_schema=assistant.output_model.model_json_schema(),
        example_input=assistant.example.model_dump(mode="json"),
        code_version=code_version(assistant),
    )


def build_router(assistants: dict[str, LoadedAssistant]) -> APIRouter:
    """The list route, one run route per assistant, and the 404 for any other name."""
    router = APIRouter(tags=["assistants"])
    infos = AssistantList(assistants=[describe(item) for item in assistants.values()])

    async def list_assistants() -> AssistantList:
        return infos

    router.add_api_route(
        PREFIX, list_assistants, methods=["GET"], response_model=AssistantList, summary="List the assistants"
    )
    registry = prompt_registry(item.assistant for item in assistants.values())
    for item in assistants.values():
        versions = tuple(version.id for version in registry.versions(item.assistant.prompt_name))
        _add_run_route(router, item, versions)

    async def unknown_assistant(name: str) -> None:
        raise HTTPException(404, "no assistant with that name is loaded (see GET /v1/assistants)")

    router.add_api_route(
        PREFIX + "/{name}/runs", unknown_assistant, methods=["POST"], include_in_schema=False
    )
    return router


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def _add_run_route(router: APIRouter, item: LoadedAssistant, versions: tuple[str, ...]) -> None:
    """`POST /v1/assistants/{name}/runs` with the assistant's own models; `prompt_version` is one of
    its prompt's versions at startup (a version released later is still served: the schema is what
    this replica knew when it started)."""
    assistant = item.assistant
    name = assistant.name
    route = f"{PREFIX}/{name}/runs"
    camel = _camel(name)
    version_type: Any = Literal[versions] | None
    request_model: Any = create_model(
        f"{camel}RunRequest",
        __config__=ConfigDict(extra="forbid"),
        input=(assistant.input_model, Field(description=f"What {name} answers.")),
        user_id=(str | None, Field(None, max_length=200, description="Caller's user id (pseudonymised).")),
        prompt_version=(
            version_type,
            Field(None, description=f"A version of prompt {assistant.prompt_name!r} to run."),
        ),
    )
    reply_model: Any = create_model(
        f"{camel}RunReply", __base__=RunReply, output=(assistant.output_model, ...)
    )

    async def run(body: Any, request: Request) -> Any:
        services = services_of(request)
        options = await run_options(
            request, services, route, user_id=body.user_id, prompt_version=body.prompt_version
        )
        result = await run_or_http_error(request, services, name, body.input, options)
        return reply_model(output=result.output, **result.meta().model_dump())

    # FastAPI reads the body model from the signature: give it this assistant's concrete model.
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=request_model),
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        ]
    )
    router.add_api_route(
        route,
        run,
        methods=["POST"],
        response_model=reply_model,
        summary=f"Run {name}",
        description=assistant.description,
        name=f"run_{name}",
        responses=RUN_ERRORS,
    )
