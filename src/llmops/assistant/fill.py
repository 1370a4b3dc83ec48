"""Useful text on every reply: keep what the model wrote usably, fill the rest from the composer.

A small model often loops, pastes the email, or stops before the action items and the draft. Each
text field of its triage is kept only when it is usable (`textquality.usable`: non-empty, not looping,
not copied from the email; action items are only checked for loops, since they may quote a request).
Otherwise the field comes from the deterministic composer for the triage's category: action items
whenever the category calls for action, a draft reply for `urgent` and `action_required`, the
protective steps (and no draft) for spam. `Triage.provenance` says which fields the model wrote.
"""

from __future__ import annotations

from llmops.assistant.compose import action_items, draft_reply, summarize
from llmops.assistant.normalize import ParsedEmail
from llmops.assistant.rules import TriageContext
from llmops.assistant.schema import Category, Triage, TriageField
from llmops.assistant.textquality import MAX_REPETITION, repetition_ratio, usable

SOURCE_CHARS = 4000  # the model saw only the prompt's excerpt of the body; more would only cost CPU
CALLS_FOR_ACTION = frozenset({Category.URGENT, Category.ACTION_REQUIRED})
MODEL, RULES = "model", "rules"


def prefilled(prefill: str | None) -> set[TriageField]:
    """The decided fields a prompt version's prefill sets (the rules' category and priority)."""
    if not prefill:
        return set()
    return {field for field in ("category", "priority") if f'"{field}"' in prefill}


def all_rules(triage: Triage) -> Triage:
    """The rules' triage, every field marked as theirs (the degraded reply)."""
    fields: tuple[TriageField, ...] = ("category", "priority", "summary", "action_items", "draft_reply")
    return triage.model_copy(update={"provenance": dict.fromkeys(fields, RULES)})


def composed_for(
    parsed: ParsedEmail, context: TriageContext, suggestion: Triage, category: Category
) -> Triage:
    """The composer's text for `category`: the rules' suggestion when it has that category."""
    if category is suggestion.category:
        return suggestion
    return suggestion.model_copy(
        update={
            "category": category,
            "summary": summarize(parsed),
            "action_items": action_items(parsed, context.contact, context.calendar, category),
            "draft_reply": draft_reply(
                parsed, context.contact, context.calendar, category, context.owner_name
            ),
        }
    )


def fill_text(
    parsed: ParsedEmail,
    context: TriageContext,
    model: Triage,
    suggestion: Triage,
    prefill: str | None,
    examples: str = "",
) -> Triage:
    """The model's triage with unusable or missing text replaced by the composer's, and its provenance.

    `examples` is the prompt's few-shot text: a small model repeating an example's answer ("Sam asks
    for a review of the Q3 budget") copies as surely as one pasting the email."""
    source = f"{parsed.subject}\n{parsed.body[:SOURCE_CHARS]}\n{examples}"
    category = model.category
    composed = composed_for(parsed, context, suggestion, category)
    decided = prefilled(prefill)
    provenance: dict[TriageField, str] = {
        "category": RULES if "category" in decided else MODEL,
        "priority": RULES if "priority" in decided else MODEL,
    }

    summary = model.summary
    provenance["summary"] = MODEL
    if not usable(summary, source):
        summary, provenance["summary"] = composed.summary, RULES

    items = [item for item in model.action_items if repetition_ratio(item) <= MAX_REPETITION]
    provenance["action_items"] = MODEL
    if (
        category is Category.SPAM
        or (category in CALLS_FOR_ACTION and not items)
        or len(items) < len(model.action_items)
    ):
        items, provenance["action_items"] = composed.action_items, RULES

    draft = model.draft_reply
    provenance["draft_reply"] = MODEL
    unusable = bool(draft.strip()) and not usable(draft, source)
    missing = not draft.strip() and category in CALLS_FOR_ACTION
    if category is Category.SPAM:
        draft, provenance["draft_reply"] = "", RULES
    elif unusable or missing:
        draft, provenance["draft_reply"] = composed.draft_reply, RULES
    return model.model_copy(
        update={"summary": summary, "action_items": items, "draft_reply": draft, "provenance": provenance}
    )
