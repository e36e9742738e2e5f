"""The collector's HTTP contract: write key, bad and oversized messages (4xx with a reason, kept
in the reject log, never in the application log), overload and a full disk (503 with
Retry-After, nothing accepted), defaults, clock skew and group commit."""

from __future__ import annotations

import gzip
import json
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.stream.conftest import WRITE_KEY, start_collector

AUTH = (WRITE_KEY, "")
SECRET = "secret-person@example.com"


def _rejects(running) -> list[dict]:
    lines = []
    for path in sorted(running.paths.reject_dir.glob("*.jsonl")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def test_a_track_is_on_disk_when_answered_200_with_defaults_filled(collector_server):
    before = datetime.now(UTC)
    response = requests.post(
        f"{collector_server.url}/v1/track",
        json={"userId": 42, "event": "Signed Up", "properties": {"plan": "pro"}},
        auth=AUTH,
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [event] = collector_server.log.read()
    assert event.type == "track"
    message = event.message
    assert message["userId"] == "42"
    assert len(message["messageId"]) == 36  # generated
    timestamp = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= timestamp <= datetime.now(UTC) + timedelta(seconds=1)
    assert message["timestamp"] == message["receivedAt"]


def test_the_write_key_is_accepted_in_the_body_and_refused_when_wrong(collector_server):
    url = f"{collector_server.url}/v1/identify"
    message = {"userId": "u1", "traits": {"email": SECRET}}
    assert requests.post(url, json={**message, "writeKey": WRITE_KEY}).status_code == 200
    refused = requests.post(url, json=message, auth=("wrong", ""))
    assert refused.status_code == 401
    assert refused.json()["success"] is False
    assert requests.post(url, json=message).status_code == 401
    logged = list(collector_server.log.read())
    assert len(logged) == 1
    assert "writeKey" not in logged[0].message


def test_clock_skew_is_corrected_with_sent_at(collector_server):
    # the client's clock is one hour fast: its timestamp and sentAt are both an hour ahead
    now = datetime.now(UTC)
    response = requests.post(
        f"{collector_server.url}/v1/track",
        json={
            "anonymousId": "a1",
            "event": "Checkout Started",
            "timestamp": (now + timedelta(hours=1) - timedelta(minutes=5)).isoformat(),
            "sentAt": (now + timedelta(hours=1)).isoformat(),
        },
        auth=AUTH,
    )
    assert response.status_code == 200
    [event] = collector_server.log.read()
    corrected = datetime.fromisoformat(event.message["timestamp"].replace("Z", "+00:00"))
    assert abs((corrected - (now - timedelta(minutes=5))).total_seconds()) < 30
    assert event.message["originalTimestamp"]


BAD_MESSAGES = [
    ("track", {"event": "Signed Up", "properties": {"email": SECRET}}, "userId or anonymousId"),
    ("track", {"userId": "u1", "properties": {"email": SECRET}}, "event name"),
    ("track", {"userId": "u1", "event": "E", "properties": [SECRET]}, "properties must be"),
    ("identify", {"userId": {"email": SECRET}}, "userId must be a string"),
    ("identify", {"userId": "u1", "timestamp": "yesterday", "traits": {"e": SECRET}}, "ISO 8601"),
    ("group", {"userId": "u1", "traits": {"email": SECRET}}, "groupId"),
    ("alias", {"userId": "u1", "traits": {"email": SECRET}}, "previousId"),
    ("alias", {"previousId": "a1", "anonymousId": SECRET}, "userId"),
]


@pytest.mark.parametrize(("call", "message", "reason"), BAD_MESSAGES)
def test_bad_messages_get_400_with_the_reason_and_land_in_the_reject_log(
    collector_server, caplog, call, message, reason
):
    caplog.set_level(logging.DEBUG)
    response = requests.post(f"{collector_server.url}/v1/{call}", json=message, auth=AUTH)
    assert response.status_code == 400
    assert reason in response.json()["message"]
    assert collector_server.log.end_offset() == 0
    [rejected] = _rejects(collector_server)
    assert reason in rejected["reason"]
    assert {**rejected["payload"], "type": call} == {**message, "type": call}
    assert SECRET not in caplog.text


def test_invalid_json_and_a_non_object_body_are_rejected(collector_server, caplog):
    url = f"{collector_server.url}/v1/track"
    broken = requests.post(url, data=b'{"userId": "' + SECRET.encode() + b'", ', auth=AUTH)
    assert broken.status_code == 400
    assert broken.json()["message"] == "invalid JSON"
    listed = requests.post(url, json=[1, 2], auth=AUTH)
    assert listed.status_code == 400
    reasons = [record["reason"] for record in _rejects(collector_server)]
    assert reasons == ["invalid JSON", "the body must be a JSON object"]
    assert SECRET in _rejects(collector_server)[0]["payload"]
    assert SECRET not in caplog.text


def test_oversized_message_and_batch_get_400(collector_server):
    big = {"userId": "u1", "event": "E", "properties": {"blob": "x" * (33 * 1024)}}
    single = requests.post(f"{collector_server.url}/v1/track", json=big, auth=AUTH)
    assert single.status_code == 400
    assert "limit" in single.json()["message"]
    # a batch of small messages over 500 KB in all
    batch = {
        "batch": [
            {"type": "track", "userId": f"u{n}", "event": "E", "properties": {"b": "y" * 1000}}
            for n in range(600)
        ]
    }
    whole = requests.post(f"{collector_server.url}/v1/batch", json=batch, auth=AUTH)
    assert whole.status_code == 400
    # one message over 32 KB inside a batch under 500 KB
    inside = {"batch": [{**big, "type": "track"}, {"type": "track", "userId": "u2", "event": "E"}]}
    mixed = requests.post(f"{collector_server.url}/v1/batch", json=inside, auth=AUTH)
    assert mixed.status_code == 400
    assert mixed.json()["rejected"][0]["index"] == 0
    assert "32768 byte limit" in mixed.json()["rejected"][0]["reason"]
    assert [event.message["userId"] for event in collector_server.log.read()] == ["u2"]
    rejects = _rejects(collector_server)
    assert len(rejects) == 3
    assert rejects[0]["payload"].startswith('{"userId"')  # the start of the oversized body


def test_a_batch_keeps_its_valid_messages_and_names_the_bad_ones(collector_server):
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "A"},
            {"type": "track", "userId": "u1"},
            {"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"}},
            {"type": "unknown", "userId": "u1"},
            "not an object",
        ]
    }
    response = requests.post(f"{collector_server.url}/v1/batch", json=batch, auth=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 2
    assert [item["index"] for item in body["rejected"]] == [1, 3, 4]
    assert [event.type for event in collector_server.log.read()] == ["track", "identify"]
    assert len(_rejects(collector_server)) == 3


def test_gzip_bodies_are_read(collector_server):
    body = gzip.compress(json.dumps({"batch": [{"type": "page", "anonymousId": "a"}]}).encode())
    response = requests.post(
        f"{collector_server.url}/v1/batch",
        data=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        auth=AUTH,
    )
    assert response.status_code == 200
    assert collector_server.log.end_offset() == 1


def test_overload_answers_503_with_retry_after_and_accepts_nothing(tmp_path):
    running = start_collector(tmp_path / "stream", max_pending=3)
    try:
        batch = {"batch": [{"type": "track", "userId": "u", "event": "E"}] * 4}
        response = requests.post(f"{running.url}/v1/batch", json=batch, auth=AUTH)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert running.log.end_offset() == 0
        small = {"batch": batch["batch"][:3]}
        assert requests.post(f"{running.url}/v1/batch", json=small, auth=AUTH).status_code == 200
    finally:
        running.stop()


def test_a_full_disk_answers_503_and_nothing_is_half_written(tmp_path):
    running = start_collector(tmp_path / "stream", min_free_bytes=1 << 62)
    try:
        message = {"userId": "u", "event": "E"}
        response = requests.post(f"{running.url}/v1/track", json=message, auth=AUTH)
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        assert running.log.end_offset() == 0
        assert requests.get(f"{running.url}/health").status_code == 200
    finally:
        running.stop()


def test_concurrent_requests_share_fsyncs_and_every_one_is_logged(collector_server):
    def send(number: int) -> int:
        message = {"userId": f"u{number}", "event": "E", "messageId": f"m{number}"}
        return requests.post(
            f"{collector_server.url}/v1/track", json=message, auth=AUTH
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, range(400)))
    assert statuses == [200] * 400
    logged = [event.message["messageId"] for event in collector_server.log.read()]
    assert sorted(logged) == sorted(f"m{number}" for number in range(400))
    committer = collector_server.collector.committer
    assert committer.committed == 400
    assert committer.commits < 400  # some requests were committed together


