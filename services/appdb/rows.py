"""Rows of an app database: list, read, create, update, delete and empty them through PyDAL.

Every table and column named in SQL is looked up in the validated definition first; every value a
client sends (row fields, filter values) is parsed to the field's Python type and reaches SQL only
through PyDAL's representer, never as text of a query. Sort keys become Field expressions, and
``in`` filters become Python lists, so no string ever reaches PyDAL's ``belongs`` or ``orderby``.

Rows are JSON-ready dicts: ``id``, ``created_at``, ``updated_at``, each field by name, and on the
``from`` entity of a ManyToMany relationship, the list of linked ids under the relationship's
name. These functions never commit: the caller commits (or rolls back) the transaction they ran
in, so a row and its ManyToMany links are written together or not at all.

Semantics shared by the three backends: ``contains`` and ``startswith`` ignore ASCII case (SQLite's
LIKE does, whatever we ask); NULLs sort first ascending and last descending; a uniqueness clash
is a conflict (409 over HTTP), every other bad value a 422 with the field's location.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydal import DAL
from pydal.objects import Expression, Field, Table

from services.appdb.definition import Definition
from services.appdb.schema import STRING_LENGTH, Column, JoinTable, entity_columns, join_tables
from services.db import feed
from services.db.statements import is_integrity_error
from services.errors import Conflict, Invalid, NotFound
from services.timeutil import to_naive_utc, utcnow

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_OFFSET = 2**62
MAX_IN_VALUES = 100  # items of one ``in`` filter
MAX_LINKS = 1000  # ids in one ManyToMany list
MAX_FILTER_TEXT = 1000  # characters of one filter value
TEXT_MAX_BYTES = 65535  # MySQL/MariaDB TEXT; the same limit everywhere keeps backends alike
JSON_MAX_BYTES = 1024 * 1024
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # BIGINT
SYSTEM_FIELDS = ("id", "created_at", "updated_at")
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "startswith", "in")
_ORDERED = frozenset({"String", "Text", "Integer", "Float", "DateTime", "Date"})
_FILTERABLE = frozenset(
    {"String", "Text", "Integer", "Float", "Boolean", "DateTime", "Date", "Enum", "Reference"}
)
_TEXTUAL = frozenset({"String", "Text"})
_SORTABLE = _FILTERABLE
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates break the drivers
NOT_FOUND_ROW = "Row not found"


class RowInvalid(Invalid):
    """Values that do not fit the definition; ``problems`` locate each ({loc, msg, type})."""

    def __init__(self, problems: list[dict], detail: str = "invalid row") -> None:
        super().__init__(detail)
        self.problems = problems


class RowConflict(Conflict):
    """A value clashes with another row (a unique field); ``problems`` locate each one."""

    def __init__(
        self, problems: list[dict], detail: str = "a unique value is already taken"
    ) -> None:
        super().__init__(detail)
        self.problems = problems


def problem(loc: Sequence, msg: str, kind: str = "value_error") -> dict:
    """One located problem, in the shape of a 422 answer's detail items."""
    return {"loc": list(loc), "msg": msg, "type": kind}


