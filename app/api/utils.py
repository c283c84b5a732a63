"""Utilities: the health check."""

from __future__ import annotations

from app.api import blueprint, errors
from app.db import get_db
from app.http import respond
from services import health

bp = blueprint("utils", secured=False)


_BOOLEAN = {"content": {"application/json": {"schema": {"type": "boolean"}}}}


@bp.get("/health-check/", responses={200: _BOOLEAN, **errors(503)})
def health_check():
    """``true`` once the service can serve: the database answers."""
    return respond(health.database_answers(db=get_db()))
