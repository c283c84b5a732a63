"""HTTP layer and wiring: the only package that imports Flask."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from services.config import Settings, load_settings

if TYPE_CHECKING:
    from flask_openapi3 import OpenAPI

MAX_BODY_BYTES = 1024 * 1024
SECURITY_SCHEMES = {
    "OAuth2PasswordBearer": {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/api/v1/login/access-token", "scopes": {}}},
    }
}


def create_app(settings: Settings | None = None, *, serve: bool = True) -> OpenAPI:
    """Build the app for ``settings`` (resolved from the environment when omitted).

    With ``serve=False`` nothing touches the database or the data dir: the app can only
    describe itself (``python -m app openapi``).
    """
    # Imported here, not at the top: CLI commands that build no app (seed, migrate, parity)
    # import this package too, and Flask with flask-openapi3 is ~20 MB and ~0.3 s of that.
    from flask_openapi3 import Info

    from app import auth, console, db, errors, guard, http, logs, metrics
    from app.api import operation_id, register_blueprints
    from app.apidoc import LazyDocOpenAPI

    settings = settings or load_settings()
    app = LazyDocOpenAPI(
        __name__,
        info=Info(title="Local data service", version="1.0.0"),
        security_schemes=SECURITY_SCHEMES,
        operation_id_callback=operation_id,
        validation_error_status=422,
        validation_error_model=errors.validation_error_model(),
        validation_error_callback=errors.validation_error_response,
        doc_prefix="/docs",
        doc_url="/openapi.json",
    )
    app.config["SETTINGS"] = settings
    app.config["STARTED_AT"] = time.monotonic()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = http.StrictJSONProvider(app)
    # Order matters: before-request hooks run in registration order.
    logs.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    guard.init_app(app)
    http.init_app(app)
    if serve:
        db.init_app(app, settings)
        auth.init_app(app, settings)
    register_blueprints(app)
    console.init_app(app)
    return app
