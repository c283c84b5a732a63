"""Sync of app-database entities (``models/{model_id}/{entity}``): batches, the feed of REST
writes, seeds and emptying, cascades, references, unique values, schema changes, ownership."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import API, new_user, superuser_headers
from tests.api.test_models import DB, SHOP, M

SYNC = f"{API}/sync"
T = "models/shop-demo/"


def stamp(seconds: float = -60) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def op(kind: str, entity: str, data: dict, *, ts: float = -60) -> dict:
    return {
        "id": uuid.uuid4().hex,
        "table": T + entity,
        "operation": kind,
        "data": data,
        "timestamp": stamp(ts),
    }


@pytest.fixture
def su(client):
    headers = superuser_headers(client)
    response = client.post(f"{M}/", headers=headers, json=SHOP)
    assert response.status_code == 200, response.get_json()
    return headers


def sync(client, headers, body: dict, status: int = 200) -> dict:
    response = client.post(SYNC, headers=headers, json={"client_id": "c1", **body})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def pull_all(client, headers, cursor=None) -> tuple[dict[str, dict | None], str]:
    """Follow the model's feed to its end: {table/id: row or None} and the last cursor."""
    seen: dict[str, dict | None] = {}
    while True:
        body = {"scope": "models/shop-demo", "limit": 100} | ({"cursor": cursor} if cursor else {})
        out = sync(client, headers, body)
        for change in out["changes"]:
            seen[f"{change['table']}/{change['id']}"] = change["data"]
        cursor = out["cursor"]
        if not out["has_more"]:
            return seen, cursor


def test_entity_rows_sync_with_links_and_references(client, su):
    alice, bob, widget = (str(uuid.uuid4()) for _ in range(3))
    purchase = str(uuid.uuid4())
    out = sync(
        client,
        su,
        {
            "operations": [
                op("INSERT", "customer", {"id": alice, "first_name": "Alice", "email": "a@x.org"}),
                op(
                    "INSERT",
                    "customer",
                    {"id": bob, "first_name": "Bob", "email": "b@x.org", "referred_by": alice},
                ),
                op(
                    "INSERT",
                    "product",
                    {"id": widget, "title": "Widget", "tags": ["a"], "specs": {"w": 1}},
                ),
                op(
                    "INSERT",
                    "purchase",
                    {"id": purchase, "customer": bob, "products": [widget], "quantity": 2},
                ),
            ]
        },
    )
    assert len(out["changes_applied"]) == 4 and out["conflicts"] == []
    rows = {c["id"]: c for c in out["changes"]}
    assert rows[purchase]["table"] == T + "purchase"
    assert rows[purchase]["data"]["products"] == [widget]
    assert rows[bob]["data"]["referred_by"] == alice
    rest = client.get(f"{DB}/entities/customer/{bob}", headers=su).get_json()
    assert rest["first_name"] == "Bob" and rest["age"] is None


def test_deleting_a_row_sends_its_cascade_through_the_feed(client, su):
    alice, bob, widget, purchase = (str(uuid.uuid4()) for _ in range(4))
    sync(
        client,
        su,
        {
            "operations": [
                op("INSERT", "customer", {"id": alice, "first_name": "A", "email": "a@x.org"}),
                op(
                    "INSERT",
                    "customer",
                    {"id": bob, "first_name": "B", "email": "b@x.org", "referred_by": alice},
                ),
                op("INSERT", "product", {"id": widget, "title": "W"}),
                op("INSERT", "purchase", {"id": purchase, "customer": bob, "products": [widget]}),
            ]
        },
    )
    _, cursor = pull_all(client, su)
    # Deleting alice nulls bob's referred_by; deleting the product empties the purchase's list.
    out = sync(
        client,
        su,
        {
            "cursor": cursor,
            "operations": [
                op("DELETE", "customer", {"id": alice}, ts=-30),
                op("DELETE", "product", {"id": widget}, ts=-30),
            ],
        },
    )
    changes = {c["id"]: c for c in out["changes"]}
    assert changes[alice]["operation"] == "DELETE" and changes[widget]["operation"] == "DELETE"
    assert changes[bob]["data"]["referred_by"] is None
    assert changes[purchase]["data"]["products"] == []
    # Over REST too: deleting bob deletes nothing else, and shows up as a tombstone.
    assert client.delete(f"{DB}/entities/customer/{bob}", headers=su).status_code == 200
    seen, _ = pull_all(client, su, out["cursor"])
    assert seen == {
        f"{T}customer/{bob}": None,
        f"{T}purchase/{purchase}": seen[f"{T}purchase/{purchase}"],
    }
    assert seen[f"{T}purchase/{purchase}"]["customer"] is None


