"""Values of app-database rows: what the definition says of an entity, and each value's way in
(a client's JSON or query text, parsed to the field's Python type) and out (JSON-ready).

Every table and column named in SQL is looked up in the validated definition first; a value
reaches SQL only through PyDAL's representer, never as text of a query.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydal import DAL
from pydal.objects import Field, Table

from services.appdb.definition import Definition
from services.appdb.schema import STRING_LENGTH, Column, JoinTable, entity_columns, join_tables
from services.errors import NotFound
from services.timeutil import to_naive_utc, wire_time

MAX_FILTER_TEXT = 1000  # characters of one filter value
TEXTUAL = frozenset({"String", "Text"})
MAX_LINKS = 1000  # ids in one ManyToMany list
TEXT_MAX_BYTES = 65535  # MySQL/MariaDB TEXT; the same limit everywhere keeps backends alike
JSON_MAX_BYTES = 1024 * 1024
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # BIGINT
SYSTEM_FIELDS = ("id", "created_at", "updated_at")
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates break the drivers


class BadValue(Exception):
    """One value does not fit its field; the caller locates it in a Problems list."""

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


SYSTEM_COLUMNS = {
    "id": Column("id", "Reference", required=True, unique=True),
    "created_at": Column("created_at", "DateTime", required=True),
    "updated_at": Column("updated_at", "DateTime", required=True),
}


# Plans worked out per request were a tenth of a row request (issue 17). Definitions are never
# changed once validated (a change makes a new one), so plans are kept per definition object,
# for the few definitions used last: about as many as the app-database handles kept (16 by
# default), so a deleted or changed model's definition is soon let go. Each entry holds its
# definition, so an id cannot be reused while its plans are kept.
_PLANS: OrderedDict[int, tuple[Definition, dict[str, EntityPlan]]] = OrderedDict()
PLANS_KEPT = 32  # definitions
_PLANS_LOCK = threading.Lock()


def entity_plan(definition: Definition, entity: str) -> EntityPlan:
    """The plan of ``entity``; NotFound when the definition has no such entity."""
    key = id(definition)
    with _PLANS_LOCK:
        kept = _PLANS.get(key)
        if kept is not None and kept[0] is definition:
            _PLANS.move_to_end(key)
            plan = kept[1].get(entity)
            if plan is not None:
                return plan
    plan = _work_out_plan(definition, entity)
    with _PLANS_LOCK:
        kept = _PLANS.get(key)
        if kept is None or kept[0] is not definition:
            kept = _PLANS[key] = (definition, {})
        kept[1][entity] = plan
        _PLANS.move_to_end(key)
        while len(_PLANS) > PLANS_KEPT:
            _PLANS.popitem(last=False)
    return plan


def _work_out_plan(definition: Definition, entity: str) -> EntityPlan:
    for e in definition.entities:
        if e.name == entity:
            columns = {c.name: c for c in entity_columns(definition, e)}
            links = {j.relationship: j for j in join_tables(definition) if j.source == entity}
            return EntityPlan(entity, columns, links)
    raise NotFound(f"Unknown entity {entity!r}")


def table_of(db: DAL, name: str) -> Table:
    # ``name`` always comes from the definition, never straight from a request.
    table = db[name]
    if not isinstance(table, Table):  # a DAL attribute, not a table of this model
        raise NotFound(f"Unknown table {name!r}")
    return table


# --------------------------------------------------------------------------- values in


def _check_text(value: str) -> None:
    if _BAD_CHARS.search(value):
        raise BadValue("text must not contain NUL characters or lone surrogates", "string_type")


def _check_json_text(value: Any) -> None:
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check_json_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadValue("object keys must be strings", "dict_type")
            _check_text(key)
            _check_json_text(item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadValue("numbers must be finite", "finite_number")
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise BadValue("value is not JSON", "json_type")


def _parse_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadValue("not an ISO 8601 date and time", "datetime_parsing") from None
    parsed = to_naive_utc(parsed)
    if parsed.year < 1000:
        raise BadValue("year must be 1000 or later", "datetime_range")
    return parsed


def _parse_date(value: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise BadValue("not an ISO 8601 date (YYYY-MM-DD)", "date_parsing") from None
    if parsed.year < 1000:
        raise BadValue("year must be 1000 or later", "date_range")
    return parsed


def parse_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 45:
        raise BadValue("not a UUID", "uuid_type")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadValue("not a UUID", "uuid_parsing") from None


def coerce_value(column: Column, value: Any) -> Any:
    """A JSON value as the Python value the field stores; raises BadValue when it does not fit."""
    kind = column.type
    if kind in TEXTUAL:
        if not isinstance(value, str):
            raise BadValue("must be a string", "string_type")
        _check_text(value)
        if kind == "String" and len(value) > STRING_LENGTH:
            raise BadValue(f"at most {STRING_LENGTH} characters", "string_too_long")
        if kind == "Text" and len(value.encode("utf-8")) > TEXT_MAX_BYTES:
            raise BadValue(f"at most {TEXT_MAX_BYTES} bytes of UTF-8", "string_too_long")
        return value
    if kind == "Integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue("must be an integer", "int_type")
        if not INT_MIN <= value <= INT_MAX:
            raise BadValue("out of the 64-bit integer range", "int_range")
        return value
    if kind == "Float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadValue("must be a number", "float_type")
        try:
            number = float(value)
        except OverflowError:
            raise BadValue("out of range", "float_range") from None
        if not math.isfinite(number):
            raise BadValue("must be a finite number", "finite_number")
        return number
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise BadValue("must be true or false", "bool_type")
        return value
    if kind == "DateTime":
        if not isinstance(value, str):
            raise BadValue("must be an ISO 8601 date and time string", "datetime_type")
        return _parse_datetime(value)
    if kind == "Date":
        if not isinstance(value, str):
            raise BadValue("must be an ISO 8601 date string", "date_type")
        return _parse_date(value)
    if kind == "Array":
        if not isinstance(value, list):
            raise BadValue("must be an array", "list_type")
        return _json_value(value)
    if kind == "Object":
        if not isinstance(value, dict):
            raise BadValue("must be an object", "dict_type")
        return _json_value(value)
    if kind == "Enum":
        if not isinstance(value, str) or value not in (column.values or ()):
            raise BadValue(f"must be one of {list(column.values or ())}", "enum")
        return value
    if kind == "Reference":
        return parse_uuid(value)
    raise BadValue(f"unsupported field type {kind}")  # pragma: no cover - definitions are validated


def _json_value(value: Any) -> Any:
    _check_json_text(value)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > JSON_MAX_BYTES:
        raise BadValue(f"at most {JSON_MAX_BYTES} bytes as JSON", "json_too_long")
    return value


def parse_text_value(column: Column, text: str) -> Any:
    """A query-string value as the field's Python value; BadValue when it does not fit."""
    if not isinstance(text, str):
        raise BadValue("must be a string", "string_type")
    if len(text) > MAX_FILTER_TEXT:
        raise BadValue(f"at most {MAX_FILTER_TEXT} characters", "string_too_long")
    _check_text(text)
    kind = column.type
    if kind in TEXTUAL or kind == "Enum":
        return coerce_value(column, text) if kind == "Enum" else text
    if kind == "Integer":
        if not _INT_TEXT.fullmatch(text):
            raise BadValue("must be an integer", "int_parsing")
        return coerce_value(column, int(text))
    if kind == "Float":
        if not _FLOAT_TEXT.fullmatch(text):
            raise BadValue("must be a number", "float_parsing")
        return coerce_value(column, float(text))
    if kind == "Boolean":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise BadValue("must be true or false", "bool_parsing")
    if kind in ("DateTime", "Date", "Reference"):
        return coerce_value(column, text)
    raise BadValue(f"a {kind} field cannot be filtered", "not_filterable")


