"""Row CRUD of an app database on every backend: references, ManyToMany lists, unique clashes,
unknown parts, emptying."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from services.appdb import rows as R
from services.appdb.rows import UNIQUE_TAKEN
from services.appdb.schema import join_tables
from services.errors import NotFound, Problems
from tests.appdb.modeldb import ENTITIES, problems_of

# --------------------------------------------------------------------------- CRUD


def test_crud_with_references_and_many_to_many(mdb):
    acme = mdb.create("company", name="Acme", website="https://acme.example")
    ann = mdb.create(
        "customer",
        first_name="Ann",
        email="ann@example.com",
        age=31,
        score=4.5,
        vip=True,
        tier="pro",
        joined_on="2024-02-29",
        employer=acme["id"],
    )
    bob = mdb.create(
        "customer",
        first_name="Bob",
        email="bob@example.com",
        referred_by=ann["id"],
        friends=[ann["id"]],
    )
    mdb.update("company", acme["id"], ceo=ann["id"])
    assert ann["employer"] == acme["id"] and ann["friends"] == []
    assert bob["referred_by"] == ann["id"] and bob["friends"] == [ann["id"]]
    assert ann["joined_on"] == "2024-02-29" and ann["vip"] is True and ann["tier"] == "pro"
    assert isinstance(ann["id"], str) and uuid.UUID(ann["id"])
    assert datetime.fromisoformat(ann["created_at"]) and datetime.fromisoformat(ann["updated_at"])

    p1 = mdb.create(
        "product",
        title="Lamp",
        price=19.99,
        tags=["home", "light"],
        specs={"watts": 40, "colour": "white", "ok": True, "dims": [1, 2.5]},
    )
    p2 = mdb.create("product", title="Desk", sku="D-1")
    order = mdb.create(
        "purchase",
        placed_at="2024-05-06T07:08:09.123456+02:00",
        quantity=2,
        note="leave at the door",
        customer=bob["id"],
        products=[p2["id"], p1["id"], p1["id"]],
    )
    assert order["placed_at"] == "2024-05-06T05:08:09.123456Z"  # UTC, microseconds kept
    assert order["products"] == sorted([p1["id"], p2["id"]])
    got = mdb.get("product", p1["id"])
    assert got["tags"] == ["home", "light"] and got["specs"]["dims"] == [1, 2.5]
    assert got["price"] == 19.99

    # PATCH: only what is given changes; a list given replaces the links.
    changed = mdb.update("purchase", order["id"], quantity=3, products=[p1["id"]])
    assert changed["quantity"] == 3 and changed["note"] == "leave at the door"
    assert changed["products"] == [p1["id"]]
    assert changed["updated_at"] >= order["updated_at"]
    assert mdb.update("purchase", order["id"], products=[])["products"] == []
    assert mdb.update("purchase", order["id"], note=None)["note"] is None
    assert mdb.update("purchase", order["id"])["quantity"] == 3  # an empty PATCH is fine

    # Deleting: links go, optional references are set NULL, required ones cascade.
    review = mdb.create("review", rating=5, product=p1["id"], author=bob["id"])
    R.delete_row(db=mdb.db, definition=mdb.definition, entity="customer", row_id=bob["id"])
    mdb.db.commit()
    with pytest.raises(NotFound):
        mdb.get("customer", bob["id"])
    assert mdb.get("purchase", order["id"])["customer"] is None
    assert mdb.get("review", review["id"])["author"] is None
    assert mdb.count("customer__friends") == 0
    R.delete_row(db=mdb.db, definition=mdb.definition, entity="product", row_id=p1["id"])
    mdb.db.commit()
    with pytest.raises(NotFound):
        mdb.get("review", review["id"])


def test_create_with_own_id_and_self_reference(mdb):
    me = str(uuid.uuid4())
    row = mdb.create(
        "customer", id=me, first_name="Self", email="self@example.com", referred_by=me, friends=[me]
    )
    assert row["id"] == me and row["referred_by"] == me and row["friends"] == [me]
    with pytest.raises(Problems, match=UNIQUE_TAKEN):
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="customer",
            data={"id": me, "first_name": "Twin", "email": "twin@example.com"},
        )


def test_many_to_many_lists_use_one_query_per_page(mdb):
    products = [mdb.create("product", title=f"p{i}")["id"] for i in range(3)]
    for i in range(12):
        mdb.create("purchase", quantity=i, products=products[: i % 4])
    seen: list[str] = []
    adapter = mdb.db._adapter
    original = adapter.execute

    def counting(*args, **kwargs):
        seen.append(args[0])
        return original(*args, **kwargs)

    adapter.execute = counting
    try:
        rows, total = mdb.list("purchase", sort="quantity")
    finally:
        adapter.execute = original
    assert total == 12 and [len(r["products"]) for r in rows] == [i % 4 for i in range(12)]
    assert len([s for s in seen if "purchase__products" in s]) == 1
    assert len(seen) == 3  # count, page, links


def test_a_row_by_id_equals_the_same_row_in_a_page_for_every_field_type(mdb):
    # A row by id is read with one bound statement and decoded straight to a dict; a page goes
    # through PyDAL's select and Row parsing. Both must give the same JSON for every type,
    # NULLs included.
    mdb.seed(max_instances_per_entity=25, seed=7)
    mdb.db.commit()
    mdb.create("customer", first_name="Sparse", email="sparse@example.com")
    mdb.create("product", title="Sparse")
    mdb.create("purchase")
    nulls = 0
    for entity in ENTITIES:
        page = R.read_page(db=mdb.db, definition=mdb.definition, entity=entity, limit=100)
        assert page["count"] == len(page["data"]) > 0
        for row in page["data"]:
            assert mdb.get(entity, row["id"]) == row
            nulls += sum(value is None for value in row.values())
    assert nulls >= 15, "too few NULLs: the test misses the NULL case"


def test_unique_values_clash_as_a_conflict(mdb):
    mdb.create("customer", first_name="a", email="a@e.com")
    other = mdb.create("customer", first_name="b", email="b@e.com")
    with pytest.raises(Problems, match=UNIQUE_TAKEN) as info:
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="customer",
            data={"first_name": "c", "email": "a@e.com"},
        )
    assert problems_of(info) == [(("body", "email"), "unique")]
    with pytest.raises(Problems, match=UNIQUE_TAKEN):
        R.update_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="customer",
            row_id=other["id"],
            data={"email": "a@e.com"},
        )
    mdb.db.rollback()
    assert mdb.update("customer", other["id"], email="b@e.com")["email"] == "b@e.com"


def test_unknown_model_parts_and_rows_are_not_found(mdb):
    defn, db = mdb.definition, mdb.db
    missing = str(uuid.uuid4())
    for entity in ("nope", "tables", "customer__friends", "customer; DROP TABLE customer", ""):
        with pytest.raises(NotFound):
            R.list_rows(db=db, definition=defn, entity=entity, filters={})
        with pytest.raises(NotFound):
            R.create_row(db=db, definition=defn, entity=entity, data={})
    for row_id in (missing, "not-a-uuid", "' OR 1=1 --", 42):
        with pytest.raises(NotFound):
            R.get_row(db=db, definition=defn, entity="customer", row_id=row_id)
        with pytest.raises(NotFound):
            R.update_row(db=db, definition=defn, entity="customer", row_id=row_id, data={"age": 1})
        with pytest.raises(NotFound):
            R.delete_row(db=db, definition=defn, entity="customer", row_id=row_id)


def test_empty_keeps_the_schema(mdb):
    mdb.seed(max_instances_per_entity=4, seed=3)
    assert all(mdb.count(e) == 4 for e in ENTITIES)
    R.empty(db=mdb.db, definition=mdb.definition)
    mdb.db.commit()
    for table in [*ENTITIES, *(j.name for j in join_tables(mdb.definition))]:
        assert mdb.count(table) == 0
    assert mdb.create("company", name="again")["name"] == "again"
