"""A generic webhook: each batch is one signed JSON POST.

Body: `{"sync": ..., "operation": "add"|"change"|"remove", "records": [{"key", "payload"}]}`.
`X-Signature: sha256=<hex HMAC-SHA256 of the exact body>` with the secret read from the
environment variable the config names. A 2xx acknowledges the batch; the response body may
list per-record `rejected: [{"key", "reason"}]` and `ids: {key: destination id}`. Other 4xx
responses reject the whole batch as a `DestinationError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import ClassVar

from pydantic import Field

from reverse_etl.destinations.base import (
    ENV_NAME,
    Batch,
    BatchResult,
    Credential,
    DestinationError,
    HttpDestination,
    HttpDestinationOptions,
    generic_error_detail,
)
from reverse_etl.http import redact
from reverse_etl.redaction import reveal


class WebhookDestinationConfig(HttpDestinationOptions):
    credentials: ClassVar = (Credential("signing_secret", "secret_env"),)

    url: str
    secret_env: str = Field(pattern=ENV_NAME)
    max_batch_size: int = Field(default=100, ge=1)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDestination(HttpDestination):
    """One signed POST per batch, whatever its operation (no deletion API: erase is a
    removal, sent with `"operation": "erase"`)."""

    config: WebhookDestinationConfig

    def upsert(self, batch: Batch) -> BatchResult:
        return self._post(batch)

    def remove(self, batch: Batch) -> BatchResult:
        return self._post(batch)

    def _post(self, batch: Batch) -> BatchResult:
        document = {
            "sync": batch.sync_name,
            "operation": batch.operation,
            "records": [{"key": r.record_key, "payload": r.payload} for r in batch.records],
        }
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        response = self.client.request(
            "POST",
            self.config.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Signature": sign(body, reveal(self.credentials["signing_secret"])),
            },
        )
        if not 200 <= response.status_code < 300:
            detail = redact(generic_error_detail(response), self.client.secrets)
            raise DestinationError(f"webhook answered HTTP {response.status_code}: {detail}")
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        rejected = {
            str(item["key"]): redact(str(item.get("reason", "rejected")), self.client.secrets)
            for item in answer.get("rejected") or []
            if isinstance(item, dict) and "key" in item
        }
        ids = answer.get("ids") if isinstance(answer.get("ids"), dict) else {}
        acknowledged = {
            r.record_key: (str(ids[r.record_key]) if r.record_key in ids else r.destination_id)
            for r in batch.records
            if r.record_key not in rejected
        }
        return BatchResult(acknowledged=acknowledged, rejected=rejected)
