"""Rows and seeding of an app database, on every backend: CRUD, validation, listing, seeding.

Each test builds the model's tables itself (SQLAlchemy ``create_all`` on a fresh database) and
reads and writes rows through PyDAL with services.appdb.rows and services.appdb.seed; checks
after a seed read the database with plain SQL through SQLAlchemy.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.appdb import rows as R
from services.appdb import seed as S
from services.appdb.definition import Definition, problems, validate_definition
from services.appdb.schema import build_metadata, define_pydal, entity_columns, join_tables
from services.db.dal import close_dal, open_dal
from services.db.engine import make_engine
from services.errors import NotFound

MODEL = {
    "entities": [
        {
            "name": "company",
            "fields": [
                {"name": "name", "type": "String", "required": True, "unique": True},
                {"name": "website", "type": "String"},
                {"name": "ceo", "type": "Reference", "target": "customer"},  # a cycle with employer
            ],
        },
        {
            "name": "customer",
            "fields": [
                {"name": "first_name", "type": "String", "required": True},
                {"name": "last_name", "type": "String"},
                {"name": "email", "type": "String", "required": True, "unique": True},
                {"name": "age", "type": "Integer"},
                {"name": "score", "type": "Float"},
                {"name": "vip", "type": "Boolean"},
                {"name": "tier", "type": "Enum", "values": ["free", "pro", "team"]},
                {"name": "joined_on", "type": "Date"},
                {"name": "referred_by", "type": "Reference", "target": "customer"},
            ],
        },
        {
            "name": "product",
            "fields": [
                {"name": "title", "type": "String", "required": True},
                {"name": "sku", "type": "String", "unique": True},
                {"name": "price", "type": "Float"},
                {"name": "tags", "type": "Array"},
                {"name": "specs", "type": "Object"},
            ],
        },
        {
            "name": "purchase",
            "fields": [
                {"name": "placed_at", "type": "DateTime"},
                {"name": "quantity", "type": "Integer"},
                {"name": "note", "type": "Text"},
            ],
        },
        {
            "name": "review",
            "fields": [
                {"name": "rating", "type": "Integer"},
                {"name": "comment", "type": "Text"},
                {"name": "product", "type": "Reference", "target": "product", "required": True},
            ],
        },
    ],
    "relationships": [
        {"type": "OneToMany", "from": "company", "to": "customer", "name": "employer"},
        {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
        {"type": "OneToMany", "from": "customer", "to": "review", "name": "author"},
        {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
        {"type": "ManyToMany", "from": "customer", "to": "customer", "name": "friends"},
    ],
}
ENTITIES = [e["name"] for e in MODEL["entities"]]


def definition_of(doc: dict) -> Definition:
    return validate_definition(Definition.model_validate(doc))


class ModelDB:
    """The model's tables on a fresh database: a PyDAL connection and a SQLAlchemy engine."""

    def __init__(self, target, definition: Definition) -> None:
        self.target, self.definition = target, definition
        self.engine = make_engine(target)
        build_metadata(definition).create_all(self.engine)
        self.db = open_dal(target, define=False)
        define_pydal(self.db, definition, target.family)

    def close(self) -> None:
        close_dal(self.db)
        self.engine.dispose()

    # -- shortcuts
    def create(self, entity: str, **data):
        row = R.create_row(db=self.db, definition=self.definition, entity=entity, data=data)
        self.db.commit()
        return row

    def update(self, entity: str, row_id, **data):
        row = R.update_row(
            db=self.db, definition=self.definition, entity=entity, row_id=row_id, data=data
        )
        self.db.commit()
        return row

    def get(self, entity: str, row_id):
        return R.get_row(db=self.db, definition=self.definition, entity=entity, row_id=row_id)

    def list(self, entity: str, **kwargs):
        kwargs.setdefault("filters", {})
        return R.list_rows(db=self.db, definition=self.definition, entity=entity, **kwargs)

    def seed(self, **kwargs):
        return S.seed(db=self.db, definition=self.definition, **kwargs)

    # -- plain SQL through SQLAlchemy, for checks
    def q(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def scalar(self, sql: str):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    def count(self, table: str) -> int:
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(table)}")


