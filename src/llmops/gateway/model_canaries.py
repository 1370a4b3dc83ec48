"""Model canaries' state, stored: which alias serves an alias's traffic and which serves its canary share.

An alias with a configured `canary: {alias: B, share: s}` is the label subject `model:<alias>`: its
`canary` label points at B with share s and its `production` label (absent: the alias itself) at the
alias that serves everyone else. The labels live in the label tables with their history, so the canary
controller (`llmops.canary`) promotes or rolls a model canary back with the same compare-and-set as a
prompt canary, and every replica routes by the stored decision, after a restart too.

The configuration starts a canary: at start-up `seed` moves the `canary` label (by `gateway-config`)
when the configured alias or share differs from what the configuration last set, so a decision stays
in force across restarts until the configuration itself changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from llmops.gateway.upstreams import GatewayConfigError, Routes
from llmops.prompts.labels import CANARY, LabelError, LabelStore
from llmops.prompts.registry import PromptRegistry
from llmops.prompts.router import PromptRouter

logger = logging.getLogger("llmops.gateway")

MODEL_SUBJECT = "model:"
CONFIG_ACTOR = "gateway-config"
MAX_SUBJECT_CHARS = 128  # the label and decision tables' `prompt_name` column


def subject(alias: str) -> str:
    """The label subject of `alias`'s model canary."""
    return f"{MODEL_SUBJECT}{alias}"


class AliasLabels(LabelStore):
    """Labels of one model canary: the subject `model:<alias>` may point at the alias or its canary."""

    def __init__(
        self,
        engine: Engine,
        alias: str,
        canary_alias: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(engine, PromptRegistry([]), clock)
        self.alias = alias
        self.subject = subject(alias)
        self.aliases = (alias, canary_alias)

    def known(self, version_id: str) -> bool:
        return version_id in self.aliases

    def check_version(self, prompt_name: str, version_id: str) -> None:
        if prompt_name != self.subject:
            raise LabelError(f"unknown model canary {prompt_name[:130]!r} (known: {self.subject})")
        if version_id not in self.aliases:
            raise LabelError(
                f"{self.subject} may point at {' or '.join(self.aliases)}, not {version_id[:130]!r}"
            )


class ModelCanaries:
    """The stored state of every configured model canary, and the routing it implies."""

    def __init__(self, engine: Engine, routes: Routes, *, ttl_s: float = 5.0) -> None:
        """`GatewayConfigError` when an alias with a canary is too long to be stored as a label subject."""
        for alias, route in routes.models.items():
            if route.canary is not None and len(subject(alias)) > MAX_SUBJECT_CHARS:
                raise GatewayConfigError(
                    f"model {alias[:60]!r}…: an alias with a canary has at most "
                    f"{MAX_SUBJECT_CHARS - len(MODEL_SUBJECT)} characters"
                )
        self.labels = {
            alias: AliasLabels(engine, alias, route.canary[0])
            for alias, route in routes.models.items()
            if route.canary is not None
        }
        self.configured = {
            alias: route.canary for alias, route in routes.models.items() if route.canary is not None
        }
        self._routers = {
            alias: PromptRouter(labels, {labels.subject: alias}, ttl_s=ttl_s)
            for alias, labels in self.labels.items()
        }

    def seed(self) -> None:
        """Start each configured canary whose alias or share differs from what the configuration last set."""
        for alias, labels in self.labels.items():
            canary_alias, share = self.configured[alias]
            last = next(
                (move for move in labels.history(labels.subject, CANARY) if move.changed_by == CONFIG_ACTOR),
                None,
            )
            if last is not None and (last.version_id, last.traffic_share) == (canary_alias, share):
                continue
            labels.set(
                labels.subject,
                CANARY,
                canary_alias,
                by=CONFIG_ACTOR,
                reason="configured in LLMOPS_GATEWAY_UPSTREAMS",
                traffic_share=share,
            )

    async def route(self, alias: str, routing_key: str) -> tuple[str, bool]:
        """The alias serving this call of `alias` (a user's arm is sticky), and whether it is the canary arm."""
        router = self._routers[alias]
        route = await router.route(subject(alias), routing_key)
        return route.version, route.canary
