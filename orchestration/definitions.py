"""Assembles the Dagster definitions; each area owns its own module."""

from dagster import Definitions, define_asset_job

from orchestration.dbt import cdp_dbt_assets, dbt_resource

build_everything = define_asset_job("build_everything", selection="*")

defs = Definitions(
    assets=[cdp_dbt_assets],
    jobs=[build_everything],
    resources={"dbt": dbt_resource},
)
