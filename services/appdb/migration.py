"""App-database migration: the difference between a new definition and a model's live
database, applied in one transaction.

Alembic's comparison (``produce_migrations``) finds the operations; its ``Operations`` run them
on a connection from ``make_engine``. On SQLite a table changes through a batch rebuild (copy,
drop, rename) with foreign keys off and ``PRAGMA foreign_key_check`` before the commit; the
engine makes SQLite DDL transactional, so an error or a crash leaves the previous schema.
PostgreSQL DDL is transactional as it is. MySQL/MariaDB DDL commits itself statement by
statement, so there the new schema is built beside the old one, filled, and swapped in with one
atomic RENAME TABLE (services/appdb/shadow.py).

A type change converts every stored value (services/appdb/conversion.py) or sets it to NULL,
and the plan and the answer count both; a required field refuses values that do not convert.

Destructive operations (dropping a table or column, changing a type, removing an enum member)
are refused unless allowed. Rows that cannot fit the new schema (a required field added to a
table with rows, duplicates under a new unique field, ...) raise ``Invalid``; nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.schema import conv  # a name the naming convention must not rewrite

from services.appdb import conversion as conv_values
from services.appdb.conversion import Conversion
from services.appdb.definition import Definition, validate_definition
from services.appdb.schema import Column, build_metadata, entity_columns, sa_type
from services.appdb.store import (
    AppDatabase,
    app_engine,
    create,
    ensure_schema,
    exists,
    record_definition,
    restart_feed,
    with_definition,
)
from services.db.maintenance import backup_sqlite
from services.db.migrations import compare_server_default
from services.db.parity import ColumnSpec, specs_from_database, specs_from_metadata
from services.errors import Conflict, Invalid


class DestructiveChange(Conflict):
    """The migration would lose data: ``operations`` says what; allow_destructive permits it."""

    def __init__(self, operations: list[str]) -> None:
        super().__init__(
            "the new definition needs destructive changes (pass allow_destructive=true to "
            "apply them): " + "; ".join(operations)
        )
        self.operations = operations


@dataclass
class _Unit:
    """Operations run together: one table's changes (one batch rebuild on SQLite) or one DDL."""

    ops: list[alembic_ops.MigrateOperation]
    table: str | None = None  # set for a table's changes: batch mode on SQLite
    recreate: str = "auto"
    run: Callable[[sa.Connection, sa.MetaData], None] | None = None  # rows, not DDL


@dataclass
class MigrationPlan:
    """What a migration does: readable operations, the destructive ones, and the result."""

    operations: list[str] = field(default_factory=list)
    destructive: list[str] = field(default_factory=list)
    applied: bool = False
    snapshot: Path | None = None  # the SQLite copy taken before applying
    conversions: list[Conversion] = field(default_factory=list)
    _units: list[_Unit] = field(default_factory=list, repr=False, compare=False)
    _checks: list[Callable[[sa.Connection], None]] = field(
        default_factory=list, repr=False, compare=False
    )

    @property
    def empty(self) -> bool:
        """True when the live database already matches the definition."""
        return not self.operations

    def as_dict(self) -> dict:
        """The plan as JSON-ready data (for a dry run or a migration's answer)."""
        return {
            "operations": list(self.operations),
            "destructive": list(self.destructive),
            "applied": self.applied,
            "conversions": [c.as_dict() for c in self.conversions],
        }

    def refuse_lost_required_values(self) -> None:
        """Conflict when a type change would leave a required field without a value."""
        for conversion in self.conversions:
            conversion.refuse_if_required()


# --------------------------------------------------------------------------- planning


def plan(app_db: AppDatabase, new_definition: Definition) -> MigrationPlan:
    """The operations that would bring the live database to ``new_definition`` (changes nothing)."""
    validate_definition(new_definition)
    if not exists(app_db):
        return _creation_plan(new_definition)
    engine = app_engine(app_db)
    try:
        with engine.connect() as connection:
            result = _plan(connection, new_definition)
            connection.rollback()
            return result
    finally:
        engine.dispose()


def _creation_plan(definition: Definition) -> MigrationPlan:
    result = MigrationPlan()
    for table in build_metadata(definition).sorted_tables:
        result.operations.append(f"create table {table.name}")
    return result


