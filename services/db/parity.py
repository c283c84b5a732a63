"""The parity check: SQLAlchemy models, the migrated database and the PyDAL tables must agree.

Four comparisons, each yielding findings that name the table, the column, both sides and the fix:

(a) models vs migrations: Alembic's ``compare_metadata`` (what ``alembic check`` runs, server
    defaults included) on a freshly migrated database, plus enum members, which Alembic misses;
(b) models vs PyDAL tables;
(c) the live database vs PyDAL tables;
(d) a value round trip: every column written by one layer reads back equal through the other,
    and an equality query on it finds the same rows from both.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydal import DAL
from pydal.objects import Field, Table

from services.db.types import KindType

# Kinds whose stock PyDAL type stores values differently from SQLAlchemy (DUAL_LAYER.md).
_NEEDS_KIND_TYPE = {"uuid", "boolean", "datetime", "json", "enum"}
_FACTORY = {k: f"services.db.types.{k}_type()" for k in _NEEDS_KIND_TYPE}


@dataclass(frozen=True)
class ColumnSpec:
    """One column as one side sees it, reduced to what both layers must agree on."""

    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] | None = None
    nullable: bool = True
    primary_key: bool = False
    unique: bool = False
    references: str | None = None  # "table.column"
    ondelete: str | None = None  # upper case; None means NO ACTION
    python_default: bool = False
    server_default: bool = False
    stock_pydal_type: bool = False

    def type_text(self) -> str:
        """The kind with its size, for messages."""
        if self.kind == "string" and self.length:
            return f"string({self.length})"
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "enum":
            return f"enum{list(self.values or ())}"
        return self.kind


TableSpecs = dict[str, dict[str, ColumnSpec]]


@dataclass(frozen=True)
class Finding:
    """One difference, with enough context to fix it."""

    check: str
    table: str
    column: str | None
    aspect: str
    left: str
    right: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return (
            f"[{self.check}] {where}: {self.aspect} differs: {self.left}; {self.right}. "
            f"Fix: {self.fix}"
        )


@dataclass
class ParityReport:
    """All findings of one parity run, and what was compared."""

    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.findings

    def render(self) -> str:
        """A human report: one line per finding, or a clean summary."""
        lines = [f"parity: {len(self.tables)} tables ({', '.join(self.tables)})"]
        lines += [f"  checked: {c}" for c in self.checks]
        if self.ok:
            lines.append("parity: OK, models, migrations, database and PyDAL tables agree")
        else:
            lines += [f"  {f}" for f in self.findings]
            lines.append(f"parity: {len(self.findings)} difference(s)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading each side


def _ondelete(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return None if value in ("", "NO ACTION") else value


def kind_of_sa_type(type_: sa.types.TypeEngine, family: str | None = None) -> ColumnSpec:
    """Classify a SQLAlchemy type (declared or reflected) into a ColumnSpec's type fields."""
    name = type(type_).__name__.upper()
    if isinstance(type_, sa.Enum) or name == "ENUM":
        return ColumnSpec("enum", values=tuple(getattr(type_, "enums", ()) or ()))
    if isinstance(type_, sa.Boolean):
        return ColumnSpec("boolean")
    if family == "mysql" and name == "TINYINT" and getattr(type_, "display_width", None) == 1:
        return ColumnSpec("boolean")
    if isinstance(type_, sa.Uuid) or name == "UUID":
        return ColumnSpec("uuid")
    if isinstance(type_, sa.JSON) or name in ("JSON", "JSONB"):
        return ColumnSpec("json")
    if (
        family == "mysql"
        and name == "LONGTEXT"
        and getattr(type_, "collation", "") == "utf8mb4_bin"
    ):
        # MariaDB's JSON is LONGTEXT with a binary collation and a json_valid() CHECK.
        return ColumnSpec("json")
    if isinstance(type_, sa.DateTime):
        return ColumnSpec("datetime")
    if isinstance(type_, sa.Date):
        return ColumnSpec("date")
    if isinstance(type_, sa.BigInteger):
        return ColumnSpec("bigint")
    if isinstance(type_, sa.Integer):
        return ColumnSpec("integer")
    if isinstance(type_, sa.Float) or name in ("REAL", "DOUBLE", "DOUBLE_PRECISION"):
        return ColumnSpec("float")
    if isinstance(type_, sa.Numeric):
        return ColumnSpec("decimal", precision=type_.precision, scale=type_.scale)
    if isinstance(type_, sa.Text) or name in ("CLOB", "MEDIUMTEXT", "LONGTEXT", "TINYTEXT"):
        return ColumnSpec("text")
    if isinstance(type_, sa.String):
        length = type_.length
        if family in ("sqlite", "mysql") and name == "CHAR" and length == 32:
            # SQLAlchemy stores Uuid as CHAR(32) where there is no native type.
            return ColumnSpec("uuid")
        return ColumnSpec("string", length=length)
    return ColumnSpec(f"unknown:{type(type_).__name__}")


