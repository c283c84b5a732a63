"""HTTP layer and wiring: the only package that imports Flask."""

from __future__ import annotations

from flask import Flask

from services.config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app for ``settings`` (resolved from the environment when omitted)."""
    from app import db, errors
    from app.api import register_blueprints

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False
    db.init_app(app, settings)
    errors.init_app(app)
    register_blueprints(app)
    return app
