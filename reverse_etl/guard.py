"""The mass-change guard: one run never takes most of an audience away by accident.

A segment that suddenly empties (a one-letter typo in a rule, an empty consent file, a broken
upstream table) would otherwise be mirrored faithfully: every member removed at the
destination. Before a run sends anything, the engine counts its delta against what the
destination holds, i.e. the sync's last ACKNOWLEDGED state (`reverse_etl.sync_state`), not
the last build: a refused run changes nothing there, so the next run is refused again until
the data is fixed or someone overrides the guard explicitly.

The rule (`SyncConfig.mass_change`, defaults at the top of the sync file): a run is refused
when its removals are at least `min_records` and more than `max_removed_share` of the records
held, or likewise for its changes (`max_changed_share`). The minimum keeps a tiny audience
from being blocked by one person leaving.

What a refused run still sends, because the law or the person asked for it:

- erasures: a person who asked to be forgotten is always erased, whatever else happens;
- recorded withdrawals of consent: a person whose `consent_<purpose>` is false AND has a
  recorded time (`consent_<purpose>_recorded_at` of the consent relation: a denied or revoked
  event was received) is removed. Consent that is merely missing (no event at all, e.g. an
  empty or truncated consent file) counts as an ordinary removal and is guarded, because that
  is exactly how an export mistake looks. Recorded withdrawals are not counted towards the
  share either: honouring them can never be wrong, even many at once.

Everything else of a refused run (additions, changes, removals) is held back: the run is
recorded in the run log with status `blocked` and the reason, and the caller exits non-zero.
An override (`allow_mass_change`) lets the run through and records that in the run log.
"""

from __future__ import annotations

from reverse_etl.config import MassChangeConfig
from reverse_etl.results import BLOCKED, DeltaCounts

__all__ = ["BLOCKED", "DeltaCounts", "mass_change_reason"]


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def mass_change_reason(counts: DeltaCounts, config: MassChangeConfig) -> str | None:
    """Why the guard refuses this run, in one sentence; None when it lets it through."""
    if not config.enabled or counts.held == 0:
        return None
    problems = []
    for verb, count, limit in (
        ("remove", counts.removed, config.max_removed_share),
        ("change", counts.changed, config.max_changed_share),
    ):
        if count >= config.min_records and count > limit * counts.held:
            problems.append(
                f"would {verb} {count} of the {counts.held} records the destination holds"
                f" ({_share(count, counts.held)}, more than {limit:.0%})"
            )
    if not problems:
        return None
    return "mass change: " + "; ".join(problems)