def _single_column_uniques(table: sa.Table) -> set[str]:
    names = {c.name for c in table.columns if c.unique}
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1:
            names.add(next(iter(constraint.columns)).name)
    for index in table.indexes:
        if index.unique and len(index.columns) == 1:
            names.add(next(iter(index.columns)).name)
    return names


def specs_from_metadata(metadata: sa.MetaData) -> TableSpecs:
    """What the SQLAlchemy models declare."""
    specs: TableSpecs = {}
    for table in metadata.sorted_tables:
        uniques = _single_column_uniques(table)
        cols: dict[str, ColumnSpec] = {}
        for col in table.columns:
            fk = next(iter(col.foreign_keys), None)
            cols[col.name] = replace(
                kind_of_sa_type(col.type),
                nullable=bool(col.nullable),
                primary_key=col.primary_key,
                unique=col.name in uniques and not col.primary_key,
                references=f"{fk.column.table.name}.{fk.column.name}" if fk is not None else None,
                ondelete=_ondelete(fk.ondelete) if fk is not None else None,
                python_default=col.default is not None,
                server_default=col.server_default is not None,
            )
        specs[table.name] = cols
    return specs


# PostgreSQL reflects "col IN ('a', 'b')" as
# "(col)::text = ANY ((ARRAY['a'::character varying, ...".
_ANY_ARRAY = re.compile(r"""^\W*(\w+)\)?::text\s*=\s*ANY\s*\(+ARRAY\[(.*)\]""", re.DOTALL)
_IN_LIST = re.compile(r"""^\W*(\w+)\W*\s+in\s*\((.*)\)\W*$""", re.IGNORECASE | re.DOTALL)


def _enum_checks(inspector: sa.Inspector, table: str) -> dict[str, tuple[str, ...]]:
    # Non-native enums are VARCHAR + CHECK (col IN ('a', 'b')); read the members back.
    found: dict[str, tuple[str, ...]] = {}
    try:
        checks = inspector.get_check_constraints(table)
    except NotImplementedError:
        return found
    for check in checks:
        text = check.get("sqltext") or ""
        m = _IN_LIST.match(text) or _ANY_ARRAY.match(text)
        if m and "'" in m.group(2):
            found[m.group(1)] = tuple(re.findall(r"'((?:[^']|'')*)'", m.group(2)))
    return found


_JSON_VALID = re.compile(r"^\s*json_valid\(`((?:[^`]|``)+)`\)\s*$", re.IGNORECASE)


def _mariadb_json_columns(connection: sa.Connection, table: str) -> set[str]:
    # MariaDB's JSON is LONGTEXT plus a column-level CHECK (json_valid(`col`)). SQLAlchemy's
    # reflection returns neither that CHECK nor the collation when it is the database default
    # (scratch.create_database makes utf8mb4_bin databases), so ask information_schema.
    if not getattr(connection.dialect, "is_mariadb", False):
        return set()
    rows = connection.execute(
        sa.text(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = :table"
        ),
        {"table": table},
    )
    return {m.group(1).replace("``", "`") for (clause,) in rows if (m := _JSON_VALID.match(clause))}


