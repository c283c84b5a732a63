"""Parity guides the schema workflow: at each state (models changed, migration written, migration
applied, PyDAL mirrored) it reports plain findings whose first fix names the next command, and
never raises. Walked for an added column, a dropped column, an added index and a type change, on
every backend, with a migration really written by ``alembic revision --autogenerate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydal import DAL, Field

from alembic import command
from services.db import migrations, models
from services.db.engine import make_engine
from services.db.indexes import copy_indexes, declare_index
from services.db.parity import ParityReport, run_parity
from services.db.tables import define_tables


def changed_models(change: Callable[[sa.MetaData], None]) -> sa.MetaData:
    """A copy of the real models with one change made, as a developer edits models.py."""
    copy = sa.MetaData(naming_convention=models.NAMING_CONVENTION)
    for table in models.metadata.sorted_tables:
        table.to_metadata(copy)
    change(copy)
    return copy


Fields = dict[str, list[Field]]


def mirrored_tables(change: Callable[[DAL, Fields], None]):
    """services.db.tables.define_tables with fields (or index declarations) changed, as a
    developer edits tables.py; ``change`` is called before and after the tables are defined."""

    def define(db: DAL, family: str) -> None:
        real = DAL(None)  # no connection: holds the real definitions to copy from
        try:
            define_tables(real, family)
            fields = {name: [f.clone() for f in real[name]] for name in real.tables}
            change(db, fields)
            for name in real.tables:
                keys = getattr(real[name], "_primarykey", None)
                db.define_table(name, *fields[name], primarykey=keys, migrate=False)
                copy_indexes(real[name], db[name])
            change(db, {})
        finally:
            real.close()

    return define


def _item_field(fields: Fields, name: str) -> int:
    return next(i for i, f in enumerate(fields["item"]) if f.name == name)


@dataclass
class Change:
    id: str
    model: Callable[[sa.MetaData], None]
    pydal: Callable[[DAL, Fields], None]
    column: str  # the findings' column
    aspect: str  # of the models-vs-migrations finding
    autogenerate_message: str  # what the first step's fix tells the developer to run
    mirror_fix: str  # what the third step's fix tells the developer to do
    mirror_aspect: str = ""  # of the models-vs-pydal finding, when not ``aspect``


def _add_priority(md: sa.MetaData) -> None:
    md.tables["item"].append_column(sa.Column("priority", sa.Integer, nullable=True))


def _mirror_priority(db: DAL, fields: Fields) -> None:
    if fields:
        fields["item"].append(Field("priority", "integer"))


def _drop_description(md: sa.MetaData) -> None:
    item = md.tables["item"]
    item._columns.remove(item.c.description)


def _mirror_dropped_description(db: DAL, fields: Fields) -> None:
    if fields:
        del fields["item"][_item_field(fields, "description")]


def _index_title(md: sa.MetaData) -> None:
    sa.Index("ix_item_title", md.tables["item"].c.title)


def _mirror_index_title(db: DAL, fields: Fields) -> None:
    if not fields:  # once the table is defined
        declare_index(db.item, "title")


def _longer_title(md: sa.MetaData) -> None:
    md.tables["item"].c.title.type = sa.String(400)


def _mirror_longer_title(db: DAL, fields: Fields) -> None:
    if fields:
        fields["item"][_item_field(fields, "title")] = Field(
            "title", "string", length=400, notnull=True
        )


CHANGES = [
    Change(
        "added column",
        _add_priority,
        _mirror_priority,
        "priority",
        "column set",
        'alembic revision --autogenerate -m "add item.priority"',
        "add Field('priority', ...) to PyDAL table 'item'",
    ),
    Change(
        "dropped column",
        _drop_description,
        _mirror_dropped_description,
        "description",
        "column set",
        'alembic revision --autogenerate -m "drop item.description"',
        "remove Field 'description' from PyDAL table 'item'",
    ),
    Change(
        "added index",
        _index_title,
        _mirror_index_title,
        "title",
        "index",
        'alembic revision --autogenerate -m "add index on item(title)"',
        "mirror it: declare_index(db.item, 'title') in services/db/tables.py",
    ),
    Change(
        "type change",
        _longer_title,
        _mirror_longer_title,
        "title",
        "type",
        'alembic revision --autogenerate -m "change type of item.title"',
        "make PyDAL field item.title match the model (length)",
        "length",
    ),
]


def _where(report: ParityReport) -> set[tuple[str, str, str | None, str]]:
    return {(f.check, f.table, f.column, f.aspect) for f in report.findings}


def _write_migration(target, metadata: sa.MetaData, folder: Path, message: str) -> Path:
    """What ``alembic revision --autogenerate -m MESSAGE`` does, with the changed models."""
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            config = migrations.alembic_config(
                connection, versions=folder, target_metadata=metadata
            )
            command.revision(config, message=message, autogenerate=True, version_path=str(folder))
    finally:
        engine.dispose()
    (written,) = folder.glob("*.py")
    return written


@pytest.mark.slow
@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.id)
def test_parity_walks_the_schema_workflow(migrated_target, tmp_path, change):
    target, versions = migrated_target, tmp_path / "versions"
    versions.mkdir()
    metadata = changed_models(change.model)
    mirrored = mirrored_tables(change.pydal)

    # 1. The model changed, nothing else: write the migration.
    report = run_parity(target, metadata=metadata, versions=versions)
    assert ("models-vs-migrations", "item", change.column, change.aspect) in _where(report)
    assert report.next_step is not None and change.autogenerate_message in report.next_step
    rendered = report.render()
    assert f"next: write the migration: {change.autogenerate_message}" in rendered
    assert "Traceback" not in rendered

    # 2. The migration is written, not applied: apply it.
    message = change.autogenerate_message.split('"')[1]
    written = _write_migration(target, metadata, versions, message)
    assert "def downgrade" in written.read_text(encoding="utf-8")
    report = run_parity(target, metadata=metadata, versions=versions)
    assert ("database-vs-migrations", "alembic_version", None, "revision") in _where(report)
    assert not any(f.check == "models-vs-migrations" for f in report.findings), report.render()
    assert report.next_step == "apply the migrations: alembic upgrade head (or make migrate)"

    # 3. The migration is applied: mirror the change in the PyDAL table.
    migrations.upgrade(target, versions=versions)
    report = run_parity(target, metadata=metadata, versions=versions)
    mirror = ("models-vs-pydal", "item", change.column, change.mirror_aspect or change.aspect)
    assert mirror in _where(report), report.render()
    assert {f.check for f in report.findings} <= {"models-vs-pydal", "database-vs-pydal"}
    assert report.next_step is not None and change.mirror_fix in report.next_step

    # 4. PyDAL mirrors it: parity is clean, the round trip included.
    report = run_parity(target, metadata=metadata, define=mirrored, versions=versions)
    assert report.ok, report.render()
    assert report.next_step is None

    # The autogenerated downgrade goes back, and the real code is in parity again.
    migrations.downgrade(target, "-1", versions=versions)
    assert run_parity(target).ok


def test_parity_on_a_database_not_made_yet_says_to_migrate_and_creates_nothing(tmp_path):
    from services.db.urls import sqlite_target

    target = sqlite_target(tmp_path / "data" / "app.db")
    report = run_parity(target)
    assert _where(report) == {("database-vs-migrations", "alembic_version", None, "revision")}
    assert report.next_step == "apply the migrations: alembic upgrade head (or make migrate)"
    assert f"there is no database at {target.sqlite_path}" in report.render()
    assert not (tmp_path / "data").exists()
