"""App models: designers' data model definitions and their sandbox databases."""

from __future__ import annotations

import shutil
import uuid
from typing import Any, Literal

from flask import Response, current_app, request
from pydantic import Field

from app.api import BODY, PROTECTED, blueprint, errors
from app.auth import current_user
from app.db import get_db, get_handles
from app.http import respond
from app.lazy import LazyModule
from services.appdb import contracts
from services.appdb.definition import ModelIn
from services.appdb.schemas import (
    AppModelPublic,
    AppModelsPublic,
    AppModelUpdated,
    EntityPath,
    LinksPath,
    LinksQuery,
    MigrationPlanPublic,
    MigrationQuery,
    ModelPath,
    RowBody,
    RowPath,
    RowsQuery,
    SeedBody,
)
from services.schemas import Message, PageQuery, Query, Title
from services.timeutil import wire_time

bp = blueprint("models")
catalog = LazyModule("services.appdb.catalog")
rows = LazyModule("services.appdb.rows")
store = LazyModule("services.appdb.store")
transfer = LazyModule("services.appdb.transfer")
model_openapi = LazyModule("services.appdb.openapi")
handles = LazyModule("services.appdb.handles")


# A row request can also meet a model changed or deleted meanwhile (409) or a damaged app
# database (503).
APP_DB = (409, 503)


def _owner() -> Any:
    user = current_user()
    return None if user.is_superuser else user.id


def _settings():
    return current_app.config["SETTINGS"]


def _app(model_id: str):
    # The services own the app database: this only names it and whose it must be.
    return handles.open_app_database(
        handles=get_handles(), db=get_db(), model_id=model_id, owner_id=_owner()
    )


# ----------------------------------------------------------------------------- definitions


@bp.get("/", responses={200: AppModelsPublic, **errors(400, *PROTECTED)})
def read_models(query: PageQuery):
    """List models, newest first."""
    found, count = catalog.list_models(
        db=get_db(), owner_id=_owner(), skip=query.skip, limit=query.limit
    )
    return respond(catalog.page_public(found, count))


@bp.post("/", responses={200: AppModelPublic, **errors(400, 409, *PROTECTED, *BODY)})
def create_model(body: ModelIn):
    """Store a model definition and create its database."""
    row = catalog.create_model(
        db=get_db(), settings=_settings(), owner_id=current_user().id, model_in=body
    )
    return respond(catalog.to_public(row))


@bp.get("/<model_id>", responses={200: AppModelPublic, **errors(400, *PROTECTED)})
def read_model(path: ModelPath):
    """One model definition."""
    return respond(
        catalog.to_public(catalog.get_model(db=get_db(), model_id=path.model_id, owner_id=_owner()))
    )


@bp.put("/<model_id>", responses={200: AppModelUpdated, **errors(400, 409, *PROTECTED, *BODY)})
def update_model(path: ModelPath, query: MigrationQuery, body: ModelIn):
    """Replace the definition and migrate the database (``dry_run`` only plans)."""
    row, plan = handles.update_model(
        handles=get_handles(),
        db=get_db(),
        model_id=path.model_id,
        owner_id=_owner(),
        model_in=body,
        dry_run=query.dry_run,
        allow_destructive=query.allow_destructive,
    )
    public = catalog.to_public(row).model_dump()
    return respond(AppModelUpdated(**public, sync=MigrationPlanPublic(**plan.as_dict())))


@bp.delete("/<model_id>", responses={200: Message, **errors(400, 409, *PROTECTED)})
def delete_model(path: ModelPath):
    """Drop the model's database and delete the model."""
    handles.delete_model(
        handles=get_handles(), db=get_db(), model_id=path.model_id, owner_id=_owner()
    )
    return respond(Message(message="Model deleted successfully"))


# ----------------------------------------------------------------------------- its database


@bp.get(
    "/<model_id>/app-database/status",
    responses={200: contracts.AppDatabaseStatus, **errors(400, *APP_DB, *PROTECTED)},
)
def read_app_database_status(path: ModelPath):
    """exists, total_entities, entity_counts, last_seeded, schema_version, size_bytes, in_sync."""
    report = handles.app_database_status(
        handles=get_handles(), db=get_db(), model_id=path.model_id, owner_id=_owner()
    )
    report["last_seeded"] = wire_time(report["last_seeded"])
    return respond(report)


