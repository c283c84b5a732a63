"""API v1 blueprints, mounted under /api/v1, and the OpenAPI document route."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, OpenAPI, Tag

from app.apidoc import LazyDocBlueprint
from services.schemas import ErrorDetail, HTTPValidationError

API_PREFIX = "/api/v1"
BEARER = [{"OAuth2PasswordBearer": []}]


def errors(*codes: int) -> dict:
    """Documented error responses: ``{"detail": "..."}``, and the 422 list shape."""
    return {**{code: ErrorDetail for code in codes}, 422: HTTPValidationError}


# Every protected endpoint can answer these; body endpoints add 413 and 415.
PROTECTED = (401, 403, 404)
BODY = (413, 415)


def operation_id(*, bp_name: str = "", name: str = "", path: str = "", method: str = "") -> str:
    """``<tag>-<function>``, as clients generated for the FastAPI template expect."""
    return f"{bp_name}-{name}" if bp_name else name


def blueprint(name: str, *, secured: bool = True) -> APIBlueprint:
    """A resource's blueprint at /api/v1/<name>, tagged <name>."""
    return LazyDocBlueprint(
        name,
        f"app.api.{name}",
        url_prefix=f"{API_PREFIX}/{name}",
        abp_tags=[Tag(name=name)],
        abp_security=BEARER if secured else None,
        operation_id_callback=operation_id,
    )


def register_blueprints(app: OpenAPI) -> None:
    """Mount every resource's blueprint and serve the OpenAPI document."""
    from app.api import items, login, models, sync, users, utils

    for module in (login, users, utils, items, models, sync):
        app.register_api(module.bp)
    app.add_url_rule(f"{API_PREFIX}/openapi.json", "openapi_json", lambda: app.api_doc)
