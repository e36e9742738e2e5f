"""The durable event log: offsets without gaps, torn tails, segments, checkpoints."""

from __future__ import annotations

import os
import random

import pytest

from cdp.stream.eventlog import Checkpoint, EventLog


def _message(number: int) -> dict:
    return {"messageId": f"m{number}", "timestamp": "2026-12-02T10:00:00Z", "event": "E"}


def test_offsets_are_consecutive_across_appends_and_reopening(tmp_path):
    log = EventLog(tmp_path)
    assert log.append([("track", _message(0)), ("track", _message(1))]) == range(0, 2)
    log.close()
    reopened = EventLog(tmp_path)
    assert reopened.append([("identify", _message(2))]) == range(2, 3)
    assert [event.offset for event in reopened.read()] == [0, 1, 2]
    assert [event.message["messageId"] for event in reopened.read(1, limit=1)] == ["m1"]
    assert reopened.end_offset() == 3


def test_a_torn_last_line_is_ignored_then_cut_off(tmp_path):
    log = EventLog(tmp_path)
    log.append([("track", _message(0))])
    log.close()
    segment = next(tmp_path.glob("*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"offset": 1, "recei')
    assert [event.offset for event in EventLog(tmp_path).read()] == [0]
    writer = EventLog(tmp_path)
    assert writer.append([("track", _message(1))]) == range(1, 2)
    assert [event.message["messageId"] for event in writer.read()] == ["m0", "m1"]


def test_segments_roll_and_reading_starts_in_the_right_one(tmp_path):
    log = EventLog(tmp_path, segment_bytes=200)
    for number in range(10):
        log.append([("track", _message(number))])
    assert len(list(tmp_path.glob("*.jsonl"))) > 1
    assert [event.offset for event in log.read(7)] == [7, 8, 9]
    assert log.end_offset() == 10


def test_checkpoint_survives_a_new_process_and_starts_at_zero(tmp_path):
    checkpoint = Checkpoint(tmp_path / "consumer.json")
    assert checkpoint.load() == 0
    checkpoint.save(42)
    assert Checkpoint(tmp_path / "consumer.json").load() == 42


def test_reading_from_any_offset_finds_it_by_search_whatever_the_line_sizes(tmp_path):
    generator = random.Random(7)
    log = EventLog(tmp_path, segment_bytes=4000)
    for number in range(300):
        message = {**_message(number), "pad": "x" * generator.randrange(0, 400), "text": "é"}
        log.append([("track", message)])
    assert log.end_offset() == 300
    for start in [0, 1, 2, 37, 150, 151, 298, 299, 300, 301, *generator.sample(range(300), 40)]:
        offsets = [event.offset for event in log.read(start, limit=5)]
        assert offsets == list(range(start, min(start + 5, 300)))
    assert [event.message["text"] for event in log.read(299)] == ["é"]


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    log = EventLog(tmp_path)
    log.append([("track", _message(0))])
    real_fsync = os.fsync

    def failing_fsync(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        log.append([("track", _message(1)), ("track", _message(2))])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert log.end_offset() == 1
    assert log.append([("track", _message(3))]) == range(1, 2)
    assert [event.message["messageId"] for event in log.read()] == ["m0", "m3"]
