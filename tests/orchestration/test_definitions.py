"""The assembled definitions expose the jobs, schedules, sensors and checks of every area."""

from __future__ import annotations

from dagster import AssetKey, Definitions


def test_definitions_hold_the_jobs_schedules_and_sensors(defs: Definitions) -> None:
    for job_name in ("build_everything", "hourly_refresh", "nightly_build"):
        assert defs.resolve_job_def(job_name) is not None
    assert defs.resolve_schedule_def("hourly_refresh_schedule").job_name == "hourly_refresh"
    assert defs.resolve_schedule_def("nightly_build_schedule").job_name == "nightly_build"
    assert defs.resolve_sensor_def("landing_files_sensor") is not None
    assert defs.resolve_sensor_def("run_failure_alert") is not None


def test_custom_checks_are_attached_to_the_dbt_assets(defs: Definitions) -> None:
    check_keys = {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert "core/customers:identity_over_merge" in check_keys
    assert "audit/landing_audit:landing_freshness" in check_keys
    assert "segments/seg_champions:segment_size" in check_keys
    assert "activation/champions_to_file:sync_failure_rate" in check_keys


def test_hourly_job_leaves_nightly_models_and_the_snapshot_to_the_nightly_job(
    defs: Definitions,
) -> None:
    hourly = defs.resolve_job_def("hourly_refresh").asset_layer.selected_asset_keys
    nightly = defs.resolve_job_def("nightly_build").asset_layer.selected_asset_keys
    assert AssetKey(["segments", "segment_memberships"]) in hourly
    assert AssetKey(["core", "customers"]) in hourly
    assert AssetKey(["predictive", "customer_churn"]) not in hourly
    assert AssetKey(["predictive", "customer_churn"]) in nightly
    snapshots = {key for key in nightly if "segment_membership_history" in key.path}
    assert snapshots and not snapshots & hourly
    assert hourly < nightly


def test_dbt_assets_are_grouped_by_folder_and_owned_by_their_team(defs: Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    champions = specs[AssetKey(["segments", "seg_champions"])]
    assert champions.group_name == "segments"
    assert champions.owners == ["team:lifecycle-marketing"]
    assert champions.description.startswith("Bought recently and often")
    assert specs[AssetKey(["core", "customer_traits"])].group_name == "traits"


def test_hourly_job_runs_the_custom_checks_of_the_assets_it_builds(defs: Definitions) -> None:
    from orchestration.schedules import hourly_selection

    check_names = {
        key.name for key in hourly_selection().resolve_checks(defs.resolve_asset_graph())
    }
    assert {"segment_size", "identity_over_merge", "landing_freshness"} <= check_names
    assert "sync_failure_rate" in check_names
    assert any(name.startswith("unique_") for name in check_names)  # dbt's tests stay too


def test_every_sync_is_an_asset_downstream_of_the_segment_it_sends(defs: Definitions) -> None:
    from cdp.activation import batch_syncs, project_syncs

    graph = defs.resolve_asset_graph()
    syncs = project_syncs()
    for sync in syncs:
        key = AssetKey(["activation", sync.name])
        if sync.schedule == "realtime":  # sent by `cdp stream`, never by a Dagster run
            assert not graph.has(key)
    for sync in batch_syncs(syncs):
        key = AssetKey(["activation", sync.name])
        schema, model = sync.source.split(".")
        assert AssetKey([schema, model]) in graph.get(key).parent_keys
    nightly = defs.resolve_job_def("nightly_build").asset_layer.selected_asset_keys
    assert AssetKey(["activation", "champions_to_file"]) in nightly


def test_hourly_job_runs_exactly_the_syncs_tagged_hourly_and_nightly_runs_all(
    defs: Definitions,
) -> None:
    from cdp.activation import batch_syncs, project_syncs

    syncs = batch_syncs(project_syncs())
    hourly_syncs = {AssetKey(["activation", s.name]) for s in syncs if s.schedule == "hourly"}
    other_syncs = {AssetKey(["activation", s.name]) for s in syncs} - hourly_syncs
    assert hourly_syncs and other_syncs  # the sample configuration has both kinds

    hourly_job = defs.resolve_job_def("hourly_refresh")
    hourly = hourly_job.asset_layer.selected_asset_keys
    nightly = defs.resolve_job_def("nightly_build").asset_layer.selected_asset_keys
    assert {key for key in hourly if key.path[0] == "activation"} == hourly_syncs
    assert hourly_syncs | other_syncs <= nightly
    # Each hourly sync's segment is rebuilt in the same run, and its failure-rate check runs.
    graph = defs.resolve_asset_graph()
    for key in hourly_syncs:
        assert graph.get(key).parent_keys <= hourly
    checks = hourly_job.asset_layer.asset_graph.asset_check_keys
    assert {check.asset_key for check in checks if check.name == "sync_failure_rate"} == (
        hourly_syncs
    )


def test_hourly_job_leaves_the_nightly_dbt_tests_to_the_nightly_job(defs: Definitions) -> None:
    from orchestration.dbt import FULL_REFRESH_TAG
    from orchestration.schedules import hourly_selection, nightly_job

    graph = defs.resolve_asset_graph()
    hourly = {key.name for key in hourly_selection().resolve_checks(graph)}
    nightly = {
        key.name
        for key in defs.resolve_job_def("nightly_build").asset_layer.asset_graph.asset_check_keys
    }
    whole_table = (
        "unique_combination_int_identity__observations"
        "_record_source__record_key__identifier_type__identifier_key"
    )
    assert whole_table not in hourly and whole_table in nightly
    # the staging and identity tests are whole-table integrity checks of internal tables
    staging_test = "unique_stg_shop__orders_order_id"
    assert staging_test not in hourly and staging_test in nightly
    assert "unique_customers_customer_id" in hourly  # the checks that gate syncs stay hourly
    assert nightly_job().tags[FULL_REFRESH_TAG] == "true"
