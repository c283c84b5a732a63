"""App-database request and response models: one source for validation and the OpenAPI document.

Model definitions themselves (the designer's format) are in services/appdb/definition.py.
These contracts are ours, not the template's: bodies refuse unknown keys, except a row's, whose
keys are the designer's field names and are checked against the definition by the service.
"""

from __future__ import annotations

import uuid

from pydantic import ConfigDict, Field

from services.appdb.definition import Name
from services.schemas import MAX_SKIP, MODEL_ID_PATTERN, Query, Schema, UtcDateTime

API_MAX_COUNT = 10  # rows per entity one seed request may make; the CLI takes any count
# Rows per page; here, not in filters.py, which imports the DDL code (SQLAlchemy) with schema.py:
# the routes need these models at every start, the filters only on the first app-database query.
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class ModelPath(Schema):
    """A model id in the path."""

    model_id: str = Field(pattern=MODEL_ID_PATTERN)


class EntityPath(ModelPath):
    """An entity of a model."""

    entity_type: Name


class RowPath(EntityPath):
    """One row of an entity."""

    id: str = Field(max_length=64)


class MigrationQuery(Query):
    """App-database migration options."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
    allow_destructive: bool = False


class RowsQuery(Query):
    """Paging, sort, and filters as extra keys (``price.gt=10``, ``name.contains=ab``)."""

    model_config = ConfigDict(extra="allow")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=MAX_SKIP)
    sort: str | None = Field(default=None, max_length=1000)


class LinksPath(RowPath):
    """One ManyToMany relationship of a row."""

    relationship: Name


class LinksQuery(Query):
    """A page of a row's linked ids."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=MAX_SKIP)


class RowBody(Schema):
    """A row: field names to values, checked against the definition by the service."""

    model_config = ConfigDict(extra="allow")


class SeedBody(Schema):
    """Seeding options."""

    model_config = ConfigDict(extra="forbid", strict=True)  # true is not 1
    max_instances_per_entity: int = Field(default=5, ge=1, le=API_MAX_COUNT)
    specific_entities: list[Name] | None = Field(default=None, max_length=50)
    preserve_existing: bool = False
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    locale: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")


class AppModelPublic(Schema):
    """A stored model definition."""

    id: str
    name: str
    definition: dict
    version: int
    owner_id: uuid.UUID
    created_at: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None
    last_seeded_at: UtcDateTime | None = None


class AppModelsPublic(Schema):
    """A page of model definitions."""

    data: list[AppModelPublic]
    count: int


class ConversionPublic(Schema):
    """One column's type change: stored values converted, and values set to NULL."""

    table: str
    column: str
    from_type: str
    to_type: str
    required: bool
    converted: int
    nulled: int


class MigrationPlanPublic(Schema):
    """What an app-database migration does or would do."""

    operations: list[str]
    destructive: list[str]
    applied: bool
    conversions: list[ConversionPublic] = Field(default_factory=list)


class AppModelUpdated(AppModelPublic):
    """A changed model and the migration that brought its database along (``sync`` on the wire)."""

    sync: MigrationPlanPublic
