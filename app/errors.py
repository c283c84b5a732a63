"""One error shape: ``{"detail": "..."}``, or a list of problems for a 422."""

from __future__ import annotations

import errno
import logging
from typing import Any

from flask import Flask, Response, json
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

from services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problems,
    ServiceError,
    Unavailable,
)

log = logging.getLogger(__name__)

_STATUS = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    Invalid: 400,
    Problems: 409,
    Unavailable: 503,
}
# Where a validated model came from, by its class-name suffix (FastAPI's "loc" prefixes).
_LOCATIONS = (("Query", "query"), ("Path", "path"), ("Header", "header"))


def init_app(app: Flask) -> None:
    """Register the JSON error handlers."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(Exception, _unexpected)


def json_error(status: int, detail: Any, headers: dict | None = None) -> Response:
    """A JSON error response."""
    response = Response(json.dumps({"detail": detail}), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def validation_detail(problems: list[dict]) -> list[dict]:
    """Keep only loc, msg and type of each problem."""
    return [{"loc": list(p["loc"]), "msg": p["msg"], "type": p["type"]} for p in problems]


def validation_error_model():
    """The model documented for 422 answers."""
    from services.schemas import HTTPValidationError

    return HTTPValidationError


def validation_error_response(exc: ValidationError) -> Response:
    """flask-openapi3's hook: a pydantic error as a FastAPI-style 422."""
    title = exc.title or ""
    where = next((loc for suffix, loc in _LOCATIONS if title.endswith(suffix)), "body")
    problems = [
        {"loc": [where, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return json_error(422, validation_detail(problems))


def storage_error(exc: BaseException) -> Response | None:
    """507 when the disk holding the database is full, 503 when the database cannot be written
    (a read-only file or mount); None for any other error. Looks through the causes, and through
    the InternalServerError Flask makes of an error raised after the view (the commit)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        code = getattr(exc, "errno", None)
        if (
            "database or disk is full" in text
            or code in (errno.ENOSPC, errno.EDQUOT)
            or getattr(exc, "pgcode", None) == "53100"
        ):  # PostgreSQL disk_full
            log.error("the disk holding the data is full: %s", exc)
            return json_error(507, "Insufficient storage: the disk holding the data is full")
        if "readonly database" in text or code == errno.EROFS:
            log.error("the database cannot be written: %s", exc)
            return json_error(503, "The database is read-only: it cannot be written now")
        exc = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
    return None


def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, InternalServerError) and exc.original_exception is not None:
        storage = storage_error(exc.original_exception)
        if storage is not None:
            return storage
    headers = {}
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return json_error(exc.code or 500, exc.description or exc.name, headers)


def _service_error(exc: ServiceError) -> Response:
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # services.throttle.Throttled
        return json_error(429, exc.detail, {"Retry-After": str(retry_after)})
    if isinstance(exc, Problems) and not exc.conflict:
        # Located problems (a definition, a row, a filter) answer like a validation error.
        located = [
            {
                **p,
                "loc": p["loc"]
                if p["loc"][:1] in (["body"], ["query"], ["path"])
                else ["body", *p["loc"]],
            }
            for p in exc.problems
        ]
        return json_error(422, validation_detail(located))
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    return json_error(status, exc.detail)


def _unexpected(exc: Exception) -> Response:
    storage = storage_error(exc)
    if storage is not None:
        return storage
    log.exception("unhandled error")
    return _http_error(InternalServerError("Internal server error"))
