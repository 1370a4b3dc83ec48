"""Turn a model's raw text into a valid `Triage`, or say precisely why it cannot be done.

The local model is tiny, so the parser is lenient where the intent is unambiguous and strict where it
is not. Lenient: the first JSON object is found even inside prose or ```json fences; broken JSON
(trailing commas, single quotes, a reply cut off by the token limit) goes through `json_repair`
after `json.loads` fails; keys are matched case-insensitively with common synonyms ("actions",
"reply"); categories are mapped from synonyms ("Action required", "newsletter" -> fyi, "phishing" ->
spam); priorities are coerced from "2", "P2" or "high"; a string of action items becomes a list;
over-long fields are truncated. Strict: a missing or unmappable category, or a missing summary, is
an error. `TriageParseError.problems` lists every problem in words a repair prompt can use; the
messages never quote the output itself (it may echo email content).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import json_repair
from pydantic import ValidationError

from llmops.assistant.normalize import truncate
from llmops.assistant.schema import Category, Triage

MAX_INPUT_CHARS = 20_000
MAX_CANDIDATES = 20
MAX_REPAIRS = 3
MAX_REPAIR_CHARS = 3000  # json_repair is superlinear on pathological input; model replies are far shorter
SUMMARY_CHARS = 600
ITEM_CHARS = 300
MAX_ITEMS = 10
DRAFT_CHARS = 2000

_KEY_SYNONYMS = {
    "category": ("category", "label", "class", "classification", "type", "triage_category", "categorie"),
    "priority": ("priority", "prio", "urgency", "priority_level", "importance"),
    "summary": ("summary", "summery", "summarization", "tldr", "tl_dr", "gist", "abstract", "description"),
    "action_items": (
        "action_items", "actions", "action_item", "action", "todo", "todos", "tasks", "next_steps", "to_do",
    ),
    "draft_reply": ("draft_reply", "reply", "draft", "response", "suggested_reply", "reply_draft", "answer"),
}  # fmt: skip
_CATEGORY_SYNONYMS: dict[str, Category] = {}
for _category, _names in {
    Category.URGENT: "urgent critical emergency high_priority immediate urgent_action",
    Category.ACTION_REQUIRED: "action_required action needs_action action_needed requires_action required "
    "actionable todo task request reply_needed response_required follow_up followup respond",
    Category.FYI: "fyi info informational information newsletter newsletters notification update "
    "announcement marketing promotion promotional digest bulk no_action read_later low_priority",
    Category.SPAM: "spam phishing phish scam junk fraud fraudulent malicious suspicious",
    Category.PERSONAL: "personal family friend friends private social",
}.items():
    for _name in _names.split():
        _CATEGORY_SYNONYMS[_name] = _category
_DEFAULT_PRIORITY = {
    Category.URGENT: 1,
    Category.ACTION_REQUIRED: 2,
    Category.PERSONAL: 3,
    Category.SPAM: 3,
    Category.FYI: 4,
}
_PRIORITY_WORDS = (
    ("very high", 1), ("highest", 1), ("critical", 1), ("urgent", 1), ("very low", 5), ("lowest", 5),
    ("none", 5), ("minimal", 5), ("high", 2), ("medium", 3), ("normal", 3), ("moderate", 3), ("mid", 3),
    ("low", 4),
)  # fmt: skip
_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")
_KEY_SEPARATORS = re.compile(r"[\s\-]+")
_VALUE_SEPARATORS = re.compile(r"[\s\-/]+")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")


class TriageParseError(ValueError):
    """The model's output could not be turned into a triage.

    `problems` are human-readable and safe to log; `partial` holds the fields that did parse
    (normalised), for `merge_with_fallback`.
    """

    def __init__(self, problems: list[str], partial: dict[str, Any] | None = None) -> None:
        self.problems = problems
        self.partial = partial or {}
        super().__init__(f"model output is not a valid triage: {len(problems)} problem(s)")


def _candidates(text: str) -> Iterator[str]:
    """Balanced-brace substrings starting at each '{' (strings respected); an unclosed tail last.
    Lazily: the first one that loads is usually the whole reply, and the rest are never scanned."""
    found = 0
    start = text.find("{")
    while start != -1 and found < MAX_CANDIDATES:
        depth, in_string, escaped = 0, False, False
        end = -1
        for index in range(start, len(text)):
            char = text[index]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    end = index
                    break
        yield text[start : end + 1] if end != -1 else text[start:]
        found += 1
        start = text.find("{", start + 1)


def _load(candidate: str, repair: bool) -> Any:
    try:
        return json.loads(candidate)
    except (ValueError, RecursionError):
        pass
    if not repair or len(candidate) > MAX_REPAIR_CHARS:
        return None
    try:
        return json_repair.loads(candidate)
    except Exception:  # the repair library may fail in any way on hostile input: treat as unparseable
        return None


@lru_cache(maxsize=1024)
def _key(name: str) -> str:
    """A key as a field name (camelCase, spaces and dashes to snake_case); models repeat their keys."""
    return _KEY_SEPARATORS.sub("_", _CAMEL_HUMP.sub("_", name.strip()).lower())


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """Map the object's keys to Triage field names; a nested {"triage": {...}} is unwrapped."""
    keys = {_key(str(key)): value for key, value in data.items()}
    for wrapper in ("triage", "result", "output", "data"):
        inner = keys.get(wrapper)
        if isinstance(inner, dict) and not any(name in keys for name in _KEY_SYNONYMS["category"]):
            keys = {_key(str(key)): value for key, value in inner.items()}
            break
    fields: dict[str, Any] = {}
    for field, synonyms in _KEY_SYNONYMS.items():
        for synonym in synonyms:
            if synonym in keys:
                fields[field] = keys[synonym]
                break
    return fields


