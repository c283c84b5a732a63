"""Items, scoped to their owner unless the caller is a superuser. Rows go through PyDAL."""

from __future__ import annotations

import uuid
from typing import Any

from pydal import DAL
from pydal.objects import Row

from services.db.rows import row_dict
from services.errors import NotFound
from services.schemas import ItemCreate, ItemPublic, ItemsPublic
from services.sync import feed

PUBLIC_FIELDS = ("id", "title", "description", "owner_id", "created_at")
NOT_FOUND = "Item not found"
FEED_TABLE = "items"  # the items' name in the change feed


def to_public(row: Row) -> ItemPublic:
    """The API view of an item row."""
    return ItemPublic.model_validate(row_dict(row, PUBLIC_FIELDS))


def page_public(rows: list[Row], count: int) -> ItemsPublic:
    """The API view of a page of items."""
    return ItemsPublic(data=[to_public(r) for r in rows], count=count)


def _fields(db: DAL) -> list:
    return [db.item[name] for name in PUBLIC_FIELDS]


def _scope(db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None):
    query = db.item.id == item_id
    if owner_id is not None:
        query &= db.item.owner_id == owner_id
    return query


def list_items(
    *, db: DAL, owner_id: uuid.UUID | None, skip: int, limit: int
) -> tuple[list[Row], int]:
    """A page of items (all of them when owner_id is None), newest first, and the total."""
    query = db.item.owner_id == owner_id if owner_id is not None else db.item.id != None  # noqa: E711
    count = db(query).count()
    rows = db(query).select(
        *_fields(db), orderby=~db.item.created_at | db.item.id, limitby=(skip, skip + limit)
    )
    return list(rows), count


def get_item(*, db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None) -> Row:
    """One item; another owner's item is reported as missing, never shown."""
    row = db(_scope(db, item_id, owner_id)).select(*_fields(db)).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def create_item(*, db: DAL, owner_id: uuid.UUID, item_create: ItemCreate) -> Row:
    """Create an item owned by ``owner_id``."""
    item_id = db.item.insert(owner_id=owner_id, **item_create.model_dump())["id"]
    feed.touch(db, FEED_TABLE, item_id, owner_id=owner_id, new=True)
    return get_item(db=db, item_id=item_id, owner_id=None)


def update_item(
    *, db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None, changes: dict[str, Any]
) -> Row:
    """Apply ``changes`` in one UPDATE (no read-modify-write)."""
    if changes:
        updated = db(_scope(db, item_id, owner_id)).update(**changes)
    else:
        updated = db(_scope(db, item_id, owner_id)).count()
    if not updated:
        raise NotFound(NOT_FOUND)
    row = get_item(db=db, item_id=item_id, owner_id=None)
    if changes:
        feed.touch(db, FEED_TABLE, item_id, owner_id=row.owner_id)
    return row


def delete_item(*, db: DAL, item_id: uuid.UUID, owner_id: uuid.UUID | None) -> None:
    """Delete an item (its feed entry stays, as a tombstone)."""
    if not db(_scope(db, item_id, owner_id)).delete():
        raise NotFound(NOT_FOUND)
    feed.touch(db, FEED_TABLE, item_id, deleted=True)
