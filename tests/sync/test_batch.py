"""The sync engine on items (services/sync/batch.py through service.sync_items), without HTTP.

Each call is what one POST /sync does inside its transaction; the test commits as the route
would, and reads the rows and the feed straight from the database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services import users
from services.db import feed
from services.errors import Problems
from services.schemas import UserCreate
from services.sync import batch, service
from services.sync.batch import MAX_CLOCK_SKEW
from services.sync.schemas import SyncRequest
from services.sync.tables import ItemsTable


def stamp(delta: timedelta = timedelta()) -> datetime:
    """An aware timestamp ``delta`` from now."""
    return datetime.now(UTC) + delta


def op(
    kind: str,
    row_id: uuid.UUID,
    *,
    title: str = "t",
    ago: float = 0,
    table: str = "items",
    timestamp: datetime | None = None,
) -> dict:
    """One operation on an item, made ``ago`` seconds before now unless ``timestamp`` says."""
    data = {"id": str(row_id)} | ({} if kind == "DELETE" else {"title": title})
    return {
        "id": uuid.uuid4().hex,
        "table": table,
        "operation": kind,
        "data": data,
        "timestamp": timestamp or stamp(timedelta(seconds=-ago)),
    }


def run(dal, user_id, body: dict, *, superuser: bool = False) -> dict:
    """One batch, committed as the route commits it."""
    request = SyncRequest.model_validate(body)
    out = service.sync_items(db=dal, user_id=user_id, superuser=superuser, request=request)
    dal.commit()
    return out


def new_user(dal, name: str) -> uuid.UUID:
    """An ordinary account."""
    create = UserCreate(email=f"{name}@example.com", password="a-long-password")
    user_id = users.create_user(db=dal, user_create=create).id
    dal.commit()
    return user_id


@pytest.fixture
def admin(dal) -> uuid.UUID:
    """The default local superuser."""
    return users.ensure_default_superuser(db=dal, email="admin@example.com", password=None)


def item(dal, row_id: uuid.UUID):
    """The item row, or None."""
    return dal(dal.item.id == row_id).select().first()


def test_an_insert_batch_applies_and_its_answer_carries_the_change_and_cursor(dal, admin):
    row_id = uuid.uuid4()
    insert = op("INSERT", row_id, title="offline", ago=5)
    out = run(dal, admin, {"client_id": "laptop", "operations": [insert]}, superuser=True)
    assert out["changes_applied"] == [insert["id"]] and out["conflicts"] == []
    stored = feed.entries(dal, "items", [row_id])[row_id]
    assert [(c["id"], c["seq"], c["operation"]) for c in out["changes"]] == [
        (str(row_id), stored.seq, "UPSERT")
    ]
    assert out["changes"][0]["data"] == ItemsTable(dal).rows([row_id])[row_id]
    assert out["cursor"] == feed.encode_cursor(feed.epoch(dal), stored.seq)
    assert out["has_more"] is False and out["reset"] is False
    row = item(dal, row_id)
    assert row.title == "offline" and row.owner_id == admin  # the new row is the user's
    assert (stored.version.client_id, stored.version.op_id) == ("laptop", insert["id"])


def test_replaying_the_same_operation_ids_applies_nothing_new_and_answers_the_same(dal, admin):
    row_id = uuid.uuid4()
    insert = op("INSERT", row_id, title="first", ago=10)
    older = op("UPDATE", row_id, title="older", ago=20)  # stale against the insert before it
    body = {"client_id": "flaky", "operations": [insert, older]}
    first = run(dal, admin, body, superuser=True)
    assert first["changes_applied"] == [insert["id"]]
    assert [(c["operation_id"], c["reason"]) for c in first["conflicts"]] == [
        (older["id"], "stale")
    ]
    last, recorded = feed.last_seq(dal), dal(dal.sync_operation).count()
    retry = run(dal, admin, body, superuser=True)
    assert retry["changes_applied"] == first["changes_applied"]
    assert retry["conflicts"] == first["conflicts"]
    assert feed.last_seq(dal) == last  # nothing renumbered, nothing written
    assert dal(dal.sync_operation).count() == recorded
    assert item(dal, row_id).title == "first"


def test_an_older_update_is_a_stale_conflict_with_the_server_row(dal, admin):
    row_id = uuid.uuid4()
    run(dal, admin, {"client_id": "a", "operations": [op("INSERT", row_id, title="new", ago=1)]})
    before = feed.entries(dal, "items", [row_id])[row_id]
    old = op("UPDATE", row_id, title="old", ago=60)
    out = run(dal, admin, {"client_id": "b", "operations": [old]})
    assert out["changes_applied"] == []
    assert out["conflicts"] == [
        {
            "operation_id": old["id"],
            "reason": "stale",
            "server_row": ItemsTable(dal).rows([row_id])[row_id],
        }
    ]
    assert out["conflicts"][0]["server_row"]["title"] == "new"
    assert feed.entries(dal, "items", [row_id])[row_id] == before


@pytest.mark.parametrize(
    ("ahead", "outcome"),
    [(MAX_CLOCK_SKEW + timedelta(minutes=1), "clock_skew"), (timedelta(minutes=4), "applied")],
)
def test_a_timestamp_more_than_five_minutes_ahead_is_clock_skew(dal, admin, ahead, outcome):
    row_id = uuid.uuid4()
    ahead_op = op("INSERT", row_id, timestamp=stamp(ahead))
    out = run(dal, admin, {"client_id": "fast", "operations": [ahead_op]})
    reasons = [c["reason"] for c in out["conflicts"]]
    if outcome == "clock_skew":
        assert reasons == ["clock_skew"] and out["conflicts"][0]["server_row"] is None
        assert item(dal, row_id) is None
        assert feed.entries(dal, "items", [row_id]) == {}
    else:
        assert reasons == [] and out["changes_applied"] == [ahead_op["id"]]
        assert item(dal, row_id) is not None


def test_another_users_item_is_forbidden_without_a_server_row(dal, admin):
    alice, bob = new_user(dal, "alice"), new_user(dal, "bob")
    row_id = uuid.uuid4()
    run(dal, alice, {"client_id": "a", "operations": [op("INSERT", row_id, title="hers", ago=9)]})
    entry = feed.entries(dal, "items", [row_id])[row_id]
    attempt = [op("UPDATE", row_id, title="his", ago=1), op("DELETE", row_id, ago=1)]
    out = run(dal, bob, {"client_id": "b", "operations": attempt})
    assert out["changes_applied"] == []
    assert [(c["reason"], c["server_row"]) for c in out["conflicts"]] == [("forbidden", None)] * 2
    assert all(c["id"] != str(row_id) for c in out["changes"])
    assert item(dal, row_id).title == "hers"
    assert feed.entries(dal, "items", [row_id])[row_id] == entry
    # A superuser may change it; the row stays hers.
    fix = op("UPDATE", row_id, title="fixed", ago=0)
    out = run(dal, admin, {"client_id": "s", "operations": [fix]}, superuser=True)
    assert out["changes_applied"] == [fix["id"]]
    assert item(dal, row_id).owner_id == alice
    assert feed.entries(dal, "items", [row_id])[row_id].owner_id == alice


def test_a_delete_leaves_a_tombstone_in_the_feed(dal, admin):
    row_id = uuid.uuid4()
    start = run(dal, admin, {"client_id": "a"})["cursor"]
    run(dal, admin, {"client_id": "a", "operations": [op("INSERT", row_id, ago=10)]})
    delete = op("DELETE", row_id, ago=5)
    out = run(dal, admin, {"client_id": "a", "cursor": start, "operations": [delete]})
    assert out["changes_applied"] == [delete["id"]]
    assert item(dal, row_id) is None
    tombstone = feed.entries(dal, "items", [row_id])[row_id]
    assert tombstone.deleted and tombstone.version.op_id == delete["id"]
    assert [(c["id"], c["operation"], c["data"], c["seq"]) for c in out["changes"]] == [
        (str(row_id), "DELETE", None, tombstone.seq)
    ]
    # An older insert arriving later does not bring the row back.
    late = run(dal, admin, {"client_id": "b", "operations": [op("INSERT", row_id, ago=30)]})
    assert [c["reason"] for c in late["conflicts"]] == ["stale"]
    assert item(dal, row_id) is None
    assert feed.entries(dal, "items", [row_id])[row_id] == tombstone


def test_choose_scope_refuses_a_mixed_batch_listing_where():
    items_op = op("INSERT", uuid.uuid4())
    model_op = op("INSERT", uuid.uuid4(), table="models/x/notes")
    request = SyncRequest.model_validate({"client_id": "c", "operations": [items_op, model_op]})
    with pytest.raises(Problems) as caught:
        service.choose_scope(request)
    assert [(p["loc"], p["type"]) for p in caught.value.problems] == [
        (["body", "operations", 1, "table"], "mixed_scope")
    ]
    only_models = SyncRequest.model_validate({"client_id": "c", "operations": [model_op]})
    assert service.choose_scope(only_models) == "models/x"
    assert service.choose_scope(SyncRequest(client_id="c")) == "items"


def test_a_malformed_cursor_is_problems_and_applies_nothing(dal, admin):
    body = {"client_id": "c", "cursor": "garbage", "operations": [op("INSERT", uuid.uuid4())]}
    before = feed.last_seq(dal)
    with pytest.raises(Problems) as caught:
        service.sync_items(
            db=dal, user_id=admin, superuser=True, request=SyncRequest.model_validate(body)
        )
    dal.rollback()
    assert [p["loc"] for p in caught.value.problems] == [["body", "cursor"]]
    assert dal(dal.item).count() == 0 and dal(dal.sync_row).count() == 0
    assert feed.last_seq(dal) == before


def test_a_cursor_from_another_epoch_resets_the_feed(dal, admin):
    row_id = uuid.uuid4()
    run(dal, admin, {"client_id": "a", "operations": [op("INSERT", row_id, ago=1)]})
    foreign = feed.encode_cursor(uuid.uuid4().hex, 1)
    out = run(dal, admin, {"client_id": "a", "cursor": foreign})
    assert out["reset"] is True
    assert [c["id"] for c in out["changes"]] == [str(row_id)]
    assert out["cursor"] == feed.encode_cursor(feed.epoch(dal), feed.last_seq(dal))


def test_a_driver_error_subclass_is_retryable_like_its_base():
    # psycopg2 raises UniqueViolation / ForeignKeyViolation (subclasses of IntegrityError) when
    # two batches insert the same new row at once: that is the "send it again" 409, not a 500.
    import psycopg2.errors
    import pymysql

    assert batch._retryable(psycopg2.errors.UniqueViolation("duplicate key"))
    assert batch._retryable(psycopg2.errors.ForeignKeyViolation("missing parent"))
    assert batch._retryable(pymysql.err.OperationalError(1213, "Deadlock found"))
    assert not batch._retryable(pymysql.err.OperationalError(2013, "Lost connection"))
    assert not batch._retryable(ValueError("not a driver error"))
