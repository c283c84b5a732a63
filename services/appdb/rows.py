"""Rows of an app database: list, read, create, update, delete and empty them through PyDAL.

Rows are JSON-ready dicts: ``id``, ``created_at``, ``updated_at``, each field by name, and on the
``from`` entity of a ManyToMany relationship, the list of linked ids under the relationship's
name. These functions never commit: the caller commits (or rolls back) the transaction they ran
in, so a row and its ManyToMany links are written together or not at all. Values are parsed by
services/appdb/values.py, filters and sort keys by services/appdb/filters.py; a uniqueness clash
is a conflict (409 over HTTP), every other bad value a 422 with the field's location.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydal import DAL

from services.appdb.counts import count_rows
from services.appdb.definition import Definition
from services.appdb.filters import family_of, filter_query, page_bounds, parse_sort
from services.appdb.schema import entity_columns, join_tables
from services.appdb.schemas import DEFAULT_LIMIT
from services.appdb.values import (
    MAX_LINKS,
    SYSTEM_COLUMNS,
    BadValue,
    EntityPlan,
    attach_capped_links,
    attach_links,
    coerce_value,
    entity_plan,
    parse_uuid,
    row_fields,
    row_out,
    table_of,
)
from services.db import feed
from services.db.statements import is_integrity_error, select_in
from services.errors import NotFound, Problems, problem
from services.timeutil import utcnow

NOT_FOUND_ROW = "Row not found"
# Defaults of Settings.app_page_bytes and Settings.app_row_links (services/config.py).
PAGE_BYTES = 1_000_000
ROW_LINKS = 100
_CHUNK = 50  # rows read at once while a page fills: a page stops reading at its byte budget


INVALID_ROW = "invalid row"
UNIQUE_TAKEN = "a unique value is already taken"


def clash(problems: list[dict]) -> Problems:
    """Values that clash with stored rows (a unique field, an id): a 409 locating each."""
    return Problems(problems, UNIQUE_TAKEN, conflict=True)


# --------------------------------------------------------------------------- reading


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
    limit, offset = page_bounds(limit, offset)
    table = table_of(db, entity)
    query = filter_query(table, plan, filters)
    orderby = parse_sort(table, plan, sort, family_of(db))
    total = count_rows(db, query)
    rows = [
        row_out(r, plan)
        for r in db(query).select(
            *row_fields(table, plan), orderby=orderby, limitby=(offset, offset + limit)
        )
    ]
    attach_links(db, plan, rows)
    return rows, total


def read_page(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    sort: str | Sequence[str] | None = None,
    filters: Mapping[str, str] | None = None,
    max_bytes: int = PAGE_BYTES,
    max_links: int = ROW_LINKS,
) -> dict[str, Any]:
    """A page bounded in rows and in bytes: ``data``, ``count`` (all rows matching), and
    ``truncated`` (the byte budget ended it before ``limit`` rows) with ``next_offset`` (where
    the next page starts; null after the last row). Each ManyToMany list holds at most
    ``max_links`` ids, with its total under ``_link_counts`` (list_links pages the rest).
    A page holds at least one row, whatever its size."""
    plan = entity_plan(definition, entity)
    limit, offset = page_bounds(limit, offset)
    table = table_of(db, entity)
    query = filter_query(table, plan, filters)
    orderby = parse_sort(table, plan, sort, family_of(db))
    total = count_rows(db, query)
    fields = row_fields(table, plan)
    data: list[dict[str, Any]] = []
    size = 0
    truncated = False
    start = offset
    while len(data) < limit and not truncated:
        wanted = min(_CHUNK, limit - len(data))
        chunk = [
            row_out(r, plan)
            for r in db(query).select(*fields, orderby=orderby, limitby=(start, start + wanted))
        ]
        attach_capped_links(db, plan, chunk, max_links)
        for row in chunk:
            row_bytes = len(json.dumps(row, separators=(",", ":"))) + 1
            if data and size + row_bytes > max_bytes:
                truncated = True
                break
            data.append(row)
            size += row_bytes
        if len(chunk) < wanted:
            break
        start += wanted
    end = offset + len(data)
    return {
        "data": data,
        "count": total,
        "truncated": truncated,
        "next_offset": end if end < total else None,
    }


def list_links(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    row_id: str | uuid.UUID,
    relationship: str,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> tuple[list[str], int]:
    """A page of one row's ManyToMany ids (in the order rows' capped lists take them) and the
    total; NotFound for an unknown row or a relationship that is not a list of this entity."""
    plan = entity_plan(definition, entity)
    limit, offset = page_bounds(limit, offset)
    join = plan.links.get(relationship)
    if join is None:
        raise NotFound(f"{entity} has no ManyToMany relationship {relationship!r}")
    rid = _row_id(row_id)
    table = table_of(db, entity)
    if db(table.id == rid).isempty():
        raise NotFound(NOT_FOUND_ROW)
    jt = table_of(db, join.name)
    mine = jt.source_id == rid
    found = db(mine).select(jt.target_id, orderby=jt.target_id, limitby=(offset, offset + limit))
    return [str(r.target_id) for r in found], db(mine).count()


def _row_id(row_id: Any) -> uuid.UUID:
    try:
        return parse_uuid(row_id)
    except BadValue:
        raise NotFound(NOT_FOUND_ROW) from None


def get_row(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    row_id: str | uuid.UUID,
    max_links: int = ROW_LINKS,
) -> dict:
    """One row with its ManyToMany lists (at most ``max_links`` ids each, totals under
    ``_link_counts``); NotFound for an unknown entity or id."""
    plan = entity_plan(definition, entity)
    return _read(db, plan, _row_id(row_id), max_links)


def _read(db: DAL, plan: EntityPlan, row_id: uuid.UUID, max_links: int) -> dict:
    table = table_of(db, plan.name)
    # One bound statement built from the PyDAL fields, decoded straight to a dict: PyDAL's
    # query builder and Row parsing were most of a row request's cost (issue 17).
    found = select_in(db, table, row_fields(table, plan), table.id, [row_id])
    if not found:
        raise NotFound(NOT_FOUND_ROW)
    out = row_out(found[0], plan)
    attach_capped_links(db, plan, [out], max_links)
    return out


# --------------------------------------------------------------------------- writing


def _validate_body(
    db: DAL, plan: EntityPlan, data: Any, *, row_id: uuid.UUID | None
) -> tuple[dict[str, Any], dict[str, list[uuid.UUID]]]:
    """The body checked against the definition: column values and ManyToMany id lists."""
    if not isinstance(data, Mapping):
        raise Problems([problem(["body"], "a row must be a JSON object", "dict_type")], INVALID_ROW)
    creating = row_id is None
    problems: list[dict] = []
    values: dict[str, Any] = {}
    links: dict[str, list[uuid.UUID]] = {}
    for key, value in data.items():
        loc = ["body", key]
        if key == "id":
            try:
                given = parse_uuid(value)
            except BadValue as bad:
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
            except BadValue as bad:
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
        raise Problems(problems, INVALID_ROW)
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
            ids[parse_uuid(item)] = None
        except BadValue as bad:
            problems.append(problem([*loc, i], bad.msg, bad.kind))
    return list(ids)


def _missing_targets(
    db: DAL, plan: EntityPlan, values: dict[str, Any], links: dict[str, list[uuid.UUID]]
) -> list[dict]:
    """References and ManyToMany ids that name no row of their target entity."""
    problems = []
    for name, column in plan.columns.items():
        if column.type == "Reference" and values.get(name) is not None:
            target = table_of(db, column.target)
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
        target = table_of(db, plan.links[name].target)
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
    table = table_of(db, plan.name)
    problems = []
    for name, value in values.items():
        column = plan.columns.get(name) or SYSTEM_COLUMNS.get(name)
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
        raise clash(problems)


def _write_links(
    db: DAL,
    plan: EntityPlan,
    row_id: uuid.UUID,
    links: dict[str, list[uuid.UUID]],
    *,
    replace: bool,
) -> None:
    for name, ids in links.items():
        jt = table_of(db, plan.links[name].name)
        if replace:
            # PyDAL's SQLite delete() selects the table's ``_id``, which a join table lacks.
            db.executesql(db(jt.source_id == row_id)._delete())
        if ids:
            jt.bulk_insert([{"source_id": row_id, "target_id": t} for t in ids])


def _integrity(exc: Exception) -> Problems:
    return clash(
        [problem(["body"], "the row clashes with another row (unique value or id)", "unique")]
    )


def create_row(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    data: Mapping[str, Any],
    max_links: int = ROW_LINKS,
) -> dict:
    """Insert a row (and its ManyToMany links) validated against the definition; returns it
    as get_row does."""
    plan = entity_plan(definition, entity)
    values, links = _validate_body(db, plan, data, row_id=None)
    _check_unique(db, plan, values, None)
    values.setdefault("id", uuid.uuid4())
    try:
        table_of(db, entity).insert(**values)
        _write_links(db, plan, values["id"], links, replace=False)
    except Exception as exc:
        if is_integrity_error(exc):
            raise _integrity(exc) from None
        raise
    feed.touch(db, entity, values["id"])
    return _read(db, plan, values["id"], max_links)


def update_row(
    *,
    db: DAL,
    definition: Definition,
    entity: str,
    row_id: str | uuid.UUID,
    data: Mapping[str, Any],
    max_links: int = ROW_LINKS,
) -> dict:
    """Change the given fields (PATCH); a ManyToMany list given replaces the row's links.
    Returns the row as get_row does."""
    plan = entity_plan(definition, entity)
    rid = _row_id(row_id)
    table = table_of(db, entity)
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
    return _read(db, plan, rid, max_links)


def delete_row(*, db: DAL, definition: Definition, entity: str, row_id: str | uuid.UUID) -> None:
    """Delete a row; its links go with it, and references to it follow their ON DELETE rule."""
    plan = entity_plan(definition, entity)
    rid = _row_id(row_id)
    table = table_of(db, plan.name)
    if db(table.id == rid).isempty():
        raise NotFound(NOT_FOUND_ROW)
    levels: list[tuple[str, set[uuid.UUID]]] = []
    deleted, changed = cascade(db, definition, plan.name, [rid], levels=levels)
    delete_deepest_first(db, levels)
    db.executesql(db(table.id == rid)._delete())
    feed.record_cascade(db, deleted, changed)


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
                row_id = parse_uuid(value)
            except BadValue as bad:
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
            except BadValue as bad:
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
    except Problems as exc:
        if not exc.conflict:
            raise
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
    table = table_of(db, plan.name)
    if exists:
        db(table.id == row_id).update(**values)
    else:
        table.insert(id=row_id, **values)
    _write_links(db, plan, row_id, links, replace=exists)


def rows_by_id(db: DAL, plan: EntityPlan, row_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """The rows that exist among these ids, JSON-ready with their ManyToMany lists."""
    table = table_of(db, plan.name)
    ids = list(dict.fromkeys(row_ids))
    out: list[dict] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        out += [
            row_out(r, plan) for r in db(table.id.belongs(chunk)).select(*row_fields(table, plan))
        ]
    attach_links(db, plan, out)
    return {uuid.UUID(r["id"]): r for r in out}


def delete_ids(db: DAL, plan: EntityPlan, row_ids: list[uuid.UUID]) -> None:
    """DELETE these rows (their links and references follow their ON DELETE rules)."""
    table = table_of(db, plan.name)
    for start in range(0, len(row_ids), 500):
        db.executesql(db(table.id.belongs(row_ids[start : start + 500]))._delete())


def cascade(
    db: DAL,
    definition: Definition,
    entity: str,
    row_ids: Iterable[uuid.UUID],
    *,
    levels: list[tuple[str, set[uuid.UUID]]] | None = None,
) -> tuple[dict[str, set[uuid.UUID]], dict[str, set[uuid.UUID]]]:
    """What deleting these rows does to others through foreign keys, found before it is done.

    Returns (deleted, changed) by entity: rows a required reference deletes with them (CASCADE),
    and rows whose state changes: an optional reference set to null, or a ManyToMany list that
    loses an id. The given rows are in ``deleted``. ``levels`` receives the rows deleted along
    the way, level by level in the order found (see delete_deepest_first).
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
                table = table_of(db, other.name)
                found: set[uuid.UUID] = set()
                for start in range(0, len(id_list), 500):
                    query = table[column.name].belongs(id_list[start : start + 500])
                    found |= {r.id for r in db(query).select(table.id)}
                if column.required:
                    new = found - deleted.setdefault(other.name, set())
                    if new:
                        deleted[other.name] |= new
                        frontier.append((other.name, new))
                        if levels is not None:
                            levels.append((other.name, new))
                else:
                    changed.setdefault(other.name, set()).update(found)
        for join in join_tables(definition):
            if join.target == name:
                jt = table_of(db, join.name)
                for start in range(0, len(id_list), 500):
                    query = jt.target_id.belongs(id_list[start : start + 500])
                    changed.setdefault(join.source, set()).update(
                        r.source_id for r in db(query).select(jt.source_id)
                    )
    for name in changed:
        changed[name] -= deleted.get(name, set())
    return deleted, changed


