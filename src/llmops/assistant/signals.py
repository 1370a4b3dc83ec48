"""The signals read from an email: what the planner, the rules and the prompts rely on.

Links and their registered domains, link text naming another domain than the target, a Reply-To on
another domain, failed sender authentication, urgency words, requests for credentials, payments or
gift cards, announced bank-detail changes, requests for secrecy, meeting requests and the times they
propose (resolved against the Date header), attachments, a language guess, bulk and automated mail.
The tiny local model is weak at noticing these, so they are computed here, deterministically, from
lexicons in English, German, Spanish and French.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from email.utils import parseaddr
from functools import cache, lru_cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList
from pydantic import BaseModel, Field

from llmops.assistant.htmltext import HtmlLink
from llmops.assistant.lexicon import tokens
from llmops.assistant.timeexpr import find_times
from llmops.assistant.vocabulary import NEGATION, URGENCY

MAX_MEETING_TIMES = 5
DOMAINS_KEPT = 4096
# The patterns over an email's words are written in lower case and searched in lower-cased text, not
# with re.IGNORECASE: the same matches at a third to a fifth of the CPU. URLs, domains and file names
# keep their case, so their patterns keep the flag.

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'\]\[()]+", re.IGNORECASE)
_DOMAIN_IN_TEXT = re.compile(r"\b(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})\b", re.IGNORECASE)
_WITHIN_HOURS = re.compile(r"\bwithin (?:\d+|one|two) hours?\b")
_CREDENTIAL_PHRASE = re.compile(
    r"\b(?:(?:verify|confirm|validate|re-?activate|unlock|secure|update) (?:your |the )?(?:account|identity|"
    r"mailbox|email|password|credentials|login)|"
    r"your (?:account|mailbox|access|email) (?:will be |has been |is |being )?"
    r"(?:suspended|locked|deactivated|disabled|closed|restricted|limited|on hold)|"
    r"mailbox (?:is )?(?:full|over quota)|"
    r"password (?:expires|will expire|has expired)|(?:sign|log) ?in (?:to|now|here|below) (?:to )?"
    r"(?:keep|avoid|restore|continue|verify|view|confirm|retain|access)|(?:sign|log) ?in with your|"
    r"enter your (?:\w+ )?(?:password|credentials|login)|"
    r"bestätigen sie ihre? (?:konto|passwort|identität|daten|zugangsdaten)|"
    r"(?:verifique|confirme) su (?:cuenta|identidad)|(?:verifique|confirme) sus datos|"
    r"(?:vérifiez|confirmez) (?:votre|vos) (?:compte|identité|mot de passe|identifiants|coordonnées))\b",
)
_CREDENTIAL_REQUEST = re.compile(
    r"\b(?:send|enter|provide|confirm|share|reply with|type|give|tell|forward|read (?:me )?out|"
    r"schicken|senden|geben|eingeben|envíe|envia|comparta|introduzca|introducir|confirme|indique|envoyez|"
    r"communiquez|saisissez|saisir|indiquez)\b(?:\W+\w+){0,4}?\W+"
    r"(?:password|passwort|kennwort|zugangsdaten|credentials|login details|mfa|2fa|one-time|otp|"
    r"verification code|security code|pin|contraseña|mot de passe|identifiants|api key|token|"
    # a card's number or code, asked for: nobody legitimate asks for them by email
    r"cvv2?|cvc2?|card (?:number|details)|(?:número|datos) (?:completo )?de (?:la |su )?tarjeta|"
    r"(?:numéro|données) de (?:la |votre )?carte|kartennummer|kartendaten)\b",
)
_PAYMENT = re.compile(
    r"\b(wire transfer|bank transfer|wire|payments?|accounts payable|please pay|"
    r"pay (?:the|this|our|an) invoice|pay (?:now|securely|online|here|today)|"
    r"(?:annual|renewal|registration|listing) fee|"
    r"invoices?|remittance|remit|iban|swift|bic|"
    r"bank (?:details|account)|account number|outstanding balance|purchase order|"
    r"überweisung|rechnung|zahlung|bankverbindung|transferencia|factura|pago|virement|facture|paiement|"
    r"rib)\b",
)
_SALARY = re.compile(r"\b(?:salary|payroll|gehalt|lohn|nómina|salario|salaire|paie)\b")
_BANK_CHANGE = re.compile(
    r"\b(?:new|updated|changed?|different) (?:bank(?:ing)? (?:details|account|information)|iban|account "
    r"(?:details|number))|(?:bank(?:ing)? (?:details|account)|iban) (?:has|have) changed|neue bankverbindung|"
    r"nuevos datos bancarios|nueva cuenta(?: bancaria)?|nouvelles coordonnées bancaires|nouveau (?:rib|compte)\b|"
    r"neue(?:s|n)? (?:konto|kontoverbindung|iban)",
)
_NEW_ACCOUNT = re.compile(
    r"\b(?:(?:the|my|our|a) new (?:bank )?account|switched banks|changed banks|new bank|nueva cuenta|"
    r"cambiado de banco|neues konto|neue bank|bank gewechselt|nouveau compte|changé de banque)\b",
)
_GIFT_CARD = re.compile(
    r"\b(gift ?cards?|itunes (?:cards?|codes?)|google play (?:cards?|codes?)|apple (?:gift )?cards?|"
    r"amazon (?:gift|vouchers?|cards?)|steam (?:cards?|codes?)|vouchers?|gutscheine?|tarjetas? regalo|"
    r"cartes? cadeaux?)\b",
)
_SECRECY = re.compile(
    r"\b(?:keep (?:this|it) (?:confidential|between us|quiet|to yourself)|confidential|between us|discreetly|"
    r"don'?t (?:tell|mention|discuss)|do not (?:tell|mention|discuss|share this)|be discreet|"
    r"discretion|off the books|i'?m in a meeting|cannot talk|can'?t talk|vertraulich behandeln|"
    r"confidencial|en toute discrétion|strictement confidentiel|(?:n'en|ne pas en) parler à personne|"
    r"votre discrétion|no (?:lo|se lo) (?:comente|comentes|diga|digas) (?:a|con) nadie|"
    r"streng vertraulich|mit niemandem (?:darüber )?(?:sprechen|reden))\b",
)
_MEETING = re.compile(
    r"\b(meet(?:ing|up)?|call|sync|catch[- ]up|chat|1:1|one[- ]on[- ]one|invite|invitation|"
    r"schedule|reschedule|calendar|availab\w*|free (?:on|at|for)|slot|works? for you|would .{0,20}work|"
    r"how about|are you free|demo|workshop|interview|lunch|coffee|dinner|treffen|termin|besprechung|"
    r"zeit|reunión|reunion|reunirnos|vernos|comer|almorzar|llamada|cita|quedamos|réunion|rendez-vous|appel|"
    r"disponible|on se voit|déjeuner|einladung|invitación|mittagessen|talk|speak|discuss|qbr|review|move)\b",
)
_MEETING_ASK = re.compile(
    r"\b(?:can we (?:meet|talk|chat|schedule|find a time|set up)|"
    r"(?:schedule|set up|book|arrange) (?:a|an|the) (?:call|meeting|sync|demo|session)|"
    r"are you (?:free|available)|would you be available|find a (?:time|slot)|invite you to|meeting request|"
    r"können wir uns|hast du .{0,30}zeit|haben sie .{0,30}zeit|termin vereinbaren|"
    r"podemos (?:reunirnos|vernos|hablar)|quedamos|estás disponible|está disponible|êtes-vous disponible|"
    r"es-tu disponible|pouvons-nous|on se voit|passt (?:dir|ihnen|es dir|es ihnen|euch)|te (?:viene|va) bien|"
    r"le (?:viene|va) bien|(?:ça|cela) (?:te|vous) (?:va|convient)|does (?:that|this) work for you)\b",
)
_MEETING_SUBJECT = re.compile(
    r"\b(meeting|invitation|invite|sync|1:1|catch[- ]up|call with|termin|besprechung|einladung|reunión|"
    r"réunion|rendez-vous|qbr|workshop|interview|reschedul\w*|moving our|"
    r"\w+ on (?:mon|tues|wednes|thurs|fri)day\?)",
)
_RESCHEDULE = re.compile(
    r"\b(?:move|moving|reschedule|push|postpone|shift|verschieben|verlegen|mover|cambiar|déplacer|décaler)\b",
)
_ATTACHMENT_WORDS = re.compile(
    r"\b(attached|attachment|attaching|enclosed|anbei|im anhang|anhang|adjunto|adjunta|"
    r"ci-joint|pièce jointe|pièces jointes)\b",
)
_FILE_NAME = re.compile(
    r"\b[\w-]+\.(pdf|docx?|docm|xlsx?|xlsm|pptx?|csv|txt|zip|rar|7z|html?|iso|img|exe|js|scr|bat|msi|"
    r"ics|png|jpe?g)\b",
    re.IGNORECASE,
)
_RISKY_EXTENSIONS = frozenset(
    {"zip", "rar", "7z", "html", "htm", "iso", "img", "exe", "js", "scr", "bat", "msi"}
)
_RISKY_EXTENSIONS |= {"docm", "xlsm"}
_BULK_TEXT = re.compile(
    r"\b(unsubscribe|opt[- ]out|manage (?:your )?(?:email )?preferences|view (?:this email )?in (?:your )?"
    r"browser|you (?:are receiving|received) this (?:email|newsletter|message) because|abmelden|abbestellen|"
    r"darse de baja|cancelar (?:la )?suscripción|se désabonner|se désinscrire|désinscription)\b",
)
_AUTH_FAIL = re.compile(r"\b(?:spf|dkim|dmarc)=(?:fail|softfail|permerror)\b", re.IGNORECASE)
_SHORTENERS = frozenset({"bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "cutt.ly"})
# A machine's mailbox: no-reply senders, and the services that relay a person's action under that person's
# name ("Lukas Schneider <notifications@github…>", "Rachel Adler (Jira) <jira@…>").
NO_REPLY_ADDRESS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|noreply|notifications?|alerts?|mailer-daemon|jira|confluence|gitlab)\b",
    re.I,
)

# Words every match of a pattern contains: the pattern is searched only when one of them is in the text,
# a set test that spares most emails most of these searches (same results, a fraction of the CPU).
_GATES = {
    "credential_phrase": "account identity mailbox email password credentials login access sign log signin "
    "konto passwort cuenta identidad compte identité mot",
    "credential_request": "password passwort kennwort zugangsdaten credentials login mfa 2fa one otp verification "
    "security pin contraseña mot identifiants api token cvv cvv2 cvc cvc2 card tarjeta carte kartennummer "
    "kartendaten",
    "payment": "wire bank payment payments accounts pay fee invoice invoices remittance remit iban swift bic account "
    "outstanding purchase überweisung rechnung zahlung bankverbindung transferencia factura pago virement "
    "facture paiement rib",
    "bank_change": "bank banking banks iban account bankverbindung bancarios cuenta coordonnées rib compte konto "
    "kontoverbindung banco banque",
    "gift_card": "gift giftcard giftcards itunes google apple amazon steam voucher vouchers gutschein gutscheine "
    "tarjeta tarjetas carte cartes",
    "attachment": "attached attachment attaching enclosed anbei anhang adjunto adjunta ci pièce pièces",
}
_GATE = {name: frozenset(words.split()) for name, words in _GATES.items()}

_STOPWORDS = {
    "en": "the and you for are with this that have will your please can from our not be is to of we it",
    "de": "der die das und ist nicht ich sie wir mit für bitte ein eine den dem zu auf ihr uns auch",
    "es": "el la los las que y de por para con una un es no su nos gracias usted estamos muy del se",
    "fr": "le la les et des est pour pas vous nous une un avec merci dans sur que qui du je au ce",
}
_STOPWORD_SETS = {language: frozenset(words.split()) for language, words in _STOPWORDS.items()}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


class Link(BaseModel):
    url: str
    domain: str = Field(description="Host name, lower-cased.")
    registered_domain: str = Field(description="Domain an organisation registers (public suffix + 1).")
    text: str | None = Field(None, description="Visible text of an HTML link.")
    text_mismatch: bool = Field(False, description="Visible text names another domain than the target.")
    suspicious: bool = Field(False, description="IP-address host, punycode or a URL shortener.")


class MeetingTime(BaseModel):
    start: datetime
    end: datetime | None = None


class Signals(BaseModel):
    links: list[Link] = Field(default_factory=list)
    link_domains: list[str] = Field(default_factory=list, description="Registered domains, first-seen order.")
    link_text_mismatch: bool = False
    suspicious_links: bool = False
    reply_to_mismatch: bool = False
    auth_failed: bool = Field(False, description="SPF, DKIM or DMARC failed per Authentication-Results.")
    urgency_words: list[str] = Field(default_factory=list)
    credential_request: bool = False
    payment_request: bool = False
    bank_detail_change: bool = False
    gift_card_request: bool = False
    secrecy_request: bool = False
    meeting_request: bool = False
    meeting_times: list[MeetingTime] = Field(default_factory=list)
    attachment_mentioned: bool = False
    attachment_names: list[str] = Field(default_factory=list)
    risky_attachment: bool = False
    language: str = Field("unknown", description="en, de, es, fr or unknown.")
    bulk: bool = Field(False, description="List-Unsubscribe/Precedence headers or unsubscribe text.")
    automated: bool = Field(False, description="Auto-Submitted header or a no-reply sender.")


@cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=DOMAINS_KEPT)
def registered_domain(host: str) -> str:
    """'mail.northwind.example' -> 'northwind.example'; IP addresses and single labels stay as they are.
    Remembered (bounded): the public-suffix lookup is the slow part of reading a sender, and hosts repeat."""
    host = host.lower().strip(".")
    if _is_ip(host):
        return host
    return _public_suffixes().privatesuffix(host) or host


def _links(text: str, html_links: list[HtmlLink]) -> list[Link]:
    """HTML anchors first, then bare URLs in the text that are not an anchor's visible text."""
    shown = " ".join(link.text for link in html_links)
    candidates: list[tuple[str, str | None]] = [(link.href, link.text) for link in html_links]
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        if url not in shown and all(url != seen for seen, _ in candidates):
            candidates.append((url, None))
    found: list[Link] = []
    for url, label in dict.fromkeys(candidates):
        target = url if "://" in url else f"http://{url}"
        try:
            parts = urlsplit(target)
            host = (parts.hostname or "").lower()
        except ValueError:
            continue
        if not host or parts.scheme not in {"http", "https"}:
            continue
        registered = registered_domain(host)
        named = [registered_domain(m.group(1)) for m in _DOMAIN_IN_TEXT.finditer(label or "")]
        found.append(
            Link(
                url=url,
                domain=host,
                registered_domain=registered,
                text=label,
                text_mismatch=any(domain != registered for domain in named),
                suspicious=host in _SHORTENERS or "xn--" in host or _is_ip(host),
            )
        )
    return found