def specs_from_database(connection: sa.Connection, *, exclude: Iterable[str] = ()) -> TableSpecs:
    """What the live database has, reflected."""
    family = {"postgresql": "postgresql", "sqlite": "sqlite"}.get(connection.dialect.name, "mysql")
    inspector = sa.inspect(connection)
    specs: TableSpecs = {}
    skip = {"alembic_version", *exclude}
    for table in sorted(inspector.get_table_names()):
        if table in skip:
            continue
        pk = set(inspector.get_pk_constraint(table).get("constrained_columns") or ())
        uniques = {
            u["column_names"][0]
            for u in inspector.get_unique_constraints(table)
            if len(u["column_names"]) == 1
        }
        uniques |= {
            i["column_names"][0]
            for i in inspector.get_indexes(table)
            if i.get("unique") and len(i["column_names"]) == 1
        }
        fks = {}
        for fk in inspector.get_foreign_keys(table):
            if len(fk["constrained_columns"]) == 1:
                target = f"{fk['referred_table']}.{fk['referred_columns'][0]}"
                ondelete = _ondelete((fk.get("options") or {}).get("ondelete"))
                fks[fk["constrained_columns"][0]] = (target, ondelete)
        enums = _enum_checks(inspector, table)
        json_columns = _mariadb_json_columns(connection, table) if family == "mysql" else set()
        cols: dict[str, ColumnSpec] = {}
        for col in inspector.get_columns(table):
            spec = kind_of_sa_type(col["type"], family)
            if spec.kind == "string" and col["name"] in enums:
                spec = ColumnSpec("enum", values=enums[col["name"]])
            if spec.kind == "text" and col["name"] in json_columns:
                spec = ColumnSpec("json")
            target, ondelete = fks.get(col["name"], (None, None))
            cols[col["name"]] = replace(
                spec,
                nullable=bool(col["nullable"]) and col["name"] not in pk,
                primary_key=col["name"] in pk,
                unique=col["name"] in uniques and col["name"] not in pk,
                references=target,
                ondelete=ondelete,
                server_default=col.get("default") is not None,
            )
        specs[table] = cols
    return specs


_PYDAL_KINDS = {
    "string": "string",
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "double": "float",
    "float": "float",
    "boolean": "boolean",
    "datetime": "datetime",
    "date": "date",
    "json": "json",
    "id": "integer",
}


def _pydal_field_spec(table: Table, fld: Field) -> ColumnSpec:
    ftype = fld.type
    references = None
    stock = False
    if isinstance(ftype, KindType):
        spec = ColumnSpec(ftype.kind, values=ftype.values)
        references = ftype.references
    elif isinstance(ftype, str) and ftype.startswith("decimal"):
        precision, scale = (int(x) for x in ftype[8:-1].split(","))
        spec = ColumnSpec("decimal", precision=precision, scale=scale)
    elif isinstance(ftype, str) and ftype.startswith("reference "):
        target = ftype[10:].strip()
        references = target if "." in target else f"{target}.id"
        spec = ColumnSpec("integer")
    else:
        spec = ColumnSpec(_PYDAL_KINDS.get(str(ftype), f"unknown:{ftype}"))
        stock = True
    if spec.kind == "string":
        spec = replace(spec, length=fld.length)
    pk = fld.name in (getattr(table, "_primarykey", None) or ["id"])
    return replace(
        spec,
        nullable=not fld.notnull and not pk,
        primary_key=pk,
        unique=bool(fld.unique) and not pk,
        references=references,
        ondelete=_ondelete(fld.ondelete) if references else None,
        python_default=fld.default is not None,
        stock_pydal_type=stock,
    )


def specs_from_pydal(db: DAL) -> TableSpecs:
    """What the PyDAL table definitions declare."""
    return {
        name: {fld.name: _pydal_field_spec(db[name], fld) for fld in db[name]} for name in db.tables
    }


# --------------------------------------------------------------------------- comparing sides


def _aspects(left: ColumnSpec, right: ColumnSpec) -> Iterator[tuple[str, str, str]]:
    if left.kind != right.kind:
        yield "type", left.type_text(), right.type_text()
        return
    if left.kind == "string" and left.length != right.length:
        yield "length", str(left.length), str(right.length)
    if left.kind == "decimal" and (left.precision, left.scale) != (right.precision, right.scale):
        yield "precision", left.type_text(), right.type_text()
    if left.kind == "enum" and set(left.values or ()) != set(right.values or ()):
        yield "enum members", str(sorted(left.values or ())), str(sorted(right.values or ()))
    if left.nullable != right.nullable:
        yield "nullability", _null(left), _null(right)
    if left.primary_key != right.primary_key:
        yield "primary key", _yes(left.primary_key), _yes(right.primary_key)
    if left.unique != right.unique:
        yield "uniqueness", _yes(left.unique, "unique"), _yes(right.unique, "unique")
    if left.references != right.references:
        yield "foreign key target", str(left.references), str(right.references)
    elif left.references and left.ondelete != right.ondelete:
        yield "ON DELETE", left.ondelete or "NO ACTION", right.ondelete or "NO ACTION"


