"""SQLModel tables and API models, shaped like the service's (services/db/models.py, schemas.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Computed, Index, String, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC now: SQLModel's datetime columns store it as naive UTC text on SQLite."""
    return datetime.now(UTC)


def _flag(name: str, default: bool):
    # The service's booleans carry a named CHECK (0/1) and a server default; so do these.
    return Field(
        default=default,
        sa_type=Boolean(create_constraint=True, name=name),
        sa_column_kwargs={"server_default": text("1" if default else "0")},
    )


class User(SQLModel, table=True):
    """An account; the peer's local superuser is the only one."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=255, unique=True, index=True)
    full_name: str | None = Field(default=None, max_length=255)
    hashed_password: str = Field(max_length=255)
    is_active: bool = _flag("is_active", True)
    is_superuser: bool = _flag("is_superuser", False)
    token_generation: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    kept_token: str | None = Field(default=None, max_length=64)
    # Unique ignoring case on a generated key, as the service's (revision 0007).
    email_key: str | None = Field(
        default=None,
        sa_column=Column(
            String(255), Computed("lower(email)", persisted=True), unique=True, index=True
        ),
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class ItemBase(SQLModel):
    """Fields common to item models."""

    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)


class ItemCreate(ItemBase):
    """The body of POST /items/."""


class Item(ItemBase, table=True):
    """A user's item; deleted with its owner."""

    # Lists are newest first, for everyone or per owner: the service's indexes (revision 0005).
    __table_args__ = (
        Index("ix_item_created_at", "created_at"),
        Index("ix_item_owner_id_created_at", "owner_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="user.id", nullable=False, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class ItemPublic(ItemBase):
    """An item as the API shows it (same fields and order as the service's)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime | None = None


class ItemsPublic(SQLModel):
    """A page of items."""

    data: list[ItemPublic]
    count: int