@pytest.fixture
def mdb(fresh_target):
    m = ModelDB(fresh_target, definition_of(MODEL))
    yield m
    m.db.rollback()
    m.close()


def problems_of(exc_info) -> list[tuple]:
    return [(tuple(p["loc"]), p["type"]) for p in exc_info.value.problems]


def all_rows(m: ModelDB, entity: str) -> list[dict]:
    rows, total = m.list(entity, sort="id", limit=1000)
    assert len(rows) == total
    return rows


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
    assert order["placed_at"] == "2024-05-06T05:08:09.123456Z"  # UTC (RFC 3339), microseconds kept
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
    with pytest.raises(R.RowConflict):
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


# --------------------------------------------------------------------------- bad input


BAD_BODIES = [
    ({"first_name": 3, "email": "x@e.com"}, [(("body", "first_name"), "string_type")]),
    ({"first_name": "x" * 256, "email": "x@e.com"}, [(("body", "first_name"), "string_too_long")]),
    ({"email": "x@e.com"}, [(("body", "first_name"), "missing")]),
    ({"first_name": None, "email": "x@e.com"}, [(("body", "first_name"), "missing")]),
    ({"first_name": "a", "email": "x@e.com", "nope": 1}, [(("body", "nope"), "extra_forbidden")]),
    ({"first_name": "a", "email": "x@e.com", "age": "3"}, [(("body", "age"), "int_type")]),
    ({"first_name": "a", "email": "x@e.com", "age": True}, [(("body", "age"), "int_type")]),
    ({"first_name": "a", "email": "x@e.com", "age": 2**63}, [(("body", "age"), "int_range")]),
    (
        {"first_name": "a", "email": "x@e.com", "score": math.nan},
        [(("body", "score"), "finite_number")],
    ),
    ({"first_name": "a", "email": "x@e.com", "vip": "yes"}, [(("body", "vip"), "bool_type")]),
    ({"first_name": "a", "email": "x@e.com", "tier": "gold"}, [(("body", "tier"), "enum")]),
    (
        {"first_name": "a", "email": "x@e.com", "joined_on": "2024-13-01"},
        [(("body", "joined_on"), "date_parsing")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "joined_on": "0999-01-01"},
        [(("body", "joined_on"), "date_range")],
    ),
    ({"first_name": "a\x00b", "email": "x@e.com"}, [(("body", "first_name"), "string_type")]),
    ({"first_name": "a\ud800", "email": "x@e.com"}, [(("body", "first_name"), "string_type")]),
    (
        {"first_name": "a", "email": "x@e.com", "referred_by": "not-a-uuid"},
        [(("body", "referred_by"), "uuid_parsing")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "referred_by": str(uuid.UUID(int=7))},
        [(("body", "referred_by"), "reference_not_found")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "friends": "all"},
        [(("body", "friends"), "list_type")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "friends": [str(uuid.UUID(int=8)), "zz"]},
        [(("body", "friends", 1), "uuid_parsing")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "created_at": "2024-01-01T00:00:00"},
        [(("body", "created_at"), "read_only")],
    ),
    ({"first_name": "a", "email": "x@e.com", "id": 5}, [(("body", "id"), "uuid_type")]),
]


def test_values_that_do_not_fit_are_refused_with_their_location(mdb):
    # One database for all the cases: a fresh server database per case is slow.
    for body, expected in BAD_BODIES:
        with pytest.raises(R.RowInvalid) as info:
            R.create_row(db=mdb.db, definition=mdb.definition, entity="customer", data=body)
        assert problems_of(info) == expected, body
        mdb.db.rollback()
    assert mdb.count("customer") == 0


