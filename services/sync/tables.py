"""The tables a client can sync, each behind one small interface the batch engine uses.

``items`` lives in the main database and its rows have owners. An app database's entities live in
that model's database and belong to whoever may see the model; their adapter is
services/appdb/sync_adapter.py, which fits SyncTable without importing this package. INSERT and
UPDATE carry a row's whole state (see services/sync/schemas.py): last write wins per row, and a
write that sets the whole row is what makes the result the same in any delivery order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from pydal import DAL
from pydantic import ValidationError

from services.db.statements import delete_row, insert_rows, select_in, update_row
from services.errors import validation_problems
from services.schemas import Input, Name, Title
from services.timeutil import utcnow, wire_time

READ_ONLY = ("owner_id", "created_at", "updated_at")
ITEM_FIELDS = ("id", "title", "description", "owner_id", "created_at", "updated_at")


class SyncTable(Protocol):
    """What the batch engine needs from a table."""

    name: str  # as in the feed and in operations (an app entity's name)
    owned: bool  # rows have an owner_id (and a user sees only their own)

    def parse(self, with_state: bool, data: Any, loc: Sequence) -> tuple[uuid.UUID, Any, list]:
        """(row id, state, problems) of an operation's data."""

    def rows(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
        """The rows that exist among these ids, JSON-ready."""

    def conflict(self, row_id: uuid.UUID, state: Any) -> str | None:
        """Why this state cannot be written now, or None."""

    def write(
        self, row_id: uuid.UUID, state: Any, *, exists: bool, owner_id: uuid.UUID | None
    ) -> None:
        """Insert the row, or replace its state."""

    def delete(self, row_id: uuid.UUID) -> tuple[dict, dict]:
        """Delete the row; (deleted, changed) other rows by table, found before deleting."""

    def flush(self) -> None:
        """Write what the table held back (new rows, inserted together)."""


class _ItemState(Input):
    id: uuid.UUID
    title: Title
    description: Name | None = None


class _RowRef(Input):
    id: uuid.UUID


class ItemsTable:
    """The main database's items."""

    name = "items"
    owned = True

    def __init__(self, db: DAL) -> None:
        self.db = db
        self.pending: dict[uuid.UUID, dict] = {}  # new items, inserted together by flush()

    def parse(self, with_state: bool, data: Any, loc: Sequence) -> tuple[uuid.UUID, Any, list]:
        """Validate an item's id and (INSERT/UPDATE) its title and description."""
        if isinstance(data, Mapping):
            found = [
                {"loc": [*loc, k], "msg": f"{k} is set by the service", "type": "read_only"}
                for k in READ_ONLY
                if k in data
            ]
            if found:
                return uuid.UUID(int=0), None, found
        try:
            if with_state:
                state = _ItemState.model_validate(data)
                return state.id, {"title": state.title, "description": state.description}, []
            return _RowRef.model_validate(data).id, None, []
        except ValidationError as error:
            return uuid.UUID(int=0), None, validation_problems(error, loc)

    def rows(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
        """Items by id, as the feed shows them."""
        item = self.db.item
        fields = [item[name] for name in ITEM_FIELDS]
        found = select_in(self.db, item, fields, item.id, list(dict.fromkeys(ids)))
        return {
            r["id"]: {
                "id": str(r["id"]),
                "title": r["title"],
                "description": r["description"],
                "owner_id": str(r["owner_id"]),
                "created_at": wire_time(r["created_at"]),
                "updated_at": wire_time(r["updated_at"]),
            }
            for r in found
        }

    def conflict(self, row_id: uuid.UUID, state: Any) -> str | None:
        """Items have no unique fields or references a client sets."""
        return None

    def write(
        self, row_id: uuid.UUID, state: Any, *, exists: bool, owner_id: uuid.UUID | None
    ) -> None:
        """Insert the item (held back until flush), or replace its title and description."""
        db = self.db
        if row_id in self.pending:
            self.pending[row_id].update(state)
        elif exists:
            # What a PyDAL update does (updated_at is the field's ``update=``), as one cheap
            # statement: a batch updates hundreds of rows.
            update_row(db, db.item, {"id": row_id}, {**state, "updated_at": utcnow()})
        else:
            now = utcnow()
            self.pending[row_id] = {
                "id": row_id,
                "owner_id": owner_id,
                **state,
                "created_at": now,
                "updated_at": now,
            }

    def delete(self, row_id: uuid.UUID) -> tuple[dict, dict]:
        """Delete the item (nothing references items)."""
        if self.pending.pop(row_id, None) is None:
            delete_row(self.db, self.db.item, {"id": row_id})
        return {}, {}

    def flush(self) -> None:
        """Insert the new items with multi-row INSERTs."""
        rows = list(self.pending.values())
        self.pending = {}
        insert_rows(self.db, self.db.item, rows)
