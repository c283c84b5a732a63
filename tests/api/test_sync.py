"""POST /api/v1/sync over HTTP: applying batches, the feed, conflicts, retries, ownership, bad
input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import API, new_user, superuser_headers

SYNC = f"{API}/sync"


def stamp(seconds: float = 0) -> str:
    """An ISO timestamp ``seconds`` from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def op(
    kind: str,
    row_id,
    *,
    title: str = "t",
    ts: float = 0,
    table: str = "items",
    op_id: str | None = None,
    **extra,
) -> dict:
    """One operation on an item."""
    data = {"id": str(row_id)}
    if kind != "DELETE":
        data |= {"title": title, **extra}
    return {
        "id": op_id or uuid.uuid4().hex,
        "table": table,
        "operation": kind,
        "data": data,
        "timestamp": stamp(ts),
    }


def sync(client, body: dict, headers=None, status: int = 200) -> dict:
    """Send a batch; the superuser's unless ``headers`` say otherwise."""
    response = client.post(SYNC, json=body, headers=headers or superuser_headers(client))
    assert response.status_code == status, response.get_json()
    return response.get_json()


class AsSuperuser:
    """The checked client, every request made as the superuser."""

    def __init__(self, client) -> None:
        self.client, self.headers = client, superuser_headers(client)

    def __getattr__(self, method):
        return lambda path, **kw: getattr(self.client, method)(path, headers=self.headers, **kw)


@pytest.fixture
def su(client) -> AsSuperuser:
    """Requests as the superuser, in both auth modes."""
    return AsSuperuser(client)


def test_a_batch_applies_and_comes_back_once_in_the_feed(client, su):
    row = uuid.uuid4()
    first = op("INSERT", row, title="draft", ts=-10)
    second = op("UPDATE", row, title="final", ts=-5)
    out = sync(client, {"client_id": "laptop", "operations": [first, second]})
    assert out["changes_applied"] == [first["id"], second["id"]]
    assert out["conflicts"] == []
    mine = [c for c in out["changes"] if c["id"] == str(row)]
    assert len(mine) == 1
    assert mine[0]["data"]["title"] == "final"
    assert mine[0]["operation_id"] == second["id"] and mine[0]["client_id"] == "laptop"
    # The item is there through REST too, and the next sync from the new cursor is empty.
    assert su.get(f"{API}/items/{row}").get_json()["title"] == "final"
    again = sync(client, {"client_id": "laptop", "cursor": out["cursor"]})
    assert again["changes"] == [] and again["cursor"] == out["cursor"]


def test_rest_writes_reach_the_feed_and_deletes_are_tombstones(client, su):
    start = sync(client, {"client_id": "phone"})["cursor"]
    created = su.post(f"{API}/items/", json={"title": "rest"}).get_json()
    su.put(f"{API}/items/{created['id']}", json={"title": "rest 2"})
    feed = sync(client, {"client_id": "phone", "cursor": start})
    assert [(c["id"], c["operation"], c["data"]["title"]) for c in feed["changes"]] == [
        (created["id"], "UPSERT", "rest 2")
    ]
    su.delete(f"{API}/items/{created['id']}")
    after = sync(client, {"client_id": "phone", "cursor": feed["cursor"]})
    assert [(c["id"], c["operation"], c["data"]) for c in after["changes"]] == [
        (created["id"], "DELETE", None)
    ]


def test_an_older_write_is_a_conflict_with_the_server_row(client):
    row = uuid.uuid4()
    sync(client, {"client_id": "a", "operations": [op("INSERT", row, title="new", ts=-1)]})
    old = op("UPDATE", row, title="old", ts=-60)
    out = sync(client, {"client_id": "b", "operations": [old]})
    assert out["changes_applied"] == []
    assert out["conflicts"] == [
        {
            "operation_id": old["id"],
            "reason": "stale",
            "server_row": out["conflicts"][0]["server_row"],
        }
    ]
    assert out["conflicts"][0]["server_row"]["title"] == "new"


def test_a_delete_beats_an_older_insert_arriving_later(client, su):
    row = uuid.uuid4()
    sync(client, {"client_id": "a", "operations": [op("DELETE", row, ts=-1)]})
    out = sync(client, {"client_id": "b", "operations": [op("INSERT", row, ts=-30)]})
    assert out["conflicts"][0]["reason"] == "stale" and out["conflicts"][0]["server_row"] is None
    assert su.get(f"{API}/items/{row}").status_code == 404