def test_more_bad_values_and_several_problems_at_once(mdb):
    with pytest.raises(R.RowInvalid) as info:
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="product",
            data={"title": ["x"], "tags": {"a": 1}, "specs": [1], "price": "1"},
        )
    assert sorted(problems_of(info)) == sorted(
        [
            (("body", "title"), "string_type"),
            (("body", "tags"), "list_type"),
            (("body", "specs"), "dict_type"),
            (("body", "price"), "float_type"),
        ]
    )
    with pytest.raises(R.RowInvalid) as info:
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="purchase",
            data={"placed_at": "yesterday", "note": "é" * 40000},
        )
    assert sorted(problems_of(info)) == [
        (("body", "note"), "string_too_long"),
        (("body", "placed_at"), "datetime_parsing"),
    ]
    with pytest.raises(R.RowInvalid):
        R.create_row(db=mdb.db, definition=mdb.definition, entity="purchase", data=["x"])
    row = mdb.create("customer", first_name="a", email="a@e.com")
    with pytest.raises(R.RowInvalid) as info:
        mdb.update("customer", row["id"], id=str(uuid.uuid4()), email=None)
    assert sorted(problems_of(info)) == [
        (("body", "email"), "missing"),
        (("body", "id"), "read_only"),
    ]


def test_unique_values_clash_as_a_conflict(mdb):
    mdb.create("customer", first_name="a", email="a@e.com")
    other = mdb.create("customer", first_name="b", email="b@e.com")
    with pytest.raises(R.RowConflict) as info:
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="customer",
            data={"first_name": "c", "email": "a@e.com"},
        )
    assert problems_of(info) == [(("body", "email"), "unique")]
    with pytest.raises(R.RowConflict):
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


# --------------------------------------------------------------------------- listing


@pytest.fixture
def people(mdb):
    specs = [
        ("amy", 30, 1.5, True, "free"),
        ("bea", 25, 2.5, False, "pro"),
        ("cal", None, 3.5, True, "team"),
        ("dan", 41, None, False, "pro"),
        ("eve", 25, 0.5, None, None),
        ("fay", 60, 9.0, True, "free"),
        ("gus", 18, 4.0, False, "team"),
    ]
    made = {}
    for name, age, score, vip, tier in specs:
        made[name] = mdb.create(
            "customer",
            first_name=name,
            email=f"{name}@example.com",
            age=age,
            score=score,
            vip=vip,
            tier=tier,
        )
    return made


def names(rows):
    return [r["first_name"] for r in rows]


def test_sort_filter_and_paginate(mdb, people):
    rows, total = mdb.list("customer", sort="-age,first_name")
    assert total == 7
    assert names(rows) == ["fay", "dan", "amy", "bea", "eve", "gus", "cal"]  # NULL last desc
    assert names(mdb.list("customer", sort="age,-first_name")[0])[:3] == ["cal", "gus", "eve"]
    assert names(mdb.list("customer", sort=["first_name"], limit=2, offset=2)[0]) == ["cal", "dan"]
    assert mdb.list("customer", limit=2, offset=6)[1] == 7
    assert names(mdb.list("customer")[0]) == list("amy bea cal dan eve fay gus".split())

    def matching(**filters):
        rows, total = mdb.list("customer", sort="first_name", filters=filters)
        assert len(rows) == total
        return names(rows)

    assert matching(age="25") == ["bea", "eve"]
    assert matching(**{"age.gt": "25", "age.lte": "41"}) == ["amy", "dan"]
    assert matching(**{"age.ne": "25"}) == ["amy", "cal", "dan", "fay", "gus"]
    assert matching(**{"age.in": "18,60,99"}) == ["fay", "gus"]
    assert matching(**{"score.gte": "3.5", "vip": "true"}) == ["cal", "fay"]
    assert matching(**{"vip.eq": "0"}) == ["bea", "dan", "gus"]
    assert matching(**{"tier.in": "pro,team"}) == ["bea", "cal", "dan", "gus"]
    assert matching(**{"first_name.contains": "A"}) == ["amy", "bea", "cal", "dan", "fay"]
    assert matching(**{"first_name.startswith": "E"}) == ["eve"]
    assert matching(**{"email.contains": "@example."}) == sorted(people)
    assert matching(**{"id.in": f"{people['amy']['id']},{people['gus']['id']}"}) == ["amy", "gus"]
    stamp = people["dan"]["created_at"]
    assert matching(**{"created_at.gte": stamp}) == ["dan", "eve", "fay", "gus"]
    assert matching(**{"first_name.lt": "c"}) == ["amy", "bea"]