def _best_object(text: str) -> dict[str, Any] | None:
    for index, candidate in enumerate(_candidates(text[:MAX_INPUT_CHARS])):
        data = _load(candidate, repair=index < MAX_REPAIRS)
        if isinstance(data, dict) and _fields(data):
            return data
    return None


def map_category(value: Any) -> Category | None:
    """A category from a label, a synonym or a short phrase containing one; None if unmappable."""
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str):
        return None
    normal = _VALUE_SEPARATORS.sub("_", value.strip().strip("\"'`.:!").lower())
    if normal in _CATEGORY_SYNONYMS:
        return _CATEGORY_SYNONYMS[normal]
    words = re.findall(r"[a-z]+", value.lower())
    for index, first in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        for token in (f"{first}_{following}", first):
            if token in _CATEGORY_SYNONYMS:
                return _CATEGORY_SYNONYMS[token]
    return None


def coerce_priority(value: Any) -> int | None:
    """1-5 from an int/float (clamped), a digit in a string ("P2", "2/5"), or a word ("high")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value == value and abs(value) < 1e9:
        return max(1, min(5, round(value)))
    if isinstance(value, str):
        digit = re.search(r"(?<!\d)([0-9])(?!\d)", value)
        if digit:
            return max(1, min(5, int(digit.group(1))))
        lowered = value.lower()
        for word, priority in _PRIORITY_WORDS:
            if re.search(rf"(?<![a-z]){word}(?![a-z])", lowered):
                return priority
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return " ".join(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        for key in ("text", "body", "content", "message"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _item(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("text", "action", "description", "item", "task", "title"):
            if isinstance(value.get(key), str):
                return str(value[key])
        strings = [item for item in value.values() if isinstance(item, str)]
        return strings[0] if strings else None
    if value is None or isinstance(value, list):
        return None
    return value if isinstance(value, str) else str(value)


_CLAUSE_END = re.compile(r"(?<=[.!?,;:])\s+")
_NOT_WORD = re.compile(r"[\W_]+")


def collapse_repetition(text: str) -> str:
    """Drop clauses that repeat an earlier one: small models loop ("Priority: 2, Priority: 2, …").

    Text without a repeated clause comes back unchanged.
    """
    clauses = _CLAUSE_END.split(text.strip())
    seen: set[str] = set()
    kept: list[str] = []
    for clause in clauses:
        key = _NOT_WORD.sub(" ", clause.lower()).strip()
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(clause)
    if len(kept) == len(clauses):
        return text
    return " ".join(kept).rstrip(",;: ")


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for item in items:
        key = _NOT_WORD.sub(" ", item.lower()).strip()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def coerce_action_items(value: Any) -> list[str]:
    """A list of non-empty strings, at most 10, each at most 300 characters."""
    if value is None:
        return []
    if isinstance(value, str):
        separator = "\n" if "\n" in value else ";"
        parts = [_BULLET.sub("", part).strip() for part in value.split(separator)]
        return _unique([truncate(collapse_repetition(part), ITEM_CHARS) for part in parts if part])[
            :MAX_ITEMS
        ]
    values = value if isinstance(value, list) else [value]
    items = [_item(item) for item in values]
    cleaned = [truncate(collapse_repetition(item), ITEM_CHARS) for item in items if item and item.strip()]
    return _unique(cleaned)[:MAX_ITEMS]


def parse_triage(text: str) -> Triage:
    """A valid Triage from the model's text; raises TriageParseError (only) when that is impossible."""
    if not isinstance(text, str):
        raise TriageParseError(["the output is not text"])
    data = _best_object(text)
    if data is None:
        raise TriageParseError(
            [
                "no JSON object with the triage fields "
                "(category, priority, summary, action_items, draft_reply) found"
            ]
        )
    fields = _fields(data)
    problems: list[str] = []
    partial: dict[str, Any] = {}

    category = map_category(fields.get("category"))
    if category is None:
        allowed = ", ".join(c.value for c in Category)
        problems.append(
            f"category is missing; it must be one of: {allowed}"
            if "category" not in fields
            else f"category is not one of: {allowed}"
        )
    else:
        partial["category"] = category

    priority = coerce_priority(fields.get("priority"))
    if priority is None and category is not None:
        priority = _DEFAULT_PRIORITY[category]
    if priority is not None:
        partial["priority"] = priority
    elif "priority" in fields:
        problems.append("priority must be a whole number from 1 (most urgent) to 5")

    summary = _text(fields.get("summary"))
    if summary is None or not summary.strip():
        problems.append("summary is missing or empty; give one or two sentences")
    else:
        partial["summary"] = truncate(collapse_repetition(summary), SUMMARY_CHARS)

    partial["action_items"] = coerce_action_items(fields.get("action_items"))
    draft = _text(fields.get("draft_reply"))
    partial["draft_reply"] = truncate(collapse_repetition(draft), DRAFT_CHARS) if draft else ""
    if "draft_reply" in fields and fields["draft_reply"] is not None and draft is None:
        problems.append("draft_reply must be a string")

    if problems:
        raise TriageParseError(problems, partial)
    try:
        return Triage.model_validate(partial)
    except ValidationError as exc:
        details = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)]
        raise TriageParseError(details, partial) from None


def merge_with_fallback(partial: dict[str, Any], fallback: Triage) -> Triage:
    """The model's usable fields (`TriageParseError.partial`) over the rule-based triage.

    For when even the repair call fails: keep what the model got right (say, its summary) and take
    the rest from the rules rather than discarding the whole answer.
    """
    merged = fallback.model_dump()
    for field in ("category", "priority", "summary", "action_items", "draft_reply"):
        if partial.get(field) not in (None, "", []):
            merged[field] = partial[field]
    if "category" in partial and "priority" not in partial:
        merged["priority"] = _DEFAULT_PRIORITY[Category(partial["category"])]
    try:
        return Triage.model_validate(merged)
    except ValidationError:
        return fallback
