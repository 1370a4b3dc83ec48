"""Run an assistant in a test the way the server runs it, without a server: `AssistantHarness`.

    def test_answers(tmp_path):
        with AssistantHarness(MyAssistant(), tmp_path, scripted_reply="Hello") as harness:
            run = harness.run(MyAssistant.example)
        assert run.output.text == "Hello" and not run.degraded

The harness builds the real services (SQLite under `tmp_path`, the scripted provider unless told
otherwise, telemetry to the store) with only the given assistant loaded, so a run gets its root span,
spans, budget hold, prompt routing and request row exactly as over HTTP. Settings overrides are
`Settings` field names (`scripted_faults="500*"`, `capture_content="redacted"`, …).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from llmops.assistants import LoadedAssistant
from llmops.config import Settings
from llmops.sdk import Assistant, TokenUsage
from llmops.service import RunOptions, Services, build_services, close_services, run_assistant
from llmops.storage.request_rows import new_request_id

TEST_API_KEY = "llmops_harness_key_0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class HarnessRun:
    """One run as the API would have replied it."""

    request_id: str
    output: Any
    prompt_version: str
    model: str
    provider: str
    usage: TokenUsage
    degraded: bool
    trace_id: str | None


class AssistantHarness:
    """A context manager owning an event loop and the services around one assistant."""

    def __init__(self, assistant: Assistant[Any, Any], data_dir: Path, **settings: Any) -> None:
        values: dict[str, Any] = {"data_dir": data_dir, "provider": "scripted", "api_keys": TEST_API_KEY}
        values.update(settings)
        self.settings = Settings(_env_file=None, **values)
        self.assistant = assistant
        self._runner = asyncio.Runner()
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("use AssistantHarness as a context manager")
        return self._services

    def __enter__(self) -> AssistantHarness:
        loaded = {self.assistant.name: LoadedAssistant(self.assistant, "test harness", "")}
        self._services = self._runner.run(build_services(self.settings, assistants=loaded))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._services is not None:
                self._runner.run(close_services(self._services))
        finally:
            self._runner.close()

    def run(self, input: BaseModel | dict[str, Any], *, prompt_version: str | None = None) -> HarnessRun:
        """Run one input (a model or its JSON as a dict) through the service path."""
        model = self.assistant.input_model
        value = input if isinstance(input, model) else model.model_validate(input)
        options = RunOptions(request_id=new_request_id(), prompt_version=prompt_version)
        run = self._runner.run(run_assistant(self.services, self.assistant, value, options))
        meta = run.meta()
        return HarnessRun(
            request_id=run.request_id,
            output=run.output,
            prompt_version=meta.prompt_version,
            model=meta.model,
            provider=meta.provider,
            usage=meta.usage,
            degraded=meta.degraded,
            trace_id=run.trace_id,
        )