def delete_deepest_first(db: DAL, levels: list[tuple[str, set[uuid.UUID]]]) -> None:
    """Delete the rows a cascade found, the last found first, so no database cascades deeper
    than one level: SQLite stops at 1,000 nested trigger levels ("too many levels of trigger
    recursion" deleting a 1,050-deep chain, issue 14) and MariaDB at 15."""
    for name, ids in reversed(levels):
        table = table_of(db, name)
        id_list = list(ids)
        for start in range(0, len(id_list), 500):
            db.executesql(db(table.id.belongs(id_list[start : start + 500]))._delete())


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
    family = family_of(db)
    if family == "mysql" and everything:
        # InnoDB stops cascades 15 levels deep (a long self-reference chain); with every table
        # emptied no row can be left pointing anywhere, so check nothing while deleting.
        db.executesql("SET FOREIGN_KEY_CHECKS=0")
    try:
        for join in join_tables(definition):
            if join.source in names or join.target in names:
                jt = table_of(db, join.name)
                db.executesql(db(jt.source_id != None)._delete())  # noqa: E711
        for name in reversed(entity_order(definition)):  # referencing tables first
            if name in names:
                table = table_of(db, name)
                db.executesql(db(table.id != None)._delete())  # noqa: E711
    finally:
        if family == "mysql" and everything:
            db.executesql("SET FOREIGN_KEY_CHECKS=1")


def _record_emptying(db: DAL, definition: Definition, names: set[str], everything: bool) -> None:
    """Tombstone the rows an emptying deletes, and renumber the rows it changes elsewhere."""
    if everything:
        feed.bury(db, names)
        return
    for name in sorted(names):
        table = table_of(db, name)
        ids = [r.id for r in db(table.id != None).select(table.id)]  # noqa: E711
        if ids:
            feed.record_cascade(db, *cascade(db, definition, name, ids))


def empty(*, db: DAL, definition: Definition) -> None:
    """Delete every row of every table of the model, keeping the schema (no commit)."""
    delete_all(db, definition)
