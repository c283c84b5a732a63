"""``POST /api/v1/sync``: a batch on items or on one model's app database.

The bridge between offline sync (services/sync/) and app databases (services/appdb/), which do
not import each other: this module finds the model's database and hands its entities, as
SyncTable adapters, to the sync engine.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydal import DAL

from services.appdb import catalog, store
from services.appdb.sync_adapter import EntityTable
from services.config import Settings
from services.sync import service
from services.sync.schemas import SyncRequest


def sync(
    *, db: DAL, settings: Settings, user_id: uuid.UUID, superuser: bool, request: SyncRequest
) -> dict[str, Any]:
    """Apply the batch to the database it names and answer with the changes after the cursor."""
    chosen = service.choose_scope(request)
    if chosen == service.ITEMS:
        return service.sync_items(db=db, user_id=user_id, superuser=superuser, request=request)
    model_id = chosen[len(service.MODELS) :]
    row = catalog.get_model(db=db, model_id=model_id, owner_id=None if superuser else user_id)
    app_db = catalog.app_database(settings=settings, row=row)
    with store.transaction(app_db) as rows_db:
        tables = {
            e.name: EntityTable(rows_db, app_db.definition, e.name)
            for e in app_db.definition.entities
        }
        return service.sync_tables(
            db=rows_db,
            tables=tables,
            scope=chosen,
            user_id=user_id,
            superuser=superuser,
            request=request,
        )