# --------------------------------------------------------------------------- values out


def json_ready(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return wire_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_fields(table: Table, plan: EntityPlan) -> list[Field]:
    return [table[name] for name in (*SYSTEM_FIELDS, *plan.columns)]


def row_out(row: Any, plan: EntityPlan) -> dict[str, Any]:
    out = {name: json_ready(row[name]) for name in SYSTEM_FIELDS}
    for name in plan.columns:
        out[name] = json_ready(row[name])
    return out


def attach_links(db: DAL, plan: EntityPlan, rows: list[dict]) -> None:
    """Fill each row's ManyToMany lists: one query per relationship for the whole page."""
    if not plan.links:
        return
    ids = [uuid.UUID(r["id"]) for r in rows]
    for name, join in plan.links.items():
        linked: dict[str, list[str]] = {r["id"]: [] for r in rows}
        if ids:
            jt = table_of(db, join.name)
            for link in db(jt.source_id.belongs(ids)).select(jt.source_id, jt.target_id):
                linked[str(link.source_id)].append(str(link.target_id))
        for r in rows:
            r[name] = sorted(linked[r["id"]])


# A key no field can have (names start with a letter): each row's ManyToMany totals, by name.
LINK_COUNTS = "_link_counts"


def attach_capped_links(db: DAL, plan: EntityPlan, rows: list[dict], cap: int) -> None:
    """Fill each row's ManyToMany lists with at most ``cap`` ids (the first ``cap`` that
    list_links pages, in the database's order of ids) and its totals under LINK_COUNTS: two
    queries per relationship for the whole page, however many links the rows have (issue 14:
    200 rows of 1,000 links each made an 8 MB page)."""
    if not plan.links:
        return
    ids = [uuid.UUID(r["id"]) for r in rows]
    for r in rows:
        r[LINK_COUNTS] = {}
    for name, join in plan.links.items():
        jt = table_of(db, join.name)
        linked: dict[str, list[str]] = {r["id"]: [] for r in rows}
        counts: dict[str, int] = {}
        if ids:
            total = jt.target_id.count()
            query = jt.source_id.belongs(ids)
            for link in db(query).select(jt.source_id, total, groupby=jt.source_id):
                counts[str(link[jt.source_id])] = int(link[total])
            if counts:
                for source, target in _first_links(db, jt, query, cap):
                    linked[str(source)].append(str(target))
        for r in rows:
            # Sorted as full lists are; which ids a capped list holds is the database's order
            # (MariaDB's native uuid sorts otherwise), the order list_links pages them in.
            r[name] = sorted(linked[r["id"]])
            r[LINK_COUNTS][name] = counts.get(r["id"], 0)


def _first_links(db: DAL, jt: Table, query: Any, cap: int) -> list[tuple[Any, Any]]:
    # ROW_NUMBER() (SQLite 3.25+, PostgreSQL, MariaDB 10.2+) keeps the first ``cap`` links of
    # each row in the database: a row's thousand links are never all read. PyDAL cannot say
    # it, so the SQL is put together from what PyDAL renders: the join table's (schema-
    # qualified) name, its columns, and the WHERE clause with the ids as PyDAL's literals.
    adapter = db._adapter
    source, target = jt.source_id._rname, jt.target_id._rname
    sql = (
        f"SELECT {source}, {target} FROM (SELECT {source}, {target}, ROW_NUMBER() OVER "
        f"(PARTITION BY {source} ORDER BY {target}) AS link_rank FROM {jt.sql_fullref} "
        f"WHERE {adapter.expand(query)}) ranked WHERE link_rank <= {int(cap)} "
        f"ORDER BY {source}, {target}"
    )
    # Raw values: 32 hex digits on SQLite and MySQL, the dashed form on PostgreSQL.
    return [(uuid.UUID(str(a)), uuid.UUID(str(b))) for a, b in db.executesql(sql)]
