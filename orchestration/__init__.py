"""Dagster definitions for the pipeline: dbt models as assets, schedules, sensors and checks."""