BAD_LISTS = [
    ({"limit": 0}, ("query", "limit"), "limit_range"),
    ({"limit": 1001}, ("query", "limit"), "limit_range"),
    ({"offset": -1}, ("query", "offset"), "offset_range"),
    ({"sort": "shoe_size"}, ("query", "sort"), "unknown_sort_key"),
    ({"sort": "age,-age"}, ("query", "sort"), "duplicate_sort_key"),
    ({"sort": "friends"}, ("query", "sort"), "unknown_sort_key"),
    ({"sort": "age,"}, ("query", "sort"), "unknown_sort_key"),
    ({"filters": {"shoe_size": "1"}}, ("query", "shoe_size"), "unknown_field"),
    ({"filters": {"age.like": "1"}}, ("query", "age.like"), "unknown_operator"),
    ({"filters": {"age": "ten"}}, ("query", "age"), "int_parsing"),
    ({"filters": {"age.in": "1,x"}}, ("query", "age.in"), "int_parsing"),
    ({"filters": {"score": "nan"}}, ("query", "score"), "float_parsing"),
    ({"filters": {"vip": "maybe"}}, ("query", "vip"), "bool_parsing"),
    ({"filters": {"tier": "gold"}}, ("query", "tier"), "enum"),
    ({"filters": {"age.contains": "1"}}, ("query", "age.contains"), "operator_not_allowed"),
    ({"filters": {"vip.gt": "1"}}, ("query", "vip.gt"), "operator_not_allowed"),
    ({"filters": {"joined_on.lt": "soon"}}, ("query", "joined_on.lt"), "date_parsing"),
    ({"filters": {"referred_by": "x"}}, ("query", "referred_by"), "uuid_parsing"),
    ({"filters": {"first_name": "a\x00"}}, ("query", "first_name"), "string_type"),
    ({"filters": {"friends": "x"}}, ("query", "friends"), "unknown_field"),
]


def test_bad_listing_parameters_are_refused(mdb):
    for kwargs, loc, kind in BAD_LISTS:
        with pytest.raises(R.RowInvalid) as info:
            mdb.list("customer", **kwargs)
        assert (loc, kind) in problems_of(info), kwargs


def test_json_fields_cannot_be_sorted_or_filtered(mdb):
    for kwargs in ({"sort": "tags"}, {"filters": {"specs": "{}"}}):
        with pytest.raises(R.RowInvalid):
            mdb.list("product", **kwargs)


# SQL metacharacters, LIKE wildcards and what PyDAL would paste into SQL verbatim if it were
# given a string for belongs() or orderby.
NASTY = [
    "'",
    "''",
    "\\",
    "\\'",
    "%",
    "_",
    "a%b_c",
    '"',
    ";",
    "--",
    "/*",
    "*/",
    "'; DROP TABLE customer; --",
    "x' OR '1'='1",
    "1) OR (1=1",
    "' UNION SELECT id FROM company --",
    "SELECT id FROM customer",
    "customer.id",
    "(SELECT 1)",
    "NULL",
    "true",
    "0x41",
    "é✓",
    "a\tb\nc",
    "%' OR 1=1 OR first_name LIKE '%",
]


def test_metacharacters_and_injection_strings_are_data(mdb, people):
    weird = [
        mdb.create("customer", first_name=text, email=f"w{i}@example.com", last_name=f"{text}!")
        for i, text in enumerate(NASTY)
    ]
    total = 7 + len(NASTY)
    for row, text in zip(weird, NASTY, strict=True):
        for op, value in (
            ("eq", text),
            ("in", text.replace(",", "")),
            ("startswith", text),
            ("contains", text),
        ):
            if op == "in" and "," in text:
                continue
            rows, _ = mdb.list("customer", filters={f"first_name.{op}": value}, limit=1000)
            ids = {r["id"] for r in rows}
            assert row["id"] in ids, (op, text)
            if op == "eq":
                assert ids == {row["id"]}, (op, text)
            # Every match really holds the value: nothing matched by a wildcard or by SQL.
            for r in rows:
                held = r["first_name"].lower()
                if op == "contains":
                    assert text.lower() in held, (op, text, held)
                elif op == "startswith":
                    assert held.startswith(text.lower()), (op, text, held)
        rows, _ = mdb.list("customer", filters={"last_name.contains": f"{text}!"})
        assert row["id"] in {r["id"] for r in rows}
    for key in (
        "id; DROP TABLE customer",
        "customer.id",
        "(SELECT 1)",
        "first_name DESC",
        "first_name,email;",
        "-",
        "--first_name",
        "id)",
        "<random>",
        "first_name ",
        "FIRST_NAME",
    ):
        with pytest.raises(R.RowInvalid):
            mdb.list("customer", sort=key)
    for key in (
        "first_name) OR (1=1",
        "first_name.eq.eq",
        "customer.first_name",
        "id;--.eq",
        "first_name.belongs",
        "first_name.in)",
    ):
        with pytest.raises(R.RowInvalid):
            mdb.list("customer", filters={key: "x"})
    assert mdb.count("customer") == total
    assert mdb.list("customer")[1] == total
    assert mdb.count("company") == 0