def _null(spec: ColumnSpec) -> str:
    return "nullable" if spec.nullable else "NOT NULL"


def _yes(flag: bool, word: str = "yes") -> str:
    return word if flag else f"not {word}" if word != "yes" else "no"


def _compare(
    check: str,
    left: TableSpecs,
    right: TableSpecs,
    left_name: str,
    right_name: str,
    fix_for: Callable[[str, str | None, str], str],
) -> list[Finding]:
    findings = []
    for table in sorted(set(left) | set(right)):
        if table not in right:
            findings.append(
                Finding(
                    check,
                    table,
                    None,
                    "table set",
                    f"{left_name} has table {table}",
                    f"{right_name} has none",
                    fix_for(table, None, "missing-right"),
                )
            )
            continue
        if table not in left:
            findings.append(
                Finding(
                    check,
                    table,
                    None,
                    "table set",
                    f"{left_name} has no table {table}",
                    f"{right_name} has it",
                    fix_for(table, None, "missing-left"),
                )
            )
            continue
        lcols, rcols = left[table], right[table]
        for col in sorted(set(lcols) | set(rcols)):
            if col not in rcols:
                findings.append(
                    Finding(
                        check,
                        table,
                        col,
                        "column set",
                        f"{left_name} has column {col}",
                        f"{right_name} has none",
                        fix_for(table, col, "missing-right"),
                    )
                )
            elif col not in lcols:
                findings.append(
                    Finding(
                        check,
                        table,
                        col,
                        "column set",
                        f"{left_name} has no column {col}",
                        f"{right_name} has it",
                        fix_for(table, col, "missing-left"),
                    )
                )
            else:
                for aspect, lv, rv in _aspects(lcols[col], rcols[col]):
                    findings.append(
                        Finding(
                            check,
                            table,
                            col,
                            aspect,
                            f"{left_name} says {lv}",
                            f"{right_name} says {rv}",
                            fix_for(table, col, aspect),
                        )
                    )
    return findings


def compare_models_to_pydal(metadata: sa.MetaData, db: DAL) -> list[Finding]:
    """(b) The models against the PyDAL tables, including defaults PyDAL must repeat."""
    models, pydal = specs_from_metadata(metadata), specs_from_pydal(db)

    def fix(table: str, col: str | None, aspect: str) -> str:
        if col is None:
            return (
                f"define table {table!r} in services/db/tables.py"
                if aspect == "missing-right"
                else f"remove PyDAL table {table!r} or add a model"
            )
        if aspect == "missing-right":
            return f"add Field({col!r}, ...) to PyDAL table {table!r}"
        if aspect == "missing-left":
            return (
                f"remove Field {col!r} from PyDAL table {table!r}, "
                "or add it to the model and migrate"
            )
        return f"make PyDAL field {table}.{col} match the model ({aspect})"

    findings = _compare("models-vs-pydal", models, pydal, "model", "PyDAL", fix)
    for table, cols in models.items():
        for col, spec in cols.items():
            other = pydal.get(table, {}).get(col)
            if other is None:
                continue
            if spec.kind in _NEEDS_KIND_TYPE and other.stock_pydal_type:
                findings.append(
                    Finding(
                        "models-vs-pydal",
                        table,
                        col,
                        "storage format",
                        f"model stores {spec.kind} the SQLAlchemy way",
                        f"PyDAL uses its stock {spec.kind!r} type, which stores it differently",
                        f"use {_FACTORY[spec.kind]} for {table}.{col}",
                    )
                )
            if (
                spec.python_default
                and not spec.nullable
                and not spec.server_default
                and not other.python_default
            ):
                findings.append(
                    Finding(
                        "models-vs-pydal",
                        table,
                        col,
                        "Python-side default",
                        "model fills it in Python (NOT NULL, no server default)",
                        "PyDAL field has no default, so every PyDAL insert without it fails",
                        f"give PyDAL field {table}.{col} the model's default",
                    )
                )
    return findings


