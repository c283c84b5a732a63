"""Items: CRUD, ownership across two users, paging; both auth modes."""

from __future__ import annotations

import uuid
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services import items
from services.db.statements import as_dicts
from services.db.types import datetime_type, datetime_wire, uuid_type, uuid_wire
from services.schemas import ItemsPublic
from services.timeutil import wire_time
from tests.api.conftest import API, new_user, superuser_headers


def test_item_crud(client):
    su = superuser_headers(client)
    created = client.post(f"{API}/items/", headers=su, json={"title": "First", "description": "d"})
    assert created.status_code == 200
    item = created.get_json()
    assert item["title"] == "First" and item["description"] == "d"
    me = client.get(f"{API}/users/me", headers=su).get_json()
    assert item["owner_id"] == me["id"]

    assert client.get(f"{API}/items/{item['id']}", headers=su).get_json() == item
    updated = client.put(f"{API}/items/{item['id']}", headers=su, json={"title": "Renamed"})
    assert updated.status_code == 200
    assert updated.get_json()["title"] == "Renamed" and updated.get_json()["description"] == "d"

    deleted = client.delete(f"{API}/items/{item['id']}", headers=su)
    assert deleted.status_code == 200 and deleted.get_json() == {
        "message": "Item deleted successfully"
    }
    for method in ("GET", "PUT", "DELETE"):
        kw = {"json": {"title": "x"}} if method == "PUT" else {}
        gone = client.open(method, f"{API}/items/{item['id']}", headers=su, **kw)
        assert gone.status_code == 404 and gone.get_json() == {"detail": "Item not found"}


def test_items_are_listed_newest_first_with_paging(client):
    su = superuser_headers(client)
    ids = [
        client.post(f"{API}/items/", headers=su, json={"title": f"n{i}"}).get_json()["id"]
        for i in range(5)
    ]
    page = client.get(f"{API}/items/?skip=1&limit=2", headers=su).get_json()
    assert page["count"] == 5
    assert [i["id"] for i in page["data"]] == [ids[3], ids[2]]
    assert client.get(f"{API}/items/?limit=0", headers=su).get_json() == {"data": [], "count": 5}


def test_ownership_across_two_users(make_client):
    client = make_client(auth_required=True)
    _, alice = new_user(client)
    _, bob = new_user(client)
    secret = client.post(
        f"{API}/items/", headers=alice, json={"title": "alice's secret"}
    ).get_json()
    client.post(f"{API}/items/", headers=bob, json={"title": "bob's"})

    for method, kw in [("GET", {}), ("PUT", {"json": {"title": "stolen"}}), ("DELETE", {})]:
        response = client.open(method, f"{API}/items/{secret['id']}", headers=bob, **kw)
        assert response.status_code == 404, method
        assert "alice" not in response.get_data(as_text=True)

    bobs = client.get(f"{API}/items/", headers=bob).get_json()
    assert bobs["count"] == 1 and bobs["data"][0]["title"] == "bob's"
    # Alice's item is untouched, and a superuser sees both.
    assert client.get(f"{API}/items/{secret['id']}", headers=alice).get_json() == secret
    assert client.get(f"{API}/items/", headers=superuser_headers(client)).get_json()["count"] == 2


def test_client_cannot_set_read_only_item_fields(client):
    su = superuser_headers(client)
    me = client.get(f"{API}/users/me", headers=su).get_json()
    forged = {"owner_id": str(uuid.uuid4()), "id": str(uuid.uuid4()), "created_at": "2020-01-01"}
    for field, value in forged.items():
        # Ignored, as the template's ItemCreate ignores them, and never applied.
        response = client.post(f"{API}/items/", headers=su, json={"title": "t", field: value})
        assert response.status_code == 200, field
        item = response.get_json()
        assert item["owner_id"] == me["id"] and item["id"] != forged["id"]
        assert not item["created_at"].startswith("2020")
    assert client.get(f"{API}/items/", headers=su).get_json()["count"] == len(forged)


def test_title_limits(client):
    su = superuser_headers(client)
    assert client.post(f"{API}/items/", headers=su, json={"title": ""}).status_code == 422
    assert client.post(f"{API}/items/", headers=su, json={"title": "x" * 256}).status_code == 422
    assert client.post(f"{API}/items/", headers=su, json={"title": "x" * 255}).status_code == 200


def test_list_uses_a_fixed_number_of_queries(make_client):
    # Page size must not change the query count (no per-row lookups).
    client = make_client(auth_required=False)
    for i in range(30):
        client.post(f"{API}/items/", json={"title": f"t{i}"})
    dal = client.app.extensions["dal"]
    counts = []
    for limit in (1, 30):
        before = len(dal._timings)
        client.get(f"{API}/items/?limit={limit}")
        counts.append(len(dal._timings) - before)
    assert counts[0] == counts[1] and counts[0] <= 4


_TRICKY = [
    "plain",
    "é ü 漢字 🙂",
    'quote " backslash \\ slash /',
    "tab\tnew\nline\x01",
    "</script>",
]


def test_a_page_is_written_as_its_response_model_writes_it(dal):
    # read_page writes the JSON from the stored values, skipping the rows' decoding and the
    # model (issue 17); the bytes must stay those of the documented model on every backend:
    # key order, escapes, non-ASCII text, times with and without microseconds, no description.
    owners = [dal.user.insert(email=f"page{n}@example.com", hashed_password="h") for n in range(2)]
    owner_ids = [dal.user[o].id for o in owners]
    base = datetime(2026, 1, 2, 3, 4, 5)
    for n in range(12):
        dal.item.insert(
            id=uuid.UUID(int=n * 0x1234567890ABCDEF + 1),
            title=_TRICKY[n % len(_TRICKY)],
            description=None if n % 3 == 0 else _TRICKY[(n + 1) % len(_TRICKY)],
            owner_id=owner_ids[n % 2],
            # whole seconds for some: isoformat() leaves their fraction out
            created_at=base.replace(second=n, microsecond=0 if n % 4 == 0 else 1000 * n + 7),
        )
    # two rows at the same time: the id breaks the tie
    dal.item.insert(title="tie", owner_id=owner_ids[0], created_at=base.replace(second=11))
    dal.commit()
    fields = [dal.item[name] for name in items.PUBLIC_FIELDS]
    for owner in (None, owner_ids[0], owner_ids[1]):
        query = dal.item.owner_id == owner if owner else dal.item.id != None  # noqa: E711
        for skip, limit in ((0, 100), (0, 5), (3, 4), (20, 5), (0, 0)):
            rows = dal(query).select(
                *fields,
                orderby=~dal.item.created_at | dal.item.id,
                limitby=(skip, skip + limit),
                processor=as_dicts,
            )
            expected = ItemsPublic.model_validate(
                {"data": rows, "count": dal(query).count()}
            ).model_dump_json()
            got = items.read_page(db=dal, owner_id=owner, skip=skip, limit=limit)
            assert got == expected, (owner, skip, limit)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 1))
    | st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.replace(microsecond=0)),
    st.uuids(),
)
def test_stored_values_are_written_as_the_model_writes_them(moment, value):
    for family in ("sqlite", "mysql", "postgresql"):
        stored_time = datetime_type(family).encoder(moment)
        assert datetime_wire(stored_time) == wire_time(moment)
        stored_id = uuid_type(family).encoder(value)
        assert uuid_wire(stored_id) == str(value)
    assert datetime_wire(moment) == wire_time(moment)  # as MariaDB and PostgreSQL return them
    assert uuid_wire(value) == uuid_wire(value.hex.upper()) == str(value)
