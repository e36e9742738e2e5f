"""Destinations, and building one from a sync's configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reverse_etl.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    DestinationError,
    Record,
)
from reverse_etl.destinations.registry import DESTINATION_TYPES
from reverse_etl.results import SyncConfigError

if TYPE_CHECKING:
    from reverse_etl.config import SyncConfig


def build_destination(sync: SyncConfig, warehouse: Path | None = None) -> Destination:
    """The destination a sync declares, configured from its options.

    `warehouse` (the DuckDB file, or Spark's directory) is where the sync reads from; the file
    destination writes next to it unless CDP_ACTIVATION_DIR says otherwise. The credentials
    the destination's config names are resolved here, once (`base.resolve_credentials`).
    """
    return DESTINATION_TYPES[sync.destination.type].build(sync.destination.options, warehouse)


def build_destinations(
    syncs: list[SyncConfig], warehouse: Path | None = None
) -> dict[str, Destination | Exception]:
    """Every sync's destination, built before any sync runs.

    A destination its configuration does not allow (SyncConfigError, e.g. a file destination's
    directory outside its root) stops everything here, before anything is sent. Any other
    error (a missing secret) belongs to its sync alone: it is kept, and `usable` raises it when
    that sync runs, so the other syncs still run.
    """
    built: dict[str, Destination | Exception] = {}
    for sync in syncs:
        try:
            built[sync.name] = build_destination(sync, warehouse)
        except SyncConfigError:
            raise
        except Exception as error:
            built[sync.name] = error
    return built


def usable(destination: Destination | Exception) -> Destination:
    """The destination `build_destinations` built, or the error building it raised again."""
    if isinstance(destination, Exception):
        raise destination
    return destination


__all__ = [
    "Batch",
    "BatchResult",
    "Destination",
    "DestinationError",
    "Record",
    "build_destination",
    "build_destinations",
    "usable",
]