@bp.get(
    "/<model_id>/app-database/entities",
    responses={200: contracts.EntitySummaryList, **errors(400, *APP_DB, *PROTECTED)},
)
def read_entities(path: ModelPath):
    """Each entity with its display name, row count and last update."""
    with _app(path.model_id) as (definition, db):
        return respond(catalog.entity_summaries(db=db, definition=definition))


@bp.get(
    "/<model_id>/app-database/entities/<entity_type>",
    responses={200: contracts.AppRowsPage, **errors(400, *APP_DB, *PROTECTED)},
)
def read_rows(path: EntityPath, query: RowsQuery):
    """Rows of an entity: limit/offset, sort, filters, the total, and where the next page
    starts (a page also ends at its byte budget)."""
    with _app(path.model_id) as (definition, db):
        page = rows.read_page(
            db=db,
            definition=definition,
            entity=path.entity_type,
            limit=query.limit,
            offset=query.offset,
            sort=query.sort,
            filters=dict(query.model_extra or {}),
            max_bytes=_settings().app_page_bytes,
            max_links=_settings().app_row_links,
        )
    return respond(page)


@bp.post(
    "/<model_id>/app-database/entities/<entity_type>",
    responses={200: contracts.AppRow, **errors(400, *APP_DB, 409, *PROTECTED, *BODY)},
)
def create_row(path: EntityPath, body: RowBody):
    """Create a row."""
    with _app(path.model_id) as (definition, db):
        row = rows.create_row(
            db=db,
            definition=definition,
            entity=path.entity_type,
            data=dict(body.model_extra or {}),
            max_links=_settings().app_row_links,
        )
    return respond(row)


@bp.get(
    "/<model_id>/app-database/entities/<entity_type>/<id>",
    responses={200: contracts.AppRow, **errors(400, *APP_DB, *PROTECTED)},
)
def read_row(path: RowPath):
    """One row."""
    with _app(path.model_id) as (definition, db):
        return respond(
            rows.get_row(
                db=db,
                definition=definition,
                entity=path.entity_type,
                row_id=path.id,
                max_links=_settings().app_row_links,
            )
        )


@bp.get(
    "/<model_id>/app-database/entities/<entity_type>/<id>/links/<relationship>",
    responses={200: contracts.LinkIds, **errors(400, *APP_DB, *PROTECTED)},
)
def read_row_links(path: LinksPath, query: LinksQuery):
    """A page of a row's ManyToMany ids, in the order its capped list shows the first ones."""
    with _app(path.model_id) as (definition, db):
        ids, total = rows.list_links(
            db=db,
            definition=definition,
            entity=path.entity_type,
            row_id=path.id,
            relationship=path.relationship,
            limit=query.limit,
            offset=query.offset,
        )
    return respond({"data": ids, "count": total})


@bp.patch(
    "/<model_id>/app-database/entities/<entity_type>/<id>",
    responses={200: contracts.AppRow, **errors(400, *APP_DB, 409, *PROTECTED, *BODY)},
)
def update_row(path: RowPath, body: RowBody):
    """Change some fields of a row."""
    with _app(path.model_id) as (definition, db):
        row = rows.update_row(
            db=db,
            definition=definition,
            entity=path.entity_type,
            row_id=path.id,
            data=dict(body.model_extra or {}),
            max_links=_settings().app_row_links,
        )
    return respond(row)


@bp.delete(
    "/<model_id>/app-database/entities/<entity_type>/<id>",
    responses={200: Message, **errors(400, *APP_DB, *PROTECTED)},
)
def delete_row(path: RowPath):
    """Delete a row."""
    with _app(path.model_id) as (definition, db):
        rows.delete_row(db=db, definition=definition, entity=path.entity_type, row_id=path.id)
    return respond(Message(message="Row deleted successfully"))


@bp.post(
    "/<model_id>/app-database/seed",
    responses={200: contracts.SeedReport, **errors(400, *APP_DB, *PROTECTED, *BODY)},
)
def seed_app_database(path: ModelPath, body: SeedBody):
    """Fill the database with realistic linked data (all or nothing)."""
    result = handles.seed_app_database(
        handles=get_handles(),
        db=get_db(),
        model_id=path.model_id,
        owner_id=_owner(),
        **body.model_dump(),
    )
    return respond(result)


