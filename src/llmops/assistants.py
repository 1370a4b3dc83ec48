"""Which assistants this process serves: the installed ones and the ones named in settings.

An assistant is found two ways, both `module:attribute` references to an `llmops.sdk.Assistant`
instance or subclass (a subclass is instantiated without arguments):

- the `llmops.assistants` entry-point group of every installed package (the Email Gatekeeper is
  registered this way by llmops itself, `pip install -e examples/support_desk` adds the Support Desk);
- `LLMOPS_ASSISTANTS=module:attribute[,module:attribute…]`, for code that is importable but not
  packaged.

Loading fails early, naming the spec: one that does not import, is not an assistant, lacks a
declaration, or reuses another assistant's name. The same object found both ways is loaded once.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmops import __version__
from llmops.config import Settings
from llmops.prompts.registry import LIBRARY_DIR, PromptRegistry
from llmops.sdk import Assistant

ENTRY_POINT_GROUP = "llmops.assistants"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_REQUIRED = ("name", "input_model", "output_model", "prompt_name", "example")


class AssistantLoadError(ValueError):
    """An assistant spec that cannot be served; the message names the spec and what is wrong."""


@dataclass(frozen=True)
class LoadedAssistant:
    assistant: Assistant[Any, Any]
    source: str  # where it came from: `entry point NAME (package)` or `LLMOPS_ASSISTANTS`
    spec: str  # `module:attribute`


def load_spec(spec: str) -> Assistant[Any, Any]:
    """The assistant `module:attribute` names; `AssistantLoadError` naming the spec if there is none."""
    module_name, sep, attribute = spec.strip().partition(":")
    if not sep or not module_name or not attribute:
        raise AssistantLoadError(f"assistant spec {spec!r} is not `module:attribute`")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as exc:
        raise AssistantLoadError(
            f"assistant spec {spec!r}: module {module_name!r} could not be imported ({type(exc).__name__}: {exc})"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AssistantLoadError(
                f"assistant spec {spec!r}: {module_name!r} has no attribute {attribute!r}"
            )
        target = getattr(target, part)
    return _as_assistant(spec, target)


def _as_assistant(spec: str, target: object) -> Assistant[Any, Any]:
    if inspect.isclass(target) and issubclass(target, Assistant):
        if inspect.isabstract(target):
            raise AssistantLoadError(f"assistant spec {spec!r} names an abstract class (implement `run`)")
        try:
            target = target()
        except TypeError as exc:
            raise AssistantLoadError(
                f"assistant spec {spec!r}: the class cannot be built without arguments ({exc})"
            ) from exc
    if not isinstance(target, Assistant):
        raise AssistantLoadError(
            f"assistant spec {spec!r} is a {type(target).__name__}, not an llmops.sdk.Assistant "
            "(instance or subclass)"
        )
    _check_declaration(spec, target)
    return target


def _check_declaration(spec: str, assistant: Assistant[Any, Any]) -> None:
    missing = [attr for attr in _REQUIRED if not hasattr(assistant, attr)]
    if missing:
        raise AssistantLoadError(f"assistant spec {spec!r} does not declare {', '.join(missing)}")
    name = assistant.name
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not set(name) <= _NAME_CHARS:
        raise AssistantLoadError(
            f"assistant spec {spec!r}: name must be 1-64 lowercase letters, digits, `_` or `-`"
        )
    for attr in ("input_model", "output_model"):
        model = getattr(assistant, attr)
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            raise AssistantLoadError(f"assistant spec {spec!r}: {attr} must be a pydantic model class")
    if not isinstance(assistant.example, assistant.input_model):
        raise AssistantLoadError(f"assistant spec {spec!r}: example must be an instance of input_model")
    if assistant.prompts_dir is not None and not Path(assistant.prompts_dir).is_dir():
        raise AssistantLoadError(
            f"assistant spec {spec!r}: prompts_dir {assistant.prompts_dir} is not a directory"
        )


def discover(extra_specs: Iterable[str] = ()) -> dict[str, LoadedAssistant]:
    """Every installed assistant (entry points) and every extra spec, by name."""
    found: list[LoadedAssistant] = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (p.name, p.value)):
        package = point.dist.name if point.dist is not None else "unknown package"
        source = f"entry point {point.name} ({package})"
        try:
            loaded = point.load()
        except Exception as exc:
            raise AssistantLoadError(
                f"assistant {source} = {point.value!r} could not be loaded ({type(exc).__name__}: {exc})"
            ) from exc
        found.append(LoadedAssistant(_as_assistant(point.value, loaded), source, point.value))
    for spec in extra_specs:
        found.append(LoadedAssistant(load_spec(spec), "LLMOPS_ASSISTANTS", spec.strip()))
    by_name: dict[str, LoadedAssistant] = {}
    for item in found:
        name = item.assistant.name
        earlier = by_name.get(name)
        if earlier is None:
            by_name[name] = item
        elif type(earlier.assistant) is not type(item.assistant):
            raise AssistantLoadError(
                f"two assistants are named {name!r}: {earlier.spec!r} ({earlier.source}) and "
                f"{item.spec!r} ({item.source})"
            )
    return dict(sorted(by_name.items()))


def load_assistants(settings: Settings) -> dict[str, LoadedAssistant]:
    """The assistants this process serves (installed + `settings.assistants`)."""
    return discover(settings.assistants)


def prompt_registry(assistants: Iterable[Assistant[Any, Any]]) -> PromptRegistry:
    """The bundled prompt library merged with each assistant's `prompts_dir`; every assistant's
    `prompt_name` must then have at least one version."""
    assistants = list(assistants)
    directories = [LIBRARY_DIR, *(Path(a.prompts_dir) for a in assistants if a.prompts_dir is not None)]
    try:
        registry = PromptRegistry.from_directories(directories)
    except ValueError as exc:
        raise AssistantLoadError(str(exc)) from exc
    for assistant in assistants:
        if not registry.versions(assistant.prompt_name):
            raise AssistantLoadError(
                f"assistant {assistant.name!r}: no version of prompt {assistant.prompt_name!r} "
                "(put <prompt_name>/v1.yaml under its prompts_dir)"
            )
    return registry


def default_versions(
    assistants: Iterable[Assistant[Any, Any]], registry: PromptRegistry, settings: Settings
) -> dict[str, str]:
    """The version each assistant's prompt serves when no label is set: its declared default, the
    configured `prompt_version` for the prompt it names, else the prompt's highest version."""
    configured = registry.get(settings.prompt_version)  # a bad setting fails at start (PromptNotFound)
    defaults: dict[str, str] = {}
    for assistant in assistants:
        name = assistant.prompt_name
        if configured.name == name:
            defaults[name] = configured.id
        elif assistant.default_prompt_version is not None:
            defaults[name] = registry.get(assistant.default_prompt_version).id
        else:
            defaults[name] = registry.versions(name)[-1].id
    return defaults


