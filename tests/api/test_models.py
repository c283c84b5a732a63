"""App models over HTTP: definitions, their databases, rows, seed, empty, sync, delete."""

from __future__ import annotations

import copy
import uuid

import pytest

from tests.api.conftest import API, new_user, superuser_headers

SHOP = {
    "id": "shop-demo",
    "name": "Shop demo",
    "definition": {
        "entities": [
            {
                "name": "customer",
                "display_name": "Customer",
                "fields": [
                    {"name": "first_name", "type": "String", "required": True},
                    {"name": "email", "type": "String", "required": True, "unique": True},
                    {"name": "age", "type": "Integer"},
                    {"name": "vip", "type": "Boolean"},
                    {"name": "tier", "type": "Enum", "values": ["free", "pro"]},
                    {"name": "referred_by", "type": "Reference", "target": "customer"},
                ],
            },
            {
                "name": "product",
                "display_name": "Product",
                "fields": [
                    {"name": "title", "type": "String", "required": True},
                    {"name": "price", "type": "Float"},
                    {"name": "tags", "type": "Array"},
                    {"name": "specs", "type": "Object"},
                ],
            },
            {
                "name": "purchase",
                "display_name": "Purchase",
                "fields": [
                    {"name": "placed_at", "type": "DateTime"},
                    {"name": "quantity", "type": "Integer"},
                ],
            },
            {
                "name": "supplier",
                "display_name": "Supplier",
                "fields": [
                    {"name": "company", "type": "String"},
                    {"name": "country", "type": "String"},
                ],
            },
            {
                "name": "review",
                "display_name": "Review",
                "fields": [
                    {"name": "rating", "type": "Integer", "required": True},
                    {"name": "comment_text", "type": "Text"},
                    {
                        "name": "product_ref",
                        "type": "Reference",
                        "target": "product",
                        "required": True,
                    },
                ],
            },
        ],
        "relationships": [
            {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
            {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
            {"type": "OneToMany", "from": "supplier", "to": "product", "name": "supplier"},
        ],
    },
}
M = f"{API}/models"
DB = f"{M}/shop-demo/app-database"


@pytest.fixture
def shop(client):
    headers = superuser_headers(client)
    response = client.post(f"{M}/", headers=headers, json=SHOP)
    assert response.status_code == 200, response.get_json()
    return client, headers


def test_create_read_list_delete(shop):
    client, h = shop
    model = client.get(f"{M}/shop-demo", headers=h).get_json()
    assert model["version"] == 1 and model["definition"]["entities"][0]["name"] == "customer"
    assert client.get(f"{M}/", headers=h).get_json()["count"] == 1
    assert client.post(f"{M}/", headers=h, json=SHOP).status_code == 409
    status = client.get(f"{DB}/status", headers=h).get_json()
    assert status["exists"] is True and status["in_sync"] is True and status["total_entities"] == 0
    assert client.delete(f"{M}/shop-demo", headers=h).status_code == 200
    assert client.get(f"{M}/shop-demo", headers=h).status_code == 404
    assert client.get(f"{DB}/status", headers=h).status_code == 404


def test_rows_crud_filters_and_links(shop):
    client, h = shop
    ann = client.post(
        f"{DB}/entities/customer",
        headers=h,
        json={"first_name": "Ann", "email": "ann@example.com", "age": 30, "tier": "pro"},
    ).get_json()
    bob = client.post(
        f"{DB}/entities/customer",
        headers=h,
        json={"first_name": "Bob", "email": "bob@example.com", "age": 41, "referred_by": ann["id"]},
    ).get_json()
    assert bob["referred_by"] == ann["id"]
    dupe = client.post(
        f"{DB}/entities/customer", headers=h, json={"first_name": "X", "email": "ann@example.com"}
    )
    assert dupe.status_code == 409
    bad = client.post(
        f"{DB}/entities/customer",
        headers=h,
        json={"first_name": "X", "email": "x@e.com", "tier": "gold"},
    )
    assert bad.status_code == 422 and bad.get_json()["detail"][0]["loc"] == ["body", "tier"]

    widget = client.post(
        f"{DB}/entities/product",
        headers=h,
        json={"title": "Widget", "price": 9.5, "tags": ["a", "b"], "specs": {"w": 1}},
    ).get_json()
    gadget = client.post(
        f"{DB}/entities/product", headers=h, json={"title": "Gadget", "price": 25}
    ).get_json()
    order = client.post(
        f"{DB}/entities/purchase",
        headers=h,
        json={"customer": ann["id"], "quantity": 2, "products": [widget["id"], gadget["id"]]},
    ).get_json()
    assert sorted(order["products"]) == sorted([widget["id"], gadget["id"]])

    page = client.get(f"{DB}/entities/product?price.gt=10", headers=h).get_json()
    assert page["count"] == 1 and page["data"][0]["title"] == "Gadget"
    page = client.get(f"{DB}/entities/customer?sort=-age&limit=1", headers=h).get_json()
    assert page["count"] == 2 and page["data"][0]["first_name"] == "Bob"
    page = client.get(f"{DB}/entities/customer?first_name.contains=n", headers=h).get_json()
    assert [r["first_name"] for r in page["data"]] == ["Ann"]
    for hostile in ("1' OR '1'='1", "%", "_", "id); DROP TABLE customer;--"):
        page = client.get(
            f"{DB}/entities/customer", headers=h, query_string={"first_name": hostile}
        )
        assert page.status_code == 200 and page.get_json()["count"] == 0
    assert client.get(f"{DB}/entities/customer?sort=email;DROP", headers=h).status_code == 422
    assert client.get(f"{DB}/entities/customer?nosuch.eq=1", headers=h).status_code == 422

    patched = client.patch(
        f"{DB}/entities/purchase/{order['id']}", headers=h, json={"products": [gadget["id"]]}
    )
    assert patched.status_code == 200 and patched.get_json()["products"] == [gadget["id"]]
    assert (
        client.get(f"{DB}/entities/purchase/{order['id']}", headers=h).get_json()["quantity"] == 2
    )
    assert client.delete(f"{DB}/entities/customer/{bob['id']}", headers=h).status_code == 200
    assert client.get(f"{DB}/entities/customer/{bob['id']}", headers=h).status_code == 404
    assert client.get(f"{DB}/entities/nosuch", headers=h).status_code == 404
    assert client.get(f"{M}/nosuch/app-database/entities/customer", headers=h).status_code == 404

    entities = {e["entity_type"]: e for e in client.get(f"{DB}/entities", headers=h).get_json()}
    assert (
        entities["product"]["record_count"] == 2
        and entities["customer"]["display_name"] == "Customer"
    )
    assert client.delete(DB, headers=h).status_code == 200
    status = client.get(f"{DB}/status", headers=h).get_json()
    assert status["total_entities"] == 0 and status["exists"] is True


def test_sync_adds_refuses_destructive_and_dry_runs(shop):
    client, h = shop
    client.post(f"{DB}/entities/supplier", headers=h, json={"company": "Acme", "country": "NL"})
    grown = copy.deepcopy(SHOP)
    grown["definition"]["entities"].append(
        {
            "name": "warehouse",
            "display_name": "Warehouse",
            "fields": [{"name": "city", "type": "String"}],
        }
    )
    grown["definition"]["entities"][3]["fields"].append({"name": "phone", "type": "String"})
    dry = client.put(f"{M}/shop-demo?dry_run=true", headers=h, json=grown)
    assert dry.status_code == 200 and dry.get_json()["sync"]["applied"] is False
    planned = " ".join(dry.get_json()["sync"]["operations"])
    assert "warehouse" in planned and "phone" in planned
    assert client.get(f"{M}/shop-demo", headers=h).get_json()["version"] == 1

    applied = client.put(f"{M}/shop-demo", headers=h, json=grown)
    assert applied.status_code == 200 and applied.get_json()["version"] == 2
    assert (
        client.post(f"{DB}/entities/warehouse", headers=h, json={"city": "Delft"}).status_code
        == 200
    )
    rows = client.get(f"{DB}/entities/supplier", headers=h).get_json()["data"]
    assert rows[0]["company"] == "Acme" and rows[0]["phone"] is None

    shrunk = copy.deepcopy(grown)
    shrunk["definition"]["entities"] = [
        e for e in shrunk["definition"]["entities"] if e["name"] != "warehouse"
    ]
    refused = client.put(f"{M}/shop-demo", headers=h, json=shrunk)
    assert refused.status_code == 409 and "warehouse" in refused.get_json()["detail"]
    assert (
        client.post(f"{DB}/entities/warehouse", headers=h, json={"city": "Still here"}).status_code
        == 200
    )
    allowed = client.put(f"{M}/shop-demo?allow_destructive=true", headers=h, json=shrunk)
    assert allowed.status_code == 200
    assert client.get(f"{DB}/entities/warehouse", headers=h).status_code == 404
    assert client.post(f"{DB}/sync?dry_run=true", headers=h).get_json()["operations"] == []


@pytest.mark.parametrize(
    "mutate,loc",
    [
        (
            lambda d: d["definition"]["entities"][0].update(name="order"),
            ["body", "definition", "entities", 0, "name"],
        ),
        (
            lambda d: d["definition"]["entities"][1]["fields"].append(
                {"name": "group", "type": "String"}
            ),
            ["body", "definition", "entities", 1, "fields", 4, "name"],
        ),
        (
            lambda d: d["definition"]["relationships"].append(
                {"type": "OneToMany", "from": "ghost", "to": "product", "name": "g"}
            ),
            ["body", "definition", "relationships", 3, "from"],
        ),
        (
            lambda d: d["definition"]["entities"][0]["fields"].append(
                {"name": "x", "type": "String", "colour": 1}
            ),
            ["body", "definition", "entities", 0, "fields", 6, "colour"],
        ),
        (lambda d: d.update(id="bad id!"), ["body", "id"]),
    ],
)
def test_bad_definitions_are_422_with_a_path_and_create_nothing(client, mutate, loc):
    h = superuser_headers(client)
    doc = copy.deepcopy(SHOP)
    mutate(doc)
    response = client.post(f"{M}/", headers=h, json=doc)
    assert response.status_code == 422, response.get_json()
    assert loc in [d["loc"] for d in response.get_json()["detail"]]
    assert client.get(f"{M}/", headers=h).get_json()["count"] == 0


def test_models_are_owner_scoped(make_client):
    client = make_client(auth_required=True)
    _, alice = new_user(client)
    _, bob = new_user(client)
    assert client.post(f"{M}/", headers=alice, json=SHOP).status_code == 200
    row = client.post(
        f"{DB}/entities/supplier", headers=alice, json={"company": "Secret"}
    ).get_json()
    for method, path in [
        ("GET", f"{M}/shop-demo"),
        ("GET", f"{DB}/status"),
        ("GET", f"{DB}/entities/supplier/{row['id']}"),
        ("DELETE", DB),
        ("DELETE", f"{M}/shop-demo"),
    ]:
        response = client.open(method, path, headers=bob)
        assert response.status_code == 404, (method, path)
    assert client.get(f"{M}/", headers=bob).get_json()["count"] == 0
    assert client.get(f"{DB}/entities/supplier", headers=alice).get_json()["count"] == 1
    assert (
        client.get(f"{DB}/entities/supplier", headers=superuser_headers(client)).get_json()["count"]
        == 1
    )
    assert uuid.UUID(row["id"])


def test_seed_over_the_api_and_the_cli(shop, migrated_target, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    client, h = shop
    body = {"max_instances_per_entity": 4, "seed": 7}
    first = client.post(f"{DB}/seed", headers=h, json=body)
    assert first.status_code == 200, first.get_json()
    answer = first.get_json()
    assert (
        answer["seed"] == 7
        and answer["entities_created"] == 20
        and answer["relationships_created"] >= 0
    )
    rows_first = client.get(f"{DB}/entities/customer?sort=email", headers=h).get_json()["data"]
    again = client.post(f"{DB}/seed", headers=h, json=body).get_json()
    assert again["entities_created"] == 20
    rows_again = client.get(f"{DB}/entities/customer?sort=email", headers=h).get_json()["data"]

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows]

    assert strip(rows_first) == strip(rows_again)  # same seed, same data
    status = client.get(f"{DB}/status", headers=h).get_json()
    assert status["total_entities"] == 20 and status["last_seeded"] is not None
    assert (
        client.post(f"{DB}/seed", headers=h, json={"max_instances_per_entity": 11}).status_code
        == 422
    )

    env = {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": migrated_target.sa_url.render_as_string(False),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "seed", "shop-demo", "--count", "200", "--seed", "3"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    import json

    assert json.loads(result.stdout)["entities_created"] == 1000
    assert client.get(f"{DB}/status", headers=h).get_json()["total_entities"] == 1000


# --------------------------------------------------------------------------- property-based

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.one_of(
    st.sampled_from(
        ["title", "price", "order", "group", "id", "Name", "x" * 70, "user", "a_b", "9lives"]
    ),
    st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z"),
)
_TYPES = st.sampled_from(
    [
        "String",
        "Text",
        "Integer",
        "Float",
        "Boolean",
        "DateTime",
        "Date",
        "Reference",
        "Array",
        "Object",
        "Enum",
        "Blob",
    ]
)


@st.composite
def _definitions(draw):
    entity_names = draw(st.lists(_NAMES, min_size=1, max_size=4))
    entities = []
    for name in entity_names:
        fields = []
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(_TYPES)
            field = {
                "name": draw(_NAMES),
                "type": kind,
                "required": draw(st.booleans()),
                "unique": draw(st.booleans()),
            }
            if kind == "Enum" or draw(st.integers(0, 9)) == 0:
                field["values"] = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
            if kind == "Reference" or draw(st.integers(0, 9)) == 0:
                field["target"] = draw(st.sampled_from([*entity_names, "ghost"]))
            fields.append(field)
        entities.append({"name": name, "display_name": name.title(), "fields": fields})
    relationships = [
        {
            "type": draw(st.sampled_from(["OneToMany", "ManyToMany"])),
            "from": draw(st.sampled_from(entity_names)),
            "to": draw(st.sampled_from([*entity_names, "ghost"])),
            "name": draw(_NAMES),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    return {"entities": entities, "relationships": relationships}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(definition=_definitions())
def test_generated_definitions_are_refused_or_round_trip_a_seeded_row(make_client, definition):
    """Each definition is either a 422 that creates nothing, or a database that round-trips."""
    client = make_client(auth_required=False)
    model_id = f"gen-{uuid.uuid4().hex[:8]}"
    created = client.post(
        f"{M}/", json={"id": model_id, "name": "generated", "definition": definition}
    )
    event(f"definition {created.status_code}")
    if created.status_code == 422:
        assert all(d["loc"][0] == "body" for d in created.get_json()["detail"])
        assert client.get(f"{M}/{model_id}").status_code == 404
        return
    assert created.status_code == 200, created.get_json()
    base = f"{M}/{model_id}/app-database"
    try:
        seeded = client.post(f"{base}/seed", json={"max_instances_per_entity": 1, "seed": 1})
        if seeded.status_code == 422:  # e.g. a cycle of required references cannot be seeded
            assert "detail" in seeded.get_json()
            return
        assert seeded.status_code == 200, seeded.get_json()
        for entity in definition["entities"]:
            page = client.get(f"{base}/entities/{entity['name']}").get_json()
            assert page["count"] == 1
            row = page["data"][0]
            assert client.get(f"{base}/entities/{entity['name']}/{row['id']}").get_json() == row
    finally:
        assert client.delete(f"{M}/{model_id}").status_code == 200
