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
_SQLITE_TYPES = {"application/vnd.sqlite3", "application/x-sqlite3", "application/octet-stream"}
# Endpoints whose bodies may exceed MAX_CONTENT_LENGTH, and their own limit in bytes.
LARGE_BODY_ENDPOINTS = {"models.import_model": 512 * 1024 * 1024}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With a key given twice, parsers disagree on which value counts (a proxy or a client
    # library may read the first, Python reads the last): refuse the ambiguity.
    found = dict(pairs)  # in C; the loop below runs only when a key repeats
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return found


class StrictJSONProvider(DefaultJSONProvider):
    """JSON as RFC 8259 has it: NaN and Infinity are refused, and so are duplicate keys."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse strict JSON."""
        kwargs.setdefault("parse_constant", _no_constants)
        kwargs.setdefault("object_pairs_hook", _unique_keys)
        return json.loads(s, **kwargs)


def init_app(app: Flask) -> None:
    """Check bodies before any view or validator sees them; never redirect an API path."""
    # Werkzeug would answer ``/items//x`` (an empty or a ``%2F`` id) with an HTML 308 to a
    # "merged" path, a different resource; an API path that matches no route is a JSON 404.
    # Set before the blueprints add their rules, which take the map's setting.
    app.url_map.merge_slashes = False
    app.before_request(_check_body)


def _check_body():
    # Parse the body once, here, so malformed or absurdly nested JSON becomes a 422 instead of
    # an exception inside a validator; Werkzeug caches the parsed value for the view.
    if request.method not in _BODY_METHODS:
        return None
    if request.endpoint in LARGE_BODY_ENDPOINTS:
        # An import carries a whole database: a larger limit, and an SQLite file may come raw.
        request.max_content_length = LARGE_BODY_ENDPOINTS[request.endpoint]
        if request.mimetype in _SQLITE_TYPES:
            return None
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return None
    if request.mimetype in _FORM_TYPES:
        return None
    if not request.is_json:
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        parsed = request.get_json()
    except (ValueError, RecursionError):
        return json_error_list("json_invalid", "JSON decode error")
    except Exception as exc:  # werkzeug's BadRequest for undecodable JSON
        if getattr(exc, "code", None) == 400:
            return json_error_list("json_invalid", "JSON decode error")
        raise
    if isinstance(parsed, str):
        # flask-openapi3 would parse a JSON string body a second time, as a JSON document:
        # '"{\\"title\\": \\"x\\"}"' must not pass for the object it spells.
        return json_error_list("model_attributes_type", "Input should be an object")
    return None


def json_error_list(kind: str, msg: str) -> Response:
    """A 422 in the validation shape for a body that is not JSON at all."""
    return json_error(422, validation_detail([{"loc": ["body"], "msg": msg, "type": kind}]))


def respond_json(body: str, status: int = 200) -> Response:
    """A response whose JSON text a service has already written."""
    return Response(body, status=status, mimetype="application/json")


def respond(model: BaseModel | Any, status: int = 200) -> Response:
    """Serialise a response model (or a plain JSON value)."""
    if isinstance(model, BaseModel):
        body = model.model_dump_json()
    else:
        body = json.dumps(model)
    return Response(body, status=status, mimetype="application/json")