def guess_language(text: str) -> str:
    """en/de/es/fr by stop-word counts; 'unknown' when there is too little text to tell."""
    words = [word.lower() for word in _WORD.findall(text[:20000])]
    scores = {lang: sum(1 for word in words if word in stop) for lang, stop in _STOPWORD_SETS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] < 2 or ranked[0] < ranked[1] * 1.2:
        return "unknown"
    return best


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().strip(" >.")


def _meeting_times(text: str, reference: datetime, subject_is_meeting: bool) -> list[MeetingTime]:
    """Times in a paragraph about meeting (up to their sentence); for "move it from X to Y" only Y."""
    midnight = reference.replace(hour=0, minute=0, second=0, microsecond=0)
    by_sentence: dict[int, list[MeetingTime]] = {}
    for mention in find_times(text, reference):
        sentence = text[mention.sentence_start : mention.sentence_end]
        paragraph = text[max(0, text.rfind("\n\n", 0, mention.sentence_start)) : mention.sentence_end]
        if (subject_is_meeting or _MEETING.search(paragraph.lower())) and mention.start >= midnight:
            found = by_sentence.setdefault(mention.sentence_start, [])
            if found and _RESCHEDULE.search(sentence.lower()):
                found.clear()
            found.append(MeetingTime(start=mention.start, end=mention.end))
    return [time for times in by_sentence.values() for time in times][:MAX_MEETING_TIMES]


