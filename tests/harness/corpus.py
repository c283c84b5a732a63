"""The hostile input corpus, and valid requests for every operation to carry it.

A request template is built for every operation of the OpenAPI document: known operations get
a body that passes the service's own rules; an operation the harness does not know yet gets a
body generated from its schema, so a new endpoint is attacked from the day it appears.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.harness.common import Operation, unique
from tests.harness.world import Account, World, model_body

LONG = "x" * 65536

# Strings that break naive SQL, LIKE patterns, PyDAL's string expressions, or storage itself.
STRINGS: dict[str, str] = {
    "quote": "'",
    "quotes": 'O\'Brien "the" `tick`',
    "sql-or": "' OR '1'='1' --",
    "sql-drop": "x'); DROP TABLE item; --",
    "semicolon": ";",
    "dashes": "--",
    "block-comment": "/* */",
    "percent": "%",
    "underscore": "_",
    "like-pattern": "%_%\\%",
    "backslash": "\\",
    "backslash-quote": "\\'",
    "nul": "a\x00b",
    "lone-surrogate": "a\ud800b",
    "64kb": LONG,
    "belongs": "1) OR (1=1",
    "belongs-select": "SELECT id FROM user",
    "orderby": "~item.owner_id|item.id",
    "orderby-sql": "created_at; DELETE FROM item",
    "pydal-field": "user.hashed_password",
    "pydal-expr": "item.id>0",
    "2^90": str(2**90),
    "minus-one": "-1",
    "empty": "",
    "unicode": "ẞ☃\u202e\ufeff",
    "crlf": "line\r\nbreak",
    "traversal": "../../etc/passwd",
    "format": "%s%n{0}{name}",
    "null-word": "null",
}
# Values of the wrong kind, for any field.
OTHERS: dict[str, Any] = {
    "int-2^90": 2**90,
    "int-minus-2^90": -(2**90),
    "float-huge": 1e308,
    "true": True,
    "null": None,
    "list": [],
    "object": {},
}
NAN = "NaN-literal"  # sent as the bare JSON token NaN, which json.dumps cannot write in strict mode


def path_value(value: str) -> str:
    """A path segment carrying ``value``, percent-encoded as a client would send it."""
    from urllib.parse import quote

    try:
        return quote(value, safe="")
    except UnicodeEncodeError:  # a lone surrogate: send the bytes a careless encoder would
        return quote(value.encode("utf-8", "surrogatepass"), safe="")


def encoded(pairs: dict[str, str]) -> str:
    """``k=v&...`` percent-encoded, lone surrogates included (as their UTF-8-ish bytes)."""
    return "&".join(f"{path_value(k)}={path_value(v)}" for k, v in pairs.items())


@dataclass
class Request:
    """One request: the operation's path with values, query, and a JSON or form body."""

    op: Operation
    path_params: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    form: dict[str, str] | None = None
    raw: bytes | None = None  # a body sent as is (malformed, nested, NaN, ...)

    def url(self) -> str:
        path = self.op.path
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", value)
        return path

    def send(self, world: World, who: Account):
        kwargs: dict[str, Any] = {"query_string": encoded(self.query), "headers": dict(who.headers)}
        if self.raw is not None:
            kwargs["data"] = self.raw
            kwargs["content_type"] = "application/json"
        elif self.form is not None:
            kwargs["data"] = encoded(self.form)
            kwargs["content_type"] = "application/x-www-form-urlencoded"
        elif self.body is not None:
            kwargs["data"] = json.dumps(self.body)
            kwargs["content_type"] = "application/json"
        return world.client.open(self.url(), method=self.op.method, **kwargs)


# ----------------------------------------------------------------------------- valid bodies


def _sync_body(world: World, who: Account, path_params: dict) -> dict:
    return {
        "client_id": "harness",
        "scope": "items",
        "operations": [
            {
                "id": unique("op-"),
                "table": "items",
                "operation": "INSERT",
                "data": {"id": str(uuid.uuid4()), "title": "synced", "description": None},
                "timestamp": "2026-01-01T00:00:00Z",
            }
        ],
    }


BODIES: dict[str, Callable[[World, Account, dict], Any]] = {
    "users-create_user": lambda w, a, p: {
        "email": f"{unique('c')}@example.com",
        "password": "harness-pass",
        "full_name": "Made",
    },
    "users-register_user": lambda w, a, p: {
        "email": f"{unique('s')}@example.com",
        "password": "harness-pass",
        "full_name": "Self",
    },
    "users-update_user_me": lambda w, a, p: {"full_name": "Renamed"},
    "users-update_password_me": lambda w, a, p: {
        "current_password": a.password,
        "new_password": f"pw-{uuid.uuid4().hex[:12]}",
    },
    "users-update_user": lambda w, a, p: {"full_name": "Changed", "is_active": True},
    "items-create_item": lambda w, a, p: {"title": "item", "description": "about it"},
    "items-update_item": lambda w, a, p: {"title": "item", "description": "changed"},
    "models-create_model": lambda w, a, p: model_body(unique("m-")),
    "models-update_model": lambda w, a, p: model_body(p.get("model_id", "x"), "Renamed model"),
    "models-create_row": lambda w, a, p: {"title": "row", "n": 1},
    "models-update_row": lambda w, a, p: {"title": "row", "n": 2},
    "models-seed_app_database": lambda w, a, p: {"max_instances_per_entity": 1, "seed": 1},
    "sync-sync": _sync_body,
}
FORMS: dict[str, Callable[[World, Account], dict]] = {
    "login-login_access_token": lambda w, a: {"username": a.email, "password": a.password},
}
QUERIES: dict[str, dict[str, str]] = {
    # A filter rides along so its key and value are attacked too (``<field>.contains``).
    "models-read_rows": {
        "limit": "50",
        "offset": "0",
        "sort": "-created_at",
        "title.contains": "r",
    },
}


def example(schema: dict, depth: int = 0) -> Any:
    """A small value valid for ``schema`` (for operations without a hand-made body)."""
    if depth > 6:
        return None
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example(options[0], depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: example(sub, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return [example(schema["items"], depth + 1)] if schema.get("minItems") else []
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "email":
            return f"{unique('g')}@example.com"
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        return "a" * max(schema.get("minLength", 1), 1)
    return None


def valid_body(
    op: Operation, world: World, who: Account, path_params: dict
) -> tuple[Any, dict | None]:
    """(JSON body, form) for ``op``: hand-made when known, else generated from its schema."""
    found = op.body_schema()
    if found is None:
        return None, None
    media, schema = found
    if op.operation_id in FORMS:
        return None, FORMS[op.operation_id](world, who)
    if op.operation_id in BODIES:
        return BODIES[op.operation_id](world, who, path_params), None
    value = example(schema)
    if media != "application/json":
        return None, {k: str(v) for k, v in (value or {}).items()}
    return value, None


def valid_query(op: Operation) -> dict[str, str]:
    """Declared query parameters with valid values (their defaults, or the smallest allowed)."""
    if op.operation_id in QUERIES:
        return dict(QUERIES[op.operation_id])
    query = {}
    for param in op.parameters("query"):
        value = example(param.get("schema", {}))
        if value is None:
            continue
        query[param["name"]] = json.dumps(value) if isinstance(value, bool) else str(value)
    return query
