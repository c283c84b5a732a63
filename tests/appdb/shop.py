"""A six-entity shop model with every field type, and helpers to look inside app databases."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from pydal import DAL

from services.appdb import store
from services.appdb.definition import Definition, validate_definition
from services.appdb.store import AppDatabase
from services.db.dal import close_dal

# Six entities; OneToMany, ManyToMany and a self-reference (customer.referred_by -> customer);
# every field type.
SHOP = {
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
            "fields": [
                {"name": "title", "type": "String", "required": True},
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
            ],
        },
        {
            "name": "supplier",
            "fields": [
                {"name": "name", "type": "String", "required": True},
                {"name": "since", "type": "Date"},
                {"name": "notes", "type": "Text"},
            ],
        },
        {
            "name": "review",
            "fields": [
                {"name": "stars", "type": "Integer", "required": True},
                {"name": "product", "type": "Reference", "target": "product", "required": True},
            ],
        },
        {"name": "coupon", "fields": [{"name": "code", "type": "String", "unique": True}]},
    ],
    "relationships": [
        {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
        {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
        {"type": "OneToMany", "from": "supplier", "to": "product", "name": "supplier"},
    ],
}
ROOT = Path(__file__).resolve().parents[2]
ENTITIES = {"customer", "product", "purchase", "supplier", "review", "coupon"}
FEED_TABLES = {"sync_row", "sync_counter", "sync_operation", "sync_schema"}
TABLES = ENTITIES | {"purchase__products"} | FEED_TABLES


def definition(change: Callable[[dict], None] | None = None) -> Definition:
    """The shop definition, optionally changed by ``change`` (which edits the raw JSON)."""
    raw = copy.deepcopy(SHOP)
    if change is not None:
        change(raw)
    return validate_definition(Definition.model_validate(raw))


def entity(raw: dict, name: str) -> dict:
    return next(e for e in raw["entities"] if e["name"] == name)


@contextmanager
def rows(app_db: AppDatabase) -> Iterator[DAL]:
    db = store.open_rows_dal(app_db)
    try:
        yield db
    finally:
        close_dal(db)


@contextmanager
def inspector(app_db: AppDatabase) -> Iterator[sa.Inspector]:
    with store.connect(app_db) as connection:
        yield sa.inspect(connection)


def ddl(app_db: AppDatabase, *statements: str) -> None:
    """DDL behind the service's back, on the model's own database or schema."""
    with store.connect(app_db) as connection, connection.begin():
        for statement in statements:
            connection.exec_driver_sql(statement)


def fill(app_db: AppDatabase) -> dict[str, uuid.UUID]:
    """A few linked rows through the PyDAL tables; returns their ids by name."""
    ids = {name: uuid.uuid4() for name in ("ann", "bob", "mug", "tea", "acme", "order")}
    with rows(app_db) as db:
        db.supplier.insert(id=ids["acme"], name="Acme", since=datetime(2020, 1, 2).date())
        db.customer.insert(
            id=ids["ann"], first_name="Ann", email="ann@example.com", age=41, vip=True, tier="pro"
        )
        db.customer.insert(
            id=ids["bob"], first_name="Bob", email="bob@example.com", referred_by=ids["ann"]
        )
        db.product.insert(
            id=ids["mug"],
            title="Mug",
            price=9.5,
            tags=["kitchen"],
            specs={"ml": 300},
            supplier=ids["acme"],
        )
        db.product.insert(id=ids["tea"], title="Tea", price=4.0)
        db.purchase.insert(
            id=ids["order"],
            customer=ids["bob"],
            quantity=2,
            placed_at=datetime(2024, 5, 6, 7, 8, 9, 123456),
        )
        for product in ("mug", "tea"):
            db.purchase__products.insert(source_id=ids["order"], target_id=ids[product])
        db.review.insert(stars=5, product=ids["mug"])
        db.commit()
    return ids
