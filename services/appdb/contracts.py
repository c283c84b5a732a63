"""Response models of the app-database endpoints: what the main OpenAPI document promises.

The rows of an app database have the fields its model defines, which the main document cannot
know: here a row is its system columns plus any other key, and the per-model document
(``services.appdb.openapi``) types each field.
"""

from __future__ import annotations

import uuid

from pydantic import ConfigDict, Field, RootModel

from services.schemas import Schema, UtcDateTime


class AppDatabaseStatus(Schema):
    """An app database's status report."""

    exists: bool
    total_entities: int = Field(description="rows over all entities")
    entity_counts: dict[str, int | None] = Field(
        description="rows per entity; null when its table cannot be read"
    )
    last_seeded: UtcDateTime | None
    schema_version: str
    size_bytes: int
    in_sync: bool
    healthy: bool = Field(description="false when the database is damaged or cannot be opened")
    problem: str | None = Field(default=None, description="why it is not healthy")


class EntitySummary(Schema):
    """One entity of an app database."""

    entity_type: str
    display_name: str
    record_count: int
    last_updated: UtcDateTime | None


class SeedReport(Schema):
    """What a seed wrote."""

    entities_created: int
    relationships_created: int
    duration_ms: int
    seed: int = Field(description="the seed used: the same seed writes the same rows again")


class AppRow(Schema):
    """A row: its system columns and the fields its entity defines (typed per model)."""

    model_config = ConfigDict(extra="allow")
    id: uuid.UUID
    created_at: UtcDateTime
    updated_at: UtcDateTime
    link_counts: dict[str, int] | None = Field(
        default=None,
        alias="_link_counts",
        description="on rows with ManyToMany lists: each list's total number of ids; a list "
        "holds at most APP_ROW_LINKS of them (the first in id order), and "
        ".../{id}/links/{relationship} pages them all",
    )


class AppRowsPage(Schema):
    """A page of rows and the total that matches the filters."""

    data: list[AppRow]
    count: int
    truncated: bool = Field(
        description="true when the page's byte budget (APP_PAGE_BYTES) ended it before "
        "``limit`` rows; a page holds at least one row"
    )
    next_offset: int | None = Field(
        description="the offset of the next page (same limit, sort and filters); null after "
        "the last row"
    )


class LinkIds(Schema):
    """A page of one row's ManyToMany ids and their total."""

    data: list[uuid.UUID]
    count: int


class EntitySummaryList(RootModel[list[EntitySummary]]):
    """The entities of an app database: a bare JSON array."""


class OpenAPIDocument(Schema):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict
    paths: dict
