"""One normalised view of an email: the input every later step of the Gatekeeper reads.

`parse_email` turns the raw `Email` into a `ParsedEmail`: sender and recipients split into parts,
reply/forward prefixes taken off the subject, HTML turned into text, the body Unicode-normalised
(NFKC, zero-width characters removed) with quoted reply chains and the signature moved aside, headers
lower-cased, and the `Signals` of `llmops.assistant.signals` computed. `parse_eml` reads RFC 5322
files (the CLI's input) into an `Email`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from pydantic import BaseModel, Field

from llmops.assistant.htmltext import HtmlLink, html_to_text, looks_like_html
from llmops.assistant.schema import Email
from llmops.assistant.signals import Signals, compute_signals, domain_of

DEFAULT_COMPANY_DOMAINS: tuple[str, ...] = ("northwind.example",)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"))
_INLINE_SPACE = re.compile(r"[ \t\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_SUBJECT_PREFIX = re.compile(r"^\s*(re|aw|antw|sv|r|fwd?|wg|tr|rv|vs)\s*(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
_FORWARD_PREFIXES = frozenset({"fw", "fwd", "wg", "tr", "rv", "vs"})
_QUOTE_HEADER = re.compile(
    r"^(?:on\b.{0,200}\bwrote:?|am\b.{0,200}\bschrieb.{0,120}:|el\b.{0,200}\bescribió:|"
    r"le\b.{0,200}\ba écrit ?:|-{2,} ?(?:original message|ursprüngliche nachricht|mensaje original|"
    r"message d'origine) ?-{2,})$",
    re.IGNORECASE,
)
_FORWARD_MARK = re.compile(
    r"^(?:-{2,} ?(?:forwarded message|weitergeleitete nachricht|mensaje reenviado|message transféré) ?-{2,}"
    r"|begin forwarded message:)$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^(?:from|von|de) ?:", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^(?:sent|gesendet|enviado|envoyé|date|datum|fecha) ?:", re.IGNORECASE)
_SIG_DELIMITER = re.compile(r"^(?:-- ?|__+|—)$")
_VALEDICTION = re.compile(
    r"^(?:(?:best|kind|warm|warmest|many thanks and|with best)? ?regards|best wishes|all the best|best|"
    r"thanks(?: again| so much)?|thank you|many thanks|cheers|sincerely|yours(?: truly| sincerely)?|"
    r"mit freundlichen grüßen|freundliche grüße|viele grüße|beste grüße|liebe grüße|herzliche grüße|"
    r"grüße|gruß|lg|vg|mfg|saludos(?: cordiales)?|un saludo|atentamente|un abrazo|besos|cordialement|"
    r"bien cordialement|bien à vous|amitiés|bisous|à bientôt|love|xo+|hugs|sent from my \w+(?: \w+)?)"
    r"[,.!]*(?: [A-ZÀ-Þ][\w.-]*)?$",
    re.IGNORECASE,
)


class ParsedEmail(BaseModel):
    sender_name: str
    sender_address: str
    sender_domain: str
    recipients: list[str]
    subject: str = Field(description="Subject without reply/forward prefixes.")
    subject_prefixes: list[str] = Field(default_factory=list, description="'re' or 'fwd', outermost first.")
    body: str = Field(description="The new text of this message: no quoted chain, no signature.")
    quoted: str = ""
    signature: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    date: datetime | None = None
    internal: bool = Field(False, description="Sender is on one of the company's domains.")
    signals: Signals = Field(default_factory=Signals)

    @property
    def sender_display(self) -> str:
        """'Name <address>', or the address alone when there is no display name."""
        return f"{self.sender_name} <{self.sender_address}>" if self.sender_name else self.sender_address

    @property
    def is_reply(self) -> bool:
        return bool(self.subject_prefixes) and self.subject_prefixes[0] == "re"

    @property
    def is_forward(self) -> bool:
        return "fwd" in self.subject_prefixes

    def signal_notes(self) -> list[str]:
        """Plain-language notes on the risk and intent signals, for prompts and traces (no content)."""
        s = self.signals
        notes = [
            text
            for flag, text in (
                (s.reply_to_mismatch, "Reply-To goes to a different domain than the sender"),
                (s.auth_failed, "sender authentication (SPF/DKIM/DMARC) failed"),
                (s.link_text_mismatch, "a link's visible text shows a different domain than its target"),
                (s.suspicious_links, "links use an IP address, punycode or a URL shortener"),
                (s.credential_request, "asks for a password, login or verification code"),
                (s.gift_card_request, "asks for gift cards or vouchers"),
                (s.bank_detail_change, "announces changed bank details"),
                (s.payment_request, "mentions a payment, invoice or bank transfer"),
                (s.secrecy_request, "asks for secrecy or says the sender cannot be reached"),
                (s.risky_attachment, "mentions a risky attachment type (archive, HTML, executable)"),
                (s.meeting_request, "asks for a meeting or a call"),
                (s.bulk, "bulk or newsletter mail"),
                (s.automated, "automated message"),
            )
            if flag
        ]
        if s.urgency_words:
            notes.append("urgency words: " + ", ".join(s.urgency_words[:5]))
        if s.meeting_times:
            notes.append(
                "proposed times: " + ", ".join(t.start.isoformat(timespec="minutes") for t in s.meeting_times)
            )
        return notes


def truncate(text: str, max_chars: int) -> str:
    """Cut `text` to at most `max_chars`, at a word boundary when one is near, marking the cut with '…'."""
    if len(text) <= max_chars:
        return text
    if max_chars < 2:
        return text[:max_chars]
    cut = text[: max(0, max_chars - 1)]
    space = cut.rfind(" ")
    if space > max_chars * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def clean_text(text: str) -> str:
    """NFKC, no zero-width characters, spaces collapsed within lines, at most one blank line in a row."""
    text = (
        unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).replace("\r\n", "\n").replace("\r", "\n")
    )
    lines = [line.strip() for line in _INLINE_SPACE.sub(" ", text).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _split_subject(subject: str) -> tuple[str, list[str]]:
    prefixes: list[str] = []
    subject = clean_text(subject).replace("\n", " ")
    while match := _SUBJECT_PREFIX.match(subject):
        prefixes.append("fwd" if match.group(1).lower() in _FORWARD_PREFIXES else "re")
        subject = subject[match.end() :]
    return subject.strip(), prefixes


def _quote_start(lines: list[str], forward: bool) -> int | None:
    for index, line in enumerate(lines):
        joined = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if forward and _FORWARD_MARK.match(line):
            return None
        if _QUOTE_HEADER.match(line) or (
            _QUOTE_HEADER.match(joined) and line.lower().startswith(("on ", "am ", "el ", "le "))
        ):
            return index
        if line.startswith(">") and all(not rest.strip() or rest.startswith(">") for rest in lines[index:]):
            return index
        if (
            _OUTLOOK_FROM.match(line)
            and any(_OUTLOOK_SENT.match(nxt) for nxt in lines[index + 1 : index + 4])
            and not forward
        ):
            return index
    return None


def _signature_start(lines: list[str]) -> int | None:
    floor = max(1, len(lines) - 14)
    for index in range(floor, len(lines)):
        line = lines[index]
        if _SIG_DELIMITER.match(line) or (_VALEDICTION.match(line) and len(lines) - index <= 10):
            return index
    return None


def _split_body(text: str, forward: bool) -> tuple[str, str, str]:
    lines = text.split("\n")
    quoted = ""
    start = _quote_start(lines, forward)
    if start is not None and any(line.strip() for line in lines[:start]):
        quoted = "\n".join(lines[start:]).strip()
        lines = lines[:start]
    signature = ""
    sig = _signature_start(lines)
    if sig is not None and any(line.strip() for line in lines[:sig]):
        signature = "\n".join(lines[sig:]).strip()
        lines = lines[:sig]
    return "\n".join(lines).strip(), quoted, signature


def _header_date(headers: dict[str, str]) -> datetime | None:
    raw = headers.get("date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_email(
    email: Email, *, now: datetime | None = None, company_domains: tuple[str, ...] = DEFAULT_COMPANY_DOMAINS
) -> ParsedEmail:
    """Normalise an email and compute its signals.

    Relative dates ("tomorrow at 10") resolve against the Date header, else `now`, else the current
    time. Pure and deterministic for a given Date header or `now`.
    """
    headers = {key.lower().strip(): value for key, value in email.headers.items()}
    name, address = parseaddr(email.sender)
    address = (address or email.sender).strip().lower()
    domain = domain_of(address)
    recipients = [addr.lower() for _, addr in getaddresses(email.recipients) if "@" in addr]
    subject, prefixes = _split_subject(email.subject)
    raw = email.body
    html_links: list[HtmlLink] = []
    if "html" in headers.get("content-type", "").lower() or looks_like_html(raw):
        raw, html_links = html_to_text(raw)
    text = clean_text(raw)
    body, quoted, signature = _split_body(text, forward="fwd" in prefixes)
    date = _header_date(headers)
    reference = date or now or datetime.now(UTC)
    internal_domains = {d.lower() for d in company_domains}
    return ParsedEmail(
        sender_name=clean_text(name).replace("\n", " "),
        sender_address=address,
        sender_domain=domain,
        recipients=recipients,
        subject=subject,
        subject_prefixes=prefixes,
        body=body,
        quoted=quoted,
        signature=signature,
        headers=headers,
        date=date,
        internal=domain in internal_domains or any(domain.endswith("." + d) for d in internal_domains),
        signals=compute_signals(subject, body, html_links, headers, address, reference),
    )


def _part_text(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def parse_eml(data: bytes) -> Email:
    """Read an RFC 5322 message: From, To, Subject, headers, and the text/plain part (else the HTML one).

    Raises ValueError when the message has no sender or recipient address.
    """
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    sender = str(message.get("from", "") or "").strip()
    if "@" not in sender:
        raise ValueError("message has no From address")
    to_values = [str(value) for value in message.get_all("to", [])]
    to_values = to_values or [str(value) for value in message.get_all("delivered-to", [])]
    recipients = [addr for _, addr in getaddresses(to_values) if "@" in addr][:100]
    if not recipients:
        raise ValueError("message has no recipient address")
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = _part_text(body_part) if isinstance(body_part, EmailMessage) else ""
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in message.items():
        if key.lower() not in seen and len(headers) < 99:
            seen.add(key.lower())
            headers[key] = str(value)[:4000]
    if isinstance(body_part, EmailMessage):
        headers["Content-Type"] = body_part.get_content_type()
    return Email(
        sender=sender[:320],
        recipients=recipients,
        subject=str(message.get("subject", "") or "")[:1000],
        body=body[:200_000],
        headers=headers,
    )
