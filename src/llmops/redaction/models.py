"""Configuration and result shapes of the redactor, validated at the edge with pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class RedactionConfig(BaseModel):
    """How the `Redactor` masks values.

    `hmac_key`: when set, placeholders carry a keyed HMAC-SHA256 prefix (`[EMAIL:1f3a9c2b7d10]`) so equal
    values stay joinable across records without being readable. `secrets`: the service's own secrets
    (API keys, tokens, passwords), masked wherever they appear by exact value, also base64-, URL- and
    JSON-encoded. A secret shorter than 8 characters is masked only where it stands as a whole token.
    """

    model_config = ConfigDict(frozen=True)

    hmac_key: SecretStr | None = None
    secrets: list[SecretStr] = Field(default_factory=list)

    @field_validator("secrets")
    @classmethod
    def _drop_empty(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        return [secret for secret in secrets if secret.get_secret_value()]


class Finding(BaseModel):
    """One masked span of the original text: `text[start:end]` would be replaced by `[kind]`."""

    model_config = ConfigDict(frozen=True)

    kind: str
    start: int
    end: int


def secrets_from_settings(settings: BaseModel) -> list[SecretStr]:
    """Every non-empty `SecretStr` in a settings model, so a new secret field is masked without wiring."""
    found: list[SecretStr] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        items = value if isinstance(value, list | tuple) else [value]
        found.extend(item for item in items if isinstance(item, SecretStr) and item.get_secret_value())
    return found
