"""Utilities: the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.db import get_db
from services import health

bp = Blueprint("utils", __name__)


@bp.get("/health-check/")
def health_check():
    """``true`` once the service can serve: the database answers."""
    return jsonify(health.database_answers(db=get_db()))
