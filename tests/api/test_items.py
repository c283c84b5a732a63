"""Items: CRUD, ownership across two users, paging; both auth modes."""

from __future__ import annotations

import uuid
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services import items
from services.schemas import ItemsPublic
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


_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "title": _TEXT,
                "description": st.none() | _TEXT,
                "id": st.uuids(),
                "owner_id": st.uuids(),
                "created_at": st.datetimes(min_value=datetime(1970, 1, 1))
                | st.datetimes(min_value=datetime(1970, 1, 1)).map(
                    lambda d: d.replace(microsecond=0)
                ),
            }
        ),
        max_size=5,
    ),
    st.integers(min_value=0, max_value=2**40),
)
def test_a_page_is_written_as_its_response_model_writes_it(rows, count):
    # page_json skips validating rows read from the database (issue 17); the bytes must stay
    # those of the documented model: key order, escapes, non-ASCII text, times with and
    # without microseconds, a missing description.
    expected = ItemsPublic.model_validate({"data": rows, "count": count}).model_dump_json()
    assert items.page_json(rows, count) == expected
