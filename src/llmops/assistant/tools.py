"""The Gatekeeper's tools (contact lookup, calendar check, policy search) and the planner that picks them.

Each tool has a pydantic input model and output model, so it can be described to a model as a JSON
schema (`Toolbox.specs`) and its result recorded on a span as JSON. `plan_tool_calls` decides
deterministically which tools an email needs; `Toolbox.run` executes one call and turns any failure
into `ToolResult.error` (a short description without arguments or content), so a broken tool degrades
the triage instead of failing the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta, tzinfo
from difflib import SequenceMatcher
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError

from llmops.assistant.knowledge import KnowledgeBase, Passage
from llmops.assistant.lexicon import tokens
from llmops.assistant.normalize import ParsedEmail
from llmops.assistant.signals import NO_REPLY_ADDRESS, registered_domain
from llmops.assistant.vocabulary import BRAND_NAMES, BRANDS, PUBLIC_MAIL_DOMAINS

Relationship = Literal["colleague", "manager", "customer", "vendor", "family", "friend"]
DEFAULT_MEETING = timedelta(minutes=30)
MAX_CALENDAR_CHECKS = 3
LOOKALIKES_KEPT = 4096  # sender domains whose lookalike verdict is remembered
WORKDAY_START, WORKDAY_END = time(9, 0), time(18, 0)


class Contact(BaseModel):
    name: str
    email: str
    org: str | None = None
    role: str | None = None
    relationship: Relationship
    vip: bool = False


class Owner(BaseModel):
    name: str
    email: str
    org: str | None = None
    role: str | None = None


class CalendarEvent(BaseModel):
    title: str
    start: datetime
    end: datetime
    attendees: list[str] = Field(default_factory=list)
    location: str | None = None


class LookupContactInput(BaseModel):
    address: str = Field(max_length=320, description="Email address of the person to look up.")
    display_name: str | None = Field(
        None, max_length=320, description="Display name from the From header, to detect impersonation."
    )


class ContactResult(BaseModel):
    address: str
    known: bool
    name: str | None = None
    org: str | None = None
    role: str | None = None
    relationship: Relationship | None = None
    vip: bool = False
    internal: bool = Field(False, description="Address is on a company domain.")
    impersonates: str | None = Field(
        None, description="Unknown sender whose display name or domain imitates this known contact."
    )
    lookalike_domain: bool = Field(
        False, description="The imitation is by domain (a typo, homoglyph or extra word), not the name alone."
    )
    brand_spoof: bool = Field(
        False, description="Display name names a well-known brand the sender's domain does not belong to."
    )
    personal_domain: bool = Field(
        False, description="Domain a family member or friend writes from, or a well-known free-mail service."
    )


class CheckCalendarInput(BaseModel):
    start: datetime = Field(description="Proposed start; without a zone, the calendar's zone is assumed.")
    end: datetime | None = Field(None, description="Proposed end; default 30 minutes after start.")


class CalendarResult(BaseModel):
    start: datetime
    end: datetime
    free: bool
    conflicts: list[CalendarEvent] = Field(default_factory=list)
    alternatives: list[datetime] = Field(
        default_factory=list, description="Up to two free slots of the same length, same or next workdays."
    )


class SearchKbInput(BaseModel):
    query: str = Field(max_length=2000, description="Free-text question about company policy.")
    limit: int = Field(3, ge=1, le=10)


class SearchKbResult(BaseModel):
    passages: list[Passage]


class ToolSpec(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON schema of the arguments.")


class ToolCall(BaseModel):
    id: str = Field(description="Unique within one request, e.g. 'call_1'.")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BaseModel):
    call_id: str
    name: str
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _load_json(name: str) -> Any:
    return json.loads((resources.files("llmops.assistant") / "data" / name).read_text("utf-8"))


def _zone(name: str, events: list[CalendarEvent]) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return events[0].start.tzinfo if events and events[0].start.tzinfo else ZoneInfo("UTC")


def _label(domain: str) -> str:
    return domain.split(".")[0]


_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "i": "l", "3": "e", "4": "a", "5": "s", "7": "t", "-": ""})


def _skeleton(label: str) -> str:
    """What a label looks like to a hurried reader: digits as letters, i as l, rn as m, vv as w."""
    return label.lower().replace("rn", "m").replace("vv", "w").translate(_HOMOGLYPHS)


def lookalike(known: str, candidate: str) -> bool:
    """Does registered domain `candidate` imitate `known` (a typo, a homoglyph, or the name plus a word)?"""
    if known == candidate:
        return False
    original, other = _skeleton(_label(known)), _skeleton(_label(candidate))
    if original == other or _similar(original, other):
        return True
    return len(original) >= 6 and original in other


def _similar(a: str, b: str) -> bool:
    """`SequenceMatcher.ratio() >= 0.8`, asked only when its cheap upper bounds allow it (most pairs
    of unrelated names fail the length bound alone)."""
    matcher = SequenceMatcher(None, a, b)
    return matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8


class Toolbox:
    """The mailbox owner's contacts, calendar and policy knowledge base, with the tools over them."""

    def __init__(
        self,
        contacts: Iterable[Contact],
        events: Iterable[CalendarEvent],
        knowledge: KnowledgeBase,
        *,
        owner: Owner | None = None,
        company_domains: Iterable[str] = ("northwind.example",),
        timezone: str = "UTC",
    ) -> None:
        self.contacts = list(contacts)
        self._by_address = {contact.email.lower(): contact for contact in self.contacts}
        self.events = sorted(events, key=lambda event: event.start)
        self.knowledge = knowledge
        self.owner = owner
        self.company_domains = tuple(domain.lower() for domain in company_domains)
        self._private_domains = PUBLIC_MAIL_DOMAINS | {
            registered_domain(contact.email.rpartition("@")[2])
            for contact in self.contacts
            if contact.relationship in {"family", "friend"}
        }
        # Each contact's registered domain, once: every unknown sender is compared with all of them.
        self._contact_orgs = [
            (contact, registered_domain(contact.email.rpartition("@")[2])) for contact in self.contacts
        ]
        self._lookalikes: dict[str, str | None] = {}  # sender's domain → the contact it imitates
        self.zone = _zone(timezone, self.events)
        self._tools: dict[str, tuple[type[BaseModel], Callable[..., Any], str]] = {
            "lookup_contact": (
                LookupContactInput,
                self.lookup_contact,
                "Look up the sender in the owner's contacts: known or not, name, organisation, "
                "relationship, VIP, and whether an unknown sender imitates a known contact.",
            ),
            "check_calendar": (
                CheckCalendarInput,
                self.check_calendar,
                "Check the owner's calendar for a proposed meeting time: free or not, conflicting "
                "events, and free alternatives.",
            ),
            "search_kb": (
                SearchKbInput,
                self.search_kb,
                "Search the company policy knowledge base (security, payments, incidents, HR, ...).",
            ),
        }

    @classmethod
    def bundled(cls, knowledge: KnowledgeBase | None = None) -> Toolbox:
        """The Northwind Labs demo data shipped with the package."""
        people = _load_json("contacts.json")
        calendar = _load_json("calendar.json")
        return cls(
            (Contact.model_validate(item) for item in people["contacts"]),
            (CalendarEvent.model_validate(item) for item in calendar["events"]),
            knowledge or KnowledgeBase.bundled(),
            owner=Owner.model_validate(people["owner"]),
            company_domains=people.get("company_domains", ["northwind.example"]),
            timezone=calendar.get("timezone", "UTC"),
        )

    def _internal(self, domain: str) -> bool:
        return any(domain == known or domain.endswith("." + known) for known in self.company_domains)

    def lookup_contact(self, address: str, display_name: str | None = None) -> ContactResult:
        """A contact by address (case-insensitive); for unknown senders, who they may be imitating."""
        address = address.strip().strip("<>").lower()
        domain = address.rpartition("@")[2]
        contact = self._by_address.get(address)
        if contact is not None:
            return ContactResult(
                address=address,
                known=True,
                name=contact.name,
                org=contact.org,
                role=contact.role,
                relationship=contact.relationship,
                vip=contact.vip,
                internal=self._internal(domain),
            )
        imitated, by_domain = self._imitated(address, domain, display_name)
        return ContactResult(
            address=address,
            known=False,
            internal=self._internal(domain),
            impersonates=imitated,
            lookalike_domain=by_domain,
            brand_spoof=_brand_spoof(display_name, domain),
            personal_domain=registered_domain(domain) in self._private_domains,
        )

    def _imitated(self, address: str, domain: str, display_name: str | None) -> tuple[str | None, bool]:
        """The known contact an unknown sender imitates, and whether by a lookalike domain."""
        if not self._internal(domain):
            imitated = self._lookalike_of(registered_domain(domain))
            if imitated is not None:
                return imitated, True
        name = " ".join((display_name or "").lower().replace('"', "").split())
        # a service relaying a colleague's action under their name is not imitating them
        relayed = (
            bool(NO_REPLY_ADDRESS.match(address)) and registered_domain(domain) not in self._private_domains
        )
        if name and not relayed:
            for contact in self.contacts:
                if contact.name.lower() in name and contact.email.lower() != address:
                    return contact.email, False
        return None, False

    def _lookalike_of(self, sender_org: str) -> str | None:
        """The first contact whose organisation's domain `sender_org` imitates. Remembered per domain
        (bounded): senders' domains repeat, and each answer compares the domain with every contact."""
        if sender_org in self._lookalikes:
            return self._lookalikes[sender_org]
        found = next(
            (
                contact.email
                for contact, known in self._contact_orgs
                if known not in self._private_domains and lookalike(known, sender_org)
            ),
            None,
        )
        if len(self._lookalikes) >= LOOKALIKES_KEPT:
            self._lookalikes.clear()
        self._lookalikes[sender_org] = found
        return found

    def check_calendar(self, start: datetime, end: datetime | None = None) -> CalendarResult:
        """Conflicts with [start, end) (end defaults to start + 30 min) and up to two free alternatives."""
        start = start if start.tzinfo else start.replace(tzinfo=self.zone)
        end = end if end is not None else start + DEFAULT_MEETING
        end = end if end.tzinfo else end.replace(tzinfo=self.zone)
        if end <= start:
            end = start + DEFAULT_MEETING
        conflicts = self._conflicts(start, end)
        alternatives = self._alternatives(start, end - start) if conflicts else []
        return CalendarResult(
            start=start, end=end, free=not conflicts, conflicts=conflicts, alternatives=alternatives
        )

    def _conflicts(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        return [event for event in self.events if event.start < end and start < event.end]

    def _alternatives(self, around: datetime, length: timedelta) -> list[datetime]:
        local = around.astimezone(self.zone)
        found: list[datetime] = []
        day = local.date()
        for _ in range(7):
            if day.weekday() < 5:
                slot = datetime.combine(
                    day,
                    max(WORKDAY_START, time(local.hour, 0)) if day == local.date() else WORKDAY_START,
                    self.zone,
                )
                closing = datetime.combine(day, WORKDAY_END, self.zone)
                while slot + length <= closing and len(found) < 2:
                    if not self._conflicts(slot, slot + length):
                        found.append(slot)
                        slot += timedelta(hours=2)
                    else:
                        slot += timedelta(minutes=30)
            if len(found) == 2:
                break
            day += timedelta(days=1)
        return found

    def search_kb(self, query: str, limit: int = 3) -> list[Passage]:
        """The best matching policy passages for a free-text query."""
        return self.knowledge.search(query, limit=limit)

    def specs(self) -> list[ToolSpec]:
        """Name, description and JSON-schema arguments of every tool, for function-calling models."""
        return [
            ToolSpec(name=name, description=description, parameters=model.model_json_schema())
            for name, (model, _, description) in self._tools.items()
        ]

    def run(self, call: ToolCall) -> ToolResult:
        """Execute one call; never raises: failures are reported in `ToolResult.error`."""
        entry = self._tools.get(call.name)
        if entry is None:
            return ToolResult(call_id=call.id, name=call.name, error=f"unknown tool {call.name!r}"[:200])
        model, function, _ = entry
        try:
            arguments = model.model_validate(call.arguments)
        except ValidationError as exc:
            fields = ", ".join(
                f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}"
                for err in exc.errors(include_input=False, include_url=False)
            )
            return ToolResult(call_id=call.id, name=call.name, error=f"invalid arguments ({fields})"[:500])
        try:
            result = function(**arguments.model_dump())
        except Exception as exc:  # a tool failure degrades the triage, it must not fail the request
            return ToolResult(call_id=call.id, name=call.name, error=f"tool failed: {type(exc).__name__}")
        if isinstance(result, list):
            result = SearchKbResult(passages=result)
        return ToolResult(call_id=call.id, name=call.name, output=result.model_dump(mode="json"))


