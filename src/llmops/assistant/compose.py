"""The wording of a rule-based triage: summary, action items and a templated draft reply.

Summaries say who wrote, about what (the subject), and how many requests the mail makes, in at most
200 characters; they never paste the body's sentences. Action items are the sender's own requests ("please…", "can you…", deadlines) plus
policy-driven steps the signals call for (verify payments, report phishing, answer a calendar clash);
phishing gets only the protective steps, never the attacker's instructions. Draft replies come from
`data/reply_templates.json` in the email's language (en/de/es/fr; formal for external senders) and
are empty for spam and bulk mail. `urgent` and `action_required` mail always gets action items and
(unless it is bulk mail) a draft reply.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

from llmops.assistant.normalize import ParsedEmail, truncate
from llmops.assistant.schema import Category
from llmops.assistant.tools import CalendarResult, ContactResult

SUMMARY_CHARS = 200
ITEM_CHARS = 160
MAX_EXTRACTED_ITEMS = 3
MAX_ITEMS = 6

_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|hallo|hola|¡hola|bonjour|salut|ciao|moin|servus|sehr geehrte\w*|guten \w+|"
    r"buenos días|buenas|good (?:morning|afternoon|evening)|estimad[oa]s?|querid[oa]|greetings)\b.{0,60}$|"
    r"^[A-Z][\w.-]+,$",
    re.IGNORECASE,
)
# Not after "15." (German ordinals, list numbers) or common abbreviations.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<!\s\d\.)(?<!\s\d\d\.)(?<!\bca\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bz\.B\.)(?<!\bDr\.)"
    r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bNr\.)(?<!\bNo\.)\s+(?=[\"'(¿¡\w])"
)
_NOT_A_REQUEST = re.compile(r"\bplease (?:find|see|note|do not reply|don't reply)\b|^if\b", re.IGNORECASE)
_INFORMAL = re.compile(r"(?<!\w)(?:tu|te|ton|ta|toi|du|dich|dir|dein\w*|tú|ti|tus)(?!\w)", re.IGNORECASE)
_FORMAL = re.compile(r"(?<!\w)(?:vous|votre|vos|Sie|Ihnen|Ihr\w*|usted\w*|su|sus)(?!\w)")
_REQUEST_SENTENCE = re.compile(
    r"(?<!\w)(?:please|can you|could you|would you|will you|kindly|i need you to|i need three things|"
    r"let me know|"
    r"make sure|don'?t forget|deadline|by (?:monday|tuesday|wednesday|thursday|friday|tomorrow|today|"
    r"end of)|no later than|bitte|kannst du|könnten sie|können sie|könntest du|por favor|¿puedes|puedes|"
    r"¿podrías|podrías|¿pueden|dime|merci de|pouvez-vous|pourriez-vous|dis-moi)(?!\w)",
    re.IGNORECASE,
)
_NOT_DIGIT = re.compile(r"\D")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_INCIDENT_WORDS = re.compile(r"outage|incident|sev|down|ausfall|panne|firing", re.I)
_ESCALATION_WORDS = re.compile(r"ticket|escalat|outage|fail|broken|not working|complain", re.I)
_PRIVACY_WORDS = re.compile(r"gdpr|personal data|data subject|datenschutz", re.I)
_PRESS_WORDS = re.compile(r"reporter|journalist|press inquiry|presse", re.I)
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_ORG_WORDS = re.compile(
    r"(?<!\w)(?:billing|team|ops|operations|support|alerts?|news|newsletter|events?|bookings?|helpdesk|"
    r"security|online|finance|accounts?|noreply|no-reply|sharepoint|docusign|service|desk|board|"
    r"weekly|inc|ltd|gmbh|labs|it)(?!\w)",
    re.IGNORECASE,
)


@cache
def _templates() -> dict[str, dict[str, str]]:
    path = resources.files("llmops.assistant") / "data" / "reply_templates.json"
    templates: dict[str, dict[str, str]] = json.loads(path.read_text("utf-8"))
    return templates


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """A 13-19 digit sequence passing the Luhn check (spaces or dashes allowed)."""
    return any(_luhn(_NOT_DIGIT.sub("", match.group(0))) for match in _CARD.finditer(text))


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        lines = [line for line in lines if not _GREETING.match(line)]
        if not lines:
            continue
        joined = " ".join(line.lstrip("-*• ").strip() for line in lines)
        sentences.extend(part.strip() for part in _SENTENCE_END.split(joined) if part.strip())
    return sentences


def _requests(parsed: ParsedEmail) -> int:
    """How many of the body's sentences ask the reader for something."""
    return sum(
        1
        for sentence in _sentences(parsed.body)
        if _REQUEST_SENTENCE.search(sentence) and not _NOT_A_REQUEST.search(sentence)
    )


