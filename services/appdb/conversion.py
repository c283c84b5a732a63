"""Type changes of app-database columns: every stored value converted to the new type, or NULL.

Issue 14 measured String -> Date answering 200 and then a 500 on every read of the entity and
every sync: the database kept strings PyDAL cannot decode as dates. A destructive type change
now reads each row's value, converts it in Python with the rules a write of that field follows
(``values.coerce_value``), and writes the result back after the column changed type; a value
that does not convert becomes NULL, and a required field refuses the whole change. Python, not
SQL, because the three backends cast differently (SQLite keeps any text in a DATE column,
PostgreSQL has no cast from boolean to date, MariaDB truncates), and one rule set keeps them alike.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from services.appdb.schema import Column
from services.appdb.values import BadValue, coerce_value, json_ready
from services.errors import Conflict

_TRUE = frozenset({"true", "t", "1", "yes"})
_FALSE = frozenset({"false", "f", "0", "no"})


@dataclass
class Conversion:
    """One column's type change: how many stored values convert, and how many become NULL."""

    table: str
    column: str
    old_kind: str  # the live column's kind (services/db/parity.py), e.g. "string", "date"
    new: Column  # the column as the new definition has it
    converted: int = 0
    nulled: int = 0
    values: dict[uuid.UUID, Any] = field(default_factory=dict, repr=False)  # id -> new value

    @property
    def field_name(self) -> str:
        """``table.column``, for messages."""
        return f"{self.table}.{self.column}"

    def as_dict(self) -> dict:
        """JSON-ready counts for a plan or a migration's answer."""
        return {
            "table": self.table,
            "column": self.column,
            "from_type": self.old_kind,
            "to_type": self.new.type,
            "required": self.new.required,
            "converted": self.converted,
            "nulled": self.nulled,
        }

    def refuse_if_required(self) -> None:
        """Conflict (409) when a required field would be left without a value."""
        if self.nulled and self.new.required:
            raise Conflict(
                f"cannot change the type of required field {self.field_name} to "
                f"{self.new.type}: {self.nulled} stored value(s) do not convert; nothing was "
                "changed (fix or empty those values, or make the field optional first)"
            )


def _normalised(raw: Any, old_kind: str) -> Any:
    """A driver's raw value as a plain Python value of the old column's kind."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw).decode("utf-8", "replace")
    if isinstance(raw, Decimal):
        raw = float(raw)
    if old_kind == "boolean":
        if isinstance(raw, str):
            return raw.strip().lower() in _TRUE
        return bool(raw)
    if old_kind in ("date", "datetime") and isinstance(raw, str):
        try:  # SQLite stores dates and times as text
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return raw  # not a date at all (written by an older, broken change): text
        return parsed.date() if old_kind == "date" else parsed
    if old_kind == "json" and isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if old_kind == "uuid" and not isinstance(raw, uuid.UUID):
        try:
            return uuid.UUID(str(raw))
        except ValueError:
            return str(raw)
    return raw


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return str(json_ready(value))


def _candidate(value: Any, kind: str) -> Any:
    """``value`` in the JSON shape a client would send for a field of ``kind``."""
    if kind in ("String", "Text", "Enum"):
        return _text(value)
    if kind == "Integer":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                return float(text)  # "2.0" is 2; "2.5" is not an integer (BadValue)
        return value
    if kind == "Float":
        if isinstance(value, bool):
            return float(value)
        return float(value.strip()) if isinstance(value, str) else value
    if kind == "Boolean":
        if isinstance(value, str):
            lowered = value.strip().lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        return value
    if kind == "Date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, str):
            text = value.strip()
            try:
                date.fromisoformat(text)
            except ValueError:  # a date and time gives its date
                return datetime.fromisoformat(text).date().isoformat()
            return text
        return json_ready(value)
    if kind == "DateTime":
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        return value.strip() if isinstance(value, str) else value
    if kind in ("Array", "Object"):
        return json.loads(value) if isinstance(value, str) else value
    if kind == "Reference":
        return str(value).strip() if not isinstance(value, uuid.UUID) else value
    return value


def convert(raw: Any, old_kind: str, new: Column) -> tuple[bool, Any]:
    """(True, the value for the new column) or (False, None) when ``raw`` does not convert."""
    value = _normalised(raw, old_kind)
    try:
        return True, coerce_value(new, _candidate(value, new.type))
    except (BadValue, ValueError, TypeError, OverflowError):
        return False, None


def _quote(connection: sa.Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def measure(
    connection: sa.Connection,
    conversion: Conversion,
    *,
    known_ids: set[uuid.UUID] | None = None,
) -> Conversion:
    """Read the column's stored values and convert them, counting what converts and what not.

    ``known_ids``: for a change to a Reference, the rows of its target; an id of none of them
    becomes NULL (the foreign key would refuse it).
    """
    quote = _quote(connection, conversion.table)
    column = _quote(connection, conversion.column)
    rows = connection.exec_driver_sql(
        f"SELECT id, {column} FROM {quote} WHERE {column} IS NOT NULL"
    ).fetchall()
    conversion.values, conversion.converted, conversion.nulled = {}, 0, 0
    for raw_id, raw in rows:
        ok, value = convert(raw, conversion.old_kind, conversion.new)
        if ok and known_ids is not None and value not in known_ids:
            ok, value = False, None
        conversion.values[uuid.UUID(str(raw_id))] = value
        if ok:
            conversion.converted += 1
        else:
            conversion.nulled += 1
    return conversion


def ids_of(connection: sa.Connection, table: str) -> set[uuid.UUID]:
    """Every id of ``table`` (none if it does not exist yet)."""
    if not sa.inspect(connection).has_table(table):
        return set()
    rows = connection.exec_driver_sql(f"SELECT id FROM {_quote(connection, table)}").fetchall()
    return {uuid.UUID(str(r[0])) for r in rows}


def clear(connection: sa.Connection, table: str, columns: list[str]) -> None:
    """Set the columns to NULL on every row (before their type changes)."""
    quote = _quote(connection, table)
    sets = ", ".join(f"{_quote(connection, c)} = NULL" for c in columns)
    connection.exec_driver_sql(f"UPDATE {quote} SET {sets}")


def fill(connection: sa.Connection, table: sa.Table, conversion: Conversion) -> None:
    """Write the converted values back, row by row, with the new column's type."""
    values = [
        {"_cv_id": row_id, "_cv_value": value}
        for row_id, value in conversion.values.items()
        if value is not None
    ]
    if not values:
        return
    column = table.c[conversion.column]
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("_cv_id", type_=table.c.id.type))
        .values({column.name: sa.bindparam("_cv_value", type_=column.type)})
    )
    connection.execute(statement, values)
