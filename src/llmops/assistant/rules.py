"""Rule-based triage: the degraded-mode reply, and the suggestion the model starts from.

Used when every model provider fails or the model's output cannot be repaired, and computed on every
request, once, as a hint for the tiny local model (`rule_suggestion`: the triage and its reasons).
Each category gets a score from the email's signals, the sender lookup and word lists in four
languages (`vocabulary`, matched on the email's words split once); a strong phishing score wins
outright (spoofing cancels the trust a known sender earns), a live incident outranks a request,
otherwise the highest score does; given the text model (`category_model`), its log probabilities are
added to the scores first. Priority follows from the category and its modifiers (VIP sender,
customer, urgency, deadlines). The wording (summary, action items, draft reply) comes from `compose`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationError

from llmops.assistant.category_model import CategoryModel, model_text
from llmops.assistant.compose import action_items, draft_reply, summarize
from llmops.assistant.incident import assess_incident
from llmops.assistant.knowledge import Passage
from llmops.assistant.lexicon import Words
from llmops.assistant.normalize import ParsedEmail
from llmops.assistant.schema import Category, Triage
from llmops.assistant.tools import CalendarResult, ContactResult, SearchKbResult, ToolResult
from llmops.assistant.vocabulary import (
    CALENDAR_NOTICE,
    CALLBACK,
    CUSTOMER_ESCALATION,
    DEADLINE,
    EMERGENCY,
    FYI,
    IMPACT,
    INCIDENT,
    INFORMAL,
    JUNK,
    LURE,
    NEW_CHANNEL,
    NOW,
    OUT_OF_OFFICE,
    PERSONAL,
    PRESS_PRIVACY,
    PRIVATE_LIFE,
    REMINDER,
    REQUEST,
    RETROSPECTIVE,
    SECURITY,
    SOON,
    TERMINATION,
    THREAT,
    WORK,
)

PHISHING_THRESHOLD = 4.0
# How the rules' points and the text model's log probabilities add up: four points weigh as much as a
# factor e in the model's odds. Chosen by 4-fold cross-validation over the 240 fresh emails of dev batches
# 5 and 6 (the model retrained per fold): 4, 5 and 6 read 89.2, 88.8 and 88.3 % with 2 dangerous misses of
# 118 each (the rules had been tuned on those batches by then, so read the ranking, not the level); on the
# golden set, which the model never saw, 4 read best too.
RULE_POINTS_PER_NAT = 4.0
ORDER = (Category.SPAM, Category.URGENT, Category.PERSONAL, Category.ACTION_REQUIRED, Category.FYI)
MAX_PASSAGES = 4


class TriageContext(BaseModel):
    """What the tools found for one email: the sender's contact record, calendar checks, policies."""

    contact: ContactResult | None = None
    calendar: list[CalendarResult] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    failed_tools: list[str] = Field(default_factory=list)
    owner_name: str | None = Field(None, description="Mailbox owner, to sign draft replies.")

    @classmethod
    def from_results(
        cls,
        passages: Iterable[Passage] = (),
        tool_results: Iterable[ToolResult] = (),
        owner_name: str | None = None,
    ) -> TriageContext:
        """Collect tool outputs; failed or malformed results are listed in `failed_tools`, not raised."""
        contact: ContactResult | None = None
        calendar: list[CalendarResult] = []
        found: list[Passage] = []
        failed: list[str] = []
        for result in tool_results:
            if not result.ok:
                failed.append(result.name)
                continue
            try:
                if result.name == "lookup_contact":
                    contact = ContactResult.model_validate(result.output)
                elif result.name == "check_calendar":
                    calendar.append(CalendarResult.model_validate(result.output))
                elif result.name == "search_kb":
                    found.extend(SearchKbResult.model_validate(result.output).passages)
            except ValidationError:
                failed.append(result.name)
        unique = list({passage.id: passage for passage in [*found, *passages]}.values())
        return cls(
            contact=contact,
            calendar=calendar,
            passages=unique[:MAX_PASSAGES],
            failed_tools=failed,
            owner_name=owner_name,
        )

    def describe_contact(self) -> str:
        """One line on who the sender is, for the prompt."""
        contact = self.contact
        if contact is None:
            return "Sender could not be looked up."
        if contact.known:
            role = f", {contact.role}" if contact.role else ""
            org = f" at {contact.org}" if contact.org else ""
            vip = ", VIP" if contact.vip else ""
            return f"Known contact: {contact.name}{role}{org} ({contact.relationship}{vip})."
        text = "Unknown sender" + (" on the company domain." if contact.internal else " (external).")
        if contact.impersonates:
            text += f" WARNING: imitates the known contact {contact.impersonates}."
        return text

    def describe_calendar(self) -> str:
        """One line per proposed meeting time: free, or what it clashes with."""
        lines = []
        for check in self.calendar:
            when = check.start.strftime("%a %d %b %H:%M")
            if check.free:
                lines.append(f"{when}: free.")
            else:
                titles = ", ".join(f"'{event.title}'" for event in check.conflicts[:2])
                alternatives = ", ".join(slot.strftime("%a %d %b %H:%M") for slot in check.alternatives)
                lines.append(
                    f"{when}: busy ({titles})" + (f"; free instead: {alternatives}." if alternatives else ".")
                )
        return "\n".join(lines) or "No meeting time proposed."


