"""Rule-based triage: the degraded-mode reply, and the suggestion the model starts from.

Used when every model provider fails or the model's output cannot be repaired, and computed on every
request as a hint for the tiny local model. Each category gets a score from weighted keyword and
signal rules (phishing signals, contact relationship, incident words, requests, bulk markers); a
strong phishing score wins outright, otherwise the highest score does. Priority follows from the
category and its modifiers (VIP sender, customer, urgency, deadlines). The wording (summary, action
items, draft reply) comes from `compose`. Scores and reasons are exposed (`score_email`) so a trace
or a prompt can say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationError

from llmops.assistant.compose import action_items, draft_reply, summarize
from llmops.assistant.knowledge import Passage
from llmops.assistant.normalize import ParsedEmail
from llmops.assistant.schema import Category, Triage
from llmops.assistant.tools import CalendarResult, ContactResult, SearchKbResult, ToolResult

PHISHING_THRESHOLD = 4.0
MAX_PASSAGES = 4


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)


_INCIDENT_STRONG = _words(
    r"outage|outages|sev ?-?[12]|p1|production (?:is )?down|(?:is|are|went|was|were) down|down for|"
    r"\[firing|firing|data loss|breach|breached|compromised|ausfall|störung|panne|en panne|caída|"
    r"incident|läuft voll|disk (?:is )?full|running out of (?:disk|space)|502s?|503s?|5xx|error rate|"
    r"paging|paged|in prod(?:uction)?|"
    r"mfa (?:method )?(?:reset|replaced|changed)|unauthori[sz]ed|account takeover"
)
_INCIDENT_WEAK = _words(
    r"failing|failed|failure|errors?|timeouts?|timeout|degraded|unavailable|not working|broken|"
    r"latency|blocked|bloqués|bloqueados|stale|lag|no funciona|ne fonctionne|funktioniert nicht"
)
_NOW = _words(
    r"since \d[\d:]*|since this morning|right now|currently|ongoing|at the moment|now|immediately|asap|"
    r"as soon as (?:possible|you can)|seit|sofort|depuis|desde|en este momento|en ce moment|"
    r"immédiatement|inmediatamente|today|this morning|heute|hoy|aujourd'hui|ce matin"
)
_REQUEST = _words(
    r"please|can you|could you|would you|will you|kindly|need you to|i need|let me know|"
    r"approve|approval|review|sign|confirm|deadline|by (?:monday|tuesday|wednesday|thursday|friday|"
    r"tomorrow|today|end of (?:day|week)|eod|\d{1,2}(?:st|nd|rd|th)?)|bitte|kannst du|könnten sie|"
    r"können sie|freigabe|freigeben|por favor|puedes|podrías|pueden|pouvez-vous|pourriez-vous|"
    r"merci de|dime|dis-moi|rappeler"
)
_FYI = _words(
    r"fyi|for your information|no action (?:is )?(?:needed|required)|just so you know|nothing to do|"
    r"no need to (?:reply|respond|do anything)|nichts zu tun|"
    r"zur info|zur kenntnis|keine aktion|para tu información|para su información|pour info|"
    r"booking (?:is )?confirmed|booking reference|your trip is booked|receipt|out of (?:the )?office|"
    r"automatic reply|auto-?reply|abwesenheitsnotiz|changelog|announcement|reminder that|"
    r"if this was you"
)
_PERSONAL = _words(
    r"love|love you|mum|mom|dad|kids|birthday|weekend|christmas|holidays|hugs|xx+|cariño|besos|"
    r"mamá|papá|abrazo|navidad|salut|bisous|ta femme|ça te dit|partant|liebe grüße|schatz|"
    r"lunch|dinner|drinks|ski trip|photos|school|teacher|football|hospital|x-ray|blanket"
)
_EMERGENCY = _words(
    r"hospital|emergency room|emergency|accident|ambulance|krankenhaus|notaufnahme|urgencias|"
    r"hôpital|urgences|call me as soon as|call me now"
)
_JUNK = _words(
    r"congratulations|you have won|winner|lottery|prize|claim your|western union|processing fee|"
    r"bitcoin|usdt|crypto|guaranteed|zero risk|returns of|investment opportunity|limited spots|"
    r"trading fund|seo|first page of google|google ranking|rank(?:ing)?|price list|free audit|"
    r"act now|100% free|lucky"
)
_LURE = _words(
    r"review and sign|sign the (?:document|amendment|contract)|"
    r"shared (?:a file|a document|\"[^\"]+\") with you|"
    r"docusign|sharepoint|onedrive|dropbox|wetransfer|voicemail|fax message|parcel|customs fee|"
    r"delivery (?:failed|attempt)|confirm your address"
)
_CUSTOMER_ESCALATION = _words(
    r"contract|renewal|cancel|churn|third outage|unacceptable|escalat\w*|sla|ticket|no answer|"
    r"sans réponse|sin respuesta|keine antwort"
)
_PRESS_PRIVACY = _words(
    r"reporter|journalist|press inquiry|article|gdpr|data subject|delete (?:all )?(?:my )?personal data|"
    r"article 17|right to erasure|datenschutz|rgpd|protección de datos"
)


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

    def describe_signals(self, parsed: ParsedEmail) -> str:
        """Why the rules suggest what they suggest, in a few words."""
        return "; ".join(score_email(parsed, self).reasons[:6]) or "no strong signals"


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

    def best(self) -> Category:
        if self.phishing >= PHISHING_THRESHOLD:
            return Category.SPAM
        order = [Category.SPAM, Category.URGENT, Category.PERSONAL, Category.ACTION_REQUIRED, Category.FYI]
        return max(order, key=lambda category: (self.values[category], -order.index(category)))


def _count(pattern: re.Pattern[str], text: str, cap: int) -> int:
    return min(cap, len({match.group(0).lower() for match in pattern.finditer(text)}))


def _phishing(parsed: ParsedEmail, contact: ContactResult | None, scores: Scores) -> None:
    s = parsed.signals
    known = bool(contact and contact.known)
    trusted = known or (parsed.internal and not s.auth_failed)
    text = f"{parsed.subject}\n{parsed.body}"
    rules = [
        (bool(contact and contact.impersonates), 3.5, "sender imitates a known contact"),
        (s.reply_to_mismatch, 2.0, "Reply-To on another domain"),
        (s.auth_failed, 2.0, "sender authentication failed"),
        (s.link_text_mismatch, 3.0, "link text and target differ"),
        (s.suspicious_links, 1.5, "suspicious link"),
        (s.credential_request, 2.0, "asks for credentials"),
        (s.credential_request and bool(s.links), 1.0, None),
        (s.credential_request and not trusted, 1.0, None),
        (bool(contact and contact.impersonates) and (s.payment_request or s.credential_request), 1.5, None),
        (s.gift_card_request, 3.0, "asks for gift cards"),
        (s.secrecy_request and not trusted, 1.5, "asks for secrecy"),
        (s.bank_detail_change and not known, 1.5, "changed bank details from an unknown sender"),
        (s.payment_request and not trusted and bool(s.urgency_words or s.secrecy_request), 2.0,
         "urgent payment request from an unknown sender"),
        (s.risky_attachment and not trusted, 1.5, "risky attachment"),
        (bool(_LURE.search(text)) and not trusted, 1.5, "document-sharing or e-signature lure"),
    ]  # fmt: skip
    points = 0.0
    for condition, weight, reason in rules:
        if condition:
            points += weight
            if reason:
                scores.reasons.append(reason)
    if trusted:
        points -= 3.0
    junk = _count(_JUNK, text, 4) * (1.5 if not trusted else 0.3)
    scores.phishing = points
    scores.add(
        Category.SPAM, max(points, 0.0) + junk, "unsolicited offer or scam wording" if junk >= 3 else None
    )


def score_email(parsed: ParsedEmail, context: TriageContext) -> Scores:
    """Score every category for an email; see the module docstring for the rules."""
    scores = Scores()
    s = parsed.signals
    contact = context.contact
    relationship = contact.relationship if contact and contact.known else None
    text = " ".join(f"{parsed.subject}\n{parsed.body}".split())
    _phishing(parsed, contact, scores)

    strong = _count(_INCIDENT_STRONG, text, 3)
    if strong:
        subject_hit = bool(_INCIDENT_STRONG.search(parsed.subject))
        now = bool(_NOW.search(text))
        # A past incident mentioned in passing is not an emergency: it needs to be in the subject or ongoing.
        scores.add(
            Category.URGENT, 1.0 + 0.5 * (strong - 1) + 1.5 * subject_hit + 2.0 * now, "incident or outage"
        )
    scores.add(
        Category.URGENT,
        0.5 * _count(_INCIDENT_WEAK, text, 2) + 1.0 * bool(_INCIDENT_WEAK.search(parsed.subject)),
    )
    scores.add(
        Category.URGENT, min(2.0, 0.75 * len(s.urgency_words)), "urgency words" if s.urgency_words else None
    )
    if relationship == "customer" and _CUSTOMER_ESCALATION.search(text):
        scores.add(Category.URGENT, 1.0, "customer escalation")
    if contact and contact.vip and s.urgency_words:
        scores.add(Category.URGENT, 1.0, "VIP sender")

    requests = _count(_REQUEST, text, 4)
    scores.add(Category.ACTION_REQUIRED, 0.75 * requests, "explicit request" if requests else None)
    scores.add(Category.ACTION_REQUIRED, 0.5 if "?" in parsed.body else 0.0)
    if s.meeting_request:
        scores.add(Category.ACTION_REQUIRED, 2.0 + (1.0 if s.meeting_times else 0.0), "meeting request")
    if s.payment_request and not s.bulk:
        scores.add(Category.ACTION_REQUIRED, 1.5, "payment or invoice")
    if _PRESS_PRIVACY.search(text):
        scores.add(Category.ACTION_REQUIRED, 2.0, "press or privacy request")
    if relationship in {"customer", "manager"} or (contact and contact.vip and relationship != "family"):
        scores.add(Category.ACTION_REQUIRED, 1.0)

    if relationship in {"family", "friend"}:
        scores.add(Category.PERSONAL, 5.0, f"{relationship} contact")
    tone = _count(_PERSONAL, text, 4)
    scores.add(Category.PERSONAL, 0.75 * tone, "personal tone" if tone >= 2 else None)
    if (
        not parsed.internal
        and not relationship
        and re.search(r"(?<!\w)(?:tu|ta|te|du|dich|tú|ti)(?!\w)", text, re.I)
    ):
        scores.add(Category.PERSONAL, 1.0)

    fyi_words = _count(_FYI, text, 3)
    scores.add(Category.FYI, 1.0 + 1.75 * fyi_words, "informational" if fyi_words else None)
    if s.bulk:
        scores.add(Category.FYI, 4.5, "bulk or newsletter mail")
    if s.automated and not strong:
        scores.add(Category.FYI, 1.5, "automated message")
    return scores


def _priority(category: Category, parsed: ParsedEmail, context: TriageContext, scores: Scores) -> int:
    contact = context.contact
    vip = bool(contact and contact.known and contact.vip)
    customer = bool(contact and contact.relationship == "customer")
    text = f"{parsed.subject}\n{parsed.body}"
    soon = bool(
        re.search(
            r"(?<!\w)(?:today|tomorrow|heute|morgen|hoy|mañana|aujourd'hui|demain|noon)(?!\w)", text, re.I
        )
    )
    if category is Category.SPAM:
        return 2 if scores.phishing >= PHISHING_THRESHOLD else 3 if scores.phishing >= 2.5 else 5
    if category is Category.URGENT:
        subject_alarm = bool(_INCIDENT_STRONG.search(parsed.subject) or _count(_NOW, parsed.subject, 1))
        return 1 if subject_alarm or vip or scores.values[Category.URGENT] >= 7 else 2
    if category is Category.ACTION_REQUIRED:
        pressing = soon or bool(parsed.signals.urgency_words)
        return max(1, 3 - (vip or customer or pressing) - (vip and pressing))
    if category is Category.PERSONAL:
        if _EMERGENCY.search(text):
            return 1
        return 3 if contact and contact.relationship == "family" else 4
    return 3 if vip else (5 if parsed.signals.bulk else 4)


def rule_based_triage(parsed: ParsedEmail, context: TriageContext) -> Triage:
    """A complete, valid triage from rules alone (never raises for a parsed email)."""
    scores = score_email(parsed, context)
    category = scores.best()
    priority = _priority(category, parsed, context, scores)
    phishing = category is Category.SPAM and scores.phishing >= PHISHING_THRESHOLD
    return Triage(
        category=category,
        priority=priority,
        summary=summarize(parsed, phishing=phishing),
        action_items=action_items(parsed, context.contact, context.calendar, category, phishing=phishing),
        draft_reply=draft_reply(parsed, context.contact, context.calendar, category, context.owner_name),
    )
