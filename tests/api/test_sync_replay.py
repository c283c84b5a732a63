"""A replayed sync operation answers from its stored outcome and shows no row it may not."""

from __future__ import annotations

import uuid

from tests.api.conftest import API, new_user
from tests.api.test_sync import op, sync


def test_a_replay_with_another_users_id_shows_nothing_of_that_row(make_client):
    client = make_client(auth_required=True)
    _, alice = new_user(client)
    _, mallory = new_user(client)
    secret = uuid.uuid4()
    sync(client, {"client_id": "a", "operations": [op("INSERT", secret, title="secret")]}, alice)
    own = uuid.uuid4()
    sync(client, {"client_id": "m", "operations": [op("INSERT", own, title="mine")]}, mallory)
    stale = op("UPDATE", own, title="older", ts=-60)
    first = sync(client, {"client_id": "m", "operations": [stale]}, mallory)
    assert [c["reason"] for c in first["conflicts"]] == ["stale"]
    assert first["conflicts"][0]["server_row"]["title"] == "mine"

    replay = {**stale, "data": {**stale["data"], "id": str(secret)}}
    again = sync(client, {"client_id": "m", "operations": [replay]}, mallory)
    assert "secret" not in str(again)
    assert again["conflicts"] == [
        {"operation_id": stale["id"], "reason": "replay_mismatch", "server_row": None}
    ]
    alices = client.get(f"{API}/items/{secret}", headers=alice).get_json()
    assert alices["title"] == "secret"


def test_an_identical_replay_reports_the_first_outcome(make_client):
    client = make_client(auth_required=True)
    _, user = new_user(client)
    row = uuid.uuid4()
    sync(client, {"client_id": "c", "operations": [op("INSERT", row, title="now")]}, user)
    stale = op("UPDATE", row, title="older", ts=-60)
    first = sync(client, {"client_id": "c", "operations": [stale]}, user)
    again = sync(client, {"client_id": "c", "operations": [stale]}, user)
    assert again["conflicts"] == first["conflicts"]
    applied = op("UPDATE", row, title="newer")
    assert sync(client, {"client_id": "c", "operations": [applied]}, user)["changes_applied"]
    assert sync(client, {"client_id": "c", "operations": [applied]}, user)["changes_applied"] == [
        applied["id"]
    ]
    changed = {**applied, "data": {**applied["data"], "title": "different"}}
    out = sync(client, {"client_id": "c", "operations": [changed]}, user)
    assert out["changes_applied"] == [] and out["conflicts"][0]["reason"] == "replay_mismatch"
    assert client.get(f"{API}/items/{row}", headers=user).get_json()["title"] == "newer"