def test_a_required_reference_cascades_to_tombstones(client, su):
    widget, review = str(uuid.uuid4()), str(uuid.uuid4())
    sync(
        client,
        su,
        {
            "operations": [
                op("INSERT", "product", {"id": widget, "title": "W"}),
                op("INSERT", "review", {"id": review, "rating": 5, "product_ref": widget}),
            ]
        },
    )
    _, cursor = pull_all(client, su)
    out = sync(
        client,
        su,
        {"cursor": cursor, "operations": [op("DELETE", "product", {"id": widget}, ts=-1)]},
    )
    assert {(c["id"], c["operation"]) for c in out["changes"]} == {
        (widget, "DELETE"),
        (review, "DELETE"),
    }
    # The cascade stamped the review's tombstone with the server's clock: an older write is
    # stale, and a newer one cannot bring the review back with its product gone.
    stale = sync(
        client,
        su,
        {
            "operations": [
                op("UPDATE", "review", {"id": review, "rating": 1, "product_ref": widget}, ts=-0.5)
            ]
        },
    )
    assert stale["conflicts"][0]["reason"] == "stale"
    again = sync(
        client,
        su,
        {
            "operations": [
                op("UPDATE", "review", {"id": review, "rating": 1, "product_ref": widget}, ts=2)
            ]
        },
    )
    assert again["conflicts"][0]["reason"] == "reference_not_found"


def test_unique_values_and_missing_references_are_conflicts(client, su):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    out = sync(
        client,
        su,
        {
            "operations": [
                op("INSERT", "customer", {"id": first, "first_name": "A", "email": "same@x.org"}),
                op("INSERT", "customer", {"id": second, "first_name": "B", "email": "same@x.org"}),
                op(
                    "INSERT",
                    "customer",
                    {
                        "id": str(uuid.uuid4()),
                        "first_name": "C",
                        "email": "c@x.org",
                        "referred_by": str(uuid.uuid4()),
                    },
                ),
            ]
        },
    )
    assert [c["reason"] for c in out["conflicts"]] == ["unique", "reference_not_found"]
    assert out["conflicts"][0]["server_row"] is None
    assert len(out["changes_applied"]) == 1


def test_rest_writes_seeds_and_emptying_reach_the_feed(client, su):
    _, cursor = pull_all(client, su)
    created = client.post(
        f"{DB}/entities/supplier", headers=su, json={"company": "ACME"}
    ).get_json()
    client.patch(f"{DB}/entities/supplier/{created['id']}", headers=su, json={"country": "NL"})
    seen, cursor = pull_all(client, su, cursor)
    assert seen == {
        f"{T}supplier/{created['id']}": {
            **seen[f"{T}supplier/{created['id']}"],
            "company": "ACME",
            "country": "NL",
        }
    }
    seeded = client.post(f"{DB}/seed", headers=su, json={"max_instances_per_entity": 3, "seed": 7})
    assert seeded.status_code == 200, seeded.get_json()
    seen, cursor = pull_all(client, su, cursor)
    live = {k for k, v in seen.items() if v is not None}
    counts = client.get(f"{DB}/status", headers=su).get_json()["entity_counts"]
    assert len(live) == sum(counts.values()) == 15
    assert seen[f"{T}supplier/{created['id']}"] is None  # the seed replaced the old rows
    assert client.delete(DB, headers=su).status_code == 200
    seen, _ = pull_all(client, su, cursor)
    assert live <= set(seen) and all(seen[k] is None for k in live)


