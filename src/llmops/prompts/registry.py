"""Prompt versions: immutable, content-hashed files rendered with a sandboxed Jinja2 environment.

A version file (`library/<name>/v<N>.yaml`) holds the system prompt, few-shot examples, the user
template, model parameters, a changelog line, an optional reply prefill and the model of the output
it asks for. Its id (`email_triage_v1`) comes back in every reply, and its content hash proves which
text ran.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from llmops.providers.base import Message

LIBRARY_DIR = Path(__file__).parent / "library"
DEFAULT_OUTPUT_MODEL = "llmops.assistant.schema:Triage"


class PromptNotFound(KeyError):
    pass


class Example(BaseModel):
    user: str
    assistant: str


class ModelParams(BaseModel):
    temperature: float = 0.0
    max_tokens: int = 300
    stop: list[str] = Field(default_factory=list)


class PromptVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    version: int
    changelog: str
    system: str
    user_template: str
    examples: list[Example] = Field(default_factory=list)
    model_params: ModelParams = Field(default_factory=ModelParams)
    prefill: str | None = None
    repair_template: str
    output_model: str = Field(
        DEFAULT_OUTPUT_MODEL,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="`module:Class` of the pydantic model the reply must fit. Named, not imported, "
        "because the assistant depends on prompts, not the other way round.",
    )
    content_hash: str = ""
    _templates: dict[str, Template] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr("")

    def model_post_init(self, context: Any, /) -> None:
        """Compile every template once: rendering is then a few microseconds per request."""
        if isinstance(context, dict):
            self._source = str(context.get("source", ""))
        env = _environment()
        sources = {"user": self.user_template, "repair": self.repair_template}
        if self.prefill is not None:
            sources["prefill"] = self.prefill
        self._templates = {name: env.from_string(source) for name, source in sources.items()}

    def render(self, context: dict[str, Any]) -> list[Message]:
        messages = [Message(role="system", content=self.system.strip())]
        for example in self.examples:
            messages.append(Message(role="user", content=example.user.strip()))
            messages.append(Message(role="assistant", content=example.assistant.strip()))
        user = self._templates["user"].render(**context).strip()
        messages.append(Message(role="user", content=user))
        return messages

    def render_prefill(self, context: dict[str, Any]) -> str | None:
        """The start of the reply, for providers that can continue one (a template like the user turn)."""
        if self.prefill is None:
            return None
        return self._templates["prefill"].render(**context)

    def render_repair(self, problems: list[str]) -> str:
        return self._templates["repair"].render(problems=problems).strip()

    @property
    def source(self) -> str:
        """The file's text as loaded (what the content hash covers), for review and diffs."""
        return self._source

    def output_schema(self) -> dict[str, Any]:
        """The JSON schema of the reply this version asks for (`output_model`'s schema)."""
        module_name, _, class_name = self.output_model.partition(":")
        model = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{self.id}: output_model {self.output_model!r} is not a pydantic model")
        return model.model_json_schema()


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def load_version(path: Path) -> PromptVersion:
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    data["content_hash"] = hashlib.sha256(raw).hexdigest()
    return PromptVersion.model_validate(data, context={"source": raw.decode("utf-8")})


class PromptRegistry:
    """All versions found in a library directory, keyed by id."""

    def __init__(self, versions: list[PromptVersion]) -> None:
        self._versions = {version.id: version for version in versions}

    @classmethod
    def from_directory(cls, directory: Path = LIBRARY_DIR) -> PromptRegistry:
        return cls([load_version(path) for path in sorted(directory.glob("*/v*.yaml"))])

    @classmethod
    def from_directories(cls, directories: list[Path]) -> PromptRegistry:
        """The versions of several libraries (the bundled one and each assistant's own); a version id
        found twice is an error naming both files, so one prompt never silently shadows another."""
        seen: dict[str, Path] = {}
        versions = []
        for directory in dict.fromkeys(directories):
            for path in sorted(directory.glob("*/v*.yaml")):
                version = load_version(path)
                if version.id in seen:
                    raise ValueError(
                        f"prompt version {version.id!r} is defined twice: {seen[version.id]} and {path}"
                    )
                seen[version.id] = path
                versions.append(version)
        return cls(versions)

    def get(self, version_id: str) -> PromptVersion:
        try:
            return self._versions[version_id]
        except KeyError:
            known = ", ".join(sorted(self._versions)) or "none"
            raise PromptNotFound(f"unknown prompt version {version_id!r} (known: {known})") from None

    def versions(self, name: str | None = None) -> list[PromptVersion]:
        """Every version (or every version of prompt `name`), ordered by prompt name and number."""
        chosen = [v for v in self._versions.values() if name is None or v.name == name]
        return sorted(chosen, key=lambda v: (v.name, v.version))

    def names(self) -> list[str]:
        return sorted({version.name for version in self._versions.values()})

    def __contains__(self, version_id: object) -> bool:
        return version_id in self._versions
