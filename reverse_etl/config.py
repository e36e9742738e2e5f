"""Sync configuration: what to send, where, how, and under which consent purpose.

Column and relation names end up in SQL, so they are validated as plain identifiers here
and quoted again where the SQL is written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from reverse_etl.redaction import register_env_secret
from reverse_etl.results import SyncConfigError

__all__ = ["DestinationConfig", "MassChangeConfig", "SyncConfig", "SyncConfigError", "load_syncs"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} {value!r} is not a plain SQL identifier")
    return value


class DestinationConfig(BaseModel):
    """A destination type (see `reverse_etl.destinations.registry`) and its options.

    The options are validated against that type's own config model here, so a typo in a
    vendor option fails when the file is loaded, not halfway through a run.
    """

    model_config = ConfigDict(extra="forbid")

    type: str = "file"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from reverse_etl.destinations.registry import DESTINATION_TYPES

        if value not in DESTINATION_TYPES:
            known = ", ".join(sorted(DESTINATION_TYPES))
            raise ValueError(f"unknown destination type {value!r} (known: {known})")
        return value

    @field_validator("options")
    @classmethod
    def _options_fit_the_type(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from reverse_etl.destinations.registry import DESTINATION_TYPES

        kind = info.data.get("type")
        if kind in DESTINATION_TYPES:
            try:
                DESTINATION_TYPES[kind].config_model().model_validate(value)
            except ValidationError as error:
                raise ValueError(_describe(error)) from None
        return value


class MassChangeConfig(BaseModel):
    """The mass-change guard: how much of what a destination holds one run may take away.

    "Holds" is the sync's last acknowledged state (`reverse_etl.sync_state`), never the last
    build, so a run that was refused keeps being refused until the data is fixed or someone
    overrides it. A run is refused when its removals (or changes) are at least `min_records`
    AND more than `max_removed_share` (`max_changed_share`) of the records held; the minimum
    keeps a tiny audience from being blocked by one person leaving. Erasures and explicit
    consent withdrawals are never held back (see `reverse_etl.guard`).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_removed_share: float = Field(default=0.5, gt=0, le=1)
    max_changed_share: float = Field(default=0.5, gt=0, le=1)
    min_records: int = Field(default=10, ge=1)


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source: str
    destination: DestinationConfig = Field(default_factory=DestinationConfig)
    mode: Literal["mirror", "upsert"] = "mirror"
    identifiers: list[str] = Field(default_factory=lambda: ["customer_id"], min_length=1)
    fields: dict[str, str] = Field(min_length=1)
    consent_purpose: str = "marketing"
    consent_column: str = "has_consent"
    # When set, consent is `consent_<consent_purpose>` of this relation by customer id (the
    # sync's own purpose); otherwise the source's consent column.
    consent_relation: str | None = None
    holdout_column: str = "is_holdout"
    batch_size: int = Field(default=500, ge=1)
    schedule: str | None = None
    secret_env: list[str] = Field(default_factory=list)
    max_rejection_attempts: int = Field(default=3, ge=1)
    erasure_relation: str | None = "core.customers"
    # The mass-change guard; `mass_change:` at the top of the sync file sets the defaults,
    # a sync's own `mass_change:` overrides them key by key.
    mass_change: MassChangeConfig = Field(default_factory=MassChangeConfig)

    @field_validator("source", "erasure_relation", "consent_relation")
    @classmethod
    def _relation_is_schema_dot_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = value.split(".")
        if len(parts) > 2:
            raise ValueError(f"relation {value!r} must be <schema>.<name> or <name>")
        for part in parts:
            _check_identifier(part, "relation part")
        return value

    @field_validator("identifiers")
    @classmethod
    def _identifiers_are_columns(cls, value: list[str]) -> list[str]:
        return [_check_identifier(column, "identifier column") for column in value]

    @field_validator("consent_column", "holdout_column", "consent_purpose")
    @classmethod
    def _column(cls, value: str) -> str:
        return _check_identifier(value, "column")

    @field_validator("fields")
    @classmethod
    def _mapping_sources_are_columns(cls, value: dict[str, str]) -> dict[str, str]:
        for destination_field, column in value.items():
            if not destination_field:
                raise ValueError("destination field names cannot be empty")
            _check_identifier(column, f"source column for {destination_field!r}")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_names(cls, value: list[str]) -> list[str]:
        return [_check_identifier(name, "environment variable name") for name in value]


def secret_env_names(sync: SyncConfig) -> list[str]:
    """The environment variables holding this sync's secrets: its `secret_env`, and its
    destination's options that name one (`api_key_env`, `access_token_env`, `secret_env`...)."""
    names = list(sync.secret_env)
    for option, value in sync.destination.options.items():
        if (option.endswith("_env") or option == "secret_env") and isinstance(value, str):
            names.append(value)
    return list(dict.fromkeys(names))


def register_sync_secrets(syncs: list[SyncConfig]) -> None:
    """Hide the secrets these syncs name from every message of this process, even before a
    destination reads them (a process that only reports, such as a sensor, redacts too)."""
    for sync in syncs:
        for name in secret_env_names(sync):
            register_env_secret(name)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(sync)"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"field '{location}': {message}")
    return "; ".join(problems)


def parse_syncs(document: Any, origin: str = "<config>") -> list[SyncConfig]:
    """Validate a parsed YAML document of the form `{syncs: [...]}`."""
    if not isinstance(document, dict) or not isinstance(document.get("syncs"), list):
        raise SyncConfigError(f"{origin}: expected a mapping with a 'syncs' list")
    defaults = document.get("mass_change") or {}
    if not isinstance(defaults, dict):
        raise SyncConfigError(f"{origin}: field 'mass_change': expected a mapping")
    try:
        MassChangeConfig.model_validate(defaults)
    except ValidationError as error:
        raise SyncConfigError(f"{origin}: mass_change: {_describe(error)}") from None
    syncs: list[SyncConfig] = []
    seen: set[str] = set()
    for position, entry in enumerate(document["syncs"]):
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"sync '{name}'" if name else f"sync #{position + 1}"
        if not isinstance(entry, dict):
            raise SyncConfigError(f"{origin}: {label}: expected a mapping")
        own = entry.get("mass_change")
        if defaults and (own is None or isinstance(own, dict)):
            entry = {**entry, "mass_change": {**defaults, **(own or {})}}
        try:
            sync = SyncConfig.model_validate(entry)
        except ValidationError as error:
            raise SyncConfigError(f"{origin}: {label}: {_describe(error)}") from None
        if sync.name in seen:
            raise SyncConfigError(f"{origin}: {label}: field 'name': declared twice")
        seen.add(sync.name)
        syncs.append(sync)
    return syncs


def load_syncs(path: str | Path) -> list[SyncConfig]:
    """Read and validate the syncs declared in a YAML file."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SyncConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_syncs(document, origin=str(path))
