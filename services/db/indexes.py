"""Indexes as each layer sees them: the models, the live database and the PyDAL tables.

PyDAL has no index declaration of its own, so the PyDAL tables carry theirs as a plain
attribute set by ``declare_index``; the parity check compares all three sides. Indexes compare
by what they do (columns in order, uniqueness, partial WHERE, expressions), not by name, since
names are generated and differ between backends (MariaDB names the index it makes for a foreign
key after the constraint).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from pydal.objects import Table

_ATTRIBUTE = "_lds_indexes"


@dataclass(frozen=True)
class IndexSpec:
    """One index: what it covers (``key``) and the name it goes by on one side."""

    table: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None
    name: str | None = None

    @property
    def key(self) -> tuple[tuple[str, ...], bool, str | None]:
        """What two sides must agree on (the name is left out on purpose)."""
        return self.columns, self.unique, _normal(self.where) if self.where else None

    def describe(self) -> str:
        """``unique index ix_a on t(a, b) where ...``, for messages."""
        kind = "unique index" if self.unique else "index"
        name = f" {self.name}" if self.name else ""
        where = f" where {self.where}" if self.where else ""
        return f"{kind}{name} on {self.table}({', '.join(self.columns)}){where}"

    def ddl(self) -> str:
        """The CREATE INDEX statement that makes it (generic SQL, for a fix message)."""
        unique = "UNIQUE " if self.unique else ""
        name = self.name or f"ix_{self.table}_{'_'.join(self.columns)}"
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE {unique}INDEX {name} ON {self.table} ({', '.join(self.columns)}){where}"


def _normal(text: str) -> str:
    # Backends echo a partial index's WHERE with their own quoting, casts and parentheses.
    text = re.sub(r"::\w+(\s+\w+)?", "", text.lower())
    text = re.sub(r"[\s()\"`'\[\]]", "", text)
    return re.sub(r"\b[a-z_]\w*\.", "", text)  # table qualifiers


def _expression(text: str) -> str:
    return f"({_normal(text)})"


def _compared(specs: Iterable[IndexSpec]) -> dict[tuple, IndexSpec]:
    # A single-column unique index is the column's uniqueness, which parity compares per column.
    return {s.key: s for s in specs if not (s.unique and len(s.columns) == 1 and not s.where)}


def declare_index(
    table: Table,
    *columns: str,
    unique: bool = False,
    where: str | None = None,
    name: str | None = None,
) -> None:
    """Record on a PyDAL table an index the migrations create (PyDAL itself makes no DDL)."""
    missing = [c for c in columns if c not in table.fields]
    if missing:
        raise ValueError(f"index on {table._tablename} names unknown field(s) {missing}")
    # Unnamed, it gets the name the models' naming convention gives a one-column index.
    name = name or f"{'uq' if unique else 'ix'}_{table._tablename}_{'_'.join(columns)}"
    spec = IndexSpec(table._tablename, tuple(columns), unique, where, name)
    table[_ATTRIBUTE] = (*pydal_indexes(table), spec)


def pydal_indexes(table: Table) -> tuple[IndexSpec, ...]:
    """The indexes declared on a PyDAL table."""
    return tuple(table.get(_ATTRIBUTE, ()))


def copy_indexes(source: Table, target: Table) -> None:
    """Give ``target`` the index declarations of ``source`` (a table defined again)."""
    target[_ATTRIBUTE] = pydal_indexes(source)


def _sa_where(index: sa.Index) -> str | None:
    for dialect in ("postgresql", "sqlite"):  # the backends with partial indexes
        where = index.dialect_options[dialect].get("where")
        if where is not None:
            return str(where)
    return None


def metadata_indexes(table: sa.Table) -> list[IndexSpec]:
    """The indexes and unique constraints a model declares."""
    specs = []
    for index in table.indexes:
        columns = tuple(
            c.name if isinstance(c, sa.Column) else _expression(str(c)) for c in index.expressions
        )
        specs.append(
            IndexSpec(table.name, columns, bool(index.unique), _sa_where(index), index.name)
        )
    for constraint in table.constraints:  # Column(unique=True) included
        if isinstance(constraint, sa.UniqueConstraint):
            columns = tuple(c.name for c in constraint.columns)
            name = constraint.name if isinstance(constraint.name, str) else None
            specs.append(IndexSpec(table.name, columns, True, None, name))
    return specs


def database_indexes(inspector: sa.Inspector, table: str) -> list[IndexSpec]:
    """The indexes and unique constraints the live database has (primary keys left out)."""
    fk_names = {fk.get("name") for fk in inspector.get_foreign_keys(table)} - {None}
    specs = []
    for index in inspector.get_indexes(table):
        if index["name"] in fk_names:
            continue  # MariaDB's own index for a foreign key: follows the constraint
        expressions = index.get("expressions") or []
        columns = tuple(
            name
            if name is not None
            else _expression(expressions[i] if i < len(expressions) else "?")
            for i, name in enumerate(index["column_names"])
        )
        options = index.get("dialect_options") or {}
        where = options.get("postgresql_where")
        if where is None:
            where = options.get("sqlite_where")  # a TextClause, which has no truth value
        specs.append(
            IndexSpec(
                table,
                columns,
                bool(index["unique"]),
                None if where is None else str(where),
                index["name"],
            )
        )
    for constraint in inspector.get_unique_constraints(table):
        specs.append(
            IndexSpec(table, tuple(constraint["column_names"]), True, None, constraint["name"])
        )
    return specs


def missing_from(
    left: Iterable[IndexSpec], right: Iterable[IndexSpec]
) -> tuple[list[IndexSpec], list[IndexSpec]]:
    """Indexes only ``left`` has, and indexes only ``right`` has (compared by ``key``)."""
    lefts, rights = _compared(left), _compared(right)
    only_left = [lefts[k] for k in sorted(set(lefts) - set(rights), key=repr)]
    only_right = [rights[k] for k in sorted(set(rights) - set(lefts), key=repr)]
    return only_left, only_right