def test_ties_break_on_client_id_then_operation_id(client, su):
    row = uuid.uuid4()
    ts = stamp(-5)
    a = {**op("INSERT", row, title="from a", op_id="1"), "timestamp": ts}
    b = {**op("UPDATE", row, title="from b", op_id="1"), "timestamp": ts}
    sync(client, {"client_id": "b", "operations": [b]})
    out = sync(client, {"client_id": "a", "operations": [a]})
    assert out["conflicts"][0]["reason"] == "stale"
    assert su.get(f"{API}/items/{row}").get_json()["title"] == "from b"


def test_future_timestamps_are_refused(client, su):
    row = uuid.uuid4()
    out = sync(client, {"client_id": "fast", "operations": [op("INSERT", row, ts=3600)]})
    assert out["conflicts"][0]["reason"] == "clock_skew"
    assert su.get(f"{API}/items/{row}").status_code == 404


def test_a_retried_batch_is_not_applied_twice(client, su):
    row = uuid.uuid4()
    batch = {"client_id": "flaky", "operations": [op("INSERT", row, title="once", ts=-9)]}
    first = sync(client, batch)
    # Meanwhile another client changes the row; the retry must not undo that.
    sync(client, {"client_id": "other", "operations": [op("UPDATE", row, title="later", ts=-1)]})
    retry = sync(client, batch)
    assert retry["changes_applied"] == first["changes_applied"]
    assert su.get(f"{API}/items/{row}").get_json()["title"] == "later"


def test_bad_batches_change_nothing(client, su):
    row = uuid.uuid4()
    good = op("INSERT", row)
    count = su.get(f"{API}/items/").get_json()["count"]
    bad_bodies = [
        {"client_id": "c", "operations": [good, op("INSERT", uuid.uuid4(), table="nope")]},
        {"client_id": "c", "operations": [good, {**op("UPDATE", row), "operation": "UPSERT"}]},
        {
            "client_id": "c",
            "operations": [good, op("INSERT", uuid.uuid4(), owner_id=str(uuid.uuid4()))],
        },
        {"client_id": "c", "operations": [good, op("INSERT", "not-a-uuid")]},
        {"client_id": "c", "operations": [good, op("INSERT", uuid.uuid4(), title="")]},
        {"client_id": "c", "operations": [good, {**good}]},
        {"client_id": "c", "operations": [good, op("INSERT", uuid.uuid4(), table="models/x/y")]},
        {"client_id": "c", "operations": [op("INSERT", uuid.uuid4()) for _ in range(1001)]},
        {"client_id": "c", "cursor": "garbage", "operations": [good]},
        {"client_id": "bad id!", "operations": [good]},
        {"client_id": "c", "operations": [good], "extra": 1},
    ]
    for body in bad_bodies:
        response = su.post(SYNC, json=body)
        assert 400 <= response.status_code < 500, (body, response.get_json())
        assert response.status_code != 404 or "models" in str(body)
    assert su.get(f"{API}/items/").get_json()["count"] == count
    assert su.get(f"{API}/items/{row}").status_code == 404


def test_users_sync_only_their_own_rows(make_client):
    client = make_client(auth_required=True)
    _, alice = new_user(client)
    _, bob = new_user(client)
    row = uuid.uuid4()
    sync(
        client,
        {"client_id": "alice", "operations": [op("INSERT", row, title="alice's", ts=-9)]},
        headers=alice,
    )
    out = sync(
        client,
        {
            "client_id": "bob",
            "operations": [
                op("UPDATE", row, title="bob was here", ts=-1),
                op("DELETE", row, ts=-1),
            ],
        },
        headers=bob,
    )
    assert [c["reason"] for c in out["conflicts"]] == ["forbidden", "forbidden"]
    assert all(c["server_row"] is None for c in out["conflicts"])
    assert all(c["id"] != str(row) for c in out["changes"])  # bob's feed never shows it
    alice_feed = sync(client, {"client_id": "alice2"}, headers=alice)
    assert [c["data"]["title"] for c in alice_feed["changes"] if c["id"] == str(row)] == ["alice's"]
    # Without a token, nothing.
    assert client.post(SYNC, json={"client_id": "x"}).status_code == 401


def test_the_feed_pages_and_resumes_without_gaps(client):
    ids = [uuid.uuid4() for _ in range(25)]
    sync(client, {"client_id": "bulk", "operations": [op("INSERT", i, ts=-5) for i in ids]})
    seen, cursor, pages = [], None, 0
    while True:
        body = {"client_id": "reader", "limit": 7} | ({"cursor": cursor} if cursor else {})
        page = sync(client, body)
        seen += [c["id"] for c in page["changes"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["has_more"]:
            break
    assert set(map(str, ids)) <= set(seen) and len(seen) == len(set(seen))
    assert pages >= 4
