"""Small helpers around PyDAL rows and driver errors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydal import DAL
from pydal.objects import Row, Table

from services.db.types import KindType

# Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters for tables this wide.
ROWS_PER_STATEMENT = 500


def placeholder(db: DAL) -> str:
    """The driver's parameter mark: ``?`` for sqlite3, ``%s`` for psycopg2 and PyMySQL."""
    return "?" if db._adapter.driver.paramstyle == "qmark" else "%s"


def row_dict(row: Row, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a row as a plain dict (PyDAL's as_dict drops UUID values)."""
    return {name: row[name] for name in fields}


def is_integrity_error(exc: BaseException) -> bool:
    """True for a unique/foreign-key violation from any of the three drivers (psycopg2 raises
    subclasses such as UniqueViolation)."""
    return any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__)


def _binder(field) -> Any:
    """How a field's Python value becomes the driver parameter PyDAL's representer would write."""
    kind = field.type
    if isinstance(kind, KindType):
        return kind.encoder  # the same text SQLAlchemy stores (see services/db/types.py)
    if kind == "date":
        return lambda v: v.isoformat() if isinstance(v, (date, datetime)) else v
    return None


def param_encoder(kind: Any) -> Any:
    """For a field of type ``kind``: a function from a Python value to the driver parameter
    bound in its place (None stays None, which binds NULL); see insert_rows."""
    bind = _binder(_Kind(kind))
    if bind is None:
        return lambda value: value
    return lambda value: None if value is None else bind(value)


class _Kind:
    """A stand-in field with only a type (what _binder reads)."""

    __slots__ = ("type",)

    def __init__(self, kind: Any) -> None:
        self.type = kind


def insert_rows(db: DAL, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with multi-row INSERTs built from the table's PyDAL fields, on PyDAL's
    connection, every value a bound parameter (no literal quoting in Python, no per-row call).

    Each row must have the same keys; defaults are not applied.
    """
    if not rows:
        return
    fields = [table[name] for name in rows[0]]
    binders = [_binder(f) for f in fields]
    mark = placeholder(db)
    one = "(" + ",".join([mark] * len(fields)) + ")"
    head = f"INSERT INTO {table._rname} ({','.join(f._rname for f in fields)}) VALUES "
    names = [f.name for f in fields]
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        params: list[Any] = []
        for row in part:
            for name, bind in zip(names, binders, strict=True):
                value = row[name]
                params.append(value if bind is None or value is None else bind(value))
        db.executesql(head + ",".join([one] * len(part)), placeholders=params)


def _key_sql(db: DAL, table: Table, key: dict[str, Any]) -> tuple[str, list[Any]]:
    mark = placeholder(db)
    where = " AND ".join(f"{table[name]._rname} = {mark}" for name in key)
    params = [
        v if v is None or (bind := _binder(table[name])) is None else bind(v)
        for name, v in key.items()
    ]
    return where, params


def update_row(db: DAL, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """UPDATE the row whose key fields equal ``key`` to ``values``: one statement with bound
    parameters built from the table's PyDAL fields, on PyDAL's connection.

    Unlike a PyDAL update it applies no ``update=`` defaults: pass every value to set. The
    statement's text depends only on the field names, so SQLite compiles it once per batch.
    """
    mark = placeholder(db)
    sets = ",".join(f"{table[name]._rname} = {mark}" for name in values)
    params = [
        v if v is None or (bind := _binder(table[name])) is None else bind(v)
        for name, v in values.items()
    ]
    where, key_params = _key_sql(db, table, key)
    db.executesql(
        f"UPDATE {table._rname} SET {sets} WHERE {where}", placeholders=params + key_params
    )


def delete_row(db: DAL, table: Table, key: dict[str, Any]) -> None:
    """DELETE the row whose key fields equal ``key`` (as update_row; the database's own foreign
    keys act, not PyDAL's emulated cascades: use it for tables nothing references)."""
    where, params = _key_sql(db, table, key)
    db.executesql(f"DELETE FROM {table._rname} WHERE {where}", placeholders=params)


def _reader(field) -> Any:
    kind = field.type
    return kind.decoder if isinstance(kind, KindType) else None


def as_dicts(rows: list, fields: list, colnames: list, cacheable: bool = False) -> list[dict]:
    """A PyDAL select ``processor``: records straight to dicts of decoded values.

    PyDAL's own parse builds a Row per record through a generic per-value dispatch (1.3 ms of
    a 50-row page); the query is still PyDAL's. select_in and select_ordered decode with it
    too. Fields whose values the driver hands back as they are stored pass through (strings,
    text and numbers); UUID, datetime, boolean and JSON kinds decode.
    """
    names = [f.name for f in fields]
    readers = [_reader(f) for f in fields]
    return [
        {
            name: (value if read is None or value is None else read(value))
            for name, read, value in zip(names, readers, record, strict=True)
        }
        for record in rows
    ]


def select_in(
    db: DAL,
    table: Table,
    fields: list,
    column,
    values: list,
    *,
    where: dict | None = None,
    lock: bool = False,
) -> list[dict[str, Any]]:
    """Rows whose ``column`` is one of ``values`` (and each ``where`` field equals its value),
    as dicts of the fields' decoded values.

    Built from the table's PyDAL fields and run on PyDAL's connection like a select, but every
    value is a bound parameter: a long IN list costs no per-value quoting in Python. ``lock``
    adds FOR UPDATE (not on SQLite, which has one writer).
    """
    if not values:
        return []
    mark = placeholder(db)
    where = where or {}
    conditions = [f"{table[name]._rname} = {mark}" for name in where]
    fixed = [v if (bind := _binder(table[name])) is None else bind(v) for name, v in where.items()]
    bind = _binder(column)
    suffix = " FOR UPDATE" if lock and db._adapter.dbengine != "sqlite" else ""
    head = (
        f"SELECT {','.join(f._rname for f in fields)} FROM {table._rname} WHERE "
        + "".join(c + " AND " for c in conditions)
        + f"{column._rname} IN "
    )
    out: list[dict[str, Any]] = []
    for start in range(0, len(values), ROWS_PER_STATEMENT):
        part = values[start : start + ROWS_PER_STATEMENT]
        params = fixed + [v if bind is None else bind(v) for v in part]
        sql = head + "(" + ",".join([mark] * len(part)) + ")" + suffix
        out += as_dicts(db.executesql(sql, placeholders=params), fields, [])
    return out


def select_ordered(
    db: DAL,
    table: Table,
    fields: list,
    conditions: list[tuple],
    order_by,
    limit: int,
    *,
    filter_only: tuple = (),
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows matching every (field, operator, value) condition, ordered by
    ``order_by``, as dicts of decoded values (bound parameters, as in select_in).

    The operator is one of ``=``, ``>`` and ``in`` (whose value is a list). Conditions on the
    fields in ``filter_only`` must not pick the index: on SQLite (no planner statistics unless
    ANALYZE ran) an equality on a key's first column otherwise wins over the index that gives
    the order, so the query reads and sorts every matching row to return ``limit`` of them;
    there the column is written ``+col``, which only filters.
    """
    mark = placeholder(db)
    sqlite = db._adapter.dbengine == "sqlite"
    clauses: list[str] = []
    params: list[Any] = []
    for field, operator, value in conditions:
        bind = _binder(field)
        encode = (lambda v: v) if bind is None else bind
        unindexed = sqlite and any(field is f for f in filter_only)  # Field == builds a Query
        column = f"+{field._rname}" if unindexed else field._rname
        if operator == "in":
            clauses.append(f"{column} IN ({','.join([mark] * len(value))})")
            params += [encode(v) for v in value]
        elif operator in ("=", ">"):
            clauses.append(f"{column} {operator} {mark}")
            params.append(encode(value))
        else:
            raise ValueError(f"unsupported operator {operator!r}")
    sql = (
        f"SELECT {','.join(f._rname for f in fields)} FROM {table._rname} WHERE "
        f"{' AND '.join(clauses) or '1=1'} ORDER BY {order_by._rname} LIMIT {int(limit)}"
    )
    return as_dicts(db.executesql(sql, placeholders=params), fields, [])