def code_version(assistant: Assistant[Any, Any]) -> str:
    """A fingerprint of the code that answers for `assistant`: the llmops version, the version of the
    distribution that registers the assistant's package (`llmops.assistants` entry points), and a hash
    of every file of the package that defines its class (its own module alone outside a package). An
    upgrade, or an edit of an editable install, changes it: the eval cache keys on it, so outputs of
    old code are never reused."""
    return _module_code_version(type(assistant).__module__)


@functools.cache  # the installed code does not change while the process runs; hashed once
def _module_code_version(module_name: str) -> str:
    module = sys.modules[module_name]
    package = module.__package__ or ""
    top = (package or module_name).partition(".")[0]
    shipped = ",".join(f"{name}=={version}" for name, version in sorted(_distributions(top).items()))
    module_file = Path(module.__file__ or "")
    digest = hashlib.sha256()
    for path in _source_files(module_file, bool(package)):
        name = path.relative_to(module_file.parent).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"llmops=={__version__};{shipped};{digest.hexdigest()[:16]}"


def _distributions(top: str) -> dict[str, str]:
    """Name and version of the installed distributions whose assistants live in package `top`."""
    return {
        point.dist.name: point.dist.version
        for point in entry_points(group=ENTRY_POINT_GROUP)
        if point.dist is not None and point.module.partition(".")[0] == top
    }


def _source_files(module_file: Path, in_package: bool) -> list[Path]:
    """The defining package's files (data included, bytecode caches not), or the module's own file."""
    if not module_file.is_file():
        return []
    if not in_package:
        return [module_file]
    return sorted(
        path
        for path in module_file.parent.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