def _plan(connection: sa.Connection, new_definition: Definition) -> MigrationPlan:
    metadata = build_metadata(new_definition)
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": compare_server_default,
            "target_metadata": metadata,
        },
    )
    upgrade_ops = produce_migrations(context, metadata).upgrade_ops
    inspector = sa.inspect(connection)
    live = specs_from_database(connection)
    wanted = specs_from_metadata(metadata)
    dialect = connection.dialect

    creates: list[_Unit] = []
    modifies: dict[str, list[alembic_ops.MigrateOperation]] = {}
    drops = [op for op in upgrade_ops.ops if isinstance(op, alembic_ops.DropTableOp)]
    dropped = {op.table_name for op in drops}
    for op in upgrade_ops.ops:
        if isinstance(op, alembic_ops.ModifyTableOps):
            op.ops = [_fixed_names(o) for o in op.ops]
        if isinstance(op, alembic_ops.CreateTableOp):
            creates.append(_Unit([op]))
        elif isinstance(op, alembic_ops.ModifyTableOps) and op.table_name not in dropped:
            if op.table_name in live:
                modifies.setdefault(op.table_name, []).extend(op.ops)
            else:
                # Indexes of a table created just before: no rebuild needed.
                creates.append(_Unit(list(op.ops), table=op.table_name))

    # Enum members live in a CHECK that Alembic's comparison does not read: compare them here
    # and change them as a type change (drop the old CHECK, alter, add the new CHECK).
    for table, columns in wanted.items():
        for name, spec in columns.items():
            old = live.get(table, {}).get(name)
            if old is None or spec.kind != "enum" or old.kind != "enum":
                continue
            altered = any(
                isinstance(op, alembic_ops.AlterColumnOp)
                and op.column_name == name
                and op.modify_type is not None
                for op in modifies.get(table, [])
            )
            if set(spec.values or ()) != set(old.values or ()) and not altered:
                column = metadata.tables[table].c[name]
                modifies.setdefault(table, []).append(
                    alembic_ops.AlterColumnOp(
                        table,
                        name,
                        modify_type=column.type,
                        existing_type=_live_type(inspector, table, name),
                        existing_nullable=old.nullable,
                    )
                )

    result = MigrationPlan()
    for unit in creates:
        for op in unit.ops:
            _describe(result, op, live, wanted, dialect)
        result._units.append(unit)
    columns = {
        (e.name, c.name): c
        for e in new_definition.entities
        for c in entity_columns(new_definition, e)
    }
    for table in sorted(modifies):
        table_ops = sorted(modifies[table], key=_op_order)
        checks = _check_names(inspector, table)
        unit = _Unit([], table=table)
        converted = _conversions(connection, table, table_ops, live, columns)
        result.conversions.extend(converted)
        if converted:
            result._units.extend(_before_conversion(inspector, table, converted, live))
        for op in table_ops:
            _describe(result, op, live, wanted, dialect)
            if isinstance(op, (alembic_ops.DropColumnOp, alembic_ops.AlterColumnOp)):
                # A column's type CHECK (Boolean, Enum) must go before the column or its type
                # does: batch mode on SQLite would otherwise copy a CHECK on a missing column.
                changes_type = not isinstance(op, alembic_ops.AlterColumnOp) or op.modify_type
                check = f"ck_{table}_{op.column_name}"
                if changes_type and check in checks:
                    unit.ops.append(alembic_ops.DropConstraintOp(conv(check), table, type_="check"))
            is_converted = isinstance(op, alembic_ops.AlterColumnOp) and any(
                c.column == op.column_name for c in converted
            )
            if (
                isinstance(op, alembic_ops.AlterColumnOp)
                and op.modify_type is not None
                and dialect.name == "postgresql"
            ):
                new_type = op.modify_type.compile(dialect=dialect)
                # A converted column holds only NULLs by now, and no cast exists between some
                # types (boolean to date): the values come back converted afterwards.
                source = "NULL" if is_converted else f'"{op.column_name}"'
                op.kw["postgresql_using"] = f"{source}::{new_type}"
            if isinstance(op, alembic_ops.AddColumnOp) and not op.column.nullable:
                # SQLite cannot ALTER TABLE ADD a NOT NULL column without a default: rebuild.
                unit.recreate = "always"
                result._checks.append(_no_rows_check(table, op.column.name))
            if isinstance(op, alembic_ops.AlterColumnOp) and op.modify_nullable is False:
                result._checks.append(_no_nulls_check(table, op.column_name))
            if is_converted:
                # Emptied before and filled after: NULL is allowed until the values are back.
                op.existing_nullable, op.modify_nullable = True, None
            unit.ops.append(op)
        result._units.append(unit)
        if converted:
            result._units.extend(_after_conversion(table, converted))
    if drops:
        result._units.append(_Unit(_drop_ops(inspector, drops, dialect.name)))
        for op in _drop_order(inspector, drops):
            _describe(result, op, live, wanted, dialect)
    return result