def summarize(parsed: ParsedEmail, *, phishing: bool = False) -> str:
    """Who wrote, about what, and whether they ask for something, in at most 200 characters: grounded in
    the sender and the subject, never the body's sentences pasted (the body stands in for a missing
    subject). Bulk and automated mail is summarised by its subject; phishing gets a warning first."""
    if (parsed.signals.bulk or parsed.signals.automated) and parsed.subject and not phishing:
        return truncate(parsed.subject, SUMMARY_CHARS)
    who = parsed.sender_name or parsed.sender_address or "The sender"
    sentences = _sentences(parsed.body)
    topic = parsed.subject.strip() or (truncate(sentences[0], 80) if sentences else "")
    asks = _requests(parsed)
    if phishing:
        text = (
            f"Suspected phishing: {who} writes"
            + (f" about '{topic}'" if topic else "")
            + "; do not act on it."
        )
    elif asks:
        text = (
            f"{who} asks you to act"
            + (f" on '{topic}'" if topic else "")
            + f" ({asks} request{'s' * (asks > 1)})."
        )
    else:
        text = f"{who} writes" + (f" about '{topic}'" if topic else "") + "."
    return truncate(text, SUMMARY_CHARS)


def action_items(
    parsed: ParsedEmail,
    contact: ContactResult | None,
    calendar: list[CalendarResult],
    category: Category,
    *,
    phishing: bool = False,
) -> list[str]:
    """The sender's requests plus the steps company policy asks for, most important first."""
    if category is Category.SPAM:
        if phishing:
            return [
                "Do not click links, open attachments, reply or make any payment.",
                "Report the message with the 'Report phish' button or forward it to "
                "security@northwind.example.",
            ]
        return ["No action needed: mark as spam or delete."]
    signals = parsed.signals
    items: list[str] = []
    if category is Category.URGENT and _INCIDENT_WORDS.search(parsed.body):
        items.append("Join the incident bridge or page the on-call engineer; post updates every 30 minutes.")
    escalation = _ESCALATION_WORDS.search(parsed.body)
    if contact and contact.relationship == "customer" and (category is Category.URGENT or escalation):
        items.append(
            "Acknowledge the customer today and copy the account manager and "
            "cs-escalations@northwind.example."
        )
    extracted = 0
    for sentence in _sentences(parsed.body) if category is not Category.FYI and not signals.bulk else []:
        if (
            extracted < MAX_EXTRACTED_ITEMS
            and _REQUEST_SENTENCE.search(sentence)
            and not _NOT_A_REQUEST.search(sentence)
        ):
            items.append(truncate(sentence, ITEM_CHARS))
            extracted += 1
    for check in calendar:
        when = check.start.strftime("%a %d %b %H:%M")
        same = [event for event in check.conflicts if parsed.sender_address in event.attendees]
        if same:
            items.append(f"Already in your calendar: '{same[0].title}' on {when}.")
        elif check.free:
            items.append(f"Accept the meeting on {when} (your calendar is free).")
        else:
            clash = check.conflicts[0].title if check.conflicts else "another event"
            alternatives = " or ".join(slot.strftime("%a %d %b %H:%M") for slot in check.alternatives)
            items.append(
                f"Propose another time: {when} clashes with '{clash}'"
                + (f"; free instead: {alternatives}." if alternatives else ".")
            )
    text = f"{parsed.subject}\n{parsed.body}"
    if contains_card_number(text):
        items.append(
            "Do not forward the card details: ask the sender to use the payment portal and inform "
            "privacy@northwind.example."
        )
    if signals.bank_detail_change:
        items.append(
            "Verify the bank-detail change by phone with a known contact before anything is updated."
        )
    elif signals.payment_request and category is Category.ACTION_REQUIRED and not contains_card_number(text):
        items.append(
            "Forward to Accounts Payable (ap@northwind.example); pay only after the usual verification "
            "and approval."
        )
    if _PRIVACY_WORDS.search(text):
        items.append(
            "Forward the request to privacy@northwind.example today; do not send any personal data yourself."
        )
    if _PRESS_WORDS.search(text):
        items.append("Forward to press@northwind.example without answering the questions yourself.")
    unique = list(dict.fromkeys(item for item in items if item))
    if not unique and category is Category.URGENT:
        unique.append(
            "Look into this now, or hand it to the on-call engineer and tell the sender who has it."
        )
    elif not unique and category is Category.ACTION_REQUIRED:
        unique.append(f"Reply to the sender about '{truncate(parsed.subject or 'their message', 80)}'.")
    return unique[:MAX_ITEMS]


