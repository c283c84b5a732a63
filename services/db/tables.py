"""PyDAL tables for the main database: every runtime row read and write goes through these.

They mirror services/db/models.py by hand; the parity check (services/db/parity.py) proves the
two agree with each other and with the migrated database.
"""

from __future__ import annotations

import uuid

from pydal import DAL, Field

from services.db.indexes import declare_index
from services.db.types import boolean_type, datetime_type, json_type, uuid_type
from services.timeutil import utcnow


def _timestamps(family: str) -> list[Field]:
    return [
        Field("created_at", datetime_type(family), notnull=True, default=utcnow),
        Field("updated_at", datetime_type(family), notnull=True, default=utcnow, update=utcnow),
    ]


def define_tables(db: DAL, family: str) -> None:
    """Define the main database's tables on ``db`` (once, at start-up)."""
    db.define_table(
        "user",
        Field("id", uuid_type(family), notnull=True, default=uuid.uuid4),
        Field("email", "string", length=255, notnull=True, unique=True),
        Field("full_name", "string", length=255),
        Field("hashed_password", "string", length=255, notnull=True),
        Field("is_active", boolean_type(family), notnull=True, default=True),
        Field("is_superuser", boolean_type(family), notnull=True, default=False),
        Field("token_generation", "integer", notnull=True, default=0),
        *_timestamps(family),
        primarykey=["id"],
        migrate=False,
    )
    db.define_table(
        "item",
        Field("id", uuid_type(family), notnull=True, default=uuid.uuid4),
        Field("title", "string", length=255, notnull=True),
        Field("description", "string", length=255),
        Field(
            "owner_id",
            uuid_type(family, references="user.id"),
            notnull=True,
            ondelete="CASCADE",
        ),
        *_timestamps(family),
        primarykey=["id"],
        migrate=False,
    )
    declare_index(db.item, "created_at")
    declare_index(db.item, "owner_id", "created_at")
    db.define_table(
        "revoked_token",
        Field("jti", "string", length=64, notnull=True),
        Field(
            "user_id",
            uuid_type(family, references="user.id"),
            notnull=True,
            ondelete="CASCADE",
        ),
        Field("expires_at", datetime_type(family), notnull=True),
        primarykey=["jti"],
        migrate=False,
    )
    declare_index(db.revoked_token, "user_id")
    declare_index(db.revoked_token, "expires_at")
    db.define_table(
        "app_model",
        Field("id", "string", length=100, notnull=True),
        Field("id_key", "string", length=100, notnull=True, unique=True),
        Field("name", "string", length=255, notnull=True),
        Field("definition", json_type(family), notnull=True),
        Field("version", "integer", notnull=True, default=1),
        Field(
            "owner_id",
            uuid_type(family, references="user.id"),
            notnull=True,
            ondelete="CASCADE",
        ),
        Field("last_seeded_at", datetime_type(family)),
        *_timestamps(family),
        primarykey=["id"],
        migrate=False,
    )
    declare_index(db.app_model, "owner_id")

    define_sync_tables(db, family)


def define_sync_tables(db: DAL, family: str, rname=None) -> None:
    """Define the change-feed tables (services/db/models.py SyncRow, SyncCounter, SyncOperation).

    ``rname`` maps a table name to its real (schema-qualified) name, for app databases.
    """
    real = rname or (lambda name: None)
    db.define_table(
        "sync_row",
        Field("tbl", "string", length=100, notnull=True),
        Field("row_id", uuid_type(family), notnull=True),
        Field("seq", "bigint", notnull=True, unique=True),
        Field("deleted", boolean_type(family), notnull=True, default=False),
        Field("ts", datetime_type(family), notnull=True),
        Field("client_id", "string", length=100, notnull=True),
        Field("op_id", "string", length=100, notnull=True),
        Field("owner_id", uuid_type(family)),
        primarykey=["tbl", "row_id"],
        migrate=False,
        rname=real("sync_row"),
    )
    declare_index(db["sync_row"], "owner_id", "seq")
    db.define_table(
        "sync_counter",
        Field("name", "string", length=20, notnull=True),
        Field("value", "bigint", notnull=True),
        Field("epoch", "string", length=32, notnull=True),
        primarykey=["name"],
        migrate=False,
        rname=real("sync_counter"),
    )
    db.define_table(
        "sync_operation",
        Field("user_id", uuid_type(family), notnull=True),
        Field("client_id", "string", length=100, notnull=True),
        Field("op_id", "string", length=100, notnull=True),
        Field("outcome", "string", length=30, notnull=True),
        Field("created_at", datetime_type(family), notnull=True, default=utcnow),
        primarykey=["user_id", "client_id", "op_id"],
        migrate=False,
        rname=real("sync_operation"),
    )