def _conversions(
    connection: sa.Connection,
    table: str,
    ops: list[alembic_ops.MigrateOperation],
    live: dict[str, dict[str, ColumnSpec]],
    columns: dict[tuple[str, str], Column],
) -> list[Conversion]:
    """The table's type changes, each with its stored values converted (read, not written)."""
    found = []
    for op in ops:
        if not isinstance(op, alembic_ops.AlterColumnOp) or op.modify_type is None:
            continue
        old, new = live.get(table, {}).get(op.column_name), columns.get((table, op.column_name))
        if old is None or new is None:
            continue
        if old.kind == "enum" and new.type == "Enum":
            if not set(old.values or ()) - set(new.values or ()):
                continue  # members only added: every stored value still fits
        known = conv_values.ids_of(connection, new.target) if new.type == "Reference" else None
        conversion = Conversion(table, op.column_name, old.kind, new)
        found.append(conv_values.measure(connection, conversion, known_ids=known))
    return found


def _before_conversion(
    inspector: sa.Inspector, table: str, converted: list[Conversion], live: dict
) -> list[_Unit]:
    # Every converted column is emptied before its type changes, so no backend casts a value
    # its own way (SQLite would keep text in a DATE column): a required one is made optional
    # first, and made required again once its values are back.
    unit = _Unit([], table=table)
    for c in converted:
        if not live[table][c.column].nullable:
            unit.ops.append(
                alembic_ops.AlterColumnOp(
                    table,
                    c.column,
                    modify_nullable=True,
                    existing_type=_live_type(inspector, table, c.column),
                    existing_nullable=False,
                )
            )
    names = [c.column for c in converted]
    empty = _Unit([], run=lambda connection, _metadata: conv_values.clear(connection, table, names))
    return [unit, empty] if unit.ops else [empty]


def _after_conversion(table: str, converted: list[Conversion]) -> list[_Unit]:
    def refill(connection: sa.Connection, metadata: sa.MetaData) -> None:
        for c in converted:
            conv_values.fill(connection, metadata.tables[table], c)

    units = [_Unit([], run=refill)]
    required = [
        alembic_ops.AlterColumnOp(
            table,
            c.column,
            modify_nullable=False,
            existing_type=sa_type(c.new),
            existing_nullable=True,
        )
        for c in converted
        if c.new.required
    ]
    if required:
        units.append(_Unit(required, table=table))
    return units


def _fixed_names(op: alembic_ops.MigrateOperation) -> alembic_ops.MigrateOperation:
    """Pin names, and leave a new column's index, unique and foreign key to their own ops.

    A batch rebuild builds the new table as ``_alembic_tmp_<name>``: a name still to be made
    from the naming convention would come out as ``ix__alembic_tmp_...``. An added column
    keeps its flags otherwise, and Alembic would create its index a second time.
    """
    if isinstance(op, alembic_ops.AddColumnOp):
        col = op.column
        op.column = sa.Column(col.name, col.type.copy(), nullable=col.nullable)
    elif isinstance(op, (alembic_ops.CreateIndexOp, alembic_ops.DropIndexOp)):
        op.index_name = conv(op.index_name)
    elif (
        isinstance(op, (alembic_ops.AddConstraintOp, alembic_ops.DropConstraintOp))
        and op.constraint_name
    ):
        op.constraint_name = conv(op.constraint_name)
    return op


def _live_type(inspector: sa.Inspector, table: str, column: str) -> sa.types.TypeEngine:
    for col in inspector.get_columns(table):
        if col["name"] == column:
            return col["type"]
    raise KeyError(f"{table}.{column}")


def _check_names(inspector: sa.Inspector, table: str) -> set[str]:
    try:
        return {c["name"] for c in inspector.get_check_constraints(table) if c.get("name")}
    except NotImplementedError:
        return set()


