"""Offline sync of one database: pick the database a batch writes to, apply it, read the feed.

A batch writes to one database, ``items`` (the main database) or one model's app database,
because only one database's transaction can make it all-or-nothing: a model's SQLite file and
the main file commit separately. The scope comes from ``scope``, else from the operations'
tables, else it is ``items``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydal import DAL

from services.db import feed
from services.errors import Invalid, Problems, problem
from services.sync import batch
from services.sync.schemas import SyncRequest
from services.sync.tables import ItemsTable, SyncTable

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


def choose_scope(request: SyncRequest) -> str:
    """The database the batch writes to: ``items`` or ``models/<id>``; Problems if mixed."""
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
        raise Problems(problems, "invalid sync batch")
    return chosen


def sync_items(
    *, db: DAL, user_id: uuid.UUID, superuser: bool, request: SyncRequest
) -> dict[str, Any]:
    """Apply a batch on ``items`` (the main database) and answer with the changes after the
    client's cursor; the caller commits."""
    scope = batch.Scope(db, {ITEMS: ItemsTable(db)}, user_id, superuser)
    return _run(scope, request, lambda t: t if t == ITEMS else None)


def sync_tables(
    *,
    db: DAL,
    tables: Mapping[str, SyncTable],
    scope: str,
    user_id: uuid.UUID,
    superuser: bool,
    request: SyncRequest,
) -> dict[str, Any]:
    """Apply a batch on the tables of another database (``scope`` ``models/<id>``, its tables by
    entity name), in the caller's transaction on ``db``."""
    prefix = f"{scope}/"
    engine_scope = batch.Scope(db, dict(tables), user_id, superuser, prefix=prefix)
    return _run(engine_scope, request, lambda t: t[len(prefix) :] if t.startswith(prefix) else None)


def _run(scope: batch.Scope, request: SyncRequest, table_name) -> dict[str, Any]:
    if request.cursor is not None:
        try:
            feed.decode_cursor(request.cursor)
        except Invalid as exc:
            raise Problems(
                [problem(["body", "cursor"], exc.detail, "cursor")], "invalid cursor"
            ) from None
    ops = batch.parse(scope, request, table_name)
    applied, conflicts = batch.apply(scope, request.client_id, ops)
    feed_part = batch.changes(scope, request.cursor, request.limit)
    return {"changes_applied": applied, "conflicts": conflicts, **feed_part}