def _brand_spoof(display_name: str | None, domain: str) -> bool:
    organisation = registered_domain(domain)
    return any(
        organisation not in BRANDS[brand] for brand in BRAND_NAMES.found(tuple(tokens(display_name or "")))
    )


_RISK_QUERIES: tuple[tuple[str, str], ...] = (
    ("gift_card_request", "gift cards scam request"),
    ("bank_detail_change", "vendor bank details change verification"),
    ("credential_request", "password credentials verify account phishing"),
    ("link_text_mismatch", "phishing suspicious links report"),
    ("reply_to_mismatch", "lookalike domain spoofed sender reply-to"),
    ("risky_attachment", "unexpected attachment zip html"),
    ("secrecy_request", "confidential payment request CEO fraud"),
)


def _risk_query(parsed: ParsedEmail) -> str | None:
    signals = parsed.signals
    parts = [query for flag, query in _RISK_QUERIES if getattr(signals, flag)]
    if signals.payment_request and (signals.urgency_words or signals.secrecy_request or not parsed.internal):
        parts.insert(0, "wire transfer payment verification approval")
    if signals.credential_request and not signals.links:
        parts = [part for part in parts if "password" not in part] + ["credentials never requested by email"]
    return " ".join(parts[:3]) or None


def plan_tool_calls(parsed: ParsedEmail) -> list[ToolCall]:
    """Which tools this email needs, in order: always the sender lookup; a calendar check per proposed
    meeting time (at most three); one targeted policy search when risk signals appear."""
    calls: list[dict[str, Any]] = [
        {
            "name": "lookup_contact",
            "arguments": {"address": parsed.sender_address, "display_name": parsed.sender_name or None},
        }
    ]
    for meeting in parsed.signals.meeting_times[:MAX_CALENDAR_CHECKS]:
        calls.append(
            {
                "name": "check_calendar",
                "arguments": {
                    "start": meeting.start.isoformat(),
                    "end": meeting.end.isoformat() if meeting.end else None,
                },
            }
        )
    query = _risk_query(parsed)
    if query:
        calls.append({"name": "search_kb", "arguments": {"query": query}})
    return [ToolCall(id=f"call_{index}", **call) for index, call in enumerate(calls, start=1)]
