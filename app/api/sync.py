"""Offline-first sync: a client's queued operations in, the server's changes since its cursor
out."""

from __future__ import annotations

from flask import current_app

from app.api import BODY, PROTECTED, blueprint, errors
from app.auth import current_user
from app.db import get_db, get_handles
from app.http import respond
from app.lazy import LazyModule
from services.sync.schemas import SyncRequest, SyncResponse

bp = blueprint("sync")
sync_scopes = LazyModule("services.sync_scopes")


@bp.post("", responses={200: SyncResponse, **errors(400, 409, 503, *PROTECTED, *BODY)})
def sync(body: SyncRequest):
    """Apply a batch of offline operations in one transaction; return the changes since it."""
    user = current_user()
    result = sync_scopes.sync(
        db=get_db(),
        settings=current_app.config["SETTINGS"],
        user_id=user.id,
        superuser=bool(user.is_superuser),
        request=body,
        handles=get_handles(),
    )
    # Built JSON-ready by the service (a page can hold 5,000 changes): no second validation.
    return respond(result)
