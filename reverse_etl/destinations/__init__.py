"""Destinations, and building one from a sync's configuration."""

from __future__ import annotations

from reverse_etl.config import SyncConfig
from reverse_etl.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    DestinationError,
    Record,
)


def build_destination(sync: SyncConfig) -> Destination:
    """The destination a sync declares, configured from its options."""
    if sync.destination.type == "webhook":
        from reverse_etl.destinations.webhook import WebhookDestination, WebhookDestinationConfig

        return WebhookDestination(WebhookDestinationConfig(**sync.destination.options))
    from reverse_etl.destinations.file import FileDestination, FileDestinationConfig

    return FileDestination(FileDestinationConfig(**sync.destination.options))


__all__ = [
    "Batch",
    "BatchResult",
    "Destination",
    "DestinationError",
    "Record",
    "build_destination",
]