def test_empty_keeps_the_schema(mdb):
    mdb.seed(max_instances_per_entity=4, seed=3)
    assert all(mdb.count(e) == 4 for e in ENTITIES)
    R.empty(db=mdb.db, definition=mdb.definition)
    mdb.db.commit()
    for table in [*ENTITIES, *(j.name for j in join_tables(mdb.definition))]:
        assert mdb.count(table) == 0
    assert mdb.create("company", name="again")["name"] == "again"


# --------------------------------------------------------------------------- seeding


def check_integrity(m: ModelDB, definition: Definition) -> None:
    """Every reference and join row points at an existing row; unique fields are unique."""
    q = m.q
    for entity in definition.entities:
        for column in entity_columns(definition, entity):
            if column.type == "Reference":
                orphans = m.scalar(
                    f"SELECT COUNT(*) FROM {q(entity.name)} c LEFT JOIN {q(column.target)} p "
                    f"ON c.{q(column.name)} = p.id "
                    f"WHERE c.{q(column.name)} IS NOT NULL AND p.id IS NULL"
                )
                assert orphans == 0, (entity.name, column.name)
            if column.required:
                nulls = m.scalar(
                    f"SELECT COUNT(*) FROM {q(entity.name)} WHERE {q(column.name)} IS NULL"
                )
                assert nulls == 0, (entity.name, column.name)
            if column.unique:
                row = None
                with m.engine.connect() as conn:
                    row = conn.execute(
                        sa.text(
                            f"SELECT COUNT({q(column.name)}), COUNT(DISTINCT {q(column.name)}) "
                            f"FROM {q(entity.name)}"
                        )
                    ).one()
                assert row[0] == row[1], (entity.name, column.name)
            if column.type == "Enum":
                values = {r[column.name] for r in all_rows(m, entity.name)}
                assert values <= {*column.values, None}
    for join in join_tables(definition):
        for end, target in (("source_id", join.source), ("target_id", join.target)):
            orphans = m.scalar(
                f"SELECT COUNT(*) FROM {q(join.name)} j LEFT JOIN {q(target)} p "
                f"ON j.{end} = p.id WHERE p.id IS NULL"
            )
            assert orphans == 0, (join.name, end)


def test_seed_links_real_rows_and_keeps_unique_values_unique(mdb):
    answer = mdb.seed(max_instances_per_entity=9, seed=11)
    assert set(answer) == {"entities_created", "relationships_created", "duration_ms", "seed"}
    assert answer["entities_created"] == 9 * len(ENTITIES) and answer["seed"] == 11
    assert answer["relationships_created"] > 0 and answer["duration_ms"] >= 0
    for entity in ENTITIES:
        assert mdb.count(entity) == 9
    check_integrity(mdb, mdb.definition)
    links = mdb.count("purchase__products") + mdb.count("customer__friends")
    references = sum(
        mdb.scalar(f"SELECT COUNT({mdb.q(c)}) FROM {mdb.q(e)}")
        for e, c in (
            ("company", "ceo"),
            ("customer", "referred_by"),
            ("customer", "employer"),
            ("purchase", "customer"),
            ("review", "author"),
            ("review", "product"),
        )
    )
    assert answer["relationships_created"] == links + references
    # The cycle company.ceo <-> customer.employer is filled both ways.
    assert mdb.scalar(f"SELECT COUNT(ceo) FROM {mdb.q('company')}") == 9
    assert mdb.scalar(f"SELECT COUNT(employer) FROM {mdb.q('customer')}") == 9


