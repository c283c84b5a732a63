"""Model definitions in the main database, and the app database that goes with each one."""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydal import DAL
from pydal.objects import Row

if TYPE_CHECKING:
    from services.appdb import migration

from services.appdb import quarantine, store
from services.appdb.definition import (
    INVALID_DEFINITION,
    Definition,
    ModelIn,
    validate_definition,
)
from services.appdb.schemas import AppModelPublic, AppModelsPublic
from services.config import Settings
from services.db.statements import is_integrity_error, row_dict
from services.errors import Conflict, NotFound, Problems, problem
from services.timeutil import utcnow, wire_time

log = logging.getLogger(__name__)
PUBLIC_FIELDS = (
    "id",
    "name",
    "definition",
    "version",
    "owner_id",
    "created_at",
    "updated_at",
    "last_seeded_at",
)
# What names one version of one model: the ownership check of every row request reads only
# these (the definition, parsed from JSON, only when a handle must be built).
STAMP_FIELDS = ("id", "created_at", "version")
NOT_FOUND = "Model not found"


def to_public(row: Row) -> AppModelPublic:
    """The API view of a model row."""
    return AppModelPublic.model_validate(row_dict(row, PUBLIC_FIELDS))


def page_public(rows: list[Row], count: int) -> AppModelsPublic:
    """The API view of a page of models."""
    return AppModelsPublic(data=[to_public(r) for r in rows], count=count)


def _scope(db: DAL, model_id: str, owner_id: uuid.UUID | None):
    query = db.app_model.id == model_id
    if owner_id is not None:
        query &= db.app_model.owner_id == owner_id
    return query


def list_models(
    *, db: DAL, owner_id: uuid.UUID | None, skip: int, limit: int
) -> tuple[list[Row], int]:
    """A page of models (all of them for a superuser), newest first, and the total."""
    query = db.app_model.owner_id == owner_id if owner_id is not None else db.app_model.id != None  # noqa: E711
    count = db(query).count()
    fields = [db.app_model[f] for f in PUBLIC_FIELDS]
    rows = db(query).select(
        *fields, orderby=~db.app_model.created_at | db.app_model.id, limitby=(skip, skip + limit)
    )
    return list(rows), count


def get_model(
    *, db: DAL, model_id: str, owner_id: uuid.UUID | None, fields: tuple[str, ...] = PUBLIC_FIELDS
) -> Row:
    """One model (``fields`` of it); another owner's model is reported as missing."""
    row = db(_scope(db, model_id, owner_id)).select(*[db.app_model[f] for f in fields]).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def definition_of(row: Row) -> Definition:
    """The stored definition, parsed."""
    return Definition.model_validate(row.definition)


def app_database(
    *, settings: Settings, row: Row, definition: Definition | None = None
) -> store.AppDatabase:
    """Where the model's data lives."""
    return store.locate(
        main=settings.database,
        data_dir=settings.data_dir,
        model_id=row.id,
        definition=definition or definition_of(row),
    )


