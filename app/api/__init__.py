"""API v1 blueprints, mounted under /api/v1."""

from __future__ import annotations

from flask import Flask

API_PREFIX = "/api/v1"


def register_blueprints(app: Flask) -> None:
    """Mount every resource's blueprint."""
    from app.api import utils

    app.register_blueprint(utils.bp, url_prefix=f"{API_PREFIX}/utils")
