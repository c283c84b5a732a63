"""Items, scoped to their owner unless the caller is a superuser. Rows go through PyDAL."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydal import DAL

from services.db import feed
from services.db.statements import as_dicts, param_encoder, placeholder
from services.db.types import datetime_wire, uuid_wire
from services.errors import NotFound
from services.schemas import ItemCreate, ItemPublic

PUBLIC_FIELDS = ("id", "title", "description", "owner_id", "created_at")
NOT_FOUND = "Item not found"
FEED_TABLE = "items"  # the items' name in the change feed


def to_public(row: dict[str, Any]) -> ItemPublic:
    """The API view of an item row."""
    return ItemPublic.model_validate(row)


def read_page(*, db: DAL, owner_id: uuid.UUID | None, skip: int, limit: int) -> str:
    """A page of items (all of them when owner_id is None), newest first, with the total, as
    ItemsPublic's JSON.

    Two bound statements on PyDAL's connection, written from the stored values: building the
    two queries through PyDAL, then decoding every id and time only to write them out again,
    was about half of the page's own cost (issue 17). The same bytes as ItemsPublic's
    model_dump_json of the rows, on every backend (tests/api/test_items.py).
    """
    table = db.item
    mark = placeholder(db)
    where, params = "", []
    if owner_id is not None:
        where = f" WHERE {table.owner_id._rname} = {mark}"
        params = [param_encoder(table.owner_id.type)(owner_id)]
    count = db.executesql(f"SELECT COUNT(*) FROM {table._rname}{where}", placeholders=params)
    records = db.executesql(
        f"SELECT {','.join(f._rname for f in _fields(db))} FROM {table._rname}{where} "
        f"ORDER BY {table.created_at._rname} DESC, {table.id._rname} "
        f"LIMIT {int(limit)} OFFSET {int(skip)}",
        placeholders=params,
    )
    data = [
        {
            "title": title,
            "description": description,
            "id": uuid_wire(item_id),
            "owner_id": uuid_wire(owner),
            "created_at": datetime_wire(created_at),
        }
        for item_id, title, description, owner, created_at in records
    ]
    return json.dumps(
        {"data": data, "count": int(count[0][0])}, ensure_ascii=False, separators=(",", ":")
    )


def _fields(db: DAL) -> list:
    return [db.item[name] for name in PUBLIC_FIELDS]


def _scope(db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None):
    query = db.item.id == item_id
    if owner_id is not None:
        query &= db.item.owner_id == owner_id
    return query


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
