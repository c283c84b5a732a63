"""An app database's entity as a table the offline-sync engine can write (see SyncTable in
services/sync/tables.py, which this class fits by shape: app databases and offline sync do not
import each other; services/sync_scopes.py puts them together)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from pydal import DAL

from services.appdb import rows as app_rows
from services.appdb.definition import Definition
from services.appdb.values import entity_plan


class EntityTable:
    """One entity of a model's app database."""

    owned = False

    def __init__(self, db: DAL, definition: Definition, entity: str) -> None:
        self.db = db
        self.definition = definition
        self.plan = entity_plan(definition, entity)
        self.name = entity

    def parse(self, with_state: bool, data: Any, loc: Sequence) -> tuple[uuid.UUID, Any, list]:
        """Validate the row's id and (INSERT/UPDATE) every field against the definition."""
        row_id, values, links, problems = app_rows.parse_state(
            self.plan, data, loc, with_state=with_state
        )
        return row_id, (values, links), problems

    def rows(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
        """Rows by id with their ManyToMany lists."""
        return app_rows.rows_by_id(self.db, self.plan, ids)

    def conflict(self, row_id: uuid.UUID, state: Any) -> str | None:
        """A reference to a missing row, or a unique value another row holds."""
        values, links = state
        return app_rows.state_conflict(self.db, self.plan, row_id, values, links)

    def write(
        self, row_id: uuid.UUID, state: Any, *, exists: bool, owner_id: uuid.UUID | None
    ) -> None:
        """Insert the row, or replace its fields and lists."""
        values, links = state
        app_rows.write_state(self.db, self.plan, row_id, values, links, exists=exists)

    def flush(self) -> None:
        """Entity rows are written as they come (references and unique values are checked)."""

    def delete(self, row_id: uuid.UUID) -> tuple[dict, dict]:
        """Delete the row; rows its foreign keys delete or change are returned, not recorded."""
        levels: list = []
        deleted, changed = app_rows.cascade(
            self.db, self.definition, self.name, [row_id], levels=levels
        )
        app_rows.delete_deepest_first(self.db, levels)
        app_rows.delete_ids(self.db, self.plan, [row_id])
        deleted[self.name].discard(row_id)
        return deleted, changed
