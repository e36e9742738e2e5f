"""The Dagster definitions: each area's own Definitions, merged.

`defs` is lazy (`dagster.definitions`): importing this module builds nothing. Dagster calls it
when it loads the code location (`dagster dev -m orchestration.definitions`), and only then is
the dbt project's manifest found or parsed (orchestration/dbt.py). Calling `defs()` again in
the same process returns the same Definitions.

Areas (each module's `defs()`): dbt (the dbt assets and the `dbt` resource), syncs (one asset
per sync), checks (custom checks and the `warehouse` and `check_thresholds` resources),
schedules (the jobs and their schedules), sensors (the landing sensor), stream (the health
checks of `cdp stream` and their sensor) and alerts (the run-failure sensor).
"""

import functools

from dagster import Definitions, definitions

from orchestration import alerts, checks, dbt, schedules, sensors, stream, syncs

AREAS = (dbt, syncs, checks, schedules, sensors, stream, alerts)


@functools.cache
def load_definitions() -> Definitions:
    return Definitions.merge(*(area.defs() for area in AREAS))


@definitions
def defs() -> Definitions:
    return load_definitions()
