"""`RememberingRedactor`: the one redactor, remembering the redacted form of the strings it has seen.

Much of what the sinks redact repeats: the system prompt, examples and policies inside every model
span's messages; span names, model ids, prompt versions and enum-like values on every span and
request row; the client address on every access line. Every string the redactor masks, inside JSON
values too, goes through `Redactor.redact`, so remembering its results redacts each distinct string
once, with the same results (a property test holds it to that).
"""

from __future__ import annotations

from .kinds import FAILED_MARKER
from .models import RedactionConfig
from .redactor import Redactor

MEMORY_CHARS = 2_000_000


class RememberingRedactor(Redactor):
    """A `Redactor` (same configuration, same results) that remembers what it redacted.

    Bounded by the characters it holds (keys and results); when full it starts over. Failures are
    never remembered. Safe to share between threads: each dictionary operation is atomic, so a race
    costs at most a second redaction of one string (and a slightly loose bound), never a wrong result.
    """

    def __init__(self, config: RedactionConfig | None = None, capacity_chars: int = MEMORY_CHARS) -> None:
        super().__init__(config)
        self._memory: dict[str, str] = {}
        self._held = 0
        self._capacity = capacity_chars

    def redact(self, text: str, *, max_chars: int | None = None) -> str:
        if max_chars is not None or not isinstance(text, str):
            return super().redact(text, max_chars=max_chars)
        redacted = self._memory.get(text)
        if redacted is None:
            redacted = super().redact(text)
            if redacted != FAILED_MARKER:
                size = len(text) + len(redacted)
                if self._held + size > self._capacity:
                    self._memory.clear()
                    self._held = 0
                self._memory[text] = redacted
                self._held += size
        return redacted


def without_memory(redactor: Redactor) -> Redactor:
    """A redactor that masks exactly as `redactor` does and keeps nothing it saw: for content that must
    not outlive the request that carried it (ingested spans), where a remembering one would hold the
    raw strings as its keys."""
    return Redactor(redactor.config) if isinstance(redactor, RememberingRedactor) else redactor
