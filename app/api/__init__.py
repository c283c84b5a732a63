"""API v1 blueprints, mounted under /api/v1, and the OpenAPI document route."""

from __future__ import annotations

import inspect

from flask_openapi3 import APIBlueprint, OpenAPI, Tag
from werkzeug.routing import Rule

from app.apidoc import LazyDocBlueprint, LazyDocOpenAPI
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


FORM = "application/x-www-form-urlencoded"


class BuildOnFirstUseRule(Rule):
    """werkzeug's Rule, making its URL builders when first asked to build a URL.

    Binding a rule compiles two builders from generated source (Python's compile()): for the
    54 rules, about 4% of a start, for url_for calls the service barely makes.
    """

    def _compile_builder(self, append_unknown: bool = True):
        def build(rule: Rule, **values):
            made = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            # Two threads may both make it: the same function, the last one kept.
            setattr(rule, "_build_unknown" if append_unknown else "_build", made)
            return made(**values)

        return build


class ServiceOpenAPI(LazyDocOpenAPI):
    """flask-openapi3's app: documented on first read, forms as the template's backend has them."""

    url_rule_class = BuildOnFirstUseRule

    def ensure_sync(self, func):
        """Flask's ensure_sync, reading a plain function's code flags directly.

        Flask asks this of every hook and view of every request (11 times for an app row), and
        inspect.iscoroutinefunction unwraps methods and partials each time: 3% of a request.
        """
        code = getattr(func, "__code__", None)
        if code is not None and not code.co_flags & inspect.CO_COROUTINE:
            return func
        return super().ensure_sync(func)

    def generate_spec_json(self) -> None:
        """Build the document; form bodies are declared url-encoded, not multipart."""
        super().generate_spec_json()
        # flask-openapi3 declares every form multipart/form-data; the template's login form
        # (and its generated client, which the frontend calls) is url-encoded. The service
        # reads both.
        for item in self.spec_json["paths"].values():
            for operation in item.values():
                content = (operation.get("requestBody") or {}).get("content", {})
                if "multipart/form-data" in content:
                    content[FORM] = content.pop("multipart/form-data")


def register_blueprints(app: OpenAPI) -> None:
    """Mount every resource's blueprint and serve the OpenAPI document."""
    from app.api import items, login, models, sync, users, utils

    for module in (login, users, utils, items, models, sync):
        app.register_api(module.bp)
    app.add_url_rule(f"{API_PREFIX}/openapi.json", "openapi_json", lambda: app.api_doc)