@bp.delete("/<model_id>/app-database", responses={200: Message, **errors(400, *APP_DB, *PROTECTED)})
def empty_app_database(path: ModelPath):
    """Delete every row of every entity; keep the schema."""
    with _app(path.model_id) as (definition, db):
        rows.empty(db=db, definition=definition)
    return respond(Message(message="App database emptied"))


@bp.post(
    "/<model_id>/app-database/sync",
    responses={200: MigrationPlanPublic, **errors(400, *APP_DB, *PROTECTED)},
)
def sync_app_database(path: ModelPath, query: MigrationQuery):
    """Bring the live database to the stored definition (``dry_run`` only plans)."""
    plan = handles.migrate_model(
        handles=get_handles(),
        db=get_db(),
        model_id=path.model_id,
        owner_id=_owner(),
        dry_run=query.dry_run,
        allow_destructive=query.allow_destructive,
    )
    return respond(MigrationPlanPublic(**plan.as_dict()))


# ----------------------------------------------------------------------------- its contract


@bp.get(
    "/<model_id>/openapi.json",
    responses={200: contracts.OpenAPIDocument, **errors(400, *PROTECTED)},
)
def read_model_openapi(path: ModelPath):
    """The model's own OpenAPI document: typed rows, paths and operation ids per entity."""
    row = catalog.get_model(db=get_db(), model_id=path.model_id, owner_id=_owner())
    return respond(model_openapi.document_of(row))


# ----------------------------------------------------------------------------- export, import

_EXPORT = {
    "description": "the export: a JSON bundle, an SQLite file, or a zip of one CSV per entity",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        # OpenAPI 3.1 describes raw bytes by a media type without a schema.
        "application/vnd.sqlite3": {},
        "application/zip": {},
    },
}


IMPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "a JSON bundle, as GET .../app-database/export?format=json gives",
            }
        },
        "application/vnd.sqlite3": {},
    },
}


class ExportQuery(Query):
    """The export's format."""

    format: Literal["json", "sqlite", "csv"] = "json"


class ImportQuery(Query):
    """Another id (and name) for the imported model."""

    model_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,100}$")
    name: Title | None = None


@bp.get("/<model_id>/app-database/export", responses={200: _EXPORT, **errors(400, *PROTECTED)})
def export_app_database(path: ModelPath, query: ExportQuery):
    """The model and every row: ``format=json`` (a bundle), ``sqlite`` or ``csv`` (a zip)."""
    row = catalog.get_model(db=get_db(), model_id=path.model_id, owner_id=_owner())
    app_db = catalog.app_database(settings=_settings(), row=row)
    meta = transfer.model_meta(
        model_id=row.id, name=row.name, version=row.version, definition=app_db.definition
    )
    chunks = transfer.export_stream(
        app_db, meta=meta, fmt=query.format, scratch=_settings().data_dir / "tmp"
    )
    name = transfer.export_filename(row.id, query.format)
    return Response(
        chunks,
        mimetype=transfer.MEDIA_TYPES[query.format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post(
    "/import",
    responses={200: AppModelPublic, **errors(400, 409, *PROTECTED, *BODY)},
    # The body is read by the service (a bundle, or raw SQLite bytes), not by a model.
    openapi_extensions={"requestBody": IMPORT_BODY},
)
def import_model(query: ImportQuery):
    """Create a model from an export (a JSON bundle, or an SQLite file): all or nothing."""
    kwargs = {"model_id": query.model_id, "name": query.name}
    if request.mimetype in transfer.SQLITE_TYPES:
        scratch = _settings().data_dir / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        upload = scratch / f"import-{uuid.uuid4().hex}.db"
        try:
            with open(upload, "wb") as handle:
                shutil.copyfileobj(request.stream, handle, 64 * 1024)
            row = transfer.import_model(
                db=get_db(),
                settings=_settings(),
                owner_id=current_user().id,
                sqlite_path=upload,
                **kwargs,
            )
        finally:
            upload.unlink(missing_ok=True)
    else:
        row = transfer.import_model(
            db=get_db(),
            settings=_settings(),
            owner_id=current_user().id,
            data=request.get_json(),
            **kwargs,
        )
    return respond(catalog.to_public(row))
