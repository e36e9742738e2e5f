"""The file destination: an erasure removes the person from every earlier file of the sync."""

from __future__ import annotations

import json
from pathlib import Path

from reverse_etl.destinations.base import Batch, Record
from reverse_etl.destinations.file import FileDestination, FileDestinationConfig


def _add(key: str, email: str) -> Record:
    return Record("add", key, {"email": email}, "hash")


def _lines(directory: Path) -> dict[str, list[dict]]:
    return {
        path.name: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(directory.glob("*.jsonl"))
    }


def test_an_erase_rewrites_earlier_files_without_the_erased_records(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path))
    destination = FileDestination(FileDestinationConfig())
    destination.send(Batch("vip", "add", [_add("c1", "Erased@Example.com"), _add("c2", "k@x.io")]))
    destination.send(Batch("vip", "add", [_add("c1", "erased@example.com")]))
    destination.send(Batch("vip", "remove", [Record("remove", "c2", None, None)]))

    result = destination.send(Batch("vip", "erase", [Record("erase", "c1", None, None)]))

    files = _lines(tmp_path / "vip")
    assert result.acknowledged.keys() == {"c1"}
    assert len(files) == 3, "the file that held only c1 is gone"
    text = "".join(path.read_text() for path in (tmp_path / "vip").iterdir())
    assert "rased@" not in text.lower()
    assert [line["record_key"] for lines in files.values() for line in lines] == [
        "c2",
        "c2",
        "c1",
    ]
    assert [line["operation"] for line in files[max(files)]] == ["erase"]
    assert not list((tmp_path / "vip").glob("*.partial"))