def test_a_schema_change_resets_every_cursor(client, su):
    _, cursor = pull_all(client, su)
    changed = copy.deepcopy(SHOP)
    changed["definition"]["entities"][3]["fields"].append({"name": "phone", "type": "String"})
    response = client.put(f"{M}/shop-demo", headers=su, json=changed)
    assert response.status_code == 200, response.get_json()
    out = sync(client, su, {"scope": "models/shop-demo", "cursor": cursor})
    assert out["reset"] is True
    steady = sync(client, su, {"scope": "models/shop-demo", "cursor": out["cursor"]})
    assert steady["reset"] is False


def test_bad_model_batches_change_nothing(client, su):
    good = op("INSERT", "supplier", {"id": str(uuid.uuid4()), "company": "Good"})
    bad = [
        [good, op("INSERT", "nope", {"id": str(uuid.uuid4())})],
        [good, op("INSERT", "customer", {"id": str(uuid.uuid4()), "first_name": "x"})],
        [
            good,
            op(
                "INSERT",
                "customer",
                {"id": str(uuid.uuid4()), "first_name": "x", "email": "e@x.org", "age": "old"},
            ),
        ],
        [good, op("INSERT", "supplier", {"id": str(uuid.uuid4()), "created_at": stamp()})],
        [good, op("DELETE", "supplier", {"id": str(uuid.uuid4()), "company": "x"})],
        [good, {**op("INSERT", "supplier", {"id": str(uuid.uuid4())}), "table": "items"}],
    ]
    for operations in bad:
        response = client.post(SYNC, headers=su, json={"client_id": "c", "operations": operations})
        assert response.status_code == 422, response.get_json()
    missing = client.post(
        SYNC,
        headers=su,
        json={"client_id": "c", "operations": [{**good, "table": "models/no-such-model/supplier"}]},
    )
    assert missing.status_code == 404
    assert client.get(f"{DB}/status", headers=su).get_json()["entity_counts"]["supplier"] == 0


def test_another_users_model_cannot_be_synced(make_client):
    client = make_client(auth_required=True)
    su = superuser_headers(client)
    assert client.post(f"{M}/", headers=su, json=SHOP).status_code == 200
    _, bob = new_user(client)
    body = {
        "client_id": "b",
        "operations": [op("INSERT", "supplier", {"id": str(uuid.uuid4()), "company": "x"})],
    }
    assert client.post(SYNC, headers=bob, json=body).status_code == 404
    assert (
        client.post(
            SYNC, headers=bob, json={"client_id": "b", "scope": "models/shop-demo"}
        ).status_code
        == 404
    )
    assert client.get(f"{DB}/status", headers=su).get_json()["entity_counts"]["supplier"] == 0


def test_a_schema_change_cut_off_before_the_main_commit_is_completed(client, su):
    # A crash after the app database committed a PUT's schema change (and its record of the
    # definition) but before the main database committed the model row: simulated by applying
    # the change to the app database alone. Start-up, or the next change, completes the row.
    from app.cli import _complete_interrupted_updates
    from services.appdb import migration, store
    from services.appdb.definition import Definition

    settings = client.app.config["SETTINGS"]
    changed = copy.deepcopy(SHOP)
    changed["definition"]["entities"][3]["fields"].append({"name": "phone", "type": "String"})
    new = Definition.model_validate(changed["definition"])
    before = client.get(f"{M}/shop-demo", headers=su).get_json()
    target = store.locate(
        main=settings.database,
        data_dir=settings.data_dir,
        model_id="shop-demo",
        definition=Definition.model_validate(before["definition"]),
    )
    migration.apply(
        target,
        new,
        allow_destructive=False,
        backups_dir=settings.data_dir,
        version=before["version"] + 1,
    )
    assert client.get(f"{M}/shop-demo", headers=su).get_json() == before
    assert client.get(f"{DB}/status", headers=su).get_json()["in_sync"] is False

    _complete_interrupted_updates(client.app, settings)  # what `serve` does at start-up
    after = client.get(f"{M}/shop-demo", headers=su).get_json()
    assert after["version"] == before["version"] + 1
    assert Definition.model_validate(after["definition"]) == new
    assert client.get(f"{DB}/status", headers=su).get_json()["in_sync"] is True
    # Nothing is left to complete: a second start changes nothing.
    _complete_interrupted_updates(client.app, settings)
    assert client.get(f"{M}/shop-demo", headers=su).get_json() == after
