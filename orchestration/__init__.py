"""Dagster definitions for the pipeline: dbt models as assets, schedules, sensors and checks.

Importing the package installs log redaction for the process (reverse_etl.redaction): every
log record and uncaught exception of the code server, the daemon and run workers is cleaned of
secrets and personal data.
"""

from reverse_etl.redaction import install_log_redaction

install_log_redaction()