@dataclass
class Scores:
    """Per-category scores and the reasons that produced them."""

    values: dict[Category, float] = field(default_factory=lambda: dict.fromkeys(Category, 0.0))
    reasons: list[str] = field(default_factory=list)
    phishing: float = 0.0

    def add(self, category: Category, points: float, reason: str | None = None) -> None:
        self.values[category] += points
        if reason and points > 0:
            self.reasons.append(reason)

    def best(self, probabilities: Mapping[Category, float] | None = None) -> Category:
        """The highest score (ties to the more serious category), or with the text model's
        `probabilities`, the highest score in units of `RULE_POINTS_PER_NAT` plus the model's log
        probability. A strong phishing score wins either way."""
        if self.phishing >= PHISHING_THRESHOLD:
            return Category.SPAM
        if probabilities is None:
            return max(ORDER, key=lambda category: (self.values[category], -ORDER.index(category)))
        return max(
            ORDER,
            key=lambda category: (
                self.values[category] / RULE_POINTS_PER_NAT + math.log(max(probabilities[category], 1e-9)),
                -ORDER.index(category),
            ),
        )


@dataclass(frozen=True)
class Suggestion:
    """The rules' triage and the reasons behind it (what a prompt or a trace may say about why)."""

    triage: Triage
    reasons: list[str]

    @property
    def reason(self) -> str:
        """The first few reasons in a few words, for the prompt."""
        return "; ".join(self.reasons[:6]) or "no strong signals"


def _trusted(parsed: ParsedEmail, contact: ContactResult | None) -> bool:
    """A known contact or a company address, unless the message shows signs of being spoofed."""
    s = parsed.signals
    spoofed = s.auth_failed or s.reply_to_mismatch or bool(contact and contact.impersonates)
    return bool((contact and contact.known) or parsed.internal) and not spoofed


def _phishing(parsed: ParsedEmail, contact: ContactResult | None, words: Words, scores: Scores) -> None:
    s = parsed.signals
    known = bool(contact and contact.known)
    trusted = _trusted(parsed, contact)
    lookalike = bool(contact and contact.impersonates and contact.lookalike_domain)
    imitated = bool(contact and contact.impersonates)
    asks = s.payment_request or s.credential_request or s.gift_card_request or s.secrecy_request
    lure = LURE.any(words.all)
    bulk_only = s.bulk and not (s.link_text_mismatch or s.suspicious_links or imitated)
    rules = [
        (imitated, 4.0 if lookalike else 3.5, "sender imitates a known contact"),
        (imitated and (asks or bool(s.links) or bool(s.urgency_words) or s.attachment_mentioned), 1.0, None),
        (bool(contact and contact.brand_spoof), 3.0, "sender imitates a well-known brand"),
        (s.reply_to_mismatch, 2.0, "Reply-To on another domain"),
        (s.auth_failed, 2.0, "sender authentication failed"),
        (known and s.auth_failed and s.reply_to_mismatch, 1.0, "a known address, spoofed"),
        (s.link_text_mismatch, 3.0, "link text and target differ"),
        (s.suspicious_links, 1.5, "suspicious link"),
        (s.credential_request, 1.0 if bulk_only else 2.0, "asks for credentials"),
        (s.credential_request and bool(s.links) and not bulk_only, 1.0, None),
        (s.credential_request and not trusted, 1.0, None),
        (s.gift_card_request and (imitated or s.secrecy_request or bool(s.urgency_words)
         or (not trusted and PERSONAL.count(words.all, 2) < 2)), 3.0, "asks for gift cards"),
        (s.secrecy_request and not trusted, 1.5, "asks for secrecy"),
        (s.bank_detail_change and not trusted, 3.0, "changed bank details from an unverified sender"),
        (s.payment_request and not trusted and bool(s.urgency_words or s.secrecy_request), 2.0,
         "urgent payment request from an unknown sender"),
        (s.payment_request and not trusted and not s.bulk and (s.risky_attachment or bool(s.links))
         and THREAT.any(words.all), 2.5, "payment demand with a link or an attachment from an unknown sender"),
        (s.risky_attachment and not trusted, 1.5, "risky attachment"),
        (s.risky_attachment and s.payment_request and not trusted, 1.0, None),
        (lure and not trusted, 1.0, "document-sharing, delivery, refund or sign-in lure"),
        (lure and not trusted and not s.bulk and (bool(s.links) or s.attachment_mentioned or asks), 2.0, None),
        (not trusted and not s.bulk and CALLBACK.count(words.all, 3) >= 2, 3.0, "call-back scam"),
        (not trusted and (s.payment_request or s.gift_card_request) and NEW_CHANNEL.any(words.all), 4.0,
         "asks for money from a new number or address"),
    ]  # fmt: skip
    points = 0.0
    for condition, weight, reason in rules:
        if condition:
            points += weight
            if reason:
                scores.reasons.append(reason)
    if trusted:
        points -= 3.0
    junk = JUNK.count(words.all, 4) * (1.5 if not (known or parsed.internal) and not s.bulk else 0.3)
    scores.phishing = points
    scores.add(
        Category.SPAM, max(points, 0.0) + junk, "unsolicited offer or scam wording" if junk >= 3 else None
    )