def compare_database_to_pydal(connection: sa.Connection, db: DAL) -> list[Finding]:
    """(c) The live database against the PyDAL tables."""
    live, pydal = specs_from_database(connection), specs_from_pydal(db)

    def fix(table: str, col: str | None, aspect: str) -> str:
        if col is None:
            return (
                "migrate the database (python -m app migrate) or drop the PyDAL table"
                if aspect == "missing-left"
                else f"define PyDAL table {table!r}"
            )
        if aspect == "missing-left":
            return (
                f"queries on {table}.{col} fail with 'no such column': "
                "migrate the database or remove the field"
            )
        if aspect == "missing-right":
            return f"add Field({col!r}, ...) to PyDAL table {table!r}"
        return f"make PyDAL field {table}.{col} match the database ({aspect}), or migrate"

    findings = _compare("database-vs-pydal", live, pydal, "database", "PyDAL", fix)
    for table, cols in live.items():
        for col, spec in cols.items():
            if (
                col not in pydal.get(table, {col: None})
                and not spec.nullable
                and not spec.server_default
            ):
                findings.append(
                    Finding(
                        "database-vs-pydal",
                        table,
                        col,
                        "insertability",
                        "database column is NOT NULL with no server default",
                        "PyDAL does not know the column, so every PyDAL insert fails",
                        f"add Field({col!r}, ..., default=...) to PyDAL table {table!r}",
                    )
                )
    return findings


def compare_models_to_database(metadata: sa.MetaData, connection: sa.Connection) -> list[Finding]:
    """(a) The models against a freshly migrated database, as ``alembic check`` compares them."""
    # Imported here: Alembic's autogenerate machinery is not needed for a start-up check.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from services.db.migrations import AUTOGENERATE_PLUGINS, compare_server_default

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": compare_server_default,
            "autogenerate_plugins": AUTOGENERATE_PLUGINS,
            "target_metadata": metadata,
        },
    )
    findings = [_diff_finding(diff) for diff in _flatten(compare_metadata(context, metadata))]
    # compare_metadata does not see enum members; compare those from reflection.
    models, live = specs_from_metadata(metadata), specs_from_database(connection)
    for table, cols in models.items():
        for col, spec in cols.items():
            other = live.get(table, {}).get(col)
            if (
                spec.kind == "enum"
                and other is not None
                and other.kind == "enum"
                and set(spec.values or ()) != set(other.values or ())
            ):
                findings.append(
                    Finding(
                        "models-vs-migrations",
                        table,
                        col,
                        "enum members",
                        f"model says {sorted(spec.values or ())}",
                        f"migrated database says {sorted(other.values or ())}",
                        "write a revision that alters the enum (autogenerate does not see members)",
                    )
                )
    return findings


def _flatten(diffs: list) -> Iterator[tuple]:
    for diff in diffs:
        if isinstance(diff, list):
            yield from diff
        else:
            yield diff


def _diff_finding(diff: tuple) -> Finding:
    op = diff[0]
    fix = "autogenerate a revision (alembic revision --autogenerate) and review it"
    if op in ("add_table", "remove_table"):
        table = diff[1].name
        side = (
            ("model has it", "migrations do not create it")
            if op == "add_table"
            else ("model has none", "migrations create it")
        )
        return Finding("models-vs-migrations", table, None, "table set", *side, fix)
    if op in ("add_column", "remove_column"):
        table, column = diff[2], diff[3]
        side = (
            ("model has it", "migrated database has none")
            if op == "add_column"
            else ("model has none", "migrated database has it")
        )
        return Finding("models-vs-migrations", table, column.name, "column set", *side, fix)
    if op.startswith("modify_"):
        table, column = diff[2], diff[3]
        aspect = {
            "modify_type": "type",
            "modify_nullable": "nullability",
            "modify_default": "server default",
            "modify_comment": "comment",
        }.get(op, op)
        return Finding(
            "models-vs-migrations",
            table,
            column,
            aspect,
            f"model says {diff[6]!r}",
            f"migrated database says {diff[5]!r}",
            fix,
        )
    if op in (
        "add_index",
        "remove_index",
        "add_constraint",
        "remove_constraint",
        "add_fk",
        "remove_fk",
    ):
        obj = diff[1]
        table = (
            getattr(getattr(obj, "table", None), "name", None) or getattr(obj, "parent", obj).name
        )
        cols = ",".join(c.name for c in getattr(obj, "columns", [])) or None
        what = op.split("_", 1)[1]
        side = (
            (f"model has {what} {obj.name}", "migrated database lacks it")
            if op.startswith("add")
            else (f"model lacks {what} {obj.name}", "migrated database has it")
        )
        return Finding("models-vs-migrations", table, cols, what, *side, fix)
    return Finding("models-vs-migrations", "?", None, op, repr(diff), "", fix)