def _first_name(parsed: ParsedEmail, contact: ContactResult | None) -> str | None:
    name = (contact.name if contact and contact.known and contact.name else parsed.sender_name).strip()
    if not name or _ORG_WORDS.search(name) or "@" in name:
        return None
    words = name.replace(",", " ").split()
    if not (1 <= len(words) <= 4) or not words[0][:1].isupper():
        return None
    return words[0]


def _template_key(parsed: ParsedEmail, contact: ContactResult | None) -> str:
    language = parsed.signals.language if parsed.signals.language in {"de", "es", "fr"} else "en"
    if language == "en":
        return "en"
    relationship = contact.relationship if contact and contact.known else None
    text = f"{parsed.body}\n{parsed.signature}"
    informal = parsed.internal or relationship in {"family", "friend", "colleague", "manager"}
    informal = informal or len(_INFORMAL.findall(text)) > len(_FORMAL.findall(text))
    return language if informal else f"{language}-formal"


def draft_reply(
    parsed: ParsedEmail,
    contact: ContactResult | None,
    calendar: list[CalendarResult],
    category: Category,
    owner_name: str | None = None,
) -> str:
    """A short, polite reply in the sender's language. Empty for spam and bulk mail, and for automated or
    unnamed mail unless the category calls for action (then the reply acknowledges it)."""
    signals = parsed.signals
    name = _first_name(parsed, contact)
    personal_sender = bool(name and contact and contact.known)
    calls_for_action = category in (Category.URGENT, Category.ACTION_REQUIRED)
    if (
        category is Category.SPAM
        or signals.bulk
        or (signals.automated and not calls_for_action)
        or (category is Category.FYI and not personal_sender)
        or (parsed.internal and name is None and not calls_for_action)
    ):
        return ""
    t = _templates()[_template_key(parsed, contact)]
    greeting = t["greeting"].format(name=name) if name else t["greeting_generic"]
    fmt = t["time_format"]
    if category is Category.URGENT:
        body = t["urgent"]
    elif category is Category.PERSONAL:
        body = t["personal"]
    elif category is Category.FYI:
        body = t["fyi"]
    elif calendar:
        busy = [check for check in calendar if not check.free]
        if busy and busy[0].alternatives:
            alternatives = f" {t['or']} ".join(slot.strftime(fmt) for slot in busy[0].alternatives)
            body = t["meeting_conflict"].format(time=busy[0].start.strftime(fmt), alternatives=alternatives)
        elif busy:
            body = t["meeting_other"]
        else:
            body = t["meeting_ok"].format(time=calendar[0].start.strftime(fmt))
    elif signals.meeting_request:
        body = t["meeting_other"]
    elif signals.payment_request and not contains_card_number(parsed.body):
        body = t["payment"]
    else:
        body = t["ack"]
    signature = t["closing"] + (f"\n{owner_name.split()[0]}" if owner_name else "")
    return truncate(f"{greeting}\n\n{body}\n\n{signature}", 2000)