def score_email(parsed: ParsedEmail, context: TriageContext, words: Words) -> Scores:
    """Score every category for an email; see the module docstring for the rules."""
    scores = Scores()
    s = parsed.signals
    contact = context.contact
    relationship = contact.relationship if contact and contact.known else None
    known = relationship is not None
    _phishing(parsed, contact, words, scores)

    customer = relationship == "customer"
    live = assess_incident(parsed, words, customer=customer, trusted=_trusted(parsed, contact))
    incident, resolved = live.points, live.resolved
    scores.add(Category.URGENT, incident, "incident or outage" if incident >= 3 else None)
    scores.add(
        Category.URGENT, min(2.0, 0.75 * len(s.urgency_words)), "urgency words" if s.urgency_words else None
    )
    if (
        relationship == "customer"
        and CUSTOMER_ESCALATION.any(words.all)
        and (incident >= 2 or s.urgency_words)
    ):
        scores.add(Category.URGENT, 1.0, "customer escalation")
    if TERMINATION.any(words.all) and SOON.any(words.all) and not RETROSPECTIVE.any(words.all):
        scores.add(Category.URGENT, 2.5, "a customer threatens to leave within hours")
    if contact and contact.vip and (s.urgency_words or incident >= 2):
        scores.add(Category.URGENT, 1.0, "VIP sender")

    requests = min(4, REQUEST.count(words.all, 4) + DEADLINE.any(words.all))
    if resolved:  # an all-clear is news; one that asks for something (an RCA, a call) is a request
        scores.add(Category.FYI, 1.0 if requests else 3.0, "resolved or all clear")
    scores.add(Category.ACTION_REQUIRED, 0.75 * requests, "explicit request" if requests else None)
    scores.add(Category.ACTION_REQUIRED, 0.5 if "?" in parsed.body or "?" in parsed.subject else 0.0)
    business = relationship in {"customer", "manager", "colleague", "vendor"} or parsed.internal
    private = PRIVATE_LIFE.count(words.all, 2)
    if s.meeting_request and not REMINDER.any(words.subject):  # a reminder of a booked slot asks nothing
        # a doctor's, a school's or a club's appointment is private life, not a work meeting
        private_appointment = bool(private) and not business
        scores.add(
            Category.PERSONAL if private_appointment else Category.ACTION_REQUIRED,
            2.0 + (1.0 if s.meeting_times else 0.0),
            "meeting request",
        )
    if s.payment_request and not s.bulk:
        scores.add(Category.ACTION_REQUIRED, 1.5, "payment or invoice")
    if PRESS_PRIVACY.any(words.all):
        scores.add(Category.ACTION_REQUIRED, 2.0, "press, privacy or audit request")
    if (
        relationship in {"customer", "manager"} or (contact and contact.vip and relationship != "family")
    ) and (incident < 3):
        scores.add(Category.ACTION_REQUIRED, 1.0)

    if relationship in {"family", "friend"}:
        scores.add(Category.PERSONAL, 5.0, f"{relationship} contact")
    tone = PERSONAL.count(words.all, 4)
    scores.add(Category.PERSONAL, (0.4 if business else 0.75) * tone, "personal tone" if tone >= 2 else None)
    if private and not business:
        scores.add(Category.PERSONAL, 1.5 * private, "private life")
    private_mailbox = bool(contact and not known and contact.personal_domain)
    if private_mailbox and not s.bulk and not WORK.any(words.all):
        scores.add(Category.PERSONAL, 2.0, "private mailbox")
    if not parsed.internal and not known and INFORMAL.any(words.all):
        scores.add(Category.PERSONAL, 1.0)
    if EMERGENCY.any(words.all) and (tone or relationship in {"family", "friend"} or private_mailbox):
        scores.add(Category.PERSONAL, 1.5, "private emergency")

    fyi_words = FYI.count(words.all, 3)
    scores.add(Category.FYI, 1.0 + 1.75 * fyi_words, "informational" if fyi_words else None)
    if OUT_OF_OFFICE.any(words.subject):
        scores.add(Category.FYI, 4.0, "out-of-office reply")
    if CALENDAR_NOTICE.any(words.subject):
        scores.add(Category.FYI, 2.5, "calendar update")
    if s.bulk:
        scores.add(Category.FYI, 4.5, "bulk or newsletter mail")
    if s.automated and incident < 3 and requests < 2:
        scores.add(Category.FYI, 1.5, "automated message")
    return scores


