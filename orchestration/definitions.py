"""Assembles the Dagster definitions; each area owns its own module."""

from dagster import Definitions, define_asset_job

from orchestration import alerts, checks, schedules, sensors, syncs
from orchestration.dbt import cdp_dbt_assets, dbt_resource

build_everything = define_asset_job("build_everything", selection="*")

defs = Definitions(
    assets=[cdp_dbt_assets, *syncs.sync_assets],
    asset_checks=checks.checks,
    jobs=[build_everything, *schedules.jobs],
    schedules=schedules.schedules,
    sensors=[*sensors.sensors, *alerts.sensors],
    resources={"dbt": dbt_resource},
)
