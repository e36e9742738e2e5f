"""The project's syncs: load them from dbt_project/syncs.yml, run them, keep the exposures current.

The engine (reverse_etl/) works on any warehouse table; this module binds it to this project:
where the sync file is, where the file destination writes (CDP_ACTIVATION_DIR, default
warehouse/activation, so relative directories never depend on the working directory), and
how each sync appears in dbt docs as an exposure downstream of the model it sends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml

from cdp import DBT_PROJECT_DIR, PROJECT_ROOT
from cdp.pipeline import Settings
from reverse_etl.config import SyncConfig, SyncConfigError, load_syncs, register_sync_secrets
from reverse_etl.destinations import build_destination
from reverse_etl.engine import SyncRunResult, recorded_error, run_sync
from reverse_etl.state import DeadLetter, clear_dead_letters, dead_letters
from reverse_etl.warehouse import open_warehouse

SYNCS_PATH = DBT_PROJECT_DIR / "syncs.yml"
EXPOSURES_PATH = DBT_PROJECT_DIR / "models" / "activation" / "_activation__exposures.yml"


def activation_dir() -> Path:
    return Path(os.environ.get("CDP_ACTIVATION_DIR", PROJECT_ROOT / "warehouse" / "activation"))


# The purposes core.customers carries a `consent_<purpose>` column for.
CONSENT_PURPOSES = ("email_marketing", "sms_marketing", "ads_personalization", "data_sale_sharing")
CONSENT_RELATION = "core.customers"


def project_syncs(path: Path = SYNCS_PATH) -> list[SyncConfig]:
    """The declared syncs, bound to this project.

    Each sync's consent purpose must be one core.customers records, and consent is read from
    there for that purpose (unless the sync names another consent relation), so a sync never
    relies on the consent its segment was built for. File destinations' relative directories
    are resolved under activation_dir(). The secrets the syncs name are registered for
    redaction, so every message of this process hides them.
    """
    syncs = load_syncs(path)
    register_sync_secrets(syncs)
    for sync in syncs:
        if sync.consent_purpose not in CONSENT_PURPOSES:
            raise SyncConfigError(
                f"{path}: sync '{sync.name}': field 'consent_purpose': "
                f"{sync.consent_purpose!r} is not one of {', '.join(CONSENT_PURPOSES)}"
            )
        if "consent_relation" not in sync.model_fields_set:
            sync.consent_relation = CONSENT_RELATION
        directory = sync.destination.options.get("directory")
        if sync.destination.type == "file" and directory and not Path(directory).is_absolute():
            sync.destination.options["directory"] = str(activation_dir() / directory)
    return syncs


def _select(syncs: list[SyncConfig], names: Sequence[str]) -> list[SyncConfig]:
    unknown = set(names) - {sync.name for sync in syncs}
    if unknown:
        raise ValueError(
            f"no such sync: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sync.name for sync in syncs)})"
        )
    return [sync for sync in syncs if not names or sync.name in names]


def project_dead_letters(settings: Settings, names: Sequence[str] = ()) -> list[DeadLetter]:
    """The dead letters of the selected syncs (all by default)."""
    selected = [sync.name for sync in _select(project_syncs(), names)]
    warehouse = open_warehouse(settings)
    try:
        return dead_letters(warehouse, selected)
    finally:
        warehouse.close()


def run_project_syncs(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    replay_dead_letters: bool = False,
    on_line: Callable[[str], None] = print,
) -> list[SyncRunResult]:
    """Run the selected syncs (all by default) against the pipeline's warehouse.

    `replay_dead_letters` releases each sync's dead letters first, so those records are tried
    again. A failing sync is reported and the others still run; the caller decides the exit
    code from the results (status "failed").
    """
    selected = _select(project_syncs(), names)
    warehouse = open_warehouse(settings)
    results = []
    for sync in selected:
        if replay_dead_letters and not dry_run:
            released = clear_dead_letters(warehouse, sync.name)
            on_line(f"  {sync.name:<40} replaying {released} dead letters")
        try:
            result = run_sync(
                sync, warehouse, build_destination(sync), dry_run=dry_run, full_resync=full_resync
            )
        except Exception as error:  # recorded, redacted, in the run log by the engine
            message = recorded_error(error)
            on_line(f"  {sync.name:<40} failed: {message}")
            results.append(
                SyncRunResult("", sync.name, "failed", started_at=datetime.now(UTC), error=message)
            )
            continue
        results.append(result)
        if dry_run:
            planned = ", ".join(
                f"{count} {operation}" for operation, count in result.planned.items()
            )
            on_line(f"  {sync.name:<40} would send: {planned}")
            for sample in result.sample_payloads[:3]:
                on_line(f"      {sample}")
        else:
            on_line(
                f"  {sync.name:<40} added {result.added}, changed {result.changed}, "
                f"removed {result.removed}, failed {result.failed}, "
                f"skipped: {result.skipped_consent} without consent, "
                f"{result.skipped_holdout} holdout ({result.requests} requests)"
            )
    return results


# The option naming what a destination's records land in, per destination type.
_OBJECT_OPTIONS = ("list_id", "audience_id", "user_list_id", "url")


def destination_object(sync: SyncConfig) -> str:
    """What the sync writes to at the destination: a list, an audience, a URL, a folder."""
    options = sync.destination.options
    for option in _OBJECT_OPTIONS:
        if options.get(option):
            return f"{option}: {options[option]}"
    if sync.destination.type == "file":
        return f"folder: {sync.name}/"  # under CDP_ACTIVATION_DIR; no machine path
    return sync.destination.type


def render_exposures(syncs: Sequence[SyncConfig]) -> str:
    """dbt exposures, one per sync, downstream of the model it sends."""
    exposures = []
    for sync in syncs:
        model = sync.source.split(".")[-1]
        exposures.append(
            {
                "name": sync.name,
                "label": f"{model} → {sync.destination.type}",
                "type": "application",
                "maturity": "medium",
                "description": (
                    f"Sync of {model} to the {sync.destination.type} destination "
                    f"({sync.mode}; fields: {', '.join(sync.fields)}; consent purpose: "
                    f"{sync.consent_purpose}; schedule: {sync.schedule or 'manual'}). "
                    "Generated from dbt_project/syncs.yml by `cdp sync-exposures`."
                ),
                "owner": {"name": "activation"},
                "depends_on": [f"ref('{model}')"],
                "meta": {
                    "destination": sync.destination.type,
                    "destination_object": destination_object(sync),
                    "mode": sync.mode,
                    "identifiers": sync.identifiers,
                    "fields": sync.fields,
                    "consent_purpose": sync.consent_purpose,
                    "batch_size": sync.batch_size,
                    "schedule": sync.schedule or "manual",
                    "secrets_from_env": sync.secret_env,
                },
            }
        )
    header = "# Generated from dbt_project/syncs.yml by `cdp sync-exposures`; do not edit.\n"
    return header + yaml.safe_dump(
        {"exposures": exposures}, sort_keys=False, width=100, allow_unicode=True
    )