def _priority(
    category: Category, parsed: ParsedEmail, context: TriageContext, scores: Scores, words: Words
) -> int:
    contact = context.contact
    vip = bool(contact and contact.known and contact.vip)
    customer = bool(contact and contact.relationship == "customer")
    soon = SOON.any(words.all)
    if category is Category.SPAM:
        # any sign of phishing or fraud keeps it visible (3); plain junk sinks (5)
        return 2 if scores.phishing >= PHISHING_THRESHOLD else 3 if scores.phishing >= 1.0 else 5
    if category is Category.URGENT:
        subject_alarm = INCIDENT.any(words.subject) or SECURITY.any(words.subject) or NOW.any(words.subject)
        # 1 when customers feel it or data is at risk; 2 while it is contained
        exposed = customer or IMPACT.any(words.all) or SECURITY.any(words.all)
        return 1 if subject_alarm or vip or exposed or scores.values[Category.URGENT] >= 7 else 2
    if category is Category.ACTION_REQUIRED:
        pressing = soon or bool(parsed.signals.urgency_words)
        return max(1, 3 - (vip or customer or pressing) - (vip and pressing))
    if category is Category.PERSONAL:
        if EMERGENCY.any(words.all):
            return 1
        pressing = SOON.any(words.all) or bool(parsed.signals.urgency_words)
        return 3 if pressing or (contact and contact.relationship == "family") else 4
    return 3 if vip else (5 if parsed.signals.bulk or parsed.signals.automated else 4)


def rule_suggestion(
    parsed: ParsedEmail, context: TriageContext, model: CategoryModel | None = None
) -> Suggestion:
    """A complete, valid triage from the rules, with the text `model`'s opinion on the category when
    given, and its reasons (never raises for a parsed email)."""
    words = Words.of(parsed.subject, parsed.body)
    scores = score_email(parsed, context, words)
    category = scores.best()
    if model is not None:
        probabilities = model.probabilities(model_text(parsed))
        fused = scores.best(probabilities)
        if fused is not category:
            scores.reasons.insert(0, f"the text model reads it as {fused.value} ({probabilities[fused]:.0%})")
        category = fused
    priority = _priority(category, parsed, context, scores, words)
    phishing = category is Category.SPAM and scores.phishing >= PHISHING_THRESHOLD
    triage = Triage(
        category=category,
        priority=priority,
        summary=summarize(parsed, phishing=phishing),
        action_items=action_items(parsed, context.contact, context.calendar, category, phishing=phishing),
        draft_reply=draft_reply(parsed, context.contact, context.calendar, category, context.owner_name),
    )
    return Suggestion(triage, scores.reasons)


def rule_based_triage(parsed: ParsedEmail, context: TriageContext) -> Triage:
    """The rules' triage alone, without the text model (the pipeline's suggestion, and so its degraded
    reply, fuses the two)."""
    return rule_suggestion(parsed, context).triage