def _urgency_words(lowered: str, tokenised: list[str]) -> list[str]:
    """Urgency words and phrases, first-seen order, unless negated ("not urgent", "no es urgente");
    `lowered` is the email's lower-cased text."""
    words = tuple(tokenised)
    found = [
        entry
        for index, entry in URGENCY.finditer(words)
        if not (index and words[index - 1] in NEGATION) and words[max(0, index - 2) : index] != ("no", "es")
    ]
    within = [match.group(0) for match in _WITHIN_HOURS.finditer(lowered)] if "within" in words else []
    return list(dict.fromkeys([*found, *within]))


def compute_signals(
    subject: str,
    body: str,
    html_links: list[HtmlLink],
    headers: dict[str, str],
    sender_address: str,
    ref: datetime,
) -> Signals:
    """Signals of one email: `body` is the new text (no quotes), `headers` lower-cased, `ref` its date."""
    sender_domain = domain_of(sender_address)
    text = f"{subject}\n{body}"
    lowered, body_lowered, subject_lowered = text.lower(), body.lower(), subject.lower()
    links = _links(body, html_links)
    reply_to = parseaddr(headers.get("reply-to", ""))[1]
    reply_domain = domain_of(reply_to) if "@" in reply_to else ""
    names = [match.group(0) for match in _FILE_NAME.finditer(_URL.sub(" ", text))]
    meeting_subject = bool(_MEETING_SUBJECT.search(subject_lowered) or _MEETING_ASK.search(subject_lowered))
    times = _meeting_times(body, ref, meeting_subject) + _meeting_times(subject, ref, meeting_subject)
    unique_times = list({(t.start, t.end): t for t in times}.values())[:MAX_MEETING_TIMES]
    bulk_header = any(key in headers for key in ("list-unsubscribe", "list-id")) or headers.get(
        "precedence", ""
    ).lower() in {"bulk", "list", "junk"}
    words = tokens(text)
    present = set(words)

    def found(gate: str, pattern: re.Pattern[str]) -> bool:
        return not _GATE[gate].isdisjoint(present) and bool(pattern.search(lowered))

    payment = found("payment", _PAYMENT) or bool(_SALARY.search(lowered))
    urgency = _urgency_words(lowered, words)
    return Signals(
        links=links,
        link_domains=list(dict.fromkeys(link.registered_domain for link in links)),
        link_text_mismatch=any(link.text_mismatch for link in links),
        suspicious_links=any(link.suspicious for link in links),
        reply_to_mismatch=bool(reply_domain)
        and registered_domain(reply_domain) != registered_domain(sender_domain),
        auth_failed=bool(
            _AUTH_FAIL.search(headers.get("authentication-results", ""))
            or headers.get("received-spf", "").lower().startswith(("fail", "softfail"))
        ),
        urgency_words=urgency,
        credential_request=found("credential_phrase", _CREDENTIAL_PHRASE)
        or found("credential_request", _CREDENTIAL_REQUEST),
        payment_request=payment,
        bank_detail_change=found("bank_change", _BANK_CHANGE)
        or (payment and found("bank_change", _NEW_ACCOUNT)),
        gift_card_request=found("gift_card", _GIFT_CARD),
        secrecy_request=bool(_SECRECY.search(lowered)),
        meeting_request=meeting_subject or bool(unique_times) or bool(_MEETING_ASK.search(body_lowered)),
        meeting_times=unique_times,
        attachment_mentioned=found("attachment", _ATTACHMENT_WORDS) or bool(names),
        attachment_names=list(dict.fromkeys(names)),
        risky_attachment=any(name.rsplit(".", 1)[1].lower() in _RISKY_EXTENSIONS for name in names),
        language=guess_language(text),
        bulk=bulk_header or bool(_BULK_TEXT.search(body_lowered)),
        automated=headers.get("auto-submitted", "no").lower() != "no"
        or bool(NO_REPLY_ADDRESS.match(sender_address)),
    )
