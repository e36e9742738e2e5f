"""Which destination types exist, and where each one's config and implementation live.

Each destination module defines a pydantic config model (extra fields forbidden; the HTTP
ones on `base.HttpDestinationOptions`) and a destination class whose constructor takes that
config. Modules are imported only when a sync uses them, so a sync file is validated without
importing every vendor's code. `build` resolves the credentials an HTTP config declares once,
here, and hands them to the destination: no vendor module reads the environment.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reverse_etl.destinations.base import HttpDestinationOptions, resolve_credentials


@dataclass(frozen=True)
class DestinationType:
    module: str
    config_class: str
    destination_class: str
    # Whether the destination places what it writes by the warehouse (the file destination).
    takes_warehouse: bool = False

    def config_model(self) -> type[BaseModel]:
        return getattr(importlib.import_module(self.module), self.config_class)

    def build(self, options: dict[str, Any], warehouse: Path | None = None) -> Any:
        config = self.config_model()(**options)
        destination = getattr(importlib.import_module(self.module), self.destination_class)
        if self.takes_warehouse:
            return destination(config, warehouse=warehouse)
        if isinstance(config, HttpDestinationOptions):
            return destination(config, credentials=resolve_credentials(config))
        return destination(config)


_PACKAGE = "reverse_etl.destinations"

DESTINATION_TYPES: dict[str, DestinationType] = {
    "file": DestinationType(
        f"{_PACKAGE}.file", "FileDestinationConfig", "FileDestination", takes_warehouse=True
    ),
    "webhook": DestinationType(
        f"{_PACKAGE}.webhook", "WebhookDestinationConfig", "WebhookDestination"
    ),
    "klaviyo": DestinationType(
        f"{_PACKAGE}.klaviyo", "KlaviyoDestinationConfig", "KlaviyoDestination"
    ),
    "sendgrid": DestinationType(
        f"{_PACKAGE}.sendgrid", "SendGridDestinationConfig", "SendGridDestination"
    ),
    "meta_custom_audience": DestinationType(
        f"{_PACKAGE}.meta", "MetaCustomAudienceConfig", "MetaCustomAudienceDestination"
    ),
    "google_ads_customer_match": DestinationType(
        f"{_PACKAGE}.google_ads",
        "GoogleAdsCustomerMatchConfig",
        "GoogleAdsCustomerMatchDestination",
    ),
    "hubspot": DestinationType(
        f"{_PACKAGE}.hubspot", "HubSpotDestinationConfig", "HubSpotDestination"
    ),
}