_ORDER = (
    (alembic_ops.DropConstraintOp, 0),
    (alembic_ops.DropIndexOp, 0),
    (alembic_ops.DropColumnOp, 1),
    (alembic_ops.AlterColumnOp, 2),
    (alembic_ops.AddColumnOp, 3),
    (alembic_ops.CreateIndexOp, 4),
    (alembic_ops.AddConstraintOp, 4),
)


def _op_order(op: alembic_ops.MigrateOperation) -> int:
    # Constraints and indexes go before the columns they cover, and come back after them.
    return next((rank for kind, rank in _ORDER if isinstance(op, kind)), 5)


def _referenced(inspector: sa.Inspector, table: str) -> list[tuple[str | None, str]]:
    return [(fk.get("name"), fk["referred_table"]) for fk in inspector.get_foreign_keys(table)]


def _drop_order(inspector: sa.Inspector, drops: list[alembic_ops.DropTableOp]) -> list:
    # Tables that refer to other dropped tables go first (foreign keys may be enforced).
    by_name = {op.table_name: op for op in drops}
    refers_to = {name: {t for _, t in _referenced(inspector, name)} for name in by_name}
    ordered: list[alembic_ops.DropTableOp] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for other in sorted(by_name):
            if other != name and name in refers_to[other]:
                visit(other)
        ordered.append(by_name[name])

    for name in sorted(by_name):
        visit(name)
    return ordered


def _drop_ops(inspector: sa.Inspector, drops: list, dialect: str) -> list:
    ops: list[alembic_ops.MigrateOperation] = []
    names = {op.table_name for op in drops}
    if dialect != "sqlite":
        # Foreign keys between dropped tables could form a cycle: drop them first.
        for table in sorted(names):
            for fk_name, target in _referenced(inspector, table):
                if fk_name and target in names and target != table:
                    ops.append(
                        alembic_ops.DropConstraintOp(conv(fk_name), table, type_="foreignkey")
                    )
    return ops + _drop_order(inspector, drops)


def _no_rows_check(table: str, column: str) -> Callable[[sa.Connection], None]:
    def check(connection: sa.Connection) -> None:
        quoted = connection.dialect.identifier_preparer.quote(table)
        rows = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {quoted}").scalar()
        if rows:
            raise Invalid(
                f"cannot add required field {table}.{column}: {table} has {rows} row(s) and "
                "no value to give them; add it as optional, fill it in, then make it required"
            )

    return check


def _no_nulls_check(table: str, column: str) -> Callable[[sa.Connection], None]:
    def check(connection: sa.Connection) -> None:
        quote = connection.dialect.identifier_preparer.quote
        rows = connection.exec_driver_sql(
            f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(column)} IS NULL"
        ).scalar()
        if rows:
            raise Invalid(
                f"cannot make {table}.{column} required: {rows} row(s) have no value in it"
            )

    return check


# --------------------------------------------------------------------------- describing


def _type_text(type_: sa.types.TypeEngine | None, dialect: sa.Dialect) -> str:
    if type_ is None:
        return "?"
    try:
        return type_.compile(dialect=dialect)
    except Exception:  # noqa: BLE001 - a type this dialect cannot render: name it instead
        return type(type_).__name__


def _columns(obj) -> str:
    return ", ".join(c.name if hasattr(c, "name") else str(c) for c in obj)


