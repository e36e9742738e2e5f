"""Loading sync declarations from YAML, with errors that name the sync and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from reverse_etl.config import SyncConfigError, load_syncs

VALID = """
syncs:
  - name: champions_to_file
    source: segments.seg_champions
    fields: {email: email, first_name: first_name}
    batch_size: 200
    schedule: hourly
  - name: champions_to_webhook
    source: segments.seg_champions
    mode: upsert
    identifiers: [customer_id]
    fields: {email: email}
    consent_purpose: marketing_email
    destination:
      type: webhook
      options: {url: "https://example.invalid/hook", secret_env: CHAMPIONS_HOOK_SECRET}
    secret_env: [CHAMPIONS_HOOK_SECRET]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncs.yml"
    path.write_text(text)
    return path


def test_valid_syncs_load_with_defaults(tmp_path):
    syncs = load_syncs(_write(tmp_path, VALID))

    assert [sync.name for sync in syncs] == ["champions_to_file", "champions_to_webhook"]
    assert syncs[0].destination.type == "file"
    assert syncs[0].mode == "mirror"
    assert syncs[0].identifiers == ["customer_id"]
    assert syncs[1].destination.options["secret_env"] == "CHAMPIONS_HOOK_SECRET"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("    mode: sometimes\n", "field 'mode'"),
        ("    batch_size: 0\n", "field 'batch_size'"),
        (
            "    fields: {email: 'email; drop table x'}\n",
            "field 'fields': source column for 'email'",
        ),
        ("    source: 'segments.seg_champions; --'\n", "field 'source'"),
        ("    destination: {type: carrier_pigeon}\n", "field 'destination.type'"),
        ("    colour: blue\n", "field 'colour'"),
    ],
)
def test_an_invalid_field_is_reported_with_the_sync_and_field_name(tmp_path, change, expected):
    text = """
syncs:
  - name: broken_sync
    source: segments.seg_champions
    fields: {email: email}
"""
    key = change.split(":")[0].strip()
    lines = [line for line in text.splitlines(keepends=True) if line.strip().split(":")[0] != key]
    path = _write(tmp_path, "".join(lines) + change)

    with pytest.raises(SyncConfigError) as raised:
        load_syncs(path)

    assert "sync 'broken_sync'" in str(raised.value)
    assert expected in str(raised.value)


def test_a_missing_field_is_named(tmp_path):
    path = _write(tmp_path, "syncs:\n  - name: no_fields\n    source: segments.seg_x\n")
    with pytest.raises(SyncConfigError, match=r"sync 'no_fields'.*field 'fields'"):
        load_syncs(path)


def test_a_sync_declared_twice_is_refused(tmp_path):
    entry = "  - {name: twice, source: segments.seg_x, fields: {email: email}}\n"
    with pytest.raises(SyncConfigError, match=r"sync 'twice'.*declared twice"):
        load_syncs(_write(tmp_path, "syncs:\n" + entry + entry))


def test_a_file_without_a_syncs_list_is_refused(tmp_path):
    with pytest.raises(SyncConfigError, match="'syncs' list"):
        load_syncs(_write(tmp_path, "name: lonely\n"))
