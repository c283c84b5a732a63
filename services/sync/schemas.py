"""Request and response models of ``POST /api/v1/sync``; the OpenAPI document is built from
them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from services.schemas import MODEL_ID_PATTERN, Schema, UtcDateTime

MAX_OPERATIONS = 1000
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000

# Printable ASCII without spaces: ids end up in tie-breaks and logs, never in SQL text.
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:~-]{1,100}$")]
Scope = Annotated[str, StringConstraints(pattern=rf"^(items|models/{MODEL_ID_PATTERN[1:-1]})$")]
TableName = Annotated[str, StringConstraints(max_length=300)]


class OperationKind(StrEnum):
    """What an operation does to its row."""

    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class SyncOperation(Schema):
    """One change a client made while offline.

    ``data`` holds the row's ``id`` and, for INSERT and UPDATE, the row's whole new state: every
    field the client may set (a field left out becomes null, or is refused if required).
    ``timestamp`` is when the client made the change (ISO 8601; without an offset, UTC).
    """

    model_config = ConfigDict(extra="forbid")
    id: Token
    table: TableName
    operation: OperationKind
    data: dict[str, Any]
    timestamp: datetime


class SyncRequest(Schema):
    """A batch of a client's operations and where it is in the change feed."""

    model_config = ConfigDict(extra="forbid")
    client_id: Token
    cursor: Annotated[str, StringConstraints(max_length=100)] | None = None
    operations: list[SyncOperation] = Field(default_factory=list, max_length=MAX_OPERATIONS)
    scope: Scope | None = Field(
        default=None,
        description="The database to sync: 'items' or 'models/{model_id}'. Optional when the "
        "operations name their tables; a batch writes to one database only.",
    )
    limit: int = Field(
        default=DEFAULT_LIMIT,
        ge=1,
        le=MAX_LIMIT,
        description="The most changes to return; has_more says if there are more.",
    )


class SyncConflict(Schema):
    """An operation that was not applied, why, and the server's row as it stands."""

    operation_id: str
    reason: str
    server_row: dict[str, Any] | None


class SyncChange(Schema):
    """A row that changed after the cursor: its state now (``data``) or its deletion."""

    seq: int
    table: str
    id: str
    operation: str = Field(description="UPSERT (data is the row now) or DELETE (data is null)")
    data: dict[str, Any] | None
    timestamp: UtcDateTime
    client_id: str
    operation_id: str


class SyncResponse(Schema):
    """What was applied, what conflicted, and what changed on the server since the cursor."""

    changes_applied: list[str]
    conflicts: list[SyncConflict]
    changes: list[SyncChange]
    cursor: str
    has_more: bool
    reset: bool = Field(
        description="True when the cursor was from an earlier epoch of the feed "
        "(a recreated database or a schema change): drop local copies and take "
        "these changes as everything there is."
    )