def test_seed_values_fit_their_names_and_types(mdb):
    mdb.seed(max_instances_per_entity=10, seed=5)
    customers = all_rows(mdb, "customer")
    for c in customers:
        assert re.fullmatch(r"[a-z0-9.]+@example\.(com|org|net)", c["email"]), c["email"]
        assert c["age"] is None or 18 <= c["age"] <= 80
        assert c["tier"] in ("free", "pro", "team")
        assert isinstance(c["vip"], bool)
        date.fromisoformat(c["joined_on"])
        assert c["first_name"] and c["first_name"][0].isupper()
    for p in all_rows(mdb, "product"):
        assert p["price"] >= 1 and p["price"] <= 1000 and round(p["price"], 2) == p["price"]
        assert isinstance(p["tags"], list) and isinstance(p["specs"], dict)
        assert p["title"]
    for o in all_rows(mdb, "purchase"):
        assert o["quantity"] >= 1 and o["quantity"] <= 100
        datetime.fromisoformat(o["placed_at"])
    stamps = [c["created_at"] for c in customers]
    assert all(c["created_at"] == c["updated_at"] for c in customers)
    assert len(set(stamps)) == len(stamps)


def snapshot(m: ModelDB) -> dict:
    return {e: all_rows(m, e) for e in ENTITIES}


def test_same_seed_same_data_and_another_seed_other_data(mdb):
    mdb.seed(max_instances_per_entity=6, seed=1234)
    first = snapshot(mdb)
    mdb.seed(max_instances_per_entity=6, seed=1234)
    assert snapshot(mdb) == first
    answer = mdb.seed(max_instances_per_entity=6, seed=99)
    assert answer["seed"] == 99
    assert snapshot(mdb)["customer"] != first["customer"]
    picked = mdb.seed(max_instances_per_entity=6)["seed"]
    again = snapshot(mdb)
    mdb.seed(max_instances_per_entity=6, seed=picked)
    assert snapshot(mdb) == again


def stored(m: ModelDB) -> dict[str, list[tuple]]:
    """Every table's rows as stored, in key order (plain SQL)."""
    out = {}
    with m.engine.connect() as conn:
        for entity in ENTITIES:
            out[entity] = [
                tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {m.q(entity)} ORDER BY id"))
            ]
        for join in join_tables(m.definition):
            out[join.name] = [
                tuple(r)
                for r in conn.execute(
                    sa.text(f"SELECT * FROM {m.q(join.name)} ORDER BY source_id, target_id")
                )
            ]
    return out


