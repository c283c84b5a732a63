"""Request parsing guards and response helpers shared by every blueprint."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel
from werkzeug.exceptions import UnsupportedMediaType

from app.errors import json_error, validation_detail

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONProvider(DefaultJSONProvider):
    """JSON as RFC 8259 has it: NaN and Infinity are refused instead of parsed."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse strict JSON."""
        kwargs.setdefault("parse_constant", _no_constants)
        return json.loads(s, **kwargs)


def init_app(app: Flask) -> None:
    """Check bodies before any view or validator sees them."""
    app.before_request(_check_body)


def _check_body():
    # Parse the body once, here, so malformed or absurdly nested JSON becomes a 422 instead of
    # an exception inside a validator; Werkzeug caches the parsed value for the view.
    if request.method not in _BODY_METHODS:
        return None
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return None
    if request.mimetype in _FORM_TYPES:
        return None
    if not request.is_json:
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        request.get_json()
    except (ValueError, RecursionError):
        return json_error_list("json_invalid", "JSON decode error")
    except Exception as exc:  # werkzeug's BadRequest for undecodable JSON
        if getattr(exc, "code", None) == 400:
            return json_error_list("json_invalid", "JSON decode error")
        raise
    return None


def json_error_list(kind: str, msg: str) -> Response:
    """A 422 in the validation shape for a body that is not JSON at all."""
    return json_error(422, validation_detail([{"loc": ["body"], "msg": msg, "type": kind}]))


def respond(model: BaseModel | Any, status: int = 200) -> Response:
    """Serialise a response model (or a plain JSON value)."""
    if isinstance(model, BaseModel):
        body = model.model_dump_json()
    else:
        body = json.dumps(model)
    return Response(body, status=status, mimetype="application/json")
