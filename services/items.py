"""Items, scoped to their owner unless the caller is a superuser. Rows go through PyDAL."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydal import DAL

from services.db import feed
from services.db.statements import as_dicts
from services.errors import NotFound
from services.schemas import ItemCreate, ItemPublic
from services.timeutil import wire_time

PUBLIC_FIELDS = ("id", "title", "description", "owner_id", "created_at")
NOT_FOUND = "Item not found"
FEED_TABLE = "items"  # the items' name in the change feed


def to_public(row: dict[str, Any]) -> ItemPublic:
    """The API view of an item row."""
    return ItemPublic.model_validate(row)


def page_json(rows: list[dict[str, Any]], count: int) -> str:
    """The page as ``ItemsPublic`` would write it (``model_dump_json``), straight from the rows.

    The rows come from the database, already valid: validating them again and converting every
    datetime to aware was a fifth of the page's own cost (issue 17). The same keys in the same
    order, the same value formats and escapes (tests/api/test_items.py compares the two).
    """
    data = [
        {
            "title": row["title"],
            "description": row["description"],
            "id": str(row["id"]),
            "owner_id": str(row["owner_id"]),
            "created_at": wire_time(row["created_at"]),
        }
        for row in rows
    ]
    return json.dumps({"data": data, "count": count}, ensure_ascii=False, separators=(",", ":"))


def _fields(db: DAL) -> list:
    return [db.item[name] for name in PUBLIC_FIELDS]


def _scope(db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None):
    query = db.item.id == item_id
    if owner_id is not None:
        query &= db.item.owner_id == owner_id
    return query


def list_items(
    *, db: DAL, owner_id: uuid.UUID | None, skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of items (all of them when owner_id is None), newest first, and the total."""
    query = db.item.owner_id == owner_id if owner_id is not None else db.item.id != None  # noqa: E711
    count = db(query).count()
    rows = db(query).select(
        *_fields(db),
        orderby=~db.item.created_at | db.item.id,
        limitby=(skip, skip + limit),
        processor=as_dicts,
    )
    return rows, count


def get_item(*, db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None) -> dict[str, Any]:
    """One item; another owner's item is reported as missing, never shown."""
    rows = db(_scope(db, item_id, owner_id)).select(*_fields(db), processor=as_dicts)
    if not rows:
        raise NotFound(NOT_FOUND)
    return rows[0]


def create_item(*, db: DAL, owner_id: uuid.UUID, item_create: ItemCreate) -> dict[str, Any]:
    """Create an item owned by ``owner_id``."""
    item_id = db.item.insert(owner_id=owner_id, **item_create.model_dump())["id"]
    feed.touch(db, FEED_TABLE, item_id, owner_id=owner_id, new=True)
    return get_item(db=db, item_id=item_id, owner_id=None)


def update_item(
    *, db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply ``changes`` in one UPDATE (no read-modify-write)."""
    if changes:
        updated = db(_scope(db, item_id, owner_id)).update(**changes)
    else:
        updated = db(_scope(db, item_id, owner_id)).count()
    if not updated:
        raise NotFound(NOT_FOUND)
    row = get_item(db=db, item_id=item_id, owner_id=None)
    if changes:
        feed.touch(db, FEED_TABLE, item_id, owner_id=row["owner_id"])
    return row


def delete_item(*, db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None) -> None:
    """Delete an item (its feed entry stays, as a tombstone)."""
    if not db(_scope(db, item_id, owner_id)).delete():
        raise NotFound(NOT_FOUND)
    feed.touch(db, FEED_TABLE, item_id, deleted=True)
