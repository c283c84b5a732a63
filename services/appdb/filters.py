"""Filters, sort keys and page bounds of an app-database row list, parsed into PyDAL expressions.

Sort keys become Field expressions and ``in`` filters Python lists, so no string a client sends
ever reaches PyDAL's ``belongs`` or ``orderby``. ``contains`` and ``startswith`` ignore ASCII case
on every backend (SQLite's LIKE does, whatever we ask); NULLs sort first ascending and last
descending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydal import DAL
from pydal.objects import Expression, Field, Table

from services.appdb.schemas import MAX_LIMIT
from services.appdb.values import (
    SYSTEM_COLUMNS,
    TEXTUAL,
    BadValue,
    EntityPlan,
    parse_text_value,
)
from services.errors import Problems, problem

MAX_OFFSET = 2**62
MAX_IN_VALUES = 100  # items of one ``in`` filter
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "startswith", "in")
_ORDERED = frozenset({"String", "Text", "Integer", "Float", "DateTime", "Date"})
_FILTERABLE = frozenset(
    {"String", "Text", "Integer", "Float", "Boolean", "DateTime", "Date", "Enum", "Reference"}
)
_SORTABLE = _FILTERABLE


def parse_sort(
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
        column = SYSTEM_COLUMNS.get(name) or plan.columns.get(name)
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
        raise Problems(problems, "invalid sort")
    if "id" not in seen:
        order.append(table.id)  # a total order, so pages never overlap
    return order


def filter_query(table: Table, plan: EntityPlan, filters: Mapping[str, str] | None):
    query = table.id != None  # noqa: E711 - PyDAL's "IS NOT NULL"
    problems: list[dict] = []
    for key, raw in (filters or {}).items():
        loc = ["query", key]
        if not isinstance(key, str):
            problems.append(problem(["query"], "filter names must be strings", "string_type"))
            continue
        name, _, op = key.rpartition(".") if "." in key else (key, "", "eq")
        column = SYSTEM_COLUMNS.get(name) or plan.columns.get(name)
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
        if op in ("contains", "startswith") and column.type not in TEXTUAL:
            problems.append(
                problem(loc, f"{op} needs a String or Text field", "operator_not_allowed")
            )
            continue
        try:
            if op == "in":
                if not isinstance(raw, str):
                    raise BadValue("must be a comma-separated list", "string_type")
                items = raw.split(",")
                if len(items) > MAX_IN_VALUES:
                    raise BadValue(f"at most {MAX_IN_VALUES} values", "too_long")
                value: Any = [parse_text_value(column, item) for item in items]
            else:
                value = parse_text_value(column, raw)
        except BadValue as bad:
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
        raise Problems(problems, "invalid filter")
    return query


def page_bounds(limit: Any, offset: Any) -> tuple[int, int]:
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
        raise Problems(problems, "invalid page")
    return limit, offset


def family_of(db: DAL) -> str:
    engine = db._adapter.dbengine
    return "postgresql" if engine.startswith("postgres") else engine
