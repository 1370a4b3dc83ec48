"""What the app holds for its lifetime: built in the lifespan, torn down on shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from llmops.alerts.engine import AlertEngine
from llmops.api.request_ids import RequestIds
from llmops.assistant.pipeline import Gatekeeper
from llmops.budgets.enforce import BudgetEnforcer
from llmops.canary.controller import CanaryController
from llmops.canary.routing import CanaryRouter
from llmops.config import Settings
from llmops.providers.resilience import ProviderChain
from llmops.redaction import Redactor
from llmops.storage.api_keys import ApiKeyStore
from llmops.telemetry.runtime import Telemetry
from llmops.telemetry.setup import TelemetrySetup


@dataclass
class Services:
    settings: Settings
    engine: Engine
    keys: ApiKeyStore
    chain: ProviderChain
    gatekeeper: Gatekeeper
    redactor: Redactor
    telemetry_setup: TelemetrySetup
    budgets: BudgetEnforcer
    alerts: AlertEngine
    canary_router: CanaryRouter
    canary: CanaryController
    request_ids: RequestIds

    @property
    def telemetry(self) -> Telemetry:
        return self.telemetry_setup.telemetry