def test_the_write_key_is_not_kept_with_a_rejected_message(collector_server):
    message = {"event": "E", "writeKey": WRITE_KEY}
    response = requests.post(f"{collector_server.url}/v1/track", json=message)
    assert response.status_code == 400
    [rejected] = _rejects(collector_server)
    assert WRITE_KEY not in json.dumps(rejected)


def test_a_truncated_gzip_body_is_rejected(collector_server):
    body = gzip.compress(json.dumps({"batch": [{"type": "page", "anonymousId": "a"}]}).encode())
    response = requests.post(
        f"{collector_server.url}/v1/batch",
        data=body[: len(body) // 2],
        headers={"Content-Encoding": "gzip"},
        auth=AUTH,
    )
    assert response.status_code == 400
    assert collector_server.log.end_offset() == 0


def test_import_is_the_batch_endpoint_and_health_counts(collector_server):
    batch = {"batch": [{"type": "screen", "userId": "u1", "name": "Home"}]}
    response = requests.post(f"{collector_server.url}/v1/import", json=batch, auth=AUTH)
    assert response.status_code == 200
    health = requests.get(f"{collector_server.url}/health").json()
    assert (health["status"], health["end_offset"], health["accepted"]) == ("ok", 1, 1)
    assert requests.get(f"{collector_server.url}/v1/track").status_code == 405