# --------------------------------------------------------------------------- value round trip


def _sample(spec: ColumnSpec, column: sa.Column, n: int) -> Any:
    kind = spec.kind
    if kind == "uuid":
        return uuid.UUID(int=(0x1234 << 96) + n)
    if kind == "boolean":
        return n % 2 == 0
    if kind == "datetime":
        return datetime(2024, 2, 29, 23, 59, 58, 123456 + n)
    if kind == "date":
        return date(2024, 2, 28 + n % 2)
    if kind == "json":
        return {"n": n, "list": [1, "two", None, True], "text": "O'Brien ✓"}
    if kind == "enum":
        return (spec.values or ("?",))[n % len(spec.values or ("?",))]
    if kind in ("integer", "bigint"):
        return (2**40 if kind == "bigint" else 2**30) + n
    if kind == "float":
        return 1.5 + n
    if kind == "decimal":
        return Decimal("12.34") + n
    if kind == "text":
        return f"line one\nO'Brien's \"text\" ✓ {n}"
    length = spec.length or 255
    return f"O'B ✓ {n}"[:length]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
        try:
            return abs(float(a) - float(b)) < 1e-6
        except (TypeError, ValueError):
            return False
    if isinstance(a, uuid.UUID) or isinstance(b, uuid.UUID):
        return str(a).replace("-", "") == str(b).replace("-", "")
    return a == b


def _row_values(
    table: sa.Table, specs: dict[str, ColumnSpec], n: int, parents: dict[str, list[Any]]
) -> dict[str, Any]:
    values = {}
    for col in table.columns:
        if col.computed is not None:
            continue  # generated by the database (user.email_key): neither layer writes it
        spec = specs[col.name]
        if spec.references:
            parent_rows = parents.get(spec.references, [])
            if not parent_rows:
                continue
            values[col.name] = parent_rows[n % len(parent_rows)]
        else:
            values[col.name] = _sample(spec, col, n)
    return values


def round_trip(metadata: sa.MetaData, engine: sa.Engine, db: DAL) -> list[Finding]:
    """(d) Write with each layer, read with the other, and query each column for equality.

    Run on a scratch database: it inserts two rows per table (one per writer) and leaves them.
    """
    findings: list[Finding] = []
    specs = specs_from_metadata(metadata)
    parents: dict[str, list[Any]] = {}
    for table in metadata.sorted_tables:
        if table.name not in db.tables:
            continue
        pdt = db[table.name]
        pk = [c.name for c in table.primary_key.columns]
        if len(pk) != 1:
            continue
        key = pk[0]
        sa_row = _row_values(table, specs[table.name], 0, parents)
        pd_row = _row_values(table, specs[table.name], 1, parents)

        with engine.begin() as conn:
            conn.execute(table.insert().values(**sa_row))
        # Children reference the SQLAlchemy-written row even if the PyDAL insert fails below.
        for col in table.columns:
            parents[f"{table.name}.{col.name}"] = [sa_row.get(col.name)]
        try:
            pdt.insert(**pd_row)
            db.commit()
        except Exception as exc:  # noqa: BLE001 - report the failing insert as a finding
            db.rollback()
            findings.append(
                Finding(
                    "round-trip",
                    table.name,
                    None,
                    "PyDAL insert",
                    "SQLAlchemy inserts a full row",
                    f"PyDAL insert failed: {exc}",
                    "make the PyDAL table match the database",
                )
            )
            continue
        for col, value in sa_row.items():
            if col in pdt.fields:
                rows = db(pdt[key] == sa_row[key]).select(pdt[col])
                got = rows[0][col] if rows else "<no row>"
                if not _equal(got, value):
                    findings.append(
                        Finding(
                            "round-trip",
                            table.name,
                            col,
                            "value written by SQLAlchemy",
                            f"SQLAlchemy wrote {value!r}",
                            f"PyDAL read {got!r}",
                            f"give {table.name}.{col} a PyDAL type that decodes "
                            "SQLAlchemy's storage "
                            f"({_FACTORY.get(specs[table.name][col].kind, 'a matching type')})",
                        )
                    )
        with engine.connect() as conn:
            got_row = conn.execute(sa.select(table).where(table.c[key] == pd_row[key])).first()
        for col, value in pd_row.items():
            got = getattr(got_row, col) if got_row is not None else "<no row>"
            if not _equal(got, value):
                findings.append(
                    Finding(
                        "round-trip",
                        table.name,
                        col,
                        "value written by PyDAL",
                        f"PyDAL wrote {value!r}",
                        f"SQLAlchemy read {got!r}",
                        f"give {table.name}.{col} a PyDAL type that encodes SQLAlchemy's storage "
                        f"({_FACTORY.get(specs[table.name][col].kind, 'a matching type')})",
                    )
                )
        # One connection for all of this table's equality queries (NullPool would reconnect).
        with engine.connect() as conn:
            findings += _equality_findings(
                table, specs[table.name], key, (sa_row, pd_row), db, conn
            )
        db.commit()
        parents.update({f"{table.name}.{key}": [sa_row[key], pd_row[key]]})
        for col in table.columns:
            parents[f"{table.name}.{col.name}"] = [sa_row.get(col.name), pd_row.get(col.name)]
    return findings


