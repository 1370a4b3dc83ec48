"""Is this email about a live incident? Urgent points for an outage, a failure or a security compromise
that is happening now, and whether the email says one is over.

Mail about incidents is written in many voices, so the evidence is read from its shape as much as from
its words: an alert's structure (`alertmail`); an affected system in a failure state, now or hurting
someone; a system named next to a negation ("the phones don't ring", "n'arrive plus", "keine Daten")
when it happens now and someone feels it. Resolved, past, calm, bulk and noise (warnings, staging)
cap the points, so a report about yesterday's outage is never urgent.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmops.assistant.alertmail import alert_shape
from llmops.assistant.lexicon import Words
from llmops.assistant.normalize import ParsedEmail
from llmops.assistant.vocabulary import (
    ALERT_SEVERE,
    CALM,
    IMPACT,
    INCIDENT,
    INCIDENT_WEAK,
    NOW,
    PRODUCTION,
    RESOLVED,
    RETROSPECTIVE,
    SECURITY,
    STATUS_FIXED,
    SYSTEM,
)

THRESHOLD = 1.5  # below it a stray "error" or "blocked" is no incident
NEGATION_WINDOW = 4  # tokens either side of a system noun
# "t" is what tokenising leaves of "can't", "doesn't", "won't"; "n" of French "n'arrive"
_NEGATIONS = frozenset(
    [
        "not", "no", "none", "nothing", "never", "nobody", "t", "nicht", "kein", "keine", "keinen", "keiner",
        "nichts", "niemand", "ningún", "ninguna", "nada", "nadie", "ne", "n", "aucun", "aucune", "rien",
    ]
)  # fmt: skip


@dataclass(frozen=True)
class Incident:
    points: float
    resolved: bool


def negated_system(words: tuple[str, ...]) -> bool:
    """A system noun with a negation within a few tokens: "the app won't open", "la web no abre"."""
    for index, _ in SYSTEM.finditer(words):
        nearby = words[max(0, index - NEGATION_WINDOW) : index + NEGATION_WINDOW + 1]
        if not _NEGATIONS.isdisjoint(nearby):
            return True
    return False


def assess_incident(parsed: ParsedEmail, words: Words, *, customer: bool, trusted: bool) -> Incident:
    """Urgent points for a live outage, incident or security alert (0 below `THRESHOLD`), and whether the
    email says an incident is resolved. `customer`: a known customer wrote it; `trusted`: a known or
    company sender, not spoofed."""
    s = parsed.signals
    incident = INCIDENT.count(words.all, 3) + SECURITY.count(words.all, 3)
    weak = INCIDENT_WEAK.count(words.all, 3)
    now = NOW.any(words.all)
    production = PRODUCTION.any(words.all)
    impact = IMPACT.any(words.all) or customer
    points = 0.0
    if incident:
        subject_hit = INCIDENT.any(words.subject) or SECURITY.any(words.subject)
        points += 1.0 + 0.75 * (incident - 1) + 1.5 * subject_hit + 2.0 * now
    if weak:
        points += 0.5 * weak + 1.0 * INCIDENT_WEAK.any(words.subject)
        if now and (production or impact):
            points += 1.5
    # an affected system in a failure state, now or hurting someone: the shape of an incident report
    failing = bool(incident or weak) or (now and impact and negated_system(words.all))
    if failing and SYSTEM.any(words.all) and (now or impact):
        points += 1.5 + 1.0 * (now and (impact or production))
    shape = alert_shape(parsed, words, production)
    if ALERT_SEVERE.any(words.subject) and (incident or weak or s.automated) and not shape.noise:
        points += 2.5
    if shape.machine and shape.firing and not shape.noise and (shape.severity == "severe" or production):
        points += 3.0
    # a thread's subject keeps "[resolved]" when the new text says it is back; a stranger's "fixed" is a pitch
    thread = bool(parsed.subject_prefixes)  # a reply's subject is the thread's, not news
    status = RESOLVED.any(words.subject) or STATUS_FIXED.any(words.subject[:2])
    resolved = (status and not thread) or (trusted and RESOLVED.any(words.body[:40]))
    past = RETROSPECTIVE.any(words.body) or (RETROSPECTIVE.any(words.subject) and not thread)
    # a firing alert is not a newsletter, whatever its footer says about subscriptions
    bulk = s.bulk and not (shape.machine and shape.firing)
    if resolved or past or CALM.any(words.all) or bulk or (shape.machine and shape.noise):
        points = min(points, 1.0)
    return Incident(points if points >= THRESHOLD else 0.0, resolved)
