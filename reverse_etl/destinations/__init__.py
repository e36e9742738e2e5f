"""Destinations, and building one from a sync's configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reverse_etl.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    DestinationError,
    Record,
)
from reverse_etl.destinations.registry import DESTINATION_TYPES

if TYPE_CHECKING:
    from reverse_etl.config import SyncConfig


def build_destination(sync: SyncConfig) -> Destination:
    """The destination a sync declares, configured from its options."""
    return DESTINATION_TYPES[sync.destination.type].build(sync.destination.options)


__all__ = [
    "Batch",
    "BatchResult",
    "Destination",
    "DestinationError",
    "Record",
    "build_destination",
]
