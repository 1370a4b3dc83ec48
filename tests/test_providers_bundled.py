"""Bundled local models: chosen by name, found in their packages, chunks joined once and checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.providers.bundled import (
    BUNDLED,
    QWEN_CODER,
    SMOLLM2,
    BundledModel,
    bundled_model_path,
    join_chunks,
)
from llmops.providers.local import LocalProvider, default_model_path
from llmops.providers.registry import build_provider

CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"second chunk \x00\xff", b"last"]


def chunk_package(root: Path, name: str, data: bytes) -> None:
    """An installed-looking package holding one chunk file, as a chunk package on the index does."""
    folder = root / name / "data"
    folder.mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (folder / "part.bin").write_bytes(data)


def test_join_chunks_writes_them_in_order(tmp_path: Path) -> None:
    files = []
    for index, data in enumerate(CHUNKS):
        files.append(tmp_path / f"c{index}")
        files[-1].write_bytes(data)
    target = tmp_path / "out" / "model.gguf"

    join_chunks(files, target, hashlib.sha256(b"".join(CHUNKS)).hexdigest())

    assert target.read_bytes() == b"".join(CHUNKS)
    assert [path.name for path in target.parent.iterdir()] == ["model.gguf"]  # no temporary left


def test_join_chunks_refuses_a_wrong_checksum_and_leaves_no_file(tmp_path: Path) -> None:
    chunk = tmp_path / "c0"
    chunk.write_bytes(CHUNKS[0])
    target = tmp_path / "out" / "model.gguf"

    with pytest.raises(ValueError, match="SHA-256"):
        join_chunks([chunk], target, "0" * 64)

    assert list(target.parent.iterdir()) == []


def test_a_chunked_model_is_joined_once_from_its_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = tmp_path / "site"
    for index, data in enumerate(CHUNKS):
        chunk_package(packages, f"llmops_test_chunk{index}", data)
    monkeypatch.syspath_prepend(str(packages))
    parts = tuple((f"llmops_test_chunk{index}", "data/part.bin") for index in range(len(CHUNKS)))
    sha = hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    monkeypatch.setitem(BUNDLED, "Tiny-Chunked", BundledModel("tiny-chunked", parts, sha))
    cache = tmp_path / "cache"

    path = bundled_model_path("Tiny-Chunked", cache)
    written = path.stat().st_mtime_ns
    again = bundled_model_path("Tiny-Chunked", cache)

    assert path == again == cache / "Tiny-Chunked.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert again.stat().st_mtime_ns == written  # reused, not joined again


def test_a_missing_chunk_package_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = (("llmops_no_such_chunk_package", "data/part.bin"),) * 2
    monkeypatch.setitem(BUNDLED, "Absent", BundledModel("llmops[absent]", parts, "0" * 64))

    with pytest.raises(FileNotFoundError, match=r"llmops\[absent\]"):
        bundled_model_path("Absent", tmp_path)
    assert not (tmp_path / "Absent.gguf").exists()


def test_an_unknown_model_name_lists_the_bundled_ones(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{SMOLLM2}, {QWEN_CODER}"):
        bundled_model_path("GPT-5", tmp_path)


def test_settings_choose_the_bundled_model_by_name(tmp_path: Path) -> None:
    default = build_provider("local", Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    unknown = build_provider(
        "local",
        Settings(_env_file=None, data_dir=tmp_path, provider="local", model="GPT-5"),  # type: ignore[call-arg]
    )

    assert isinstance(default, LocalProvider) and isinstance(unknown, LocalProvider)
    assert (default.model, default.model_path) == (SMOLLM2, default_model_path())
    with pytest.raises(FileNotFoundError, match="LLMOPS_LOCAL_MODEL_PATH"):
        unknown.model_path  # noqa: B018 - the property resolves the file