def _equality_findings(table, specs, key, rows, db, conn) -> list[Finding]:
    """Equality queries on every column find the same rows through both layers."""
    findings = []
    pdt = db[table.name]
    for row in rows:
        for col, value in row.items():
            if col not in pdt.fields or specs[col].kind in ("json", "float"):
                continue  # equality on JSON and float columns is not portable SQL
            found_pd = {r[key] for r in db(pdt[col] == value).select(pdt[key])}
            found_sa = {
                r[0] for r in conn.execute(sa.select(table.c[key]).where(table.c[col] == value))
            }
            norm = lambda ids: {str(i).replace("-", "") for i in ids}  # noqa: E731
            if norm(found_pd) != norm(found_sa) or not found_sa:
                same = "same" if norm(found_pd) == norm(found_sa) else "different"
                findings.append(
                    Finding(
                        "round-trip",
                        table.name,
                        col,
                        "equality query",
                        f"SQLAlchemy finds {len(found_sa)} row(s) for {value!r}",
                        f"PyDAL finds {len(found_pd)} ({same} rows)",
                        f"make {table.name}.{col}'s PyDAL encoder write the SQLAlchemy form "
                        f"({_FACTORY.get(specs[col].kind, 'a matching type')})",
                    )
                )
    return findings


# --------------------------------------------------------------------------- the whole check


def run_parity(
    target,
    *,
    metadata: sa.MetaData | None = None,
    define: Callable[[DAL, str], None] | None = None,
) -> ParityReport:
    """Run (a) to (d) for ``target``; (a) and (d) on a scratch database migrated to head."""
    from services.db import migrations, models, tables
    from services.db.dal import open_dal
    from services.db.engine import make_engine
    from services.db.scratch import scratch_database

    metadata = metadata if metadata is not None else models.metadata
    define = define or tables.define_tables
    report = ParityReport(tables=[t.name for t in metadata.sorted_tables])

    def dal_for(t):
        db = open_dal(t, define=False)
        define(db, t.family)
        return db

    live_db = dal_for(target)
    engine = make_engine(target)
    try:
        report.findings += compare_models_to_pydal(metadata, live_db)
        report.checks.append("(b) models vs PyDAL tables")
        with engine.connect() as conn:
            report.findings += compare_database_to_pydal(conn, live_db)
        report.checks.append(f"(c) live database ({target.render()}) vs PyDAL tables")
    finally:
        live_db.close()
        engine.dispose()

    with scratch_database(target, prefix="parity") as scratch:
        migrations.upgrade(scratch)
        engine = make_engine(scratch)
        scratch_db = dal_for(scratch)
        try:
            with engine.connect() as conn:
                report.findings += compare_models_to_database(metadata, conn)
            report.checks.append("(a) models vs a freshly migrated database (alembic check)")
            report.findings += round_trip(metadata, engine, scratch_db)
            report.checks.append("(d) value round trip and equality queries, both directions")
        finally:
            scratch_db.close()
            engine.dispose()
    return report
