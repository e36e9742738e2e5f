"""Tell people when a run fails or a check finds bad data.

Alerts are always logged; when CDP_ALERT_WEBHOOK_URL is set they are also posted as
Slack-compatible JSON (`{"text": ...}`), which Slack, Mattermost, Rocket.Chat and Teams
workflow webhooks accept. A failing webhook never fails the run or the check that alerted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import requests
from dagster import DefaultSensorStatus, Definitions, RunFailureSensorContext, run_failure_sensor

from reverse_etl.redaction import redact, register_env_secret, register_secret

logger = logging.getLogger(__name__)

WEBHOOK_ENV = "CDP_ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 10


def post_alert(
    text: str, webhook_url: str | None = None, *, timeout: float = TIMEOUT_SECONDS
) -> bool:
    """Log `text` and post it to the webhook (argument, else CDP_ALERT_WEBHOOK_URL).

    The text is redacted first (secrets, personal data): it is a log line and a chat message.

    Returns whether the webhook acknowledged it; False when none is configured or it failed.
    """
    text = redact(text)
    logger.warning("ALERT: %s", text)
    register_env_secret(WEBHOOK_ENV)
    url = webhook_url or os.environ.get(WEBHOOK_ENV, "").strip()
    if webhook_url:
        register_secret(webhook_url)
    if not url:
        return False
    try:
        response = requests.post(url, json={"text": text}, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as error:  # the URL is a secret: the record is redacted
        logger.error("Could not post the alert to the webhook: %s", redact(str(error)))
        return False
    return True


def run_failure_text(job_name: str, run_id: str, message: str | None) -> str:
    first_line = (message or "no error message").strip().splitlines()[0][:300]
    return f":red_circle: Dagster run of `{job_name}` failed (run {run_id[:8]}): {first_line}"


def check_failure_text(
    asset: str, check: str, description: str, metadata: Mapping[str, Any]
) -> str:
    # Metadata values (MetadataValue.float, ...) are shown by what they hold.
    details = ", ".join(
        f"{key}={getattr(value, 'value', value)}" for key, value in list(metadata.items())[:8]
    )
    text = f":warning: Check `{check}` on `{asset}` failed: {description}"
    return f"{text} ({details})" if details else text


def alert_check_failure(
    asset: str, check: str, description: str, metadata: Mapping[str, Any]
) -> bool:
    """The check-failure path: every custom check calls this when it does not pass."""
    return post_alert(check_failure_text(asset, check, description, metadata))


@run_failure_sensor(
    name="run_failure_alert",
    default_status=DefaultSensorStatus.RUNNING,
    description=f"Posts failed runs to {WEBHOOK_ENV} (when set) and logs them always.",
)
def run_failure_alert(context: RunFailureSensorContext) -> None:
    run = context.dagster_run
    post_alert(run_failure_text(run.job_name, run.run_id, context.failure_event.message))


sensors = [run_failure_alert]


def defs() -> Definitions:
    """The alerts area: the run-failure sensor (check failures alert from the checks)."""
    return Definitions(sensors=sensors)