def test_chunking_and_caches_do_not_change_the_data(mdb, monkeypatch):
    mdb.seed(max_instances_per_entity=300, seed=77)
    whole = stored(mdb)
    check_integrity(mdb, mdb.definition)
    # Tiny chunks, statements and id cache: many statements, fills and recomputed ids.
    monkeypatch.setattr(S, "CHUNK_ROWS", 7)
    monkeypatch.setattr(S, "FILL_CHUNK", 5)
    monkeypatch.setattr(S, "ID_CACHE_MAX", 10)
    monkeypatch.setattr(S, "ROWS_PER_STATEMENT", 3)
    seen = []
    mdb.seed(
        max_instances_per_entity=300,
        seed=77,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert stored(mdb) == whole
    assert len(seen) > 200 and seen[-1][0] == seen[-1][1] == 1500 + mdb.count(
        "purchase__products"
    ) + mdb.count("customer__friends")
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_progress_bar_is_a_progress_callback(mdb):
    import io

    out = io.StringIO()
    with S.progress_bar(file=out) as progress:
        mdb.seed(max_instances_per_entity=3, seed=1, progress=progress)
    assert "seeding: 100%" in out.getvalue()


def test_seed_locale(mdb):
    mdb.seed(max_instances_per_entity=3, seed=8, locale="de_DE")
    check_integrity(mdb, mdb.definition)
    with pytest.raises(R.RowInvalid) as info:
        mdb.seed(max_instances_per_entity=3, locale="xx_XX")
    assert problems_of(info) == [(("body", "locale"), "unknown_locale")]


def test_seed_is_all_or_nothing(mdb):
    keep = mdb.create("company", name="Keep me")
    lamp = mdb.create("product", title="Lamp")
    review = mdb.create("review", rating=4, product=lamp["id"])
    before = {e: mdb.count(e) for e in ENTITIES}

    def crash(done, total):
        if done > 5:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        mdb.seed(max_instances_per_entity=8, seed=1, progress=crash)
    assert {e: mdb.count(e) for e in ENTITIES} == before
    assert mdb.get("company", keep["id"])["name"] == "Keep me"
    assert mdb.get("review", review["id"])["rating"] == 4


def test_seed_specific_entities_and_preserve_existing(mdb):
    mdb.seed(max_instances_per_entity=4, seed=2)
    products = {r["id"] for r in all_rows(mdb, "product")}
    reviews_before = {r["id"] for r in all_rows(mdb, "review")}
    answer = mdb.seed(max_instances_per_entity=5, seed=3, specific_entities=["review"])
    assert answer["entities_created"] == 5
    reviews = all_rows(mdb, "review")
    assert len(reviews) == 5 and not reviews_before & {r["id"] for r in reviews}
    assert {r["product"] for r in reviews} <= products  # existing rows of entities not seeded
    assert {r["id"] for r in all_rows(mdb, "product")} == products
    progress = []
    mdb.seed(
        max_instances_per_entity=4,
        seed=2,
        preserve_existing=True,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert progress and progress[-1][0] == progress[-1][1]
    for entity, count in (("company", 8), ("customer", 8), ("review", 9)):
        assert mdb.count(entity) == count
    check_integrity(mdb, mdb.definition)
    # Preserving again with the same seed still gives new ids and unique values.
    mdb.seed(max_instances_per_entity=4, seed=2, preserve_existing=True)
    assert mdb.count("customer") == 12
    check_integrity(mdb, mdb.definition)


def test_seed_clashes_with_hand_made_unique_values_are_avoided(mdb):
    mdb.seed(max_instances_per_entity=3, seed=21)
    made = sorted(all_rows(mdb, "customer"), key=lambda r: r["created_at"])
    # With 6 rows there, a preserving seed makes rows 6, 7 and 8: people made those emails.
    clashing = [r["email"].replace(f".{k}@", f".{k + 6}@") for k, r in enumerate(made)]
    R.empty(db=mdb.db, definition=mdb.definition)
    for i, email in enumerate([f"h{i}@example.com" for i in range(3)] + clashing):
        mdb.create("customer", first_name=f"n{i}", email=email)
    mdb.seed(
        max_instances_per_entity=3, seed=21, preserve_existing=True, specific_entities=["customer"]
    )
    assert mdb.count("customer") == 9
    check_integrity(mdb, mdb.definition)
    emails = [r["email"] for r in all_rows(mdb, "customer")]
    assert len(set(emails)) == 9 and set(clashing) <= set(emails)


def test_seed_refuses_what_cannot_be_seeded(mdb):
    with pytest.raises(R.RowInvalid) as info:
        mdb.seed(max_instances_per_entity=-1, specific_entities=["nope", 3], seed="x")
    assert sorted(problems_of(info)) == sorted(
        [
            (("body", "max_instances_per_entity"), "int_type"),
            (("body", "specific_entities", 0), "unknown_entity"),
            (("body", "specific_entities", 1), "unknown_entity"),
            (("body", "seed"), "int_type"),
        ]
    )
    assert mdb.seed(max_instances_per_entity=0)["entities_created"] == 0


def test_a_cycle_of_required_references_is_refused(fresh_target):
    doc = {
        "entities": [
            {
                "name": "hen",
                "fields": [{"name": "egg", "type": "Reference", "target": "egg", "required": True}],
            },
            {
                "name": "egg",
                "fields": [{"name": "hen", "type": "Reference", "target": "hen", "required": True}],
            },
        ]
    }
    m = ModelDB(fresh_target, definition_of(doc))
    try:
        with pytest.raises(R.RowInvalid) as info:
            m.seed(max_instances_per_entity=2, seed=1)
        assert problems_of(info) == [(("body", "specific_entities"), "reference_cycle")]
    finally:
        m.db.rollback()
        m.close()


def test_required_self_references_and_one_to_one(fresh_target):
    doc = {
        "entities": [
            {
                "name": "node",
                "fields": [
                    {"name": "label", "type": "String", "required": True, "unique": True},
                    {"name": "parent", "type": "Reference", "target": "node", "required": True},
                    {"name": "twin", "type": "Reference", "target": "node", "unique": True},
                    {"name": "kind", "type": "Enum", "values": ["x", "y"], "unique": True},
                    {"name": "flag", "type": "Boolean", "unique": True},
                    {"name": "day", "type": "Date", "unique": True},
                    {"name": "moment", "type": "DateTime", "unique": True},
                    {"name": "ordinal", "type": "Integer", "unique": True},
                    {"name": "weight", "type": "Float", "unique": True},
                ],
            },
            {
                "name": "passport",
                "fields": [
                    {
                        "name": "holder",
                        "type": "Reference",
                        "target": "node",
                        "required": True,
                        "unique": True,
                    },
                ],
            },
        ]
    }
    m = ModelDB(fresh_target, definition_of(doc))
    try:
        m.seed(max_instances_per_entity=25, seed=4)
        check_integrity(m, m.definition)
        nodes = all_rows(m, "node")
        assert all(n["parent"] for n in nodes) and len({n["kind"] for n in nodes}) == 3
        assert m.scalar("SELECT COUNT(DISTINCT holder) FROM passport") == 25
        m.seed(max_instances_per_entity=25, seed=4, preserve_existing=True)
        check_integrity(m, m.definition)
        assert m.count("node") == 50
    finally:
        m.db.rollback()
        m.close()


# --------------------------------------------------------------------------- property


SIMPLE_TYPES = [
    "String",
    "Text",
    "Integer",
    "Float",
    "Boolean",
    "DateTime",
    "Date",
    "Array",
    "Object",
    "Enum",
]
FIELD_NAMES = [
    "name",
    "email",
    "title",
    "description",
    "age",
    "price",
    "quantity",
    "city",
    "first_name",
    "phone",
    "url",
    "rating",
    "birthday",
    "code",
    "amount",
    "value",
]


@st.composite
def definitions(draw) -> dict:
    """Small valid definitions whose references only point back (or at themselves)."""
    n = draw(st.integers(1, 3))
    entities = []
    for i in range(n):
        fields = []
        used: set[str] = set()
        for j in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from([*SIMPLE_TYPES, "Reference"]))
            name = draw(st.sampled_from(FIELD_NAMES))
            name = name if name not in used else f"{name}_{j}"
            used.add(name)
            spec = {"name": name, "type": kind, "required": draw(st.booleans())}
            if kind not in ("Array", "Object", "Text"):
                spec["unique"] = draw(st.booleans())
            if kind == "Enum":
                spec["values"] = draw(
                    st.lists(
                        st.sampled_from(["a", "b", "c", "d"]), min_size=2, max_size=4, unique=True
                    )
                )
            if kind == "Reference":
                spec["target"] = f"t{draw(st.integers(0, i))}"
            fields.append(spec)
        entities.append({"name": f"t{i}", "fields": fields})
    relationships = []
    for k in range(draw(st.integers(0, 2))):
        a, b = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2)))
        kind = draw(st.sampled_from(["OneToMany", "ManyToMany"]))
        relationships.append({"type": kind, "from": f"t{a}", "to": f"t{b}", "name": f"rel{k}"})
    return {"entities": entities, "relationships": relationships}


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=definitions(), seed=st.integers(0, 2**32))
def test_seeded_rows_round_trip(fresh_target, doc, seed):
    definition = Definition.model_validate(doc)
    if problems(definition):
        return
    m = ModelDB(fresh_target, definition)
    try:
        m.seed(max_instances_per_entity=2, seed=seed)
        check_integrity(m, definition)
        for entity in definition.entities:
            rows = all_rows(m, entity.name)
            assert len(rows) == 2
            for row in rows:
                body = {k: v for k, v in row.items() if k not in R.SYSTEM_FIELDS}
                again = m.update(entity.name, row["id"], **body)
                assert {k: again[k] for k in body} == body
                assert m.get(entity.name, row["id"]) == again
    finally:
        m.db.rollback()
        close_dal(m.db)
        build_metadata(definition).drop_all(m.engine)
        m.engine.dispose()
