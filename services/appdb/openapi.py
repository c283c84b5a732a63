"""The OpenAPI document of one app database: its entities' rows as typed schemas and paths.

Built from the definition alone, so it changes exactly when the model does. Each entity gets the
FastAPI template's four shapes: ``<Entity>Base`` (its fields), ``<Entity>Create`` (what a POST
takes), ``<Entity>Update`` (what a PATCH takes: every field optional) and ``<Entity>Public``
(what the API answers: every key present, system columns read-only). Operation ids are
``<entity>-list``, ``-create``, ``-read``, ``-update`` and ``-delete``.
"""

from __future__ import annotations

import re
from typing import Any

from services.appdb import filters, values
from services.appdb.definition import Definition
from services.appdb.schema import STRING_LENGTH, Column, entity_columns, join_tables

OPENAPI_VERSION = "3.1.0"
API_PREFIX = "/api/v1"
_NULL = {"type": "null"}
_UUID = {"type": "string", "format": "uuid"}
_DATETIME = {"type": "string", "format": "date-time"}
_TEXT_OPS = ("contains", "startswith")
_ORDER_OPS = ("gt", "gte", "lt", "lte")


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class _Names:
    """Component names that never collide (``a_b`` and ``a__b`` both spell ``AB``)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def new(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.taken:
            name, n = f"{wanted}{n}", n + 1
        self.taken.add(name)
        return name


def _value_schema(column: Column, enums: dict[tuple[str, str], str], entity: str) -> dict:
    kind = column.type
    if kind == "String":
        return {"type": "string", "maxLength": STRING_LENGTH}
    if kind == "Text":
        return {"type": "string"}
    if kind == "Integer":
        return {
            "type": "integer",
            "format": "int64",
            "minimum": values.INT_MIN,
            "maximum": values.INT_MAX,
        }
    if kind == "Float":
        return {"type": "number", "format": "double"}
    if kind == "Boolean":
        return {"type": "boolean"}
    if kind == "DateTime":
        return dict(_DATETIME)
    if kind == "Date":
        return {"type": "string", "format": "date"}
    if kind == "Reference":
        return {**_UUID, "description": f"the id of a {column.target} row"}
    if kind == "Array":
        return {"type": "array", "items": {}}
    if kind == "Object":
        return {"type": "object", "additionalProperties": True}
    if kind == "Enum":
        return {"$ref": f"#/components/schemas/{enums[(entity, column.name)]}"}
    raise ValueError(f"unsupported field type {kind}")  # definitions are validated


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, _NULL]}


def _links_schema(target: str) -> dict:
    return {
        "type": "array",
        "items": _UUID,
        "maxItems": values.MAX_LINKS,
        "description": f"ids of linked {target} rows",
    }


def _entity_schemas(
    definition: Definition, entity_name: str, names: dict[str, str], enums: dict
) -> dict[str, dict]:
    entity = next(e for e in definition.entities if e.name == entity_name)
    columns = entity_columns(definition, entity)
    links = [j for j in join_tables(definition) if j.source == entity_name]
    fields: dict[str, dict] = {}
    optional: dict[str, dict] = {}
    for column in columns:
        value = _value_schema(column, enums, entity_name)
        fields[column.name] = value if column.required else _nullable(value)
        optional[column.name] = value if column.required else _nullable(value)
    for join in links:
        fields[join.relationship] = _links_schema(join.target)
        optional[join.relationship] = _links_schema(join.target)
    required = [c.name for c in columns if c.required]
    title = entity.display_name or entity.name
    base = {"type": "object", "title": f"{title}", "properties": fields}
    if required:
        base["required"] = required
    system = {
        "id": {**_UUID, "readOnly": True},
        "created_at": {**_DATETIME, "readOnly": True},
        "updated_at": {**_DATETIME, "readOnly": True},
    }
    create = {
        "type": "object",
        "title": f"{title} (new)",
        "properties": {"id": {**_UUID, "description": "chosen by the service when absent"}}
        | fields,
        "additionalProperties": False,
    }
    if required:
        create["required"] = required
    served = dict(fields)
    if links:
        # A served list holds at most APP_ROW_LINKS ids; the totals say when there are more.
        served["_link_counts"] = {
            "type": "object",
            "properties": {j.relationship: {"type": "integer"} for j in links},
            "required": [j.relationship for j in links],
            "description": "each ManyToMany list's total; .../{id}/links/{name} pages them",
        }
    public = {
        "type": "object",
        "title": f"{title} (as served)",
        "properties": system | served,
        "required": [*system, *served],
    }
    return {
        names["base"]: base,
        names["create"]: create,
        names["update"]: {
            "type": "object",
            "title": f"{title} (changes)",
            "properties": optional,
            "additionalProperties": False,
        },
        names["public"]: public,
        names["page"]: {
            "type": "object",
            "title": f"{title} page",
            "properties": {
                "data": {
                    "type": "array",
                    "items": {"$ref": f"#/components/schemas/{names['public']}"},
                },
                "count": {"type": "integer"},
                "truncated": {
                    "type": "boolean",
                    "description": "the byte budget ended the page before limit rows",
                },
                "next_offset": {
                    "anyOf": [{"type": "integer"}, _NULL],
                    "description": "where the next page starts; null after the last row",
                },
            },
            "required": ["data", "count", "truncated", "next_offset"],
        },
    }


def _param(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _filter_params(definition: Definition, entity_name: str, enums: dict) -> list[dict]:
    entity = next(e for e in definition.entities if e.name == entity_name)
    columns = [
        Column("id", "Reference", required=True, target=entity_name),
        Column("created_at", "DateTime", required=True),
        Column("updated_at", "DateTime", required=True),
        *entity_columns(definition, entity),
    ]
    params = []
    for column in columns:
        if column.type not in filters._FILTERABLE:
            continue
        value = _value_schema(column, enums, entity_name)
        ops = ["eq", "ne", "in"]
        if column.name != "id":
            if column.type in filters._ORDERED:
                ops += _ORDER_OPS
            if column.type in values.TEXTUAL:
                ops += _TEXT_OPS
        for op in ops:
            key = column.name if op == "eq" else f"{column.name}.{op}"
            if op == "in":
                schema = {
                    "type": "string",
                    "maxLength": values.MAX_FILTER_TEXT * filters.MAX_IN_VALUES,
                }
                text = f"{column.name} is one of these comma-separated values"
            else:
                schema = value
                text = f"{column.name} {op} this value"
            params.append(_param(key, schema, text))
    return params


def _sort_param(definition: Definition, entity_name: str) -> dict:
    entity = next(e for e in definition.entities if e.name == entity_name)
    keys = [*values.SYSTEM_FIELDS]
    keys += [c.name for c in entity_columns(definition, entity) if c.type in filters._SORTABLE]
    one = "[-+]?(?:" + "|".join(re.escape(k) for k in keys) + ")"
    return _param(
        "sort",
        {"type": "string", "maxLength": 1000, "pattern": f"^{one}(?:,{one})*$"},
        "comma-separated keys, '-' for descending: " + ", ".join(keys),
    )


def _json(schema_name: str) -> dict:
    return {
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}
    }


def _answer(schema_name: str, description: str) -> dict:
    return {"description": description, **_json(schema_name)}


def _errors(*codes: int) -> dict:
    out = {str(code): _answer("ErrorDetail", "error") for code in codes}
    out["422"] = _answer("HTTPValidationError", "validation error")
    return out


def _common_components() -> dict[str, dict]:
    return {
        "Message": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
        "ErrorDetail": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        },
        "ValidationErrorItem": {
            "type": "object",
            "properties": {
                "loc": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"type": "string"},
                "type": {"type": "string"},
            },
            "required": ["loc", "msg", "type"],
        },
        "HTTPValidationError": {
            "type": "object",
            "properties": {
                "detail": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ValidationErrorItem"},
                }
            },
            "required": ["detail"],
        },
    }


def document(*, model_id: str, name: str, version: int, definition: Definition) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the model's rows endpoints."""
    schemas = _common_components()
    taken = _Names(set(schemas))
    enums: dict[tuple[str, str], str] = {}
    for entity in definition.entities:
        for column in entity_columns(definition, entity):
            if column.type == "Enum":
                enum_name = taken.new(_pascal(entity.name) + _pascal(column.name))
                enums[(entity.name, column.name)] = enum_name
                schemas[enum_name] = {"type": "string", "enum": list(column.values or ())}
    paths: dict[str, dict] = {}
    base = f"{API_PREFIX}/models/{model_id}/app-database/entities"
    for entity in definition.entities:
        stem = _pascal(entity.name)
        names = {
            kind: taken.new(stem + suffix)
            for kind, suffix in (
                ("base", "Base"),
                ("create", "Create"),
                ("update", "Update"),
                ("public", "Public"),
                ("page", "sPublic"),
            )
        }
        schemas.update(_entity_schemas(definition, entity.name, names, enums))
        tag = entity.name
        paging = [
            _param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": filters.MAX_LIMIT, "default": 50},
                "rows per page",
            ),
            _param(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
                "rows to skip",
            ),
            _sort_param(definition, entity.name),
        ]
        paths[f"{base}/{entity.name}"] = {
            "get": {
                "tags": [tag],
                "operationId": f"{entity.name}-list",
                "summary": f"List {entity.name} rows: paging, sort and filters",
                "parameters": paging + _filter_params(definition, entity.name, enums),
                "responses": {
                    "200": _answer(names["page"], "a page of rows"),
                    **_errors(400, 401, 403, 404),
                },
            },
            "post": {
                "tags": [tag],
                "operationId": f"{entity.name}-create",
                "summary": f"Create a {entity.name} row",
                "requestBody": {"required": True, **_json(names["create"])},
                "responses": {
                    "200": _answer(names["public"], "the new row"),
                    **_errors(400, 401, 403, 404, 409, 413, 415),
                },
            },
        }
        id_param = {"name": "id", "in": "path", "required": True, "schema": _UUID}
        paths[f"{base}/{entity.name}/{{id}}"] = {
            "parameters": [id_param],
            "get": {
                "tags": [tag],
                "operationId": f"{entity.name}-read",
                "summary": f"One {entity.name} row",
                "responses": {
                    "200": _answer(names["public"], "the row"),
                    **_errors(400, 401, 403, 404),
                },
            },
            "patch": {
                "tags": [tag],
                "operationId": f"{entity.name}-update",
                "summary": f"Change some fields of a {entity.name} row",
                "requestBody": {"required": True, **_json(names["update"])},
                "responses": {
                    "200": _answer(names["public"], "the changed row"),
                    **_errors(400, 401, 403, 404, 409, 413, 415),
                },
            },
            "delete": {
                "tags": [tag],
                "operationId": f"{entity.name}-delete",
                "summary": f"Delete a {entity.name} row",
                "responses": {"200": _answer("Message", "deleted"), **_errors(400, 401, 403, 404)},
            },
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{name} ({model_id})",
            "version": str(version),
            "description": f"Rows of the app database of model {model_id!r}, version {version}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "OAuth2PasswordBearer": {
                    "type": "oauth2",
                    "flows": {
                        "password": {"tokenUrl": f"{API_PREFIX}/login/access-token", "scopes": {}}
                    },
                }
            },
        },
        "security": [{"OAuth2PasswordBearer": []}],
        "tags": [
            {"name": e.name, "description": e.display_name or e.name} for e in definition.entities
        ],
    }


def document_of(row: Any) -> dict[str, Any]:
    """The document of a stored model (a row of ``app_model``)."""
    return document(
        model_id=row.id,
        name=row.name,
        version=row.version,
        definition=Definition.model_validate(row.definition),
    )