class _Bad(Exception):
    def __init__(self, msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.msg, self.kind = msg, kind


# --------------------------------------------------------------------------- the entity's plan


@dataclass(frozen=True)
class EntityPlan:
    """What the definition says about one entity's rows."""

    name: str
    columns: dict[str, Column]  # own fields and OneToMany reference columns, in order
    links: dict[str, JoinTable]  # ManyToMany lists on this entity's rows, by relationship name


_SYSTEM_COLUMNS = {
    "id": Column("id", "Reference", required=True, unique=True),
    "created_at": Column("created_at", "DateTime", required=True),
    "updated_at": Column("updated_at", "DateTime", required=True),
}


def entity_plan(definition: Definition, entity: str) -> EntityPlan:
    """The plan of ``entity``; NotFound when the definition has no such entity."""
    for e in definition.entities:
        if e.name == entity:
            columns = {c.name: c for c in entity_columns(definition, e)}
            links = {j.relationship: j for j in join_tables(definition) if j.source == entity}
            return EntityPlan(entity, columns, links)
    raise NotFound(f"Unknown entity {entity!r}")


def _table(db: DAL, name: str) -> Table:
    # ``name`` always comes from the definition, never straight from a request.
    table = db[name]
    if not isinstance(table, Table):  # a DAL attribute, not a table of this model
        raise NotFound(f"Unknown table {name!r}")
    return table


# --------------------------------------------------------------------------- values in


def _check_text(value: str) -> None:
    if _BAD_CHARS.search(value):
        raise _Bad("text must not contain NUL characters or lone surrogates", "string_type")


def _check_json_text(value: Any) -> None:
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check_json_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Bad("object keys must be strings", "dict_type")
            _check_text(key)
            _check_json_text(item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _Bad("numbers must be finite", "finite_number")
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise _Bad("value is not JSON", "json_type")


def _parse_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad("not an ISO 8601 date and time", "datetime_parsing") from None
    parsed = to_naive_utc(parsed)
    if parsed.year < 1000:
        raise _Bad("year must be 1000 or later", "datetime_range")
    return parsed


def _parse_date(value: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise _Bad("not an ISO 8601 date (YYYY-MM-DD)", "date_parsing") from None
    if parsed.year < 1000:
        raise _Bad("year must be 1000 or later", "date_range")
    return parsed


def _parse_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 45:
        raise _Bad("not a UUID", "uuid_type")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _Bad("not a UUID", "uuid_parsing") from None


def coerce_value(column: Column, value: Any) -> Any:
    """A JSON value as the Python value the field stores; raises _Bad when it does not fit."""
    kind = column.type
    if kind in _TEXTUAL:
        if not isinstance(value, str):
            raise _Bad("must be a string", "string_type")
        _check_text(value)
        if kind == "String" and len(value) > STRING_LENGTH:
            raise _Bad(f"at most {STRING_LENGTH} characters", "string_too_long")
        if kind == "Text" and len(value.encode("utf-8")) > TEXT_MAX_BYTES:
            raise _Bad(f"at most {TEXT_MAX_BYTES} bytes of UTF-8", "string_too_long")
        return value
    if kind == "Integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad("must be an integer", "int_type")
        if not INT_MIN <= value <= INT_MAX:
            raise _Bad("out of the 64-bit integer range", "int_range")
        return value
    if kind == "Float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad("must be a number", "float_type")
        try:
            number = float(value)
        except OverflowError:
            raise _Bad("out of range", "float_range") from None
        if not math.isfinite(number):
            raise _Bad("must be a finite number", "finite_number")
        return number
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise _Bad("must be true or false", "bool_type")
        return value
    if kind == "DateTime":
        if not isinstance(value, str):
            raise _Bad("must be an ISO 8601 date and time string", "datetime_type")
        return _parse_datetime(value)
    if kind == "Date":
        if not isinstance(value, str):
            raise _Bad("must be an ISO 8601 date string", "date_type")
        return _parse_date(value)
    if kind == "Array":
        if not isinstance(value, list):
            raise _Bad("must be an array", "list_type")
        return _json_value(value)
    if kind == "Object":
        if not isinstance(value, dict):
            raise _Bad("must be an object", "dict_type")
        return _json_value(value)
    if kind == "Enum":
        if not isinstance(value, str) or value not in (column.values or ()):
            raise _Bad(f"must be one of {list(column.values or ())}", "enum")
        return value
    if kind == "Reference":
        return _parse_uuid(value)
    raise _Bad(f"unsupported field type {kind}")  # pragma: no cover - definitions are validated


def _json_value(value: Any) -> Any:
    _check_json_text(value)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > JSON_MAX_BYTES:
        raise _Bad(f"at most {JSON_MAX_BYTES} bytes as JSON", "json_too_long")
    return value


def parse_text_value(column: Column, text: str) -> Any:
    """A query-string value made into the field's Python value; raises _Bad when it does not fit."""
    if not isinstance(text, str):
        raise _Bad("must be a string", "string_type")
    if len(text) > MAX_FILTER_TEXT:
        raise _Bad(f"at most {MAX_FILTER_TEXT} characters", "string_too_long")
    _check_text(text)
    kind = column.type
    if kind in _TEXTUAL or kind == "Enum":
        return coerce_value(column, text) if kind == "Enum" else text
    if kind == "Integer":
        if not _INT_TEXT.fullmatch(text):
            raise _Bad("must be an integer", "int_parsing")
        return coerce_value(column, int(text))
    if kind == "Float":
        if not _FLOAT_TEXT.fullmatch(text):
            raise _Bad("must be a number", "float_parsing")
        return coerce_value(column, float(text))
    if kind == "Boolean":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise _Bad("must be true or false", "bool_parsing")
    if kind in ("DateTime", "Date", "Reference"):
        return coerce_value(column, text)
    raise _Bad(f"a {kind} field cannot be filtered", "not_filterable")


# --------------------------------------------------------------------------- values out


def _json_ready(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _fields(table: Table, plan: EntityPlan) -> list[Field]:
    return [table[name] for name in (*SYSTEM_FIELDS, *plan.columns)]


def _row_out(row: Any, plan: EntityPlan) -> dict[str, Any]:
    out = {name: _json_ready(row[name]) for name in SYSTEM_FIELDS}
    for name in plan.columns:
        out[name] = _json_ready(row[name])
    return out


def _attach_links(db: DAL, plan: EntityPlan, rows: list[dict]) -> None:
    """Fill each row's ManyToMany lists: one query per relationship for the whole page."""
    if not plan.links:
        return
    ids = [uuid.UUID(r["id"]) for r in rows]
    for name, join in plan.links.items():
        linked: dict[str, list[str]] = {r["id"]: [] for r in rows}
        if ids:
            jt = _table(db, join.name)
            for link in db(jt.source_id.belongs(ids)).select(jt.source_id, jt.target_id):
                linked[str(link.source_id)].append(str(link.target_id))
        for r in rows:
            r[name] = sorted(linked[r["id"]])


# --------------------------------------------------------------------------- reading


def _parse_sort(
    table: Table, plan: EntityPlan, sort: str | Sequence[str] | None, family: str
) -> list[Expression | Field]:
    keys = sort.split(",") if isinstance(sort, str) else list(sort or [])
    problems: list[dict] = []
    order: list[Expression | Field] = []
    seen: set[str] = set()
    if not keys:
        keys = ["created_at"]
    for i, key in enumerate(keys):
        loc = ["query", "sort"] if isinstance(sort, str) else ["query", "sort", i]
        if not isinstance(key, str):
            problems.append(problem(loc, "sort keys must be strings", "string_type"))
            continue
        descending = key.startswith("-")
        name = key[1:] if key[:1] in ("-", "+") else key
        column = _SYSTEM_COLUMNS.get(name) or plan.columns.get(name)
        if column is None:
            problems.append(problem(loc, f"unknown sort key {key!r}", "unknown_sort_key"))
            continue
        if column.type not in _SORTABLE:
            problems.append(
                problem(loc, f"cannot sort on the {column.type} field {name!r}", "not_sortable")
            )
            continue
        if name in seen:
            problems.append(problem(loc, f"sort key {name!r} given twice", "duplicate_sort_key"))
            continue
        seen.add(name)
        field = table[name]
        if family == "postgresql" and not column.required:
            # PostgreSQL puts NULLs last ascending; the other two put them first.
            dialect = field.db._adapter.dialect
            nulls = Expression(
                field.db, dialect.eq if descending else dialect.ne, field, None, type="boolean"
            )
            order.append(nulls)
        order.append(~field if descending else field)
    if problems:
        raise RowInvalid(problems, "invalid sort")
    if "id" not in seen:
        order.append(table.id)  # a total order, so pages never overlap
    return order


def _filter_query(table: Table, plan: EntityPlan, filters: Mapping[str, str] | None):
    query = table.id != None  # noqa: E711 - PyDAL's "IS NOT NULL"
    problems: list[dict] = []
    for key, raw in (filters or {}).items():
        loc = ["query", key]
        if not isinstance(key, str):
            problems.append(problem(["query"], "filter names must be strings", "string_type"))
            continue
        name, _, op = key.rpartition(".") if "." in key else (key, "", "eq")
        column = _SYSTEM_COLUMNS.get(name) or plan.columns.get(name)
        if column is None:
            problems.append(problem(loc, f"unknown field {name!r}", "unknown_field"))
            continue
        if op not in OPERATORS:
            problems.append(
                problem(
                    loc,
                    f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}",
                    "unknown_operator",
                )
            )
            continue
        if column.type not in _FILTERABLE or (name == "id" and op not in ("eq", "ne", "in")):
            problems.append(
                problem(loc, f"cannot filter on the {column.type} field {name!r}", "not_filterable")
            )
            continue
        if op in ("gt", "gte", "lt", "lte") and column.type not in _ORDERED:
            problems.append(
                problem(loc, f"{op} needs a text, number or date field", "operator_not_allowed")
            )
            continue
        if op in ("contains", "startswith") and column.type not in _TEXTUAL:
            problems.append(
                problem(loc, f"{op} needs a String or Text field", "operator_not_allowed")
            )
            continue
        try:
            if op == "in":
                if not isinstance(raw, str):
                    raise _Bad("must be a comma-separated list", "string_type")
                items = raw.split(",")
                if len(items) > MAX_IN_VALUES:
                    raise _Bad(f"at most {MAX_IN_VALUES} values", "too_long")
                value: Any = [parse_text_value(column, item) for item in items]
            else:
                value = parse_text_value(column, raw)
        except _Bad as bad:
            problems.append(problem(loc, bad.msg, bad.kind))
            continue
        field = table[name]
        if op == "eq":
            query &= field == value
        elif op == "ne":
            query &= (field != value) | (field == None)  # noqa: E711 - NULL is "not equal"
        elif op == "gt":
            query &= field > value
        elif op == "gte":
            query &= field >= value
        elif op == "lt":
            query &= field < value
        elif op == "lte":
            query &= field <= value
        elif op == "contains":
            query &= field.contains(value, case_sensitive=False)
        elif op == "startswith":
            query &= field.lower().startswith(value.lower())
        else:
            query &= field.belongs(value)
    if problems:
        raise RowInvalid(problems, "invalid filter")
    return query


def _page_bounds(limit: Any, offset: Any) -> tuple[int, int]:
    problems = []
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        problems.append(
            problem(["query", "limit"], f"must be an integer from 1 to {MAX_LIMIT}", "limit_range")
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        problems.append(
            problem(["query", "offset"], "must be a non-negative integer", "offset_range")
        )
    if problems:
        raise RowInvalid(problems, "invalid page")
    return limit, offset


def _family(db: DAL) -> str:
    engine = db._adapter.dbengine
    return "postgresql" if engine.startswith("postgres") else engine


def list_rows(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    sort: str | Sequence[str] | None = None,
    filters: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the entity's rows (filtered, sorted) and the total count matching the filters."""
    plan = entity_plan(definition, entity)
    limit, offset = _page_bounds(limit, offset)
    table = _table(db, entity)
    query = _filter_query(table, plan, filters)
    orderby = _parse_sort(table, plan, sort, _family(db))
    total = db(query).count()
    rows = [
        _row_out(r, plan)
        for r in db(query).select(
            *_fields(table, plan), orderby=orderby, limitby=(offset, offset + limit)
        )
    ]
    _attach_links(db, plan, rows)
    return rows, total


def _row_id(row_id: Any) -> uuid.UUID:
    try:
        return _parse_uuid(row_id)
    except _Bad:
        raise NotFound(NOT_FOUND_ROW) from None


def get_row(*, db: DAL, definition: Definition, entity: str, row_id: str | uuid.UUID) -> dict:
    """One row with its ManyToMany lists; NotFound for an unknown entity or id."""
    plan = entity_plan(definition, entity)
    return _read(db, plan, _row_id(row_id))


def _read(db: DAL, plan: EntityPlan, row_id: uuid.UUID) -> dict:
    table = _table(db, plan.name)
    row = db(table.id == row_id).select(*_fields(table, plan)).first()
    if row is None:
        raise NotFound(NOT_FOUND_ROW)
    out = _row_out(row, plan)
    _attach_links(db, plan, [out])
    return out


# --------------------------------------------------------------------------- writing


def _validate_body(
    db: DAL, plan: EntityPlan, data: Any, *, row_id: uuid.UUID | None
) -> tuple[dict[str, Any], dict[str, list[uuid.UUID]]]:
    """The body checked against the definition: column values and ManyToMany id lists."""
    if not isinstance(data, Mapping):
        raise RowInvalid([problem(["body"], "a row must be a JSON object", "dict_type")])
    creating = row_id is None
    problems: list[dict] = []
    values: dict[str, Any] = {}
    links: dict[str, list[uuid.UUID]] = {}
    for key, value in data.items():
        loc = ["body", key]
        if key == "id":
            try:
                given = _parse_uuid(value)
            except _Bad as bad:
                problems.append(problem(loc, bad.msg, bad.kind))
                continue
            if creating:
                values["id"] = given
            elif given != row_id:
                problems.append(problem(loc, "id cannot be changed", "read_only"))
            continue
        if key in ("created_at", "updated_at"):
            problems.append(problem(loc, f"{key} is set by the service", "read_only"))
            continue
        column = plan.columns.get(key)
        if column is not None:
            if value is None:
                if column.required:
                    problems.append(problem(loc, "a required field cannot be null", "missing"))
                else:
                    values[key] = None
                continue
            try:
                values[key] = coerce_value(column, value)
            except _Bad as bad:
                problems.append(problem(loc, bad.msg, bad.kind))
            continue
        if key in plan.links:
            ids = _link_ids(value, loc, problems)
            if ids is not None:
                links[key] = ids
            continue
        problems.append(problem(loc, f"unknown field {key!r}", "extra_forbidden"))
    if creating:
        for name, column in plan.columns.items():
            if column.required and name not in data:
                problems.append(problem(["body", name], "field required", "missing"))
    if not problems:
        problems += _missing_targets(db, plan, values, links)
    if problems:
        raise RowInvalid(problems)
    return values, links


def _link_ids(value: Any, loc: list, problems: list[dict]) -> list[uuid.UUID] | None:
    if not isinstance(value, list):
        problems.append(problem(loc, "must be a list of ids", "list_type"))
        return None
    if len(value) > MAX_LINKS:
        problems.append(problem(loc, f"at most {MAX_LINKS} ids", "too_long"))
        return None
    ids: dict[uuid.UUID, None] = {}  # ordered, without repeats
    for i, item in enumerate(value):
        try:
            ids[_parse_uuid(item)] = None
        except _Bad as bad:
            problems.append(problem([*loc, i], bad.msg, bad.kind))
    return list(ids)


def _missing_targets(
    db: DAL, plan: EntityPlan, values: dict[str, Any], links: dict[str, list[uuid.UUID]]
) -> list[dict]:
    """References and ManyToMany ids that name no row of their target entity."""
    problems = []
    for name, column in plan.columns.items():
        if column.type == "Reference" and values.get(name) is not None:
            target = _table(db, column.target)
            wanted = values[name]
            if wanted == values.get("id") and column.target == plan.name:
                continue  # a new row may reference itself
            if db(target.id == wanted).isempty():
                problems.append(
                    problem(
                        ["body", name],
                        f"no {column.target} with id {wanted}",
                        "reference_not_found",
                    )
                )
    for name, ids in links.items():
        if not ids:
            continue
        target = _table(db, plan.links[name].target)
        found = {r.id for r in db(target.id.belongs(ids)).select(target.id)}
        if plan.links[name].target == plan.name and "id" in values:
            found.add(values["id"])  # a new row may link to itself
        for i, wanted in enumerate(ids):
            if wanted not in found:
                problems.append(
                    problem(
                        ["body", name, i],
                        f"no {plan.links[name].target} with id {wanted}",
                        "reference_not_found",
                    )
                )
    return problems


def _check_unique(
    db: DAL, plan: EntityPlan, values: dict[str, Any], row_id: uuid.UUID | None
) -> None:
    table = _table(db, plan.name)
    problems = []
    for name, value in values.items():
        column = plan.columns.get(name) or _SYSTEM_COLUMNS.get(name)
        if value is None or not column.unique:
            continue
        query = table[name] == value
        if row_id is not None:
            query &= table.id != row_id
        if not db(query).isempty():
            problems.append(
                problem(["body", name], f"another {plan.name} has this {name}", "unique")
            )
    if problems:
        raise RowConflict(problems)


def _write_links(
    db: DAL,
    plan: EntityPlan,
    row_id: uuid.UUID,
    links: dict[str, list[uuid.UUID]],
    *,
    replace: bool,
) -> None:
    for name, ids in links.items():
        jt = _table(db, plan.links[name].name)
        if replace:
            # PyDAL's SQLite delete() selects the table's ``_id``, which a join table lacks.
            db.executesql(db(jt.source_id == row_id)._delete())
        if ids:
            jt.bulk_insert([{"source_id": row_id, "target_id": t} for t in ids])


def _integrity(exc: Exception) -> RowConflict:
    return RowConflict(
        [problem(["body"], "the row clashes with another row (unique value or id)", "unique")]
    )


def create_row(*, db: DAL, definition: Definition, entity: str, data: Mapping[str, Any]) -> dict:
    """Insert a row (and its ManyToMany links) validated against the definition; returns it."""
    plan = entity_plan(definition, entity)
    values, links = _validate_body(db, plan, data, row_id=None)
    _check_unique(db, plan, values, None)
    values.setdefault("id", uuid.uuid4())
    try:
        _table(db, entity).insert(**values)
        _write_links(db, plan, values["id"], links, replace=False)
    except Exception as exc:
        if is_integrity_error(exc):
            raise _integrity(exc) from None
        raise
    feed.touch(db, entity, values["id"])
    return _read(db, plan, values["id"])


def update_row(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    row_id: str | uuid.UUID,
    data: Mapping[str, Any],
) -> dict:
    """Change the given fields (PATCH); a ManyToMany list given replaces the row's links."""
    plan = entity_plan(definition, entity)
    rid = _row_id(row_id)
    table = _table(db, entity)
    if db(table.id == rid).isempty():
        raise NotFound(NOT_FOUND_ROW)
    values, links = _validate_body(db, plan, data, row_id=rid)
    values.pop("id", None)
    _check_unique(db, plan, values, rid)
    if values or links:
        try:
            # One UPDATE; PyDAL adds updated_at from the field's ``update`` default.
            db(table.id == rid).update(**(values or {"updated_at": utcnow()}))
            _write_links(db, plan, rid, links, replace=True)
        except Exception as exc:
            if is_integrity_error(exc):
                raise _integrity(exc) from None
            raise
        feed.touch(db, entity, rid)
    return _read(db, plan, rid)


def delete_row(*, db: DAL, definition: Definition, entity: str, row_id: str | uuid.UUID) -> None:
    """Delete a row; its links go with it, and references to it follow their ON DELETE rule."""
    plan = entity_plan(definition, entity)
    rid = _row_id(row_id)
    table = _table(db, plan.name)
    if db(table.id == rid).isempty():
        raise NotFound(NOT_FOUND_ROW)
    deleted, changed = cascade(db, definition, plan.name, [rid])
    db.executesql(db(table.id == rid)._delete())
    record_cascade(db, deleted, changed)


# --------------------------------------------------------------------------- whole rows (sync)


def parse_state(
    plan: EntityPlan, data: Any, loc: Sequence, *, with_state: bool
) -> tuple[uuid.UUID, dict[str, Any], dict[str, list[uuid.UUID]], list[dict]]:
    """A row's id, and with ``with_state`` its whole state, from a sync operation's data.

    The state is every column and ManyToMany list: a column left out is null (refused when
    required), a list left out is empty. Returns (id, values, links, problems).
    """
    problems: list[dict] = []
    values: dict[str, Any] = {}
    links: dict[str, list[uuid.UUID]] = {}
    row_id = uuid.UUID(int=0)
    if not isinstance(data, Mapping):
        return row_id, values, links, [problem(loc, "must be an object", "dict_type")]
    if "id" not in data:
        problems.append(problem([*loc, "id"], "field required", "missing"))
    for key, value in data.items():
        kloc = [*loc, key]
        if key == "id":
            try:
                row_id = _parse_uuid(value)
            except _Bad as bad:
                problems.append(problem(kloc, bad.msg, bad.kind))
        elif key in ("created_at", "updated_at"):
            problems.append(problem(kloc, f"{key} is set by the service", "read_only"))
        elif not with_state:
            problems.append(problem(kloc, "a DELETE carries only the row's id", "extra_forbidden"))
        elif key in plan.columns:
            column = plan.columns[key]
            if value is None:
                if column.required:
                    problems.append(problem(kloc, "a required field cannot be null", "missing"))
                continue
            try:
                values[key] = coerce_value(column, value)
            except _Bad as bad:
                problems.append(problem(kloc, bad.msg, bad.kind))
        elif key in plan.links:
            ids = _link_ids(value, kloc, problems)
            if ids is not None:
                links[key] = ids
        else:
            problems.append(problem(kloc, f"unknown field {key!r}", "extra_forbidden"))
    if with_state:
        for name, column in plan.columns.items():
            if name not in data:
                if column.required:
                    problems.append(problem([*loc, name], "field required", "missing"))
                else:
                    values[name] = None
            elif data[name] is None and not column.required:
                values[name] = None
        for name in plan.links:
            links.setdefault(name, [])
    return row_id, values, links, problems


def state_conflict(
    db: DAL,
    plan: EntityPlan,
    row_id: uuid.UUID,
    values: dict[str, Any],
    links: dict[str, list[uuid.UUID]],
) -> str | None:
    """Why this state cannot be written now ("reference_not_found", "unique"), or None."""
    if _missing_targets(db, plan, {**values, "id": row_id}, links):
        return "reference_not_found"
    try:
        _check_unique(db, plan, values, row_id)
    except RowConflict:
        return "unique"
    return None


def write_state(
    db: DAL,
    plan: EntityPlan,
    row_id: uuid.UUID,
    values: dict[str, Any],
    links: dict[str, list[uuid.UUID]],
    *,
    exists: bool,
) -> None:
    """Write a row's whole state: insert it, or replace its columns and lists."""
    table = _table(db, plan.name)
    if exists:
        db(table.id == row_id).update(**values)
    else:
        table.insert(id=row_id, **values)
    _write_links(db, plan, row_id, links, replace=exists)


def rows_by_id(db: DAL, plan: EntityPlan, row_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """The rows that exist among these ids, JSON-ready with their ManyToMany lists."""
    table = _table(db, plan.name)
    ids = list(dict.fromkeys(row_ids))
    out: list[dict] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        out += [
            _row_out(r, plan) for r in db(table.id.belongs(chunk)).select(*_fields(table, plan))
        ]
    _attach_links(db, plan, out)
    return {uuid.UUID(r["id"]): r for r in out}


def delete_ids(db: DAL, plan: EntityPlan, row_ids: list[uuid.UUID]) -> None:
    """DELETE these rows (their links and references follow their ON DELETE rules)."""
    table = _table(db, plan.name)
    for start in range(0, len(row_ids), 500):
        db.executesql(db(table.id.belongs(row_ids[start : start + 500]))._delete())


def cascade(
    db: DAL, definition: Definition, entity: str, row_ids: Iterable[uuid.UUID]
) -> tuple[dict[str, set[uuid.UUID]], dict[str, set[uuid.UUID]]]:
    """What deleting these rows does to others through foreign keys, found before it is done.

    Returns (deleted, changed) by entity: rows a required reference deletes with them (CASCADE),
    and rows whose state changes: an optional reference set to null, or a ManyToMany list that
    loses an id. The given rows are in ``deleted``.
    """
    deleted: dict[str, set[uuid.UUID]] = {entity: set(row_ids)}
    changed: dict[str, set[uuid.UUID]] = {}
    frontier = [(entity, set(row_ids))]
    while frontier:
        name, ids = frontier.pop()
        id_list = list(ids)
        for other in definition.entities:
            for column in entity_columns(definition, other):
                if column.type != "Reference" or column.target != name:
                    continue
                table = _table(db, other.name)
                found: set[uuid.UUID] = set()
                for start in range(0, len(id_list), 500):
                    query = table[column.name].belongs(id_list[start : start + 500])
                    found |= {r.id for r in db(query).select(table.id)}
                if column.required:
                    new = found - deleted.setdefault(other.name, set())
                    if new:
                        deleted[other.name] |= new
                        frontier.append((other.name, new))
                else:
                    changed.setdefault(other.name, set()).update(found)
        for join in join_tables(definition):
            if join.target == name:
                jt = _table(db, join.name)
                for start in range(0, len(id_list), 500):
                    query = jt.target_id.belongs(id_list[start : start + 500])
                    changed.setdefault(join.source, set()).update(
                        r.source_id for r in db(query).select(jt.source_id)
                    )
    for name in changed:
        changed[name] -= deleted.get(name, set())
    return deleted, changed


def record_cascade(
    db: DAL, deleted: Mapping[str, set[uuid.UUID]], changed: Mapping[str, set[uuid.UUID]]
) -> None:
    """Renumber the feed entries of rows a deletion removed or changed (see cascade)."""
    feed_table = db.sync_row
    for rows_of, is_deleted in ((deleted, True), (changed, None)):
        for name, ids in rows_of.items():
            ids = list(ids)
            for start in range(0, len(ids), 500):
                query = (feed_table.tbl == name) & feed_table.row_id.belongs(
                    ids[start : start + 500]
                )
                feed.renumber(db, query, deleted=is_deleted)


# --------------------------------------------------------------------------- emptying


def entity_order(definition: Definition) -> list[str]:
    """Entity names with referenced entities before the ones referencing them, where possible."""
    deps: dict[str, set[str]] = {}
    for e in definition.entities:
        deps[e.name] = {
            c.target
            for c in entity_columns(definition, e)
            if c.type == "Reference" and c.target != e.name
        }
    order: list[str] = []
    placed: set[str] = set()
    remaining = [e.name for e in definition.entities]
    while remaining:
        ready = [n for n in remaining if deps[n] <= placed] or remaining[:1]  # break a cycle
        for name in ready:
            order.append(name)
            placed.add(name)
        remaining = [n for n in remaining if n not in placed]
    return order


def delete_all(db: DAL, definition: Definition, entities: Iterable[str] | None = None) -> None:
    """DELETE every row of the given entities (all when None) and their ManyToMany links."""
    names = set(entities) if entities is not None else {e.name for e in definition.entities}
    everything = names == {e.name for e in definition.entities}
    _record_emptying(db, definition, names, everything)
    family = _family(db)
    if family == "mysql" and everything:
        # InnoDB stops cascades 15 levels deep (a long self-reference chain); with every table
        # emptied no row can be left pointing anywhere, so check nothing while deleting.
        db.executesql("SET FOREIGN_KEY_CHECKS=0")
    try:
        for join in join_tables(definition):
            if join.source in names or join.target in names:
                jt = _table(db, join.name)
                db.executesql(db(jt.source_id != None)._delete())  # noqa: E711
        for name in reversed(entity_order(definition)):  # referencing tables first
            if name in names:
                table = _table(db, name)
                db.executesql(db(table.id != None)._delete())  # noqa: E711
    finally:
        if family == "mysql" and everything:
            db.executesql("SET FOREIGN_KEY_CHECKS=1")


def _record_emptying(db: DAL, definition: Definition, names: set[str], everything: bool) -> None:
    """Tombstone the rows an emptying deletes, and renumber the rows it changes elsewhere."""
    if everything:
        feed_table = db.sync_row
        feed.renumber(
            db,
            feed_table.tbl.belongs(sorted(names)) & (feed_table.deleted == False),  # noqa: E712
            deleted=True,
        )
        return
    for name in sorted(names):
        table = _table(db, name)
        ids = [r.id for r in db(table.id != None).select(table.id)]  # noqa: E711
        if ids:
            record_cascade(db, *cascade(db, definition, name, ids))


def empty(*, db: DAL, definition: Definition) -> None:
    """Delete every row of every table of the model, keeping the schema (no commit)."""
    delete_all(db, definition)
