"""``POST /api/v1/sync``: pick the database a batch syncs, apply the batch, read the feed.

A batch writes to one database, ``items`` (the main database) or one model's app database,
because only one database's transaction can make it all-or-nothing: a model's SQLite file and
the main file commit separately. The scope comes from ``scope``, else from the operations'
tables, else it is ``items``.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydal import DAL

from services.appdb.handles import Handles, open_app_database
from services.appdb.rows import RowInvalid, problem
from services.config import Settings
from services.errors import Invalid
from services.sync import batch, feed
from services.sync.schemas import SyncRequest
from services.sync.tables import EntityTable, ItemsTable

ITEMS = "items"
MODELS = "models/"


def _scope_of(table: str) -> str | None:
    """The scope a table name belongs to ("items" or "models/<id>"), or None if malformed."""
    if table == ITEMS:
        return ITEMS
    parts = table.split("/")
    if len(parts) == 3 and parts[0] == "models" and parts[1] and parts[2]:
        return f"{MODELS}{parts[1]}"
    return None


def _choose_scope(request: SyncRequest) -> str:
    scopes = [_scope_of(op.table) for op in request.operations]
    chosen = request.scope or next((s for s in scopes if s is not None), None) or ITEMS
    problems = []
    for i, scope in enumerate(scopes):
        if scope is None:
            problems.append(
                problem(
                    ["body", "operations", i, "table"],
                    "a table is 'items' or 'models/<model_id>/<entity>'",
                    "unknown_table",
                )
            )
        elif scope != chosen:
            problems.append(
                problem(
                    ["body", "operations", i, "table"],
                    f"a batch writes to one database; this one is {chosen!r}",
                    "mixed_scope",
                )
            )
    if problems:
        raise RowInvalid(problems, "invalid sync batch")
    return chosen


def sync(
    *,
    db: DAL,
    settings: Settings,
    user_id: uuid.UUID,
    superuser: bool,
    request: SyncRequest,
    handles: Handles,
) -> dict[str, Any]:
    """Apply the batch and answer with the changes after the client's cursor (an app database's
    batch goes through its handle in ``handles``)."""
    chosen = _choose_scope(request)
    if chosen == ITEMS:
        scope = batch.Scope(db, {ITEMS: ItemsTable(db)}, user_id, superuser)
        return _run(scope, request, lambda t: t if t == ITEMS else None)
    model_id = chosen[len(MODELS) :]
    with open_app_database(
        handles=handles, db=db, model_id=model_id, owner_id=None if superuser else user_id
    ) as (definition, rows_db):
        tables = {e.name: EntityTable(rows_db, definition, e.name) for e in definition.entities}
        prefix = f"{chosen}/"
        scope = batch.Scope(rows_db, tables, user_id, superuser, prefix=prefix)
        return _run(scope, request, lambda t: t[len(prefix) :] if t.startswith(prefix) else None)


def _run(scope: batch.Scope, request: SyncRequest, table_name) -> dict[str, Any]:
    if request.cursor is not None:
        try:
            feed.decode_cursor(request.cursor)
        except Invalid as exc:
            raise RowInvalid(
                [problem(["body", "cursor"], exc.detail, "cursor")], "invalid cursor"
            ) from None
    ops = batch.parse(scope, request, table_name)
    applied, conflicts = batch.apply(scope, request.client_id, ops)
    feed_part = batch.changes(scope, request.cursor, request.limit)
    return {"changes_applied": applied, "conflicts": conflicts, **feed_part}