def _stored(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(by_alias=True, exclude_none=True)


def check_model_quota(*, db: DAL, settings: Settings, owner_id: uuid.UUID) -> None:
    """Conflict (409) when the owner already has as many models as one user may own."""
    most = settings.max_models_per_user
    if db(db.app_model.owner_id == owner_id).count() >= most:
        raise Conflict(
            f"you own {most} models, the most one user may own (MAX_MODELS_PER_USER); "
            "delete one before creating another"
        )


def create_model(*, db: DAL, settings: Settings, owner_id: uuid.UUID, model_in: ModelIn) -> Row:
    """Store the definition and create its database (tables from the definition)."""
    validate_definition(model_in.definition)
    check_model_quota(db=db, settings=settings, owner_id=owner_id)
    # Ids that differ only in case would share a file on case-insensitive file systems.
    if not db(db.app_model.id.lower() == model_in.id.lower()).isempty():
        raise Conflict("A model with this id already exists")
    try:
        db.app_model.insert(
            id=model_in.id,
            id_key=model_in.id.lower(),  # unique: the database settles a race of case variants
            name=model_in.name,
            owner_id=owner_id,
            definition=_stored(model_in.definition),
            version=1,
        )
    except Exception as exc:
        if is_integrity_error(exc):
            raise Conflict("A model with this id already exists") from None
        raise
    target = store.locate(
        main=settings.database,
        data_dir=settings.data_dir,
        model_id=model_in.id,
        definition=model_in.definition,
    )
    # The insert succeeded, so the catalog owned no model under this id: whatever database is
    # there was left by someone else (a deleted owner, a crash, a lost main database).
    quarantine.quarantine_leftover(settings=settings, app_db=target)
    store.create(target)
    return get_model(db=db, model_id=model_in.id, owner_id=None)


def _check_same_id(model_id: str, model_in: ModelIn) -> None:
    if model_in.id != model_id:
        raise Problems([problem(["id"], "must equal the model id in the path")], INVALID_DEFINITION)


def update_model(
    *,
    db: DAL,
    settings: Settings,
    model_id: str,
    owner_id: uuid.UUID | None,
    model_in: ModelIn,
    dry_run: bool,
    allow_destructive: bool,
) -> tuple[Row, migration.MigrationPlan]:
    """Change name and definition and migrate the database to it (or only plan, for a dry run)."""
    from services.appdb import migration  # Alembic (~11 MB): only for schema changes

    _check_same_id(model_id, model_in)
    row = complete_interrupted_update(
        db=db, settings=settings, row=get_model(db=db, model_id=model_id, owner_id=owner_id)
    )
    validate_definition(model_in.definition)
    target = app_database(settings=settings, row=row)
    if dry_run:
        return row, migration.plan(target, model_in.definition)
    version = row.version + 1
    # The app database commits first, recording (version, definition); if this process dies
    # before the main database commits below, complete_interrupted_update finishes the job.
    result = migration.apply(
        target,
        model_in.definition,
        allow_destructive=allow_destructive,
        backups_dir=_backups(settings),
        version=version,
    )
    db(db.app_model.id == model_id).update(
        name=model_in.name,
        definition=_stored(model_in.definition),
        version=version,
    )
    return get_model(db=db, model_id=model_id, owner_id=None), result


def migrate_model(
    *,
    db: DAL,
    settings: Settings,
    model_id: str,
    owner_id: uuid.UUID | None,
    dry_run: bool,
    allow_destructive: bool,
) -> migration.MigrationPlan:
    """Bring the live database to the stored definition (or only plan it)."""
    from services.appdb import migration

    row = complete_interrupted_update(
        db=db, settings=settings, row=get_model(db=db, model_id=model_id, owner_id=owner_id)
    )
    target = app_database(settings=settings, row=row)
    if dry_run:
        return migration.plan(target, target.definition)
    return migration.apply(
        target,
        target.definition,
        allow_destructive=allow_destructive,
        backups_dir=_backups(settings),
        version=row.version,
    )


def complete_interrupted_update(*, db: DAL, settings: Settings, row: Row) -> Row:
    """The model's row, first brought up to the definition its app database records when that
    is newer: a schema change committed there whose main-database update was lost (a crash
    between the two commits). No commit."""
    try:
        recorded = store.recorded_definition(app_database(settings=settings, row=row))
    except NotFound:
        return row
    if recorded is None or recorded[0] <= row.version:
        return row
    version, definition = recorded
    log.warning(
        "model %s: completing an interrupted schema change (version %s -> %s)",
        row.id,
        row.version,
        version,
    )
    db(db.app_model.id == row.id).update(definition=_stored(definition), version=version)
    return get_model(db=db, model_id=row.id, owner_id=None)


def complete_interrupted_updates(*, db: DAL, settings: Settings) -> int:
    """complete_interrupted_update for every model (at start-up), after recovering MySQL/MariaDB
    schema changes a crash cut short; returns how many models changed."""
    changed = 0
    for row in db(db.app_model).select(*[db.app_model[f] for f in PUBLIC_FIELDS]):
        if settings.database.family == "mysql":
            recover_schema_change(settings=settings, row=row)
        changed += complete_interrupted_update(db=db, settings=settings, row=row) is not row
    return changed


def recover_schema_change(*, settings: Settings, row: Row) -> bool:
    """MySQL/MariaDB: drop what a crashed schema change left beside the model's database and let
    row writes go on (services/appdb/shadow.py); skipped while another process changes it."""
    from services.appdb import locks, shadow

    try:
        with locks.model_lock(settings=settings, model_id=row.id, wait_s=0):
            recovered = shadow.recover(app_database(settings=settings, row=row))
    except Conflict:
        return False  # a change in progress elsewhere: it cleans up after itself
    if recovered:
        log.warning("model %s: cleaned up after a schema change cut short", row.id)
    return recovered


def delete_model(*, db: DAL, settings: Settings, model_id: str, owner_id: uuid.UUID | None) -> None:
    """Drop the model's database and forget the model."""
    row = get_model(db=db, model_id=model_id, owner_id=owner_id)
    store.drop(app_database(settings=settings, row=row))
    # Snapshots hold the rows too: they go with the model.
    shutil.rmtree(_backups(settings) / model_id, ignore_errors=True)
    db(db.app_model.id == model_id).delete()


def mark_seeded(*, db: DAL, model_id: str) -> None:
    """Remember when the model's database was last seeded."""
    db(db.app_model.id == model_id).update(last_seeded_at=utcnow())


def entity_summaries(*, db: DAL, definition: Definition) -> list[dict[str, Any]]:
    """Each entity: type, display name, row count and the newest update (two queries each)."""
    summaries = []
    for entity in definition.entities:
        table = db[entity.name]
        newest = (
            db(table).select(table.updated_at, orderby=~table.updated_at, limitby=(0, 1)).first()
        )
        summaries.append(
            {
                "entity_type": entity.name,
                "display_name": entity.display_name or entity.name,
                "record_count": db(table).count(),
                "last_updated": wire_time(newest.updated_at) if newest else None,
            }
        )
    return summaries


def _backups(settings: Settings) -> Path:
    return settings.data_dir / "backups" / "apps"
