"""SQLAlchemy 2.x models: the one definition of the main database's schema (DDL and migrations only)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, MetaData, String, Uuid, false, text, true
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import Boolean

from services.timeutil import utcnow

# Named constraints let Alembic's batch mode on SQLite rebuild tables and drop them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# MySQL/MariaDB DATETIME drops fractions unless told to keep six digits.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _bool(name: str) -> Boolean:
    # The CHECK makes a stray 'T'/'F' (PyDAL's default literals) fail loudly instead of misreading.
    return Boolean(create_constraint=True, name=name)


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """created_at / updated_at, naive UTC with microseconds."""

    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, onupdate=utcnow, nullable=False
    )


class User(TimestampMixin, Base):
    """An account; the default local superuser is one of these."""

    __tablename__ = "user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True, nullable=False)
    full_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    hashed_password: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(
        _bool("is_active"), default=True, server_default=true(), nullable=False
    )
    is_superuser: Mapped[bool] = mapped_column(
        _bool("is_superuser"), default=False, server_default=false(), nullable=False
    )
    # Bumped on a password change: tokens carrying an older generation are revoked.
    token_generation: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0"), nullable=False
    )


class Item(TimestampMixin, Base):
    """A user's item; deleted with its owner."""

    __tablename__ = "item"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )


class RevokedToken(Base):
    """A token revoked by logout, kept until it would have expired anyway."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True, nullable=False)


class AppModel(TimestampMixin, Base):
    """A designer's data model definition; its rows live in a database of their own."""

    __tablename__ = "app_model"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    definition: Mapped[dict] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )
    last_seeded_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


metadata = Base.metadata
