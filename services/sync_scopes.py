"""``POST /api/v1/sync``: a batch on items or on one model's app database.

The bridge between offline sync (services/sync/) and app databases (services/appdb/), which do
not import each other: this module finds the model's database and hands its entities, as
SyncTable adapters, to the sync engine.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydal import DAL

from services.appdb.handles import Handles, open_app_database
from services.appdb.sync_adapter import EntityTable
from services.config import Settings
from services.sync import service
from services.sync.schemas import SyncRequest


def sync(
    *,
    db: DAL,
    settings: Settings,
    user_id: uuid.UUID,
    superuser: bool,
    request: SyncRequest,
    handles: Handles,
) -> dict[str, Any]:
    """Apply the batch to the database it names and answer with the changes after the cursor
    (an app database's batch goes through its handle in ``handles``)."""
    chosen = service.choose_scope(request)
    if chosen == service.ITEMS:
        return service.sync_items(db=db, user_id=user_id, superuser=superuser, request=request)
    model_id = chosen[len(service.MODELS) :]
    with open_app_database(
        handles=handles, db=db, model_id=model_id, owner_id=None if superuser else user_id
    ) as (definition, rows_db):
        tables = {e.name: EntityTable(rows_db, definition, e.name) for e in definition.entities}
        return service.sync_tables(
            db=rows_db,
            tables=tables,
            scope=chosen,
            user_id=user_id,
            superuser=superuser,
            request=request,
        )