def _describe(
    result: MigrationPlan,
    op: alembic_ops.MigrateOperation,
    live: dict[str, dict[str, ColumnSpec]],
    wanted: dict[str, dict[str, ColumnSpec]],
    dialect: sa.Dialect,
) -> None:
    """Append ``op`` to the plan in words, and to its destructive list when it loses data."""
    destructive = False
    if isinstance(op, alembic_ops.CreateTableOp):
        text = f"create table {op.table_name}"
    elif isinstance(op, alembic_ops.DropTableOp):
        text, destructive = f"drop table {op.table_name}", True
    elif isinstance(op, alembic_ops.AddColumnOp):
        required = "" if op.column.nullable else " (required)"
        text = f"add column {op.table_name}.{op.column.name}{required}"
    elif isinstance(op, alembic_ops.DropColumnOp):
        text, destructive = f"drop column {op.table_name}.{op.column_name}", True
    elif isinstance(op, alembic_ops.AlterColumnOp):
        where = f"{op.table_name}.{op.column_name}"
        parts = []
        old = live.get(op.table_name, {}).get(op.column_name)
        new = wanted.get(op.table_name, {}).get(op.column_name)
        if op.modify_type is not None:
            if old is not None and new is not None and old.kind == new.kind == "enum":
                added = sorted(set(new.values or ()) - set(old.values or ()))
                removed = sorted(set(old.values or ()) - set(new.values or ()))
                parts.append(
                    f"change enum members of {where}"
                    + (f": add {added}" if added else "")
                    + (f"{',' if added else ':'} remove {removed}" if removed else "")
                )
                destructive = bool(removed)
            else:
                old_text = old.type_text() if old else _type_text(op.existing_type, dialect)
                new_text = new.type_text() if new else _type_text(op.modify_type, dialect)
                parts.append(f"change type of {where} from {old_text} to {new_text}")
                destructive = True
        if op.modify_nullable is not None:
            parts.append(f"make {where} " + ("optional" if op.modify_nullable else "required"))
        if op.modify_server_default is not False:
            parts.append(f"change the server default of {where}")
        text = "; ".join(parts) or f"alter column {where}"
    elif isinstance(op, alembic_ops.CreateIndexOp):
        unique = "unique " if op.unique else ""
        text = f"create {unique}index {op.index_name} on {op.table_name} ({_columns(op.columns)})"
    elif isinstance(op, alembic_ops.DropIndexOp):
        text = f"drop index {op.index_name} on {op.table_name}"
    elif isinstance(op, alembic_ops.CreateUniqueConstraintOp):
        text = (
            f"add unique constraint {op.constraint_name} on {op.table_name} "
            f"({_columns(op.columns)})"
        )
    elif isinstance(op, alembic_ops.CreateForeignKeyOp):
        text = (
            f"add foreign key {op.constraint_name}: "
            f"{op.source_table}({_columns(op.local_cols)}) "
            f"-> {op.referent_table}({_columns(op.remote_cols)})"
        )
    elif isinstance(op, alembic_ops.CreateCheckConstraintOp):
        text = f"add check constraint {op.constraint_name} on {op.table_name}"
    elif isinstance(op, alembic_ops.DropConstraintOp):
        kind = {
            "foreignkey": "foreign key",
            "unique": "unique constraint",
            "check": "check constraint",
        }.get(op.constraint_type or "", "constraint")
        text = f"drop {kind} {op.constraint_name} on {op.table_name}"
    else:
        text = f"{type(op).__name__} on {getattr(op, 'table_name', '?')}"
    result.operations.append(text)
    if destructive:
        result.destructive.append(text)


# --------------------------------------------------------------------------- applying


def _raw_sqlite(connection: sa.Connection, sql: str) -> list:
    # PRAGMA foreign_keys only works outside a transaction: go straight to the driver,
    # which make_engine put in autocommit mode.
    cursor = connection.connection.driver_connection.cursor()
    try:
        return cursor.execute(sql).fetchall()
    finally:
        cursor.close()


def _run(connection: sa.Connection, units: list[_Unit], metadata: sa.MetaData) -> None:
    context = MigrationContext.configure(
        connection, opts={"target_metadata": metadata, "render_as_batch": True}
    )
    operations = Operations(context)
    sqlite = connection.dialect.name == "sqlite"
    for unit in units:
        if unit.run is not None:
            unit.run(connection, metadata)
        elif sqlite and unit.table is not None:
            with operations.batch_alter_table(unit.table, recreate=unit.recreate) as batch:
                for op in unit.ops:
                    batch.invoke(op)
        else:
            for op in unit.ops:
                operations.invoke(op)


def _checked_plan(
    connection: sa.Connection,
    new_definition: Definition,
    metadata: sa.MetaData,
    version: int,
    allow_destructive: bool,
) -> MigrationPlan:
    """The change's plan, checked before anything changes: recorded at once when empty
    (display names, enum labels), DestructiveChange unless allowed, rows that cannot fit
    refused."""
    result = _plan(connection, new_definition)
    if result.empty:
        record_definition(connection, metadata, new_definition, version)
        return result
    if result.destructive and not allow_destructive:
        raise DestructiveChange(result.destructive)
    for check in result._checks:
        check(connection)
    result.refuse_lost_required_values()
    return result


