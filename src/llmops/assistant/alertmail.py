"""The structure of a machine-written alert: who sends it, whether it fires, how severe, where.

Monitoring, paging, CI and status-page mails differ in wording from tool to tool and language to
language, but share a shape: a monitoring sender, a state (firing, triggered, down, investigating, or
resolved), a severity or priority field and an environment. Reading that shape, rather than the
phrases one tool uses, is what lets the rules file an alert they have never seen: a firing alert that
is severe or in production is an incident; a warning or a non-production one is noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops.assistant.lexicon import Lexicon, Words
from llmops.assistant.normalize import ParsedEmail

_MONITORING_SENDER = re.compile(
    r"alert|monitor|observab|status|pager|opsgenie|grafana|prometheus|datadog|sentry|nagios|zabbix|icinga|"
    r"uptime|probe|supervis|watch|incident|oncall|on-call|sonde|überwach|vigilancia",
    re.IGNORECASE,
)
# "severity = critical", "Priority: P1", "Schweregrad: kritisch", "sévérité : haute"; the value may sit on
# the next line, as an HTML table's cells do once they are text
_SEVERITY_FIELD = re.compile(
    r"\b(?:severity|sev|priority|prio|level|schweregrad|priorität|stufe|severidad|prioridad|nivel|"
    r"sévérité|gravité|priorité|niveau)(?:\s*[:=]\s*|[ \t]*\n[ \t]*)\"?([\w-]+)",
    re.IGNORECASE,
)
# "Status: TRIGGERED", "Zustand: Alarm", "Estado: ACTIVA", "État : CRITIQUE"
_STATE_FIELD = re.compile(
    r"\b(?:status|state|zustand|estado|état|etat)(?:\s*:\s*|[ \t]*\n[ \t]*)\"?([\w-]+)", re.IGNORECASE
)
_SEVERE = frozenset(
    [
        "critical", "crit", "high", "major", "p1", "p2", "sev1", "sev2", "1", "2", "emergency", "disaster",
        "kritisch", "hoch", "crítica", "crítico", "alta", "critique", "élevée", "haute", "majeure",
    ]
)  # fmt: skip
_MILD = frozenset(
    [
        "warning", "warn", "info", "informational", "low", "minor", "p3", "p4", "p5", "sev3", "sev4", "3", "4",
        "5", "notice", "niedrig", "warnung", "baja", "aviso", "advertencia", "faible", "basse", "avertissement",
    ]
)  # fmt: skip
_FIRING = frozenset(
    [
        "firing", "triggered", "alarm", "alerting", "down", "critical", "active", "activa", "activo",
        "ausgelöst", "disparada", "déclenchée", "critique", "crítico", "kritisch", "investigating",
        "identified", "major", "outage", "failed", "failing", "red", "problem", "degraded", "identifié",
        "dégradé", "identificado", "investigando", "degradado", "störung", "gestört",
    ]
)  # fmt: skip
FIRING_WORDS = Lexicon(
    [
        "firing", "triggered", "alarm", "alert", "alerting", "down", "critical", "major outage",
        "partial outage", "investigating", "identified", "ausgelöst", "alarmiert", "disparada", "crítico",
        "alerta", "déclenchée", "alerte", "critique",
    ]
)  # fmt: skip
SEVERE_SUBJECT = Lexicon(
    ["critical", "crit", "p1", "sev1", "major outage", "kritisch", "crítico", "crítica", "critique"]
)
NON_PRODUCTION = Lexicon(
    [
        "staging", "stage", "sandbox", "qa", "dev", "development", "test", "testing", "non prod", "nonprod",
        "preprod", "pre prod", "demo env", "testumgebung", "entorno de pruebas", "pruebas", "recette",
    ]
)  # fmt: skip


@dataclass(frozen=True)
class AlertShape:
    """What the shape of an alert says: `machine` (a monitoring sender or an automated mail), `firing`
    (its state or subject says it fires), and its `severity`: "severe", "mild" or "" (not stated)."""

    machine: bool
    firing: bool
    severity: str
    non_production: bool

    @property
    def noise(self) -> bool:
        """A warning, or an alert about a non-production system: worth a glance, never an incident."""
        return self.severity == "mild" or self.non_production


def _severity(text: str) -> str:
    values = [match.group(1).lower() for match in _SEVERITY_FIELD.finditer(text)]
    if any(value in _SEVERE for value in values):
        return "severe"
    if any(value in _MILD for value in values):
        return "mild"
    return ""


def alert_shape(parsed: ParsedEmail, words: Words, production: bool) -> AlertShape:
    """The shape of `parsed` as an alert; `production` says whether the mail names production."""
    local, _, domain = parsed.sender_address.partition("@")
    machine = parsed.signals.automated or bool(
        _MONITORING_SENDER.search(f"{local} {domain} {parsed.sender_name}")
    )
    text = f"{parsed.subject}\n{parsed.body}"
    states = {match.group(1).lower() for match in _STATE_FIELD.finditer(text)}
    firing = FIRING_WORDS.any(words.subject) or bool(states & _FIRING)
    severity = _severity(text)
    if not severity and SEVERE_SUBJECT.any(words.subject):
        severity = "severe"
    non_production = NON_PRODUCTION.any(words.all) and not production
    return AlertShape(machine, firing, severity, non_production)
