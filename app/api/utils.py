"""Utilities: the health check."""

from __future__ import annotations

from app.api import BEARER, blueprint, errors
from app.auth import current_user
from app.db import get_db
from app.http import respond
from services import health, status
from services.schemas import Status

bp = blueprint("utils", secured=False)


_BOOLEAN = {"content": {"application/json": {"schema": {"type": "boolean"}}}}


@bp.get("/health-check/", responses={200: _BOOLEAN, **errors(503)})
def health_check():
    """``true`` once the service can serve: the database answers."""
    return respond(health.database_answers(db=get_db()))


@bp.get("/status", security=BEARER, responses={200: Status, **errors(401, 403)})
def read_status():
    """Version, schema revision, health, auth mode and uptime; superusers also see the
    database, the data dir and schema parity."""
    from flask import current_app

    report = status.describe(
        db=get_db(),
        settings=current_app.config["SETTINGS"],
        started_at=current_app.config["STARTED_AT"],
        superuser=current_user().is_superuser,
    )
    return respond(report)