_ROW_ERRORS = (sa.exc.IntegrityError, sa.exc.DataError)


def apply(
    app_db: AppDatabase,
    new_definition: Definition,
    *,
    allow_destructive: bool,
    backups_dir: Path,
    version: int,
) -> MigrationPlan:
    """Bring the live database to ``new_definition`` in one transaction, after a snapshot.

    Raises DestructiveChange (a Conflict) listing the destructive operations unless
    ``allow_destructive``; Invalid when existing rows cannot fit the new schema; Conflict when
    a required field's values do not convert. On SQLite the snapshot is a backup of the file
    in ``backups_dir/<model_id>/`` (the newest few are kept); PostgreSQL takes none: the
    transaction alone guarantees all or nothing; MySQL/MariaDB build beside and swap. The same
    transaction records the definition with the model ``version`` it goes with, and restarts
    the feed when the schema changed.
    """
    validate_definition(new_definition)
    new_db = with_definition(app_db, new_definition)
    if not exists(app_db):
        result = _creation_plan(new_definition)
        create(new_db, version=version)
        result.applied = True
        return result
    metadata = build_metadata(new_definition)
    if app_db.family == "mysql":
        return _apply_by_copy(app_db, new_definition, metadata, allow_destructive, version)
    sqlite = app_db.family == "sqlite"
    engine = app_engine(app_db)
    try:
        with engine.connect() as connection:
            if sqlite:
                _raw_sqlite(connection, "PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    result = _checked_plan(
                        connection, new_definition, metadata, version, allow_destructive
                    )
                    if result.empty:
                        return result
                    if sqlite:
                        # Taken inside the read transaction: if another writer commits after
                        # it, SQLite refuses this transaction's first write (stale snapshot).
                        result.snapshot = backup_sqlite(
                            app_db.target, Path(backups_dir) / app_db.model_id, "sync"
                        )
                    ensure_schema(connection, app_db)
                    try:
                        _run(connection, result._units, metadata)
                    except _ROW_ERRORS as exc:
                        raise Invalid(
                            "the existing rows do not fit the new definition; nothing was "
                            f"changed: {_reason(exc)}"
                        ) from exc
                    except sa.exc.ProgrammingError as exc:
                        if getattr(exc.orig, "pgcode", None) != "42804":  # datatype_mismatch
                            raise
                        raise Invalid(
                            f"cannot convert the column; nothing was changed: {_reason(exc)}"
                        ) from exc
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise Invalid(
                                "the migration would leave rows pointing at missing rows; "
                                f"nothing was changed: {broken[:5]}"
                            )
                    left = _plan(connection, new_definition)
                    if not left.empty:
                        raise RuntimeError(f"migration left differences: {left.operations}")
                    record_definition(connection, metadata, new_definition, version)
                    restart_feed(connection, metadata)
                    result.applied = True
            finally:
                if sqlite:
                    if connection.in_transaction():
                        connection.rollback()
                    _raw_sqlite(connection, "PRAGMA foreign_keys=ON")
    finally:
        engine.dispose()
    return result


def _apply_by_copy(
    app_db: AppDatabase,
    new_definition: Definition,
    metadata: sa.MetaData,
    allow_destructive: bool,
    version: int,
) -> MigrationPlan:
    """MySQL/MariaDB: plan with row writes frozen, then build beside, copy, verify and swap
    (services/appdb/shadow.py); the same guard and conversion rules as the other backends."""
    from services.appdb import shadow

    shadow.recover(app_db)  # a crash mid-change left a copy beside the database
    shadow.freeze(app_db)
    try:
        engine = app_engine(app_db)
        try:
            with engine.connect() as connection, connection.begin():
                result = _checked_plan(
                    connection, new_definition, metadata, version, allow_destructive
                )
                if result.empty:
                    return result
        finally:
            engine.dispose()  # no transaction may stay open: the swap waits for every one
        try:
            shadow.build_and_swap(app_db, new_definition, result, metadata, version)
        except _ROW_ERRORS as exc:
            raise Invalid(
                f"the existing rows do not fit the new definition; nothing was changed: "
                f"{_reason(exc)}"
            ) from exc
        result.applied = True
        return result
    finally:
        shadow.thaw(app_db)  # after a swap the frozen row left with the old tables


def _reason(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
